// The case study's loss with integer labels, as the course writes it
// (examples/cs231n/twolayer-labels.expr): the same loss and gradient as the one-hot form
// (twolayer-onehot.expr), its gradient against finite differences, and training with it
// (examples/cs231n/train-labels.mjs) giving the same losses and accuracy as the one-hot form.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { makeSpiral } from "../examples/spiral/data.mjs";
import { initParams, labelArgs, trainBatched } from "../examples/cs231n/train-labels.mjs";
import { ROOT } from "./support/cli.js";
import { assertClose, load } from "./support/load.js";

const source = (name: string) => readFileSync(join(ROOT, "examples", "cs231n", `${name}.expr`), "utf8");
const data = makeSpiral();

describe("the two-layer net with integer labels (twolayer-labels.expr)", { timeout: 60_000 }, () => {
  it("reads y as the course does: loss and gradient equal the one-hot form's at a trained-looking point", async () => {
    const { module: labels } = await load(source("twolayer-labels"), { filename: "twolayer-labels.expr" });
    const { module: hot } = await load(source("twolayer-onehot"), { filename: "twolayer-onehot.expr" });
    const params = initParams(3);
    for (const v of Object.values(params) as Float64Array[]) for (let k = 0; k < v.length; k++) v[k] = v[k] * 100 + 0.01 * Math.sin(k);
    const common = { X: data.X, reg: 1e-3, ...params };
    const a = labels.backward({ ...common, ...labelArgs(data, false) });
    const b = hot.backward({ ...common, ...labelArgs(data, true) });
    assertClose(a.outputs.loss, b.outputs.loss as number, 1e-13, "loss");
    for (const name of ["W1", "b1", "W2", "b2"]) assertClose(a.grad[name], b.grad[name] as Float64Array, 1e-12, `d${name}`);
  });

  it("its gradient agrees with finite differences", async () => {
    const { module } = await load(source("twolayer-labels"), { filename: "twolayer-labels.expr" });
    const params = initParams(5);
    for (const v of Object.values(params) as Float64Array[]) for (let k = 0; k < v.length; k++) v[k] = v[k] * 50 + 0.02 * Math.cos(3 * k);
    const args = { X: data.X, reg: 1e-3, ...labelArgs(data, false), ...params };
    const grad = module.backward(args).grad;
    for (const [name, picks] of [["W1", [0, 7, 150, 199]], ["b1", [1, 42, 99]], ["W2", [0, 101, 299]], ["b2", [0, 1, 2]]] as const) {
      const v = (params as Record<string, Float64Array>)[name];
      for (const k of picks) {
        const x = v[k];
        const h = 1e-6;
        v[k] = x + h;
        const up = module.forward(args).loss as number;
        v[k] = x - h;
        const down = module.forward(args).loss as number;
        v[k] = x;
        assertClose((grad[name] as Float64Array)[k], (up - down) / (2 * h), 1e-6, `d${name}[${k}]`);
      }
    }
  });

  it("trains as the one-hot form does: the same loss at every step and the same accuracy", async () => {
    const { module: labels } = await load(source("twolayer-labels"), { filename: "twolayer-labels.expr" });
    const { module: hot } = await load(source("twolayer-onehot"), { filename: "twolayer-onehot.expr" });
    const steps = 1000;
    const a = trainBatched(labels, data, { steps });
    const b = trainBatched(hot, data, { steps, oneHot: true });
    expect(a.losses[0]).toBeCloseTo(Math.log(3), 3);
    assertClose(a.losses, b.losses, 1e-9, "loss per step");
    expect(a.accuracy).toBe(b.accuracy);
    expect(a.accuracy).toBeGreaterThan(0.9);
    expect(a.losses[steps - 1]).toBeLessThan(0.5);
  });
});
