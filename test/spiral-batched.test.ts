// The spiral case study written as the course writes it (examples/cs231n/*-batched.expr):
// one call over the whole batch must give the course's loss L, the mean of the per-sample
// modules' losses, and its gradient (weights transposed: the course's layout), and the demo's
// batched training must follow the per-sample training step for step.

import { describe, expect, it } from "vitest";
import { makeRng, makeSpiral } from "../examples/spiral/data.mjs";
import { batchArgs, transposed, trainSoftmax, trainSoftmaxBatched, trainTwoLayer, trainTwoLayerBatched } from "../examples/spiral/model.mjs";
import { importFile } from "./support/load.js";

type Tensor = Float64Array;
const generated = (name: string) => importFile(new URL(`../generated/cs231n/${name}.mjs`, import.meta.url).pathname);
const data = makeSpiral();
const relErr = (a: number, b: number) => Math.abs(a - b) / Math.max(1e-12, Math.abs(a) + Math.abs(b));

describe("the batched spiral modules", () => {
  for (const [name, layers] of [
    ["twolayer", { W1: [100, 2], W2: [3, 100] }],
    ["softmax", { W: [3, 2] }],
  ] as const) {
    it(`${name}-batched: the loss and gradient are the mean of the per-sample ones`, async () => {
      const one = await generated(name);
      const all = await generated(`${name}-batched`);
      const rng = makeRng(7);
      const params = one.createGrad() as Record<string, Tensor>;
      for (const v of Object.values(params)) for (let i = 0; i < v.length; i++) v[i] = 0.3 * rng.gaussian();
      const reg = 0.05;
      // per-sample: mean over points of loss_i (each with the L2 term) = L
      const sum = one.createGrad() as Record<string, Tensor>;
      let loss = 0;
      const { X, Y } = batchArgs(data, reg);
      for (let i = 0; i < data.count; i++) {
        const r = one.backward({ x: X.subarray(2 * i, 2 * i + 2), y: Y.subarray(3 * i, 3 * i + 3), reg, ...params });
        loss += (r.outputs.loss as number) / data.count;
        for (const [p, g] of Object.entries(r.grad)) for (let k = 0; k < (g as Tensor).length; k++) sum[p][k] += (g as Tensor)[k] / data.count;
      }
      const batchedParams: Record<string, Tensor> = { ...params };
      for (const [p, [rows, cols]] of Object.entries(layers)) batchedParams[p] = transposed(params[p], rows, cols);
      const got = all.backward({ X, Y, reg, ...batchedParams });
      expect(relErr(got.outputs.loss as number, loss)).toBeLessThan(1e-12);
      for (const [p, g] of Object.entries(sum)) {
        const dims = (layers as Record<string, readonly [number, number]>)[p];
        const want = dims ? transposed(g, dims[0], dims[1]) : g;
        const have = got.grad[p] as Tensor;
        expect(have.length).toBe(want.length);
        for (let k = 0; k < want.length; k++) expect(Math.abs(have[k] - want[k]), `${p}[${k}]`).toBeLessThan(1e-12 + 1e-10 * Math.abs(want[k]));
      }
    });
  }

  it("the demo's batched training follows the per-sample one (softmax 200 steps, net 300)", async () => {
    const [softmax, softmaxB, net, netB] = await Promise.all(["softmax", "softmax-batched", "twolayer", "twolayer-batched"].map(generated));
    const a = trainSoftmax(softmax, data, {});
    const b = trainSoftmaxBatched(softmaxB, softmax, data, {});
    for (let s = 0; s < 200; s++) expect(relErr(a.losses[s], b.losses[s]), `step ${s}`).toBeLessThan(1e-9);
    expect(b.accuracy).toBe(a.accuracy);
    expect(b.accuracy).toBeGreaterThan(0.45);
    const c = trainTwoLayer(net, data, { steps: 300 });
    const d = trainTwoLayerBatched(netB, net, data, { steps: 300 });
    for (let s = 0; s < 300; s++) expect(relErr(c.losses[s], d.losses[s]), `step ${s}`).toBeLessThan(1e-8);
    expect(d.losses[299]).toBeLessThan(d.losses[0]);
  }, 60_000);
});
