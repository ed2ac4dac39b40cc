// Hand-written reference for bench/models/neuron.expr (the CS231n sigmoid neuron), as an expert
// would write it: the generated-module contract, no allocation in forwardInto/backwardInto.
import { tensorArg, seedOf } from './shared.mjs';

function sigmoid(z) {
  const e = Math.exp(-Math.abs(z));
  return z >= 0 ? 1 / (1 + e) : e / (1 + e);
}

function value(w, x) {
  return sigmoid(w[0] * x[0] + w[1] * x[1] + w[2]);
}

export function createOutputs() {
  return { f: NaN };
}

export function createGrad() {
  return { w: new Float64Array(3), x: new Float64Array(2) };
}

export function forward(args) {
  return { f: value(tensorArg(args.w, 'w', 3), tensorArg(args.x, 'x', 2)) };
}

export function forwardInto(args, outputs) {
  outputs.f = value(tensorArg(args.w, 'w', 3), tensorArg(args.x, 'x', 2));
  return outputs;
}

export function backwardInto(args, seed, grad, outputs) {
  const w = tensorArg(args.w, 'w', 3);
  const x = tensorArg(args.x, 'x', 2);
  const g = seedOf(seed, 'f');
  const f = value(w, x);
  if (outputs !== undefined) outputs.f = f;
  const gw = grad.w;
  const gx = grad.x;
  if (g === undefined) {
    gw.fill(0);
    gx.fill(0);
    return grad;
  }
  const dz = g * f * (1 - f); // the sigmoid gate's local gradient
  gw[0] = dz * x[0];
  gw[1] = dz * x[1];
  gw[2] = dz;
  gx[0] = dz * w[0];
  gx[1] = dz * w[1];
  return grad;
}

export function backward(args, seed) {
  const outputs = createOutputs();
  const grad = backwardInto(args, seed, createGrad(), outputs);
  return { outputs, grad };
}
