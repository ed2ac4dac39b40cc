// Hand-written reference for bench/models/rosenbrock.expr (Rosenbrock's function, 1000
// dimensions), as an expert would write it: the generated-module contract, one fused pass for
// the value and the gradient, no allocation in forwardInto/backwardInto.
import { tensorArg, seedOf } from './shared.mjs';

const N = 1000;

function value(x) {
  let f = 0;
  for (let i = 0; i < N - 1; i++) {
    const xi = x[i];
    const t = x[i + 1] - xi * xi;
    const u = 1 - xi;
    f += 100 * t * t + u * u;
  }
  return f;
}

export function createOutputs() {
  return { f: NaN };
}

export function createGrad() {
  return { x: new Float64Array(N) };
}

export function forward(args) {
  return { f: value(tensorArg(args.x, 'x', N)) };
}

export function forwardInto(args, outputs) {
  outputs.f = value(tensorArg(args.x, 'x', N));
  return outputs;
}

export function backwardInto(args, seed, grad, outputs) {
  const x = tensorArg(args.x, 'x', N);
  const g = seedOf(seed, 'f');
  const gx = grad.x;
  if (g === undefined) {
    if (outputs !== undefined) outputs.f = value(x);
    gx.fill(0);
    return grad;
  }
  // Term i touches x[i] and x[i+1]: its share of x[i+1]'s gradient is carried to the next step.
  let f = 0;
  let carry = 0;
  for (let i = 0; i < N - 1; i++) {
    const xi = x[i];
    const t = x[i + 1] - xi * xi;
    const u = 1 - xi;
    f += 100 * t * t + u * u;
    gx[i] = g * (carry - 400 * t * xi - 2 * u);
    carry = 200 * t;
  }
  gx[N - 1] = g * carry;
  if (outputs !== undefined) outputs.f = f;
  return grad;
}

export function backward(args, seed) {
  const outputs = createOutputs();
  const grad = backwardInto(args, seed, createGrad(), outputs);
  return { outputs, grad };
}
