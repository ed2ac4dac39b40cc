// Reductions of slices whose length changes with a loop variable (`sum(x[0:i+1])`, prefix
// sums; `mean(w[i:] * x[i:])`, suffixes): the checker reduces them row by row over a masked
// loop (checker.ts, raggedSliceRows), so the module does not grow with the number of steps.
// Each case against the same program with the loop written out by hand (every slice then of
// a fixed length): values and gradients; one against finite differences; the cases that must
// keep the old path (windows of fixed length, slices with different bounds); run-time sizes.
import { describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { assertClose, centralDifference, load, rng, uniform, type Values } from "./support/load.js";

const N = 6;
const data = (n: number, seed: number) => {
  const random = rng(seed);
  return Float64Array.from({ length: n }, () => uniform(random, -1, 1));
};
const args = (): Values => ({ x: data(N, 1), w: data(N, 2), X: data(N * 3, 3), v: data(3, 4) });
const declarations = `const n = ${N}\nparam x[n], w[n], X[n, 3], v[3]\n`;

/** Each case: a term of i, summed over i in 0..n, and the same sum written out. */
const cases: [string, (i: string) => string][] = [
  ["prefix sums, squared", (i) => `sum(x[0:${i}+1]) ^ 2`],
  ["a suffix product of two slices, averaged", (i) => `mean(x[${i}:] * w[${i}:])`],
  ["a running max", (i) => `max(x[0:${i}+1])`],
  ["a suffix min with its end written", (i) => `min(x[${i}:n] + w[${i}:n])`],
  ["logsumexp of a scaled prefix", (i) => `logsumexp(2 * x[0:${i}+1])`],
  ["the norm of a shifted prefix", (i) => `norm(x[0:${i}+1] - 0.5)`],
  ["a product of a prefix", (i) => `prod(1 + 0.1 * x[0:${i}+1])`],
  ["rows of a matrix through a sigmoid, broadcast against a row", (i) => `sum(sigmoid(X[0:${i}+1, :] * v))`],
  ["the first axis kept after an index", (i) => `sum(transpose(X)[1, 0:${i}+1])`],
  ["where over a prefix", (i) => `sum(where(x[0:${i}+1] > 0, x[0:${i}+1], 0.1 * x[0:${i}+1]))`],
  ["a prefix ending before the last row", (i) => `sum(exp(x[${i}:n-1]))`],
  ["other parts taken whole: a reduction, a softmax's element, a row", (i) => `sum(x[0:${i}+1] * sum(v) - softmax(v)[0]) + max(X[0:${i}+1, :] + v)`],
  // Not rewritten: a window of fixed length is batched as it is; slices of other bounds are
  // written out step by step as before.
  ["a window of fixed length", (i) => `sum(x[${i}:${i}+1] * 3)`],
  ["slices with different bounds", (i) => `sum(x[0:${i}+1] * w[n-1-${i}:n])`],
];

describe("reductions of slices whose length changes with a loop variable", () => {
  it.each(cases)("%s: values and gradients of the loop equal the written-out program", async (what, term) => {
    const steps = term("i").includes("n-1") ? N - 1 : N;
    const loop = (await load(`${declarations}output o = sum(${term("i")} for i in 0..${steps})\n`)).module;
    const written = (await load(`${declarations}output o = ${Array.from({ length: steps }, (_, i) => term(String(i))).join(" + ")}\n`)).module;
    const [a, b] = [loop.backward(args()), written.backward(args())];
    assertClose(a.outputs.o, b.outputs.o as number, 1e-12, "o");
    for (const name of ["x", "w", "X", "v"]) assertClose(a.grad[name], b.grad[name] as Float64Array, 1e-12, `grad ${name}`);
    // Rewritten row by row: the same module size for 40 steps and 400.
    if (what === "slices with different bounds") return;
    const bytes = (n: number) => {
      const r = compile(`${declarations.replace(`n = ${N}`, `n = ${n}`)}output o = sum(${term("i")} for i in 0..${steps === N ? "n" : "n-1"})\n`, { filename: "rows.expr", format: "js" });
      if (!r.ok) throw new Error(r.diagnostics[0].text);
      return r.code.length;
    };
    expect(bytes(400) / bytes(40)).toBeLessThan(1.1);
  });

  it("prefix sums: the values of plain loops, and the gradient of finite differences", async () => {
    const m = (await load(`${declarations}output p = [sum(x[0:i+1]) for i in 0..n]\noutput o = sum([sum(x[0:i+1]) for i in 0..n] ^ 2)\n`)).module;
    const given = args();
    const x = given.x as Float64Array;
    const prefix = Array.from(x, (_, i) => x.slice(0, i + 1).reduce((s, v) => s + v, 0));
    const { outputs, grad } = m.backward(given, { o: 1 });
    assertClose(outputs.p, prefix, 1e-12, "p");
    const energy = (y: Float64Array) => (m.forward({ ...given, x: y }).o as number);
    const numeric = Array.from(x, (v, k) =>
      centralDifference((t) => {
        const moved = Float64Array.from(x);
        moved[k] = t;
        return energy(moved);
      }, v),
    );
    assertClose(grad.x, numeric, 1e-6, "grad x");
  });

  it("the module does not grow with the number of steps", () => {
    const bytes = (n: number) => {
      const r = compile(`const n = ${n}\nparam x[n]\noutput o = sum([mean(x[i:]) * sum(x[0:i+1]) for i in 0..n])\n`, { filename: "prefix.expr", format: "js" });
      if (!r.ok) throw new Error(r.diagnostics[0].text);
      return r.code.length;
    };
    expect(bytes(2000) / bytes(200)).toBeLessThan(1.1);
  });

  it("with a run-time size, one module gives the const program's values and gradients at every N", async () => {
    const body = "param x[N]\noutput o = sum([sum(x[0:i+1]) * max(x[i:]) for i in 0..N])\n";
    const sized = (await load(`dim N\n${body}`)).module;
    for (const n of [1, 2, 7, 40]) {
      const fixed = (await load(`const N = ${n}\n${body}`)).module;
      const x = data(n, n);
      const [a, b] = [sized.backward({ x }), fixed.backward({ x })];
      assertClose(a.outputs.o, b.outputs.o as number, 1e-12, `o at N = ${n}`);
      assertClose(a.grad.x, b.grad.x as Float64Array, 1e-12, `grad x at N = ${n}`);
    }
  });

  it("a slice empty at some step is an error naming the slice as written", () => {
    const r = compile(`${declarations}output o = sum([sum(x[i:0]) for i in 0..n])\n`, { filename: "empty.expr", format: "js" });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.diagnostics[0].text).toMatch(/^empty\.expr:3:23: error: the slice x\[i:0\] is empty at some step of the outer loop \('a:b' runs from a up to b - 1\)/);
  });

  it("parts that would broadcast against a row but not against the whole are shape errors, as before", () => {
    for (const [term, message] of [
      ["sum(x[0:i+1] * v)", "cannot multiply shapes [2] and [3]"],
      ["sum(X[0:i+1, :] * x[0:i+1])", "cannot multiply shapes [2, 3] and [2]"],
      ["max(exp(X[0:i+1, :]) * transpose([v]))", "cannot multiply shapes [2, 3] and [3, 1]"],
    ]) {
      const r = compile(`${declarations}output o = sum([${term} for i in 0..n])\n`, { filename: "shapes.expr", format: "js" });
      expect(r.ok, term).toBe(false);
      if (!r.ok) expect(r.diagnostics[0].text).toContain(message);
    }
  });
});
