// A small L-BFGS minimizer for the flat form's convention f(x, grad) -> value. No maintained
// npm package offers one that takes an analytic gradient this way (fmin, the one that does,
// ships a build that Node cannot import as an ES module), so the examples carry this one,
// tested in test/optimize.test.ts. Two-loop recursion over the last `memory` steps, a
// backtracking line search with the Armijo condition; nothing is allocated per iteration.

const dot = (a, b) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/**
 * Minimizes f from x0. `f(x, grad)` returns the value at x and writes the gradient into grad.
 * Returns { x, value, iterations, evaluations, converged }.
 */
export function lbfgs(f, x0, { memory = 7, maxIterations = 500, tolerance = 1e-9 } = {}) {
  const n = x0.length;
  const x = Float64Array.from(x0);
  const g = new Float64Array(n);
  const xNew = new Float64Array(n);
  const gNew = new Float64Array(n);
  const d = new Float64Array(n);
  const s = new Float64Array(n);
  const y = new Float64Array(n);
  const S = Array.from({ length: memory }, () => new Float64Array(n));
  const Y = Array.from({ length: memory }, () => new Float64Array(n));
  const rho = new Float64Array(memory);
  const alpha = new Float64Array(memory);
  let stored = 0; // pairs kept, the newest at (newest)
  let newest = -1;
  let value = f(x, g);
  let evaluations = 1;
  let iterations = 0;
  let converged = false;

  for (; iterations < maxIterations; iterations++) {
    if (Math.sqrt(dot(g, g)) <= tolerance * Math.max(1, Math.sqrt(dot(x, x)))) {
      converged = true;
      break;
    }
    // d = -H g by the two-loop recursion.
    for (let i = 0; i < n; i++) d[i] = g[i];
    for (let k = 0; k < stored; k++) {
      const j = (newest - k + memory) % memory;
      alpha[j] = rho[j] * dot(S[j], d);
      for (let i = 0; i < n; i++) d[i] -= alpha[j] * Y[j][i];
    }
    const gamma = stored ? dot(S[newest], Y[newest]) / dot(Y[newest], Y[newest]) : 1 / Math.max(1, Math.sqrt(dot(g, g)));
    for (let i = 0; i < n; i++) d[i] *= gamma;
    for (let k = stored - 1; k >= 0; k--) {
      const j = (newest - k + memory) % memory;
      const beta = rho[j] * dot(Y[j], d);
      for (let i = 0; i < n; i++) d[i] += S[j][i] * (alpha[j] - beta);
    }
    for (let i = 0; i < n; i++) d[i] = -d[i];
    let slope = dot(g, d);
    if (!(slope < 0)) {
      // Not a descent direction (curvature lost to rounding): start over from steepest descent.
      stored = 0;
      for (let i = 0; i < n; i++) d[i] = -g[i] / Math.max(1, Math.sqrt(dot(g, g)));
      slope = dot(g, d);
    }
    // Backtracking: the full step first, halved until the value drops enough.
    let step = 1;
    let next;
    for (let tries = 0; ; tries++) {
      for (let i = 0; i < n; i++) xNew[i] = x[i] + step * d[i];
      next = f(xNew, gNew);
      evaluations++;
      if (next <= value + 1e-4 * step * slope || tries === 60) break;
      step *= 0.5;
    }
    if (!(next < value) && stored === 0) break; // no progress even along the gradient
    // Keep the pair (s, y) when the curvature condition holds, in place of the oldest.
    for (let i = 0; i < n; i++) {
      s[i] = xNew[i] - x[i];
      y[i] = gNew[i] - g[i];
    }
    const sy = dot(s, y);
    if (sy > 1e-12 * dot(y, y)) {
      newest = (newest + 1) % memory;
      S[newest].set(s);
      Y[newest].set(y);
      rho[newest] = 1 / sy;
      stored = Math.min(stored + 1, memory);
    }
    x.set(xNew);
    g.set(gNew);
    value = next;
  }
  return { x, value, iterations, evaluations, converged };
}
