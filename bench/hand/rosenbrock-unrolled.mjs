// bench/hand/rosenbrock.mjs with its loops unrolled by four, as gradc unrolls its innermost
// loops: the hand-written row that shows what that technique alone is worth.
import { tensorArg, seedOf } from './shared.mjs';

export { createGrad, createOutputs } from './rosenbrock.mjs';
import { createGrad, createOutputs } from './rosenbrock.mjs';

const N = 1000;
const WHOLE = (N - 1) - ((N - 1) % 4); // terms i = 0 .. N - 2, four per iteration

function value(x) {
  let f = 0;
  let i0 = 0;
  for (; i0 < WHOLE; i0 += 4) {
    {
      const i = i0;
      const xi = x[i];
      const t = x[i + 1] - xi * xi;
      const u = 1 - xi;
      f += 100 * t * t + u * u;
    }
    {
      const i = i0 + 1;
      const xi = x[i];
      const t = x[i + 1] - xi * xi;
      const u = 1 - xi;
      f += 100 * t * t + u * u;
    }
    {
      const i = i0 + 2;
      const xi = x[i];
      const t = x[i + 1] - xi * xi;
      const u = 1 - xi;
      f += 100 * t * t + u * u;
    }
    {
      const i = i0 + 3;
      const xi = x[i];
      const t = x[i + 1] - xi * xi;
      const u = 1 - xi;
      f += 100 * t * t + u * u;
    }
  }
  for (let i = i0; i < N - 1; i++) {
    const xi = x[i];
    const t = x[i + 1] - xi * xi;
    const u = 1 - xi;
    f += 100 * t * t + u * u;
  }
  return f;
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
  let i0 = 0;
  for (; i0 < WHOLE; i0 += 4) {
    {
      const i = i0;
      const xi = x[i];
      const t = x[i + 1] - xi * xi;
      const u = 1 - xi;
      f += 100 * t * t + u * u;
      gx[i] = g * (carry - 400 * t * xi - 2 * u);
      carry = 200 * t;
    }
    {
      const i = i0 + 1;
      const xi = x[i];
      const t = x[i + 1] - xi * xi;
      const u = 1 - xi;
      f += 100 * t * t + u * u;
      gx[i] = g * (carry - 400 * t * xi - 2 * u);
      carry = 200 * t;
    }
    {
      const i = i0 + 2;
      const xi = x[i];
      const t = x[i + 1] - xi * xi;
      const u = 1 - xi;
      f += 100 * t * t + u * u;
      gx[i] = g * (carry - 400 * t * xi - 2 * u);
      carry = 200 * t;
    }
    {
      const i = i0 + 3;
      const xi = x[i];
      const t = x[i + 1] - xi * xi;
      const u = 1 - xi;
      f += 100 * t * t + u * u;
      gx[i] = g * (carry - 400 * t * xi - 2 * u);
      carry = 200 * t;
    }
  }
  for (let i = i0; i < N - 1; i++) {
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
