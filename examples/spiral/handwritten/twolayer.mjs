// Hand-written stand-in for generated/cs231n/twolayer.mjs: the same module
// contract (shared/spec/modules.md) and the exact gradients of the same loss as
// examples/cs231n/twolayer.expr, coded by hand the way the CS231n notes do it.
// Used by `train.mjs --handwritten` and as a cross-check of the compiler's output.
//
//   h = relu(W1 @ x + b1); scores = W2 @ h + b2
//   loss = -sum(y * log_softmax(scores)) + 0.5*reg*(sum(W1*W1) + sum(W2*W2))

import { lossSeed, scalarArg, tensorArg } from "./args.mjs";

const D = 2, H = 100, K = 3;

// Scratch for one call (the module is single-threaded, so sharing is safe).
const z1 = new Float64Array(H); // pre-activation of the hidden layer
const hid = new Float64Array(H); // relu(z1)
const scores = new Float64Array(K);

let lse = 0; // log-sum-exp of the scores, set by lossOf

/** Sum of squares, with four partial sums (a single running sum is latency-bound). */
function sumSquares(v) {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0, i = 0;
  const n = v.length;
  for (; i + 3 < n; i += 4) {
    const a = v[i], b = v[i + 1], c = v[i + 2], d = v[i + 3];
    s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d;
  }
  for (; i < n; i++) s0 += v[i] * v[i];
  return (s0 + s1) + (s2 + s3);
}

/** Forward pass: returns the loss; leaves scores, activations and lse in scratch. */
function lossOf(x, y, reg, W1, b1, W2, b2) {
  // hidden layer, and the three class scores side by side (K = 3)
  let s0 = b2[0], s1 = b2[1], s2 = b2[2];
  const x0 = x[0], x1 = x[1];
  for (let j = 0; j < H; j++) {
    const z = W1[2 * j] * x0 + W1[2 * j + 1] * x1 + b1[j];
    z1[j] = z;
    const h = z > 0 ? z : 0;
    hid[j] = h;
    s0 += W2[j] * h; s1 += W2[H + j] * h; s2 += W2[2 * H + j] * h;
  }
  scores[0] = s0; scores[1] = s1; scores[2] = s2;
  // log_softmax, shifted by the largest score so that exp cannot overflow
  const max = Math.max(s0, s1, s2);
  lse = max + Math.log(Math.exp(s0 - max) + Math.exp(s1 - max) + Math.exp(s2 - max));
  let data = 0;
  for (let k = 0; k < K; k++) data -= y[k] * (scores[k] - lse);
  return data + 0.5 * reg * (sumSquares(W1) + sumSquares(W2));
}

function checkArgs(args) {
  if (args == null || typeof args !== "object") throw new TypeError("args must be an object");
  tensorArg(args, "x", D); tensorArg(args, "y", K); scalarArg(args, "reg");
  tensorArg(args, "W1", H * D); tensorArg(args, "b1", H);
  tensorArg(args, "W2", K * H); tensorArg(args, "b2", K);
}

export function createOutputs() {
  return { loss: NaN };
}

/** Gradient holders: views into one zeroed buffer (cheaper to make and to sum). */
export function createGrad() {
  const buf = new Float64Array(H * D + H + K * H + K);
  let at = 0;
  const view = (n) => buf.subarray(at, (at += n));
  return { W1: view(H * D), b1: view(H), W2: view(K * H), b2: view(K) };
}

export function forwardInto(args, outputs) {
  checkArgs(args);
  outputs.loss = lossOf(args.x, args.y, args.reg, args.W1, args.b1, args.W2, args.b2);
  return outputs;
}

export function forward(args) {
  return forwardInto(args, createOutputs());
}

export function backwardInto(args, seed, grad, outputs) {
  checkArgs(args);
  const x = args.x, y = args.y, reg = args.reg, W1 = args.W1, W2 = args.W2;
  const g = lossSeed(seed);
  const loss = lossOf(x, y, reg, W1, args.b1, W2, args.b2);
  if (outputs !== undefined) outputs.loss = loss;
  const gW1 = grad.W1, gb1 = grad.b1, gW2 = grad.W2, gb2 = grad.b2;
  if (g === 0) {
    gW1.fill(0); gb1.fill(0); gW2.fill(0); gb2.fill(0);
    return grad;
  }
  // d loss / d scores = softmax(scores) * sum(y) - y  (= p - y for a one-hot y)
  const ysum = y[0] + y[1] + y[2];
  const d0 = g * (Math.exp(scores[0] - lse) * ysum - y[0]);
  const d1 = g * (Math.exp(scores[1] - lse) * ysum - y[1]);
  const d2 = g * (Math.exp(scores[2] - lse) * ysum - y[2]);
  gb2[0] = d0; gb2[1] = d1; gb2[2] = d2;
  const gr = g * reg; // the L2 term's gradient is reg * W (times the seed)
  const x0 = x[0], x1 = x[1];
  for (let j = 0; j < H; j++) {
    const h = hid[j];
    const w0 = W2[j], w1 = W2[H + j], w2 = W2[2 * H + j];
    gW2[j] = d0 * h + gr * w0;
    gW2[H + j] = d1 * h + gr * w1;
    gW2[2 * H + j] = d2 * h + gr * w2;
    // back through W2, then through the ReLU (relu'(0) = 0)
    const dz = z1[j] > 0 ? w0 * d0 + w1 * d1 + w2 * d2 : 0;
    gb1[j] = dz;
    gW1[2 * j] = dz * x0 + gr * W1[2 * j];
    gW1[2 * j + 1] = dz * x1 + gr * W1[2 * j + 1];
  }
  return grad;
}

export function backward(args, seed) {
  const outputs = createOutputs();
  const grad = backwardInto(args, seed, createGrad(), outputs);
  return { outputs, grad };
}
