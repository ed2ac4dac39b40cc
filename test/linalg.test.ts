// Small linear algebra (language.md, "Small linear algebra"): det, inv and solve with partial
// pivoting, on matrices and stacks, with gradients by the matrix identities, checked against
// direct formulas and finite differences; a singular matrix gives non-finite values.

import { describe, expect, it } from "vitest";
import { analyze, compile } from "../src/compile.js";
import { interpretProgram, type Value } from "../src/ir/interpret.js";
import { load, numericGradient } from "./support/load.js";

function program(source: string) {
  const analyzed = analyze(source, "t.expr");
  if (!analyzed.program) throw new Error(analyzed.diagnostics.map((d) => d.text).join("\n"));
  return analyzed.program;
}
const list = (v: number | Float64Array | number[]) => (typeof v === "number" ? [v] : Array.from(v));
function close(got: ArrayLike<number> | number, want: ArrayLike<number> | number, tol: number, what: string) {
  const [g, w] = [list(got as never), list(want as never)];
  expect(g.length, what).toBe(w.length);
  g.forEach((v, k) => expect(Math.abs(v - w[k]), `${what}[${k}]: ${v} vs ${w[k]}`).toBeLessThan(tol * (1 + Math.abs(w[k]))));
}
const run = (src: string, args: Record<string, Value>) => interpretProgram(program(src), args);

const A = [0.1, 2, -1, 3, 0.5, 1, 1, -2, 4]; // needs pivoting: A[0][0] is small
const det3 = (m: number[]) => m[0] * (m[4] * m[8] - m[5] * m[7]) - m[1] * (m[3] * m[8] - m[5] * m[6]) + m[2] * (m[3] * m[7] - m[4] * m[6]);
const matvec = (m: number[], v: number[]) => [0, 1, 2].map((i) => m[3 * i] * v[0] + m[3 * i + 1] * v[1] + m[3 * i + 2] * v[2]);

