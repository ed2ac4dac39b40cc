// Hand-written stand-in for generated/cs231n/softmax.mjs: the same module
// contract (shared/spec/modules.md) and the exact gradients of the same loss as
// examples/cs231n/softmax.expr, coded by hand the way the CS231n notes do it.
// Used by `train.mjs --handwritten` and as a cross-check of the compiler's output.
//
//   scores = W @ x + b
//   loss = -sum(y * log_softmax(scores)) + 0.5*reg*sum(W*W)

import { lossSeed, scalarArg, tensorArg } from "./args.mjs";

const D = 2, K = 3;

const scores = new Float64Array(K); // scratch for one call
let lse = 0; // log-sum-exp of the scores, set by lossOf

function checkArgs(args) {
  if (args == null || typeof args !== "object") throw new TypeError("args must be an object");
  tensorArg(args, "x", D); tensorArg(args, "y", K); scalarArg(args, "reg");
  tensorArg(args, "W", K * D); tensorArg(args, "b", K);
}

/** Forward pass: returns the loss; leaves the scores and lse in scratch. */
function lossOf(x, y, reg, W, b) {
  let max = -Infinity;
  for (let k = 0; k < K; k++) {
    const s = W[k * D] * x[0] + W[k * D + 1] * x[1] + b[k];
    scores[k] = s;
    if (s > max) max = s;
  }
  let z = 0;
  for (let k = 0; k < K; k++) z += Math.exp(scores[k] - max);
  lse = max + Math.log(z);
  let data = 0;
  for (let k = 0; k < K; k++) data -= y[k] * (scores[k] - lse);
  let l2 = 0;
  for (let i = 0; i < K * D; i++) l2 += W[i] * W[i];
  return data + 0.5 * reg * l2;
}

export function createOutputs() {
  return { loss: NaN };
}

/** Gradient holders: views into one zeroed buffer (cheaper to make and to sum). */
export function createGrad() {
  const buf = new Float64Array(K * D + K);
  return { W: buf.subarray(0, K * D), b: buf.subarray(K * D) };
}

export function forwardInto(args, outputs) {
  checkArgs(args);
  outputs.loss = lossOf(args.x, args.y, args.reg, args.W, args.b);
  return outputs;
}

export function forward(args) {
  return forwardInto(args, createOutputs());
}

export function backwardInto(args, seed, grad, outputs) {
  checkArgs(args);
  const x = args.x, y = args.y, reg = args.reg, W = args.W;
  const g = lossSeed(seed);
  const loss = lossOf(x, y, reg, W, args.b);
  if (outputs !== undefined) outputs.loss = loss;
  const gW = grad.W, gb = grad.b;
  if (g === 0) {
    gW.fill(0); gb.fill(0);
    return grad;
  }
  // d loss / d scores = softmax(scores) * sum(y) - y  (= p - y for a one-hot y)
  let ysum = 0;
  for (let k = 0; k < K; k++) ysum += y[k];
  const gr = g * reg;
  for (let k = 0; k < K; k++) {
    const ds = g * (Math.exp(scores[k] - lse) * ysum - y[k]);
    gb[k] = ds;
    gW[k * D] = ds * x[0] + gr * W[k * D];
    gW[k * D + 1] = ds * x[1] + gr * W[k * D + 1];
  }
  return grad;
}

export function backward(args, seed) {
  const outputs = createOutputs();
  const grad = backwardInto(args, seed, createGrad(), outputs);
  return { outputs, grad };
}
