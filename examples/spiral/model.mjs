// Training and prediction for the spiral case study, for any module with the
// gradc contract (generated/cs231n/*.mjs or the stand-ins in handwritten/).
// No gradient is written here: every gradient comes from the module's
// backwardInto, and every prediction from its forwardInto.
//
// Full-batch gradient descent on CS231n's loss over the N training points
//     L = (1/N) * sum_i data_loss_i + 0.5 * reg * |W|^2
// The modules compute, for one sample, loss_i = data_loss_i + 0.5 * reg * |W|^2
// (reg passed unchanged), so L is exactly the MEAN of the per-sample losses
// and its gradient the mean of the per-sample gradients: each step sums the
// per-sample gradients, then moves by -(stepSize / N) times that sum.

import { makeRng } from "./data.mjs";

export const INIT_SEED = 1;

/** Per-sample argument objects, allocated once: x and y are views into flat arrays. */
function sampleArgs(data, reg, params) {
  const { X, labels, count, D, K } = data;
  const Y = new Float64Array(count * K); // one-hot labels
  for (let i = 0; i < count; i++) Y[i * K + labels[i]] = 1;
  const args = [];
  for (let i = 0; i < count; i++) {
    args.push({ x: X.subarray(i * D, (i + 1) * D), y: Y.subarray(i * K, (i + 1) * K), reg, ...params });
  }
  return args;
}

/** total += g, unrolled by four (about twice as fast in V8 as the plain loop). */
function addInto(total, g) {
  const n = g.length;
  let k = 0;
  for (; k + 3 < n; k += 4) {
    total[k] += g[k];
    total[k + 1] += g[k + 1];
    total[k + 2] += g[k + 2];
    total[k + 3] += g[k + 3];
  }
  for (; k < n; k++) total[k] += g[k];
}

/**
 * One Float64Array over all of `arrays` when they lie back to back in one
 * buffer (gradc's createGrad makes them so), else null. Summing one long array
 * is about twice as fast in V8 as summing several short ones.
 */
function wholeView(arrays) {
  const first = arrays[0];
  let end = first.byteOffset;
  for (const a of arrays) {
    if (!(a instanceof Float64Array) || a.buffer !== first.buffer || a.byteOffset !== end) return null;
    end += a.byteLength;
  }
  return new Float64Array(first.buffer, first.byteOffset, (end - first.byteOffset) / 8);
}

/**
 * Full-batch gradient descent, in place on `params` (an object of Float64Arrays
 * named as the module's params). Calls onLog(step, loss) every `logEvery` steps
 * and onStep(done, steps, loss) after every step; the loss reported for a step
 * is the mean loss before that step's update. Returns the mean loss per step.
 */
export function trainFullBatch(mod, data, params, opts = {}) {
  const { steps, stepSize = 1, reg = 1e-3, logEvery = 0, onLog, onStep } = opts;
  const names = Object.keys(params);
  const args = sampleArgs(data, reg, params);
  const n = args.length;
  const backwardInto = mod.backwardInto; // read once: not from the module namespace per call
  const grad = mod.createGrad(); // overwritten by every backwardInto
  const outputs = mod.createOutputs();
  const p = names.map((k) => params[k]);
  const gParts = names.map((k) => grad[k]);
  // Sum over samples: in one pass over the whole gradient when it is one block.
  const gWhole = wholeView(gParts);
  const g = gWhole ? [gWhole] : gParts;
  const sums = g.map((a) => new Float64Array(a.length));
  let at = 0;
  const total = gWhole ? gParts.map((a) => sums[0].subarray(at, (at += a.length))) : sums; // per param
  const losses = new Float64Array(steps);
  for (let step = 0; step < steps; step++) {
    for (const t of sums) t.fill(0);
    let loss = 0;
    for (let i = 0; i < n; i++) {
      backwardInto(args[i], undefined, grad, outputs);
      loss += outputs.loss;
      for (let q = 0; q < g.length; q++) addInto(sums[q], g[q]);
    }
    loss /= n;
    losses[step] = loss;
    if (onLog && logEvery > 0 && step % logEvery === 0) onLog(step, loss);
    const scale = stepSize / n; // the mean over samples, times the step size
    for (let q = 0; q < p.length; q++) {
      const pq = p[q], tq = total[q];
      for (let k = 0; k < pq.length; k++) pq[k] -= scale * tq[k];
    }
    if (onStep) onStep(step + 1, steps, loss);
  }
  return losses;
}

