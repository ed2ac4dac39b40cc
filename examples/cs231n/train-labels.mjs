#!/usr/bin/env node
// Trains the case study's two-layer net batched over the spiral data, once with the course's
// integer-label loss (twolayer-labels.expr) and once with one-hot labels (twolayer-onehot.expr),
// from the same initial weights, and prints both runs' losses and training accuracies: the two
// losses are the same function, so the runs must agree. One backwardInto per step computes the
// whole data set's loss and gradient (examples/spiral/train.mjs sums 300 per-sample calls).
//
//   node examples/cs231n/train-labels.mjs [--steps N]
//
// The test (test/cs231n-labels.test.ts) and bench/ba.mjs use trainBatched and the helpers below;
// a demo can draw the decision regions with makePredictor(run.params).

import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { makeRng, makeSpiral } from "../spiral/data.mjs";

export const H = 100;

/** CS231n's initialisation (weights 0.01 * randn, biases 0), in the course's layout. */
export function initParams(seed = 1, D = 2, K = 3) {
  const rng = makeRng(seed);
  const W1 = Float64Array.from({ length: D * H }, () => 0.01 * rng.gaussian());
  const W2 = Float64Array.from({ length: H * K }, () => 0.01 * rng.gaussian());
  return { W1, b1: new Float64Array(H), W2, b2: new Float64Array(K) };
}

/** The labels as the module wants them: class numbers (Int32Array) or a one-hot matrix. */
export function labelArgs(data, oneHot) {
  if (!oneHot) return { y: Int32Array.from(data.labels) };
  const Y = new Float64Array(data.count * data.K);
  for (let i = 0; i < data.count; i++) Y[i * data.K + data.labels[i]] = 1;
  return { Y };
}

/**
 * predict(x0, x1) -> the class with the largest score under `params` (course layout), the
 * form examples/spiral/render.mjs draws decision regions with.
 */
export function makePredictor(params, K = 3) {
  const { W1, b1, W2, b2 } = params;
  const hidden = new Float64Array(H);
  return function predict(x0, x1) {
    for (let h = 0; h < H; h++) hidden[h] = Math.max(0, x0 * W1[h] + x1 * W1[H + h] + b1[h]);
    let best = 0;
    let bestScore = -Infinity;
    for (let c = 0; c < K; c++) {
      let s = b2[c];
      for (let h = 0; h < H; h++) s += hidden[h] * W2[h * K + c];
      if (s > bestScore) [best, bestScore] = [c, s];
    }
    return best;
  };
}

/** Fraction of the points whose largest score is their class (the course's accuracy). */
export function accuracy(params, data) {
  const predict = makePredictor(params, data.K);
  let right = 0;
  for (let i = 0; i < data.count; i++) if (predict(data.X[2 * i], data.X[2 * i + 1]) === data.labels[i]) right++;
  return right / data.count;
}

/**
 * Full-batch gradient descent with a batched module (labels or one-hot), in place on a fresh
 * initialisation: `steps` steps of size `stepSize`, reg as the course's. Returns the params,
 * the loss before each step, the final accuracy and the time in ms.
 */
export function trainBatched(mod, data, { steps = 10000, stepSize = 1, reg = 1e-3, oneHot = false, seed = 1 } = {}) {
  const params = initParams(seed, data.D, data.K);
  const args = { X: data.X, ...labelArgs(data, oneHot), reg, ...params };
  const grad = mod.createGrad();
  const outputs = mod.createOutputs();
  const names = Object.keys(params);
  const losses = new Float64Array(steps);
  const t0 = performance.now();
  for (let step = 0; step < steps; step++) {
    mod.backwardInto(args, undefined, grad, outputs);
    losses[step] = outputs.loss;
    for (const name of names) {
      const p = params[name];
      const g = grad[name];
      for (let k = 0; k < p.length; k++) p[k] -= stepSize * g[k];
    }
  }
  const ms = performance.now() - t0;
  return { params, losses, accuracy: accuracy(params, data), ms };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { steps: { type: "string", default: "10000" } } });
  const steps = Number(values.steps);
  if (!Number.isInteger(steps) || steps < 1) {
    console.error(`--steps wants a positive integer, got '${values.steps}'`);
    process.exit(2);
  }
  const generated = fileURLToPath(new URL("../../generated/cs231n/", import.meta.url));
  const data = makeSpiral();
  for (const [name, oneHot] of [["twolayer-labels", false], ["twolayer-onehot", true]]) {
    const mod = await import(pathToFileURL(`${generated}${name}.mjs`).href);
    const run = trainBatched(mod, data, { steps, oneHot });
    const last = run.losses[steps - 1];
    console.log(`${name.padEnd(16)} ${steps} steps: loss ${run.losses[0].toFixed(6)} -> ${last.toFixed(6)}, training accuracy ${(run.accuracy * 100).toFixed(1)}% (${(run.ms / 1000).toFixed(2)} s, ${((run.ms / steps) * 1000).toFixed(0)} us/step)`);
  }
}
