// Minimizes the Rosenbrock function in 10 dimensions by Newton's method on rosenbrock.expr,
// whose one call gives f, its gradient g and the step -(H + mu I)^-1 g from the Hessian H that
// gradc derives. Each iteration tries the plain Newton step (mu = 0) first; where it does not
// lower f (far from the minimum H need not be positive definite), mu grows tenfold from 1e-3
// until the step does. Near the minimum every step is the plain one and the error squares
// from one step to the next. `node examples/fit/newton.mjs` prints the run;
// test/fit.test.ts checks it.
import { fileURLToPath } from 'node:url';
import { createOutputs, forwardInto } from '../../generated/fit/rosenbrock.mjs';

/** Newton's method from `start`; returns x, f, the iterations and the distance to x = 1 after each. */
export function newton(start, { tolerance = 1e-12, maxIterations = 100 } = {}) {
  const here = createOutputs();
  const there = createOutputs();
  let x = Float64Array.from(start);
  forwardInto({ x, mu: 0 }, here);
  const errors = [];
  for (let iteration = 1; iteration <= maxIterations; iteration++) {
    let next = x;
    for (let mu = 0; mu <= 1e12; mu = mu ? mu * 10 : 1e-3) {
      if (mu) forwardInto({ x, mu }, here);
      const trial = x.map((v, k) => v + here.step[k]);
      forwardInto({ x: trial, mu: 0 }, there);
      if (there.f < here.f) {
        next = trial;
        break;
      }
    }
    // No step lowers f: x is a minimum to the last bit.
    if (next === x) return { x, f: here.f, iterations: iteration, errors, converged: true };
    const moved = Math.max(...next.map((v, k) => Math.abs(v - x[k])));
    x = next;
    [here.f, here.g, here.step, there.g, there.step] = [there.f, there.g, there.step, here.g, here.step];
    errors.push(Math.max(...x.map((v) => Math.abs(v - 1))));
    if (moved <= tolerance) return { x, f: here.f, iterations: iteration, errors, converged: true };
  }
  return { x, f: here.f, iterations: maxIterations, errors, converged: false };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  // From x = 0. (From the classic (-1.2, 1, -1.2, ...) it ends at this chained form's other,
  // local minimum near (-1, 1, ..., 1), with f = 3.99.)
  const { x, f, iterations, errors, converged } = newton(new Float64Array(10));
  console.log(`x = [${Array.from(x, (v) => v.toFixed(8)).join(', ')}]`);
  console.log(`f = ${f.toExponential(3)} after ${iterations} iterations${converged ? '' : ' (not converged)'}; distance to x = 1 over the last steps: ${errors.slice(-5).map((e) => e.toExponential(1)).join(', ')}`);
}
