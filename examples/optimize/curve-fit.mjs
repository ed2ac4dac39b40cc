// Fits y = a exp(-b t) + c to noisy samples by L-BFGS on gradc's flat form: the optimizer
// sees one vector x = [a, b, c] and calls valueAndGradFlat(x, grad, data), which computes
// the loss of curve-fit.expr and writes its gradient into grad without allocating.
// `node examples/optimize/curve-fit.mjs` prints the fit; test/optimize.test.ts checks it.
import { fileURLToPath } from 'node:url';
import { packParams, paramSize, unpackParams, valueAndGradFlat } from '../../generated/optimize/curve-fit.mjs';
import { lbfgs } from './lbfgs.mjs';

/** Samples of 2.5 exp(-1.3 t) + 0.4 at t = 0, 0.25, ..., with a small deterministic wobble. */
export function samples(truth = { a: 2.5, b: 1.3, c: 0.4 }, noise = 0.01) {
  const t = Float64Array.from({ length: 24 }, (_, i) => 0.25 * i);
  const y = t.map((ti, i) => truth.a * Math.exp(-truth.b * ti) + truth.c + noise * Math.sin(7.3 * i + 1));
  return { t, y };
}

/** The least-squares fit from a = 1, b = 1, c = 0. */
export function fit(data) {
  const x0 = packParams({ a: 1, b: 1, c: 0 });
  const result = lbfgs((x, grad) => valueAndGradFlat(x, grad, data), x0, { tolerance: 1e-10 });
  return { ...result, params: unpackParams(result.x), paramSize };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { params, value, iterations, evaluations, converged } = fit(samples());
  console.log(`a = ${params.a.toFixed(5)}, b = ${params.b.toFixed(5)}, c = ${params.c.toFixed(5)} (data made with a = 2.5, b = 1.3, c = 0.4 and noise 0.01)`);
  console.log(`loss ${value.toExponential(3)} after ${iterations} iterations, ${evaluations} evaluations${converged ? '' : ' (not converged)'}`);
}
