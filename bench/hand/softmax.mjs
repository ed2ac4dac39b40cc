// Hand-written reference for bench/models/softmax.expr (softmax linear classifier, 784 inputs,
// 10 classes, one sample), as an expert would write it: the generated-module contract, loops over
// flat row-major arrays, dot products with four accumulators, scratch allocated once.
import { tensorArg, seedOf, dotRow, crossEntropy } from './shared.mjs';

export const D = 784; // inputs
export const K = 10; // classes
export const scores = new Float64Array(K); // W @ x + b, then d loss / d scores

export function check(args) {
  tensorArg(args.x, 'x', D);
  tensorArg(args.y, 'y', K);
  tensorArg(args.W, 'W', K * D);
  tensorArg(args.b, 'b', K);
}

/** Fills `scores` with W @ x + b. */
export function scoresOf(args) {
  const { x, W, b } = args;
  for (let k = 0; k < K; k++) scores[k] = b[k] + dotRow(W, k * D, x, D);
}

export function createOutputs() {
  return { loss: NaN };
}

export function createGrad() {
  return { W: new Float64Array(K * D), b: new Float64Array(K) };
}

export function forward(args) {
  check(args);
  scoresOf(args);
  return { loss: crossEntropy(scores, args.y, K) };
}

export function forwardInto(args, outputs) {
  check(args);
  scoresOf(args);
  outputs.loss = crossEntropy(scores, args.y, K);
  return outputs;
}

export function backwardInto(args, seed, grad, outputs) {
  check(args);
  const g = seedOf(seed, 'loss');
  const { W: gW, b: gb } = grad;
  scoresOf(args);
  if (g === undefined) {
    if (outputs !== undefined) outputs.loss = crossEntropy(scores, args.y, K);
    gW.fill(0);
    gb.fill(0);
    return grad;
  }
  const loss = crossEntropy(scores, args.y, K, g);
  if (outputs !== undefined) outputs.loss = loss;
  const x = args.x;
  for (let k = 0; k < K; k++) {
    const d = scores[k];
    const row = k * D;
    gb[k] = d;
    for (let i = 0; i < D; i++) gW[row + i] = d * x[i];
  }
  return grad;
}

export function backward(args, seed) {
  const outputs = createOutputs();
  const grad = backwardInto(args, seed, createGrad(), outputs);
  return { outputs, grad };
}