describe("det, inv, solve", () => {
  it("values: A solve(A, b) = b, A inv(A) = I, det by cofactors", () => {
    const out = run("input A[3, 3], b[3]\noutput x = solve(A, b)\noutput Ai = inv(A)\noutput d = det(A)", { A, b: [1, -2, 0.5] }).outputs;
    close(matvec(A, list(out.x)), [1, -2, 0.5], 1e-14, "A x");
    const Ai = list(out.Ai);
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) close([0, 1, 2].reduce((s, q) => s + A[3 * i + q] * Ai[3 * q + j], 0), i === j ? 1 : 0, 1e-14, `(A inv A)[${i},${j}]`);
    close(out.d, det3(A), 1e-14, "det");
  });
  it("stacks of matrices and matrices of right-hand sides, as NumPy 2", () => {
    const B = [1, 0, 0, 1, 2, -1]; // [3, 2]
    const out = run("input S[2, 3, 3], B[3, 2]\noutput X = solve(S, B)\noutput d = det(S)", { S: [...A, ...A.map((v, k) => v + (k % 4 === 0 ? 1 : 0))], B }).outputs;
    expect(list(out.X)).toHaveLength(12);
    close(list(out.d)[0], det3(A), 1e-14, "det 0");
    const X0 = list(out.X).slice(0, 6);
    for (let q = 0; q < 2; q++) close(matvec(A, [X0[q], X0[2 + q], X0[4 + q]]), [B[q], B[2 + q], B[4 + q]], 1e-13, `column ${q}`);
  });
  for (const [what, src] of [
    ["solve", "param A[3, 3], b[3]\noutput o = sum(solve(A, b) * [1, 2, 3])"],
    ["inv", "param A[3, 3]\noutput o = sum(inv(A) * [[1, 2, 3], [0, 1, 0], [2, 0, 1]])"],
    ["det", "param A[3, 3]\noutput o = det(A) ^ 2"],
    ["a stack", "param S[2, 3, 3], B[2, 3, 2]\noutput o = sum(sin(solve(S, B))) + sum(det(S))"],
  ])
    it(`gradient of ${what} against finite differences`, () => {
      const args: Record<string, number[]> = {};
      for (const a of program(src).args) args[a.name] = Array.from({ length: a.node.size }, (_, k) => (a.name === "b" || a.name === "B" ? Math.cos(k) : A[k % 9] + (k >= 9 ? 0.3 : 0)));
      const got = run(src, args).grad;
      for (const name of Object.keys(got))
        close(got[name], numericGradient((v) => run(src, v).outputs.o as number, args, name) as number[], 1e-6, `d${name}`);
    });
  it("second derivatives: the Hessian of det is finite-difference exact", () => {
    const src = "param A[2, 2]\noutput H = hessian(det(A), A)";
    const H = list(run(src, { A: [1, 2, 3, 4] }).outputs.H);
    // det = a d - b c: d2/da dd = 1, d2/db dc = -1, others 0.
    close(H, [0, 0, 0, 1, 0, 0, -1, 0, 0, -1, 0, 0, 1, 0, 0, 0], 1e-12, "hessian");
  });
  it("a singular matrix gives non-finite values, not an error", () => {
    const out = run("input A[2, 2], b[2]\noutput x = solve(A, b)\noutput d = det(A)", { A: [1, 2, 2, 4], b: [1, 1] }).outputs;
    expect(list(out.x).some((v) => !Number.isFinite(v))).toBe(true);
    expect(Math.abs(out.d as number)).toBe(0);
  });
  // language.md: det of a singular matrix is 0 or -0. A zero column divided 0 by its zero
  // pivot, and det of the zero matrix was NaN; inv and solve stay non-finite, in the module too.
  it("det of a singular matrix with a zero column, and of the zero matrix, is 0; inv is non-finite", async () => {
    const src = "input A[3, 3]\noutput d = det(A)\noutput Ai = inv(A)";
    const { module } = await load(src, { emit: "loops" });
    for (const M of [[0, 1, 2, 0, 3, 4, 0, 5, 7], new Array(9).fill(0), [1, 2, 3, 0, 0, 0, 4, 5, 6], [2, 0, 1, 4, 0, 2, 1, 0, 5]]) {
      for (const out of [run(src, { A: M }).outputs, module.forward({ A: M })]) {
        expect(Math.abs(out.d as number), `det of ${M}`).toBe(0);
        expect(list(out.Ai as Float64Array).some((v) => !Number.isFinite(v)), `inv of ${M}`).toBe(true);
      }
    }
    // A zero pivot that is skipped changes nothing for a matrix that needs none.
    close(run(src, { A }).outputs.d, det3(A), 1e-14, "det");
  });
  it("shape errors", () => {
    const msg = (src: string) => {
      const r = compile(src);
      return r.ok ? "compiled" : r.diagnostics[0].message;
    };
    expect(msg("param A[2, 3]\noutput d = det(A)")).toBe("'det' takes a square matrix (or a stack of them), got [2, 3]");
    expect(msg("param A[3, 3], b[4]\noutput x = sum(solve(A, b))")).toBe("'solve': A is [3, 3] but b has 4 rows; it needs 3");
  });
});

describe("compiled", () => {
  it("a Gauss-Newton step with solve, compiled, matches the interpreter", async () => {
    const src = [
      "input t[8], y[8]",
      "param p[2]",
      "r = p[0] * exp(p[1] * t) - y",
      "J = jacobian(r, p)",
      "output step = -solve(transpose(J) @ J, transpose(J) @ r)",
      "output loss = sum(r ^ 2)",
    ].join("\n");
    const args = { t: [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], y: [1, 1.2, 1.5, 1.8, 2.2, 2.7, 3.3, 4.1], p: [0.9, 1.8] };
    const { module } = await load(src);
    close(module.forward(args).step as Float64Array, list(run(src, args).outputs.step), 1e-12, "step");
    const g = module.backward(args, { loss: 1 }).grad.p as Float64Array;
    close(g, numericGradient((v) => module.forward(v).loss as number, args, "p") as number[], 1e-6, "dloss");
  });
});
