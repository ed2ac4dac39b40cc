// Hand-written reference for bench/models/spiral.expr (one sample of the CS231n spiral two-layer
// net, 100 ReLU units, 3 classes), as an expert would write it: the generated-module contract,
// loops over flat row-major arrays, scratch buffers allocated once, fused passes.
import { tensorArg, seedOf, crossEntropy } from './shared.mjs';

const H = 100; // hidden units; the input has 2 features and there are 3 classes
const hidden = new Float64Array(H); // relu(W1 @ x + b1), kept for the backward pass
const scores = new Float64Array(3); // W2 @ hidden + b2, then d loss / d scores

function check(args) {
  tensorArg(args.x, 'x', 2);
  tensorArg(args.y, 'y', 3);
  tensorArg(args.W1, 'W1', 2 * H);
  tensorArg(args.b1, 'b1', H);
  tensorArg(args.W2, 'W2', 3 * H);
  tensorArg(args.b2, 'b2', 3);
}

/** One pass over the hidden units: fills `hidden` and `scores`. */
function scoresOf(args) {
  const { x, W1, b1, W2, b2 } = args;
  const x0 = x[0];
  const x1 = x[1];
  let s0 = b2[0];
  let s1 = b2[1];
  let s2 = b2[2];
  for (let j = 0; j < H; j++) {
    const z = W1[2 * j] * x0 + W1[2 * j + 1] * x1 + b1[j];
    const h = z > 0 ? z : 0;
    hidden[j] = h;
    s0 += W2[j] * h;
    s1 += W2[H + j] * h;
    s2 += W2[2 * H + j] * h;
  }
  scores[0] = s0;
  scores[1] = s1;
  scores[2] = s2;
}

export function createOutputs() {
  return { loss: NaN };
}

export function createGrad() {
  return {
    W1: new Float64Array(2 * H),
    b1: new Float64Array(H),
    W2: new Float64Array(3 * H),
    b2: new Float64Array(3),
  };
}

export function forward(args) {
  check(args);
  scoresOf(args);
  return { loss: crossEntropy(scores, args.y, 3) };
}

export function forwardInto(args, outputs) {
  check(args);
  scoresOf(args);
  outputs.loss = crossEntropy(scores, args.y, 3);
  return outputs;
}

export function backwardInto(args, seed, grad, outputs) {
  check(args);
  const g = seedOf(seed, 'loss');
  const { W1: gW1, b1: gb1, W2: gW2, b2: gb2 } = grad;
  scoresOf(args);
  if (g === undefined) {
    if (outputs !== undefined) outputs.loss = crossEntropy(scores, args.y, 3);
    gW1.fill(0);
    gb1.fill(0);
    gW2.fill(0);
    gb2.fill(0);
    return grad;
  }
  const loss = crossEntropy(scores, args.y, 3, g);
  if (outputs !== undefined) outputs.loss = loss;
  const d0 = scores[0];
  const d1 = scores[1];
  const d2 = scores[2];
  gb2[0] = d0;
  gb2[1] = d1;
  gb2[2] = d2;
  const { x, W2 } = args;
  const x0 = x[0];
  const x1 = x[1];
  // One pass over the hidden units: the second layer's weight gradients, then back through
  // the ReLU (relu'(0) = 0) into the first layer.
  for (let j = 0; j < H; j++) {
    const h = hidden[j];
    gW2[j] = d0 * h;
    gW2[H + j] = d1 * h;
    gW2[2 * H + j] = d2 * h;
    const dz = h > 0 ? W2[j] * d0 + W2[H + j] * d1 + W2[2 * H + j] * d2 : 0;
    gW1[2 * j] = dz * x0;
    gW1[2 * j + 1] = dz * x1;
    gb1[j] = dz;
  }
  return grad;
}

export function backward(args, seed) {
  const outputs = createOutputs();
  const grad = backwardInto(args, seed, createGrad(), outputs);
  return { outputs, grad };
}
