// Fits y = a exp(-b t) + c to 200 samples by Levenberg-Marquardt on decay.expr, whose one
// call gives the residuals r and the step -(J^T J + lambda diag(J^T J))^-1 J^T r for the
// Jacobian J that gradc derives. A step that lowers the cost is taken and lambda shrinks
// (towards Gauss-Newton); one that does not is refused and lambda grows (towards a short
// gradient step). `node examples/fit/levenberg-marquardt.mjs` prints the fit;
// test/fit.test.ts checks that it converges to the known answer.
import { fileURLToPath } from 'node:url';
import { createOutputs, forwardInto } from '../../generated/fit/decay.mjs';

/** 200 samples of a exp(-b t) + c at t = 0, 0.025, ..., with a deterministic wobble of size `noise`. */
export function samples(truth = [2.5, 1.3, 0.4], noise = 0.01) {
  const t = Float64Array.from({ length: 200 }, (_, i) => 0.025 * i);
  const y = t.map((ti, i) => truth[0] * Math.exp(-truth[1] * ti) + truth[2] + noise * Math.sin(7.3 * i + 1));
  return { t, y };
}

const cost = (r) => 0.5 * r.reduce((s, v) => s + v * v, 0);

/** Levenberg-Marquardt from `start`; returns the parameters, the cost and the iterations taken. */
export function levenbergMarquardt({ t, y }, start = [1, 1, 0], { lambda = 1e-3, tolerance = 1e-12, maxIterations = 100 } = {}) {
  const here = createOutputs();
  const there = createOutputs();
  let p = Float64Array.from(start);
  forwardInto({ t, y, p, lambda }, here);
  let value = cost(here.r);
  for (let iteration = 1; iteration <= maxIterations; iteration++) {
    const trial = p.map((v, k) => v + here.step[k]);
    // Evaluated with the smaller damping it would have if taken: its step is then the next one.
    forwardInto({ t, y, p: trial, lambda: lambda / 10 }, there);
    const trialValue = cost(there.r);
    if (trialValue < value) {
      const small = here.step.every((s, k) => Math.abs(s) <= tolerance * (1 + Math.abs(p[k])));
      [p, value, lambda] = [trial, trialValue, lambda / 10];
      here.r.set(there.r);
      here.step.set(there.step);
      if (small) return { p, value, iterations: iteration, converged: true };
    } else {
      if (here.step.every((s, k) => Math.abs(s) <= tolerance * (1 + Math.abs(p[k])))) return { p, value, iterations: iteration, converged: true };
      lambda *= 10;
      forwardInto({ t, y, p, lambda }, here);
    }
  }
  return { p, value, iterations: maxIterations, converged: false };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { p, value, iterations, converged } = levenbergMarquardt(samples());
  console.log(`a = ${p[0].toFixed(5)}, b = ${p[1].toFixed(5)}, c = ${p[2].toFixed(5)} (data made with a = 2.5, b = 1.3, c = 0.4 and noise 0.01)`);
  console.log(`cost ${value.toExponential(3)} after ${iterations} iterations${converged ? '' : ' (not converged)'}`);
}