/** The mean loss over the data (CS231n's full-batch loss) at `params`. */
export function meanLoss(mod, data, params, reg = 1e-3) {
  const args = sampleArgs(data, reg, params);
  const outputs = mod.createOutputs();
  let loss = 0;
  for (const a of args) loss += mod.forwardInto(a, outputs).loss;
  return loss / args.length;
}

/**
 * predict(x0, x1) -> class. The modules output only the loss, so the class is
 * found with it: with reg = 0 and label c, the loss is -log p(c), so the most
 * probable class is the label whose loss is smallest.
 */
export function makePredictor(mod, params, K = 3) {
  const x = new Float64Array(2);
  const onehot = [];
  for (let c = 0; c < K; c++) {
    const e = new Float64Array(K);
    e[c] = 1;
    onehot.push(e);
  }
  const args = { x, y: onehot[0], reg: 0, ...params };
  const outputs = mod.createOutputs();
  return function predict(x0, x1) {
    x[0] = x0;
    x[1] = x1;
    let best = 0, bestLoss = Infinity;
    for (let c = 0; c < K; c++) {
      args.y = onehot[c];
      const loss = mod.forwardInto(args, outputs).loss;
      if (loss < bestLoss) { best = c; bestLoss = loss; }
    }
    return best;
  };
}

/** Fraction of the training points classified correctly. */
export function accuracy(predict, data) {
  let right = 0;
  for (let i = 0; i < data.count; i++) {
    if (predict(data.X[i * data.D], data.X[i * data.D + 1]) === data.labels[i]) right++;
  }
  return right / data.count;
}

/** Throws a readable error unless `mod` has the contract's functions and these params. */
export function checkModule(mod, paramNames, what) {
  for (const fn of ["createGrad", "createOutputs", "forwardInto", "backwardInto"]) {
    if (typeof mod[fn] !== "function") throw new Error(`${what} module: no exported function ${fn}()`);
  }
  const sizes = mod.sizesOf ? { N: 1 } : undefined;
  const names = Object.keys(mod.createGrad(sizes));
  if ([...names].sort().join() !== [...paramNames].sort().join()) {
    throw new Error(`${what} module: expected params ${paramNames.join(", ")}, createGrad() has ${names.join(", ")}`);
  }
  if (!("loss" in mod.createOutputs(sizes))) throw new Error(`${what} module: no output 'loss'`);
}

/** CS231n's initialisation: weights 0.01 * randn, biases 0 (names W..., b...). */
function initParams(mod, seed) {
  const rng = makeRng(seed);
  const params = mod.createGrad(); // zeroed arrays of the right lengths
  for (const [name, v] of Object.entries(params)) {
    if (name.startsWith("W")) for (let k = 0; k < v.length; k++) v[k] = 0.01 * rng.gaussian();
  }
  return params;
}

function train(mod, data, opts) {
  const { seed = INIT_SEED, reg = 1e-3 } = opts;
  const params = initParams(mod, seed);
  const t0 = performance.now();
  const losses = trainFullBatch(mod, data, params, opts);
  const ms = performance.now() - t0;
  const finalLoss = meanLoss(mod, data, params, reg);
  const predict = makePredictor(mod, params, data.K);
  return { params, losses, finalLoss, predict, accuracy: accuracy(predict, data), ms };
}

/**
 * The softmax linear classifier (module: softmax.mjs). Defaults are the
 * course's: 200 steps, step size 1, reg 1e-3. Returns params, per-step losses,
 * the final loss, predict(x0, x1), the training accuracy and the training time in ms.
 */
export function trainSoftmax(mod, data, opts = {}) {
  checkModule(mod, ["W", "b"], "softmax");
  return train(mod, data, { ...opts, steps: opts.steps ?? 200, logEvery: opts.logEvery ?? 20 });
}

/**
 * The two-layer ReLU net (module: twolayer.mjs). Defaults are the course's:
 * 10,000 steps, step size 1, reg 1e-3. Returns as trainSoftmax.
 */
export function trainTwoLayer(mod, data, opts = {}) {
  checkModule(mod, ["W1", "b1", "W2", "b2"], "twolayer");
  return train(mod, data, { ...opts, steps: opts.steps ?? 10000, logEvery: opts.logEvery ?? 1000 });
}

// ---- The batched modules (examples/cs231n/*-batched.expr) ---------------------------------
// The course's own form: the module takes the whole data set (X[N, D], one-hot Y[N, K]) and
// returns the mean loss with the L2 term counted once, so a step is one backwardInto call.
// Weights are laid out as the course writes them (W1 [D, H], W2 [H, K]): the transposes of the
// per-sample modules' W1 [H, D], W2 [K, H].

