// An XPBD step (extended position-based dynamics) for a hanging chain of particles joined by
// rods: each rod is a constraint C = |p - q| - L (rod.expr), solved one at a time with the
// gradient of C from gradc's flat form, called once per rod and iteration. The first particle
// is pinned (inverse mass 0). `node examples/optimize/xpbd.mjs` drops a chain and prints how
// well the rods keep their length; test/optimize.test.ts checks it.
import { fileURLToPath } from 'node:url';
import { valueAndGradFlat } from '../../generated/optimize/rod.mjs';

/** A chain of n particles, horizontal at the start, rods of length `length`. */
export function chain(n, length = 0.1) {
  const x = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) x[2 * i] = i * length;
  const w = new Float64Array(n).fill(1);
  w[0] = 0;
  return { n, x, previous: new Float64Array(2 * n), v: new Float64Array(2 * n), w, length, lambda: new Float64Array(n - 1) };
}

// Scratch of the constraint calls, made once: p and q packed as the flat form's x, its gradient.
const at = new Float64Array(4);
const grad = new Float64Array(4);
const rest = { L: 0 };

/** One time step of dt: predict, `iterations` sweeps over the rods, then velocities. */
export function step(s, dt, { iterations = 10, compliance = 0, gravity = -9.81 } = {}) {
  const { n, x, previous, v, w, length, lambda } = s;
  previous.set(x);
  for (let i = 0; i < n; i++) {
    if (w[i] === 0) continue;
    v[2 * i + 1] += dt * gravity;
    x[2 * i] += dt * v[2 * i];
    x[2 * i + 1] += dt * v[2 * i + 1];
  }
  lambda.fill(0);
  const alpha = compliance / (dt * dt);
  rest.L = length;
  for (let it = 0; it < iterations; it++) {
    for (let j = 0; j < n - 1; j++) {
      const p = 2 * j;
      const q = 2 * j + 2;
      at[0] = x[p];
      at[1] = x[p + 1];
      at[2] = x[q];
      at[3] = x[q + 1];
      const C = valueAndGradFlat(at, grad, rest);
      const wp = w[j];
      const wq = w[j + 1];
      const denominator = wp * (grad[0] * grad[0] + grad[1] * grad[1]) + wq * (grad[2] * grad[2] + grad[3] * grad[3]) + alpha;
      if (denominator === 0) continue;
      const dLambda = (-C - alpha * lambda[j]) / denominator;
      lambda[j] += dLambda;
      x[p] += wp * dLambda * grad[0];
      x[p + 1] += wp * dLambda * grad[1];
      x[q] += wq * dLambda * grad[2];
      x[q + 1] += wq * dLambda * grad[3];
    }
  }
  for (let i = 0; i < 2 * n; i++) v[i] = (x[i] - previous[i]) / dt;
}

/** The largest |C| over the rods: how far from its length the worst rod is. */
export function worstStretch(s) {
  let worst = 0;
  for (let j = 0; j < s.n - 1; j++) {
    const dx = s.x[2 * j] - s.x[2 * j + 2];
    const dy = s.x[2 * j + 1] - s.x[2 * j + 3];
    worst = Math.max(worst, Math.abs(Math.hypot(dx, dy) - s.length));
  }
  return worst;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const s = chain(20);
  const started = performance.now();
  const steps = 600;
  for (let k = 0; k < steps; k++) step(s, 1 / 60, { iterations: 20 });
  const ms = performance.now() - started;
  const calls = steps * 20 * (s.n - 1);
  console.log(`20 particles, ${steps} steps of 1/60 s, 20 iterations: worst rod off its length by ${worstStretch(s).toExponential(2)}`);
  console.log(`lowest particle at y = ${s.x[2 * s.n - 1].toFixed(3)}; ${calls} constraint gradients in ${ms.toFixed(0)} ms (${((ms * 1e6) / calls).toFixed(0)} ns per rod and iteration, solver included)`);
}
