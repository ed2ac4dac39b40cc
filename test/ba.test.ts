// Bundle adjustment written for the whole problem (examples/ba/): the objective and its
// gradient against the hand-written loop over observations (bench/hand/ba.mjs) and finite
// differences, at ADBench's first problem's sizes; the per-observation module summing to the
// same objective; the [P, 2, 15] Jacobian blocks from the derivative operators against finite
// differences of a plain JavaScript residual and against the gradient they must give.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BA1, makeBundleAdjustment, makeBundleArgs, reprojection } from "../bench/hand/ba.mjs";
import { ROOT } from "./support/cli.js";
import { assertClose, load, rng } from "./support/load.js";

const source = (name: string) => readFileSync(join(ROOT, "examples", "ba", `${name}.expr`), "utf8");
type Args = { obs: Int32Array; feat: Float64Array; cams: Float64Array; pts: Float64Array; w: Float64Array };
const args: Args = makeBundleArgs(BA1, rng(16));
const hand = makeBundleAdjustment(BA1);

/** Central difference of f along element k of args[name] (the arrays are restored). */
function difference(f: (a: Args) => number, name: "cams" | "pts" | "w", k: number): number {
  const v = args[name];
  const x = v[k];
  const h = 1e-6 * Math.max(1, Math.abs(x));
  v[k] = x + h;
  const up = f(args);
  v[k] = x - h;
  const down = f(args);
  v[k] = x;
  return (up - down) / (2 * h);
}

describe("bundle adjustment, the whole problem in one call (examples/ba/ba.expr)", { timeout: 60_000 }, () => {
  it("err and its gradient equal the hand-written loop over observations", async () => {
    const { module } = await load(source("ba"), { filename: "ba.expr" });
    const want = hand.backward(args);
    const got = module.backward(args);
    assertClose(got.outputs.err, want.outputs.err, 1e-12, "err");
    for (const name of ["cams", "pts", "w"]) assertClose(got.grad[name], want.grad[name], 1e-9, `d${name}`);
  });

  it("its gradient agrees with finite differences, rotation and distortion included", async () => {
    const { module } = await load(source("ba"), { filename: "ba.expr" });
    const grad = module.backward(args).grad;
    const f = (a: Args) => module.forward(a).err as number;
    const camElements = Array.from({ length: 22 }, (_, k) => k); // cameras 0 and 1, every parameter
    for (const k of camElements) assertClose((grad.cams as Float64Array)[k], difference(f, "cams", k), 1e-5, `dcams[${k}]`);
    for (const k of [0, 1, 2, 100, 3 * 7775 + 2]) assertClose((grad.pts as Float64Array)[k], difference(f, "pts", k), 1e-5, `dpts[${k}]`);
    for (const k of [0, 5, 31842]) assertClose((grad.w as Float64Array)[k], difference(f, "w", k), 1e-5, `dw[${k}]`);
  });

  it("a camera with no rotation takes the first-order form, with finite gradients", async () => {
    const { module } = await load(source("ba"), { filename: "ba.expr" });
    const saved = args.cams.slice(0, 3);
    args.cams.fill(0, 0, 3);
    try {
      const want = hand.backward(args);
      const got = module.backward(args);
      assertClose(got.outputs.err, want.outputs.err, 1e-12, "err");
      assertClose(got.grad.cams, want.grad.cams, 1e-9, "dcams");
      expect(Array.from(got.grad.cams as Float64Array).every(Number.isFinite)).toBe(true);
    } finally {
      args.cams.set(saved, 0);
    }
  });

  it("a bad observation is a RangeError naming obs, and nothing is written", async () => {
    const { module } = await load(source("ba"), { filename: "ba.expr" });
    const grad = module.createGrad();
    (grad.pts as Float64Array).fill(5);
    const obs = args.obs.slice();
    obs[2 * 40 + 1] = 7776;
    expect(() => module.backwardInto({ ...args, obs }, undefined, grad)).toThrow(/'obs': obs\[40, 1\] is 7776/);
    expect(Array.from(grad.pts as Float64Array).every((v) => v === 5)).toBe(true);
  });

  it("the per-observation module (observation.expr) sums to the same err", async () => {
    const { module } = await load(source("observation"), { filename: "observation.expr" });
    let err = 0;
    for (let i = 0; i < BA1.P; i++) {
      const c = args.obs[2 * i];
      const m = args.obs[2 * i + 1];
      err += module.forward({ f: args.feat.subarray(2 * i, 2 * i + 2), cam: args.cams.subarray(11 * c, 11 * c + 11), X: args.pts.subarray(3 * m, 3 * m + 3), wi: args.w[i] }).err as number;
    }
    assertClose(err, hand.forward(args).err, 1e-11, "sum of err");
  });
});

describe("bundle adjustment's Jacobian blocks (examples/ba/jacobian.expr)", { timeout: 60_000 }, () => {
  const block = (i: number) => {
    const c = args.obs[2 * i];
    const m = args.obs[2 * i + 1];
    return [...args.cams.subarray(11 * c, 11 * c + 11), ...args.pts.subarray(3 * m, 3 * m + 3), args.w[i]];
  };
  const residual = (v: number[], i: number) => reprojection(v.slice(0, 11), v.slice(11, 14), v[14], args.feat.subarray(2 * i, 2 * i + 2)) as number[];

  it("J has shape [P, 2, 15] and each block is d residual / d (camera, point, weight)", async () => {
    const { module, interface: iface } = await load(source("jacobian"), { filename: "jacobian.expr" });
    expect(iface.outputs.find((o) => o.name === "J")?.shape).toEqual([BA1.P, 2, 15]);
    const J = module.forward(args).J as Float64Array;
    for (const i of [0, 1, 48, 7775, 31842]) {
      const v = block(i);
      const want: number[] = [];
      for (const row of [0, 1])
        for (let j = 0; j < 15; j++) {
          const h = 1e-6 * Math.max(1, Math.abs(v[j]));
          const up = v.slice();
          const down = v.slice();
          up[j] += h;
          down[j] -= h;
          want.push((residual(up, i)[row] - residual(down, i)[row]) / (2 * h));
        }
      assertClose(J.subarray(30 * i, 30 * i + 30), want, 1e-6, `J[${i}]`);
    }
  });

  it("the blocks give the gradient: sum over observations of 2 J^T r scattered into rows", async () => {
    const { module } = await load(source("jacobian"), { filename: "jacobian.expr" });
    const { J, werr } = module.forward(args) as { J: Float64Array; werr: Float64Array };
    const grad = { cams: new Float64Array(11 * BA1.C), pts: new Float64Array(3 * BA1.M), w: new Float64Array(BA1.P) };
    for (let i = 0; i < BA1.P; i++) {
      const r = residual(block(i), i);
      const c = args.obs[2 * i];
      const m = args.obs[2 * i + 1];
      for (let j = 0; j < 15; j++) {
        const g = 2 * (J[30 * i + j] * r[0] + J[30 * i + 15 + j] * r[1]);
        if (j < 11) grad.cams[11 * c + j] += g;
        else if (j < 14) grad.pts[3 * m + j - 11] += g;
        else grad.w[i] += g;
      }
      grad.w[i] += 2 * werr[i] * -2 * args.w[i];
    }
    const want = hand.backward(args).grad;
    for (const name of ["cams", "pts", "w"] as const) assertClose(grad[name], want[name], 1e-9, `d${name}`);
  });
});
