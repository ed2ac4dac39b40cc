// The examples of the README's "Jacobians, Hessians and forward mode" (examples/fit/):
// Levenberg-Marquardt on a Jacobian that gradc derives, and Newton's method on a Hessian it
// derives. Each converges to the known answer, and its step is checked against the same step
// computed here from hand-derived derivatives.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { levenbergMarquardt, samples } from "../examples/fit/levenberg-marquardt.mjs";
import { newton } from "../examples/fit/newton.mjs";
import * as decay from "../generated/fit/decay.mjs";
import * as rosenbrock from "../generated/fit/rosenbrock.mjs";

/** Solves A x = b (A n x n, row-major) by Gaussian elimination with partial pivoting. */
function solve(A: number[], b: number[]): number[] {
  const n = b.length;
  const M = A.map((v) => v);
  const x = b.slice();
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r * n + c]) > Math.abs(M[p * n + c])) p = r;
    for (let k = 0; k < n; k++) [M[c * n + k], M[p * n + k]] = [M[p * n + k], M[c * n + k]];
    [x[c], x[p]] = [x[p], x[c]];
    for (let r = c + 1; r < n; r++) {
      const f = M[r * n + c] / M[c * n + c];
      for (let k = c; k < n; k++) M[r * n + k] -= f * M[c * n + k];
      x[r] -= f * x[c];
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    for (let k = r + 1; k < n; k++) x[r] -= M[r * n + k] * x[k];
    x[r] /= M[r * n + r];
  }
  return x;
}

const close = (got: ArrayLike<number>, want: ArrayLike<number>, tol: number) => {
  expect(got.length).toBe(want.length);
  for (let k = 0; k < want.length; k++) expect(Math.abs(got[k] - want[k]), `element ${k}: ${got[k]} vs ${want[k]}`).toBeLessThan(tol * (1 + Math.abs(want[k])));
};

describe("Levenberg-Marquardt on decay.expr", () => {
  /** r and J (200 x 3) of a exp(-b t) + c - y, by hand. */
  const byHand = ({ t, y }: { t: Float64Array; y: Float64Array }, [a, b, c]: number[]) => {
    const r = Array.from(t, (ti, i) => a * Math.exp(-b * ti) + c - y[i]);
    const J = Array.from(t).flatMap((ti) => [Math.exp(-b * ti), -a * ti * Math.exp(-b * ti), 1]);
    const JtJ = [0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => r.reduce((s, _, k) => s + J[k * 3 + i] * J[k * 3 + j], 0)));
    const Jtr = [0, 1, 2].map((i) => r.reduce((s, rk, k) => s + J[k * 3 + i] * rk, 0));
    return { r, JtJ, Jtr };
  };

  it("its step is -(J^T J + lambda diag(J^T J))^-1 J^T r for the Jacobian derived by hand", () => {
    const data = samples();
    const p = [1, 1, 0];
    const { r, JtJ, Jtr } = byHand(data, p);
    for (const lambda of [0, 1e-3, 10]) {
      const out = decay.forward({ ...data, p, lambda });
      close(out.r, r, 1e-14);
      const damped = JtJ.map((v, k) => (k % 4 === 0 ? v * (1 + lambda) : v));
      close(out.step, solve(damped, Jtr).map((v) => -v), 1e-10);
    }
  });

  it("recovers the parameters of noiseless data from a = 1, b = 1, c = 0", () => {
    const fit = levenbergMarquardt(samples([2.5, 1.3, 0.4], 0));
    expect(fit.converged).toBe(true);
    expect(fit.iterations).toBeLessThan(20);
    close(fit.p, [2.5, 1.3, 0.4], 1e-10);
  });

  it("on noisy data, ends where the normal equations J^T r = 0 hold", () => {
    const data = samples([2.5, 1.3, 0.4], 0.01);
    const fit = levenbergMarquardt(data);
    expect(fit.converged).toBe(true);
    const { Jtr } = byHand(data, Array.from(fit.p));
    for (const v of Jtr) expect(Math.abs(v)).toBeLessThan(1e-9);
    close(fit.p, [2.5, 1.3, 0.4], 0.01);
  });
});

describe("Newton's method on rosenbrock.expr", () => {
  it("its step solves (H + mu I) step = -g for the gradient and tridiagonal Hessian derived by hand", () => {
    const x = [0.3, -0.5, 1.2, 0.8, -1.1, 0.4, 0.9, 1.5, -0.2, 0.6];
    const n = x.length;
    const g = new Array(n).fill(0);
    const H = new Array(n * n).fill(0);
    for (let i = 0; i < n - 1; i++) {
      const d = x[i + 1] - x[i] ** 2;
      g[i] += -400 * x[i] * d - 2 * (1 - x[i]);
      g[i + 1] += 200 * d;
      H[i * n + i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2;
      H[i * n + i + 1] += -400 * x[i];
      H[(i + 1) * n + i] += -400 * x[i];
      H[(i + 1) * n + i + 1] += 200;
    }
    for (const mu of [0, 2]) {
      const out = rosenbrock.forward({ x, mu });
      close(out.g, g, 1e-13);
      close(out.step, solve(H.map((v, k) => (k % (n + 1) === 0 ? v + mu : v)), g).map((v) => -v), 1e-10);
    }
  });

  it("reaches the minimum x = 1 from x = 0, the error squaring over the last steps", () => {
    const run = newton(new Float64Array(10));
    expect(run.converged).toBe(true);
    expect(run.iterations).toBeLessThan(40);
    close(run.x, new Array(10).fill(1), 1e-12);
    expect(run.f).toBeLessThan(1e-24);
    // Quadratic convergence: once the error is below 1e-2, the next is within 100 e^2 (a linear rate would not be).
    const e = run.errors;
    let checked = 0;
    for (let k = 0; k + 1 < e.length; k++)
      if (e[k] < 1e-2 && e[k + 1] > 0) {
        expect(e[k + 1]).toBeLessThan(100 * e[k] ** 2);
        checked++;
      }
    expect(checked).toBeGreaterThanOrEqual(2);
  });
});

describe("the README section shows the examples as they are", () => {
  it("each .expr of examples/fit/ appears whole in a code block", () => {
    const readme = readFileSync(new URL("../README.md", import.meta.url), "utf8");
    const section = readme.slice(readme.indexOf("## Jacobians, Hessians and forward mode"));
    expect(section.length).toBeLessThan(readme.length);
    for (const name of ["decay.expr", "rosenbrock.expr"]) expect(section).toContain("```\n" + readFileSync(new URL(`../examples/fit/${name}`, import.meta.url), "utf8") + "```");
  });
});