/** The batched module's data arguments, allocated once: X as it is and one-hot rows Y. */
export function batchArgs(data, reg) {
  const { X, labels, count, K } = data;
  const Y = new Float64Array(count * K);
  for (let i = 0; i < count; i++) Y[i * K + labels[i]] = 1;
  return { X, Y, reg };
}

/** The [cols, rows] transpose of a flat row-major [rows, cols] matrix. */
export function transposed(m, rows, cols) {
  const t = new Float64Array(m.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) t[c * rows + r] = m[r * cols + c];
  return t;
}

/**
 * Full-batch gradient descent with a batched module: one backwardInto per step, then
 * params -= stepSize * grad. Logging as trainFullBatch. Returns the loss per step.
 */
export function trainBatched(mod, data, params, opts = {}) {
  const { steps, stepSize = 1, reg = 1e-3, logEvery = 0, onLog, onStep } = opts;
  const args = { ...batchArgs(data, reg), ...params };
  const backwardInto = mod.backwardInto;
  const grad = mod.createGrad(sizesFor(mod, data));
  const outputs = mod.createOutputs(sizesFor(mod, data));
  const names = Object.keys(params);
  const p = names.map((k) => params[k]);
  const g = names.map((k) => grad[k]);
  const losses = new Float64Array(steps);
  for (let step = 0; step < steps; step++) {
    backwardInto(args, undefined, grad, outputs);
    const loss = outputs.loss;
    losses[step] = loss;
    if (onLog && logEvery > 0 && step % logEvery === 0) onLog(step, loss);
    for (let q = 0; q < p.length; q++) {
      const pq = p[q], gq = g[q];
      for (let k = 0; k < pq.length; k++) pq[k] -= stepSize * gq[k];
    }
    if (onStep) onStep(step + 1, steps, loss);
  }
  return losses;
}

/**
 * Trains a batched module from the same initial weights as the per-sample path (the
 * per-sample module's draws, transposed), so both paths follow one trajectory up to
 * rounding. `perSample` is the matching per-sample module: it makes the initial weights and,
 * with the trained weights transposed back, the predictor for the decision regions.
 * `layers` lists [batched name, per-sample name, per-sample rows, cols] for each weight.
 */
/**
 * The sizes a module's holders are made for: a module compiled with `dim N` (sizesOf) takes
 * the number of points, one compiled with the points a const takes nothing.
 */
const sizesFor = (mod, data) => (mod.sizesOf ? { N: data.count } : undefined);

function trainBatchedModel(mod, perSample, data, opts, layers) {
  const { seed = INIT_SEED, reg = 1e-3 } = opts;
  const start = initParams(perSample, seed);
  const params = mod.createGrad(sizesFor(mod, data));
  for (const [name, value] of Object.entries(start)) {
    const layer = layers.find(([, from]) => from === name);
    params[name].set(layer ? transposed(value, layer[2], layer[3]) : value);
  }
  const t0 = performance.now();
  const losses = trainBatched(mod, data, params, opts);
  const ms = performance.now() - t0;
  const outputs = mod.createOutputs(sizesFor(mod, data));
  const finalLoss = mod.forwardInto({ ...batchArgs(data, reg), ...params }, outputs).loss;
  const back = { ...params };
  for (const [name, , rows, cols] of layers) back[name] = transposed(params[name], cols, rows);
  const predict = makePredictor(perSample, back, data.K);
  return { params, losses, finalLoss, predict, accuracy: accuracy(predict, data), ms };
}

/** The softmax classifier, batched (softmax-batched.mjs; softmax.mjs for init and prediction). */
export function trainSoftmaxBatched(mod, perSample, data, opts = {}) {
  checkModule(mod, ["W", "b"], "softmax-batched");
  const o = { ...opts, steps: opts.steps ?? 200, logEvery: opts.logEvery ?? 20 };
  return trainBatchedModel(mod, perSample, data, o, [["W", "W", data.K, data.D]]);
}

/** The two-layer net, batched (twolayer-batched.mjs or twolayer-sized.mjs; twolayer.mjs for init and prediction). */
export function trainTwoLayerBatched(mod, perSample, data, opts = {}) {
  checkModule(mod, ["W1", "b1", "W2", "b2"], mod.sizesOf ? "twolayer-sized" : "twolayer-batched");
  const o = { ...opts, steps: opts.steps ?? 10000, logEvery: opts.logEvery ?? 1000 };
  const H = perSample.createGrad().b1.length;
  return trainBatchedModel(mod, perSample, data, o, [["W1", "W1", H, data.D], ["W2", "W2", data.K, H]]);
}
