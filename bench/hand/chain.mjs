// Hand-written reference for bench/models/chain.expr (energy of a hanging chain of 500 masses
// joined by springs), as an expert would write it: the generated-module contract, one fused
// pass for the energy and its gradient (minus the forces), no allocation per call.
import { tensorArg, scalarArg, seedOf } from './shared.mjs';

const N = 500;

function check(args) {
  scalarArg(args.k, 'k');
  scalarArg(args.rest, 'rest');
  scalarArg(args.mg, 'mg');
  tensorArg(args.x, 'x', N);
  tensorArg(args.y, 'y', N);
}

function energy(args) {
  const { k, rest, mg, x, y } = args;
  let springs = 0;
  let height = 0;
  for (let i = 0; i < N - 1; i++) {
    const dx = x[i + 1] - x[i];
    const dy = y[i + 1] - y[i];
    const stretch = Math.sqrt(dx * dx + dy * dy) - rest;
    springs += 0.5 * k * stretch * stretch;
    height += y[i];
  }
  return springs + mg * (height + y[N - 1]);
}

export function createOutputs() {
  return { energy: NaN };
}

export function createGrad() {
  return { x: new Float64Array(N), y: new Float64Array(N) };
}

export function forward(args) {
  check(args);
  return { energy: energy(args) };
}

export function forwardInto(args, outputs) {
  check(args);
  outputs.energy = energy(args);
  return outputs;
}

export function backwardInto(args, seed, grad, outputs) {
  check(args);
  const g = seedOf(seed, 'energy');
  const { x: gx, y: gy } = grad;
  if (g === undefined) {
    if (outputs !== undefined) outputs.energy = energy(args);
    gx.fill(0);
    gy.fill(0);
    return grad;
  }
  const { k, rest, mg, x, y } = args;
  const weight = g * mg;
  let springs = 0;
  let height = 0;
  // Spring i pulls mass i by +f and mass i+1 by -f: mass i+1's share is carried to the next step.
  let carryX = 0;
  let carryY = 0;
  for (let i = 0; i < N - 1; i++) {
    const dx = x[i + 1] - x[i];
    const dy = y[i + 1] - y[i];
    const length = Math.sqrt(dx * dx + dy * dy);
    const stretch = length - rest;
    springs += 0.5 * k * stretch * stretch;
    height += y[i];
    const c = (g * k * stretch) / length;
    const fx = c * dx;
    const fy = c * dy;
    gx[i] = carryX - fx;
    gy[i] = carryY - fy + weight;
    carryX = fx;
    carryY = fy;
  }
  gx[N - 1] = carryX;
  gy[N - 1] = carryY + weight;
  if (outputs !== undefined) outputs.energy = springs + mg * (height + y[N - 1]);
  return grad;
}

export function backward(args, seed) {
  const outputs = createOutputs();
  const grad = backwardInto(args, seed, createGrad(), outputs);
  return { outputs, grad };
}
