// Regressions: every failure that differential fuzzing (test/fuzz.test.ts, scripts/fuzz.mjs)
// or the hostile-input tests found, as the minimal program fast-check shrank it to, with the
// answer worked out by hand. Each test names the form it broke ("unrolled", "loops" or
// "auto", the default) and runs in all three, so a fix in one emitter cannot break another.

import { describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { load } from "./support/load.js";

const EMITS = ["unrolled", "loops", "auto"] as const;
const list = (v: unknown) => Array.from(v as ArrayLike<number>);

/** The diagnostics' text (empty when the program compiles), so a failure shows them. */
function diagnostics(source: string, emit: (typeof EMITS)[number]): string[] {
  const r = compile(source, { filename: "regression.expr", format: "js", emit });
  return r.ok ? [] : r.diagnostics.map((d) => d.text);
}

describe("the checker", { timeout: 60_000 }, () => {
  // Found by the fuzzer: `[u[(i) % 1] for i in 0..17]`. The vectorizer (16+ steps) reads
  // the index `(i + 1) % 20` as a compile-time constant without the loop variable in
  // scope, so it reports "unknown name 'i'" instead of falling back to unrolling; when the
  // loop variable shadows a param it says "'a' is a param, not a compile-time constant".
  it.each(EMITS)("a `%` index of the loop variable in a comprehension of 16 or more steps (%s)", async (emit) => {
    const source = "param x[20]\noutput f = sum(x[(i + 1) % 20] * i for i in 0..20)";
    expect(diagnostics(source, emit)).toEqual([]);
    const { module } = await load(source, { emit });
    const x = Array.from({ length: 20 }, (_, k) => k / 10);
    const { outputs, grad } = module.backward({ x });
    // f = sum_i x[(i+1) % 20] * i, so df/dx[k] = (k - 1) mod 20.
    expect(outputs.f).toBeCloseTo(x.reduce((s, _, i) => s + x[(i + 1) % 20] * i, 0), 12);
    expect(list(grad.x)).toEqual(Array.from({ length: 20 }, (_, k) => (k + 19) % 20));
  });

  it.each(EMITS)("the same with a loop variable that shadows a param (%s)", (emit) => {
    expect(diagnostics("param a, q[1]\noutput f = sum([q[a % 1] for a in 0..17]) + a", emit)).toEqual([]);
    expect(diagnostics("param x[17]\noutput f = sum(x[(2*i) % 17] for i in 0..17)", emit)).toEqual([]);
  });

  // Found by the fuzzer: `sig0(-C)` with `def sig0(z) = 1 / (1 + exp(-z))`. Inside the
  // body, `-z` of the argument `-x` simplifies to `x` itself, and the check for a gate that
  // reads a param directly (E0248) then finds `x` without passing through the argument.
  it.each(EMITS)("a gate called on -x whose body negates its argument is not E0248 (%s)", async (emit) => {
    const source = "param x\ndef g(z) = exp(-z)\ngrad z = -out\noutput f = g(-x)";
    expect(diagnostics(source, emit)).toEqual([]);
    const { module } = await load(source, { emit });
    const { outputs, grad } = module.backward({ x: 0.5 });
    // f = exp(x); the gate's local gradient -out times d(-x)/dx = -1 gives exp(x).
    expect(outputs.f).toBeCloseTo(Math.exp(0.5), 14);
    expect(grad.x).toBeCloseTo(Math.exp(0.5), 14);
  });
});

describe("gates that read a param", { timeout: 60_000 }, () => {
  // Found by the spec audit: `def f(a) = a * x` called as f(x) compiled, and backward gave
  // x instead of 2x (the body's own read of x gets no gradient). It is E0248 now (see
  // errors.test.ts); these, which lose nothing, still compile and give the right gradient.
  it.each(EMITS)("a param passed as two arguments, and a body that reads an input by name (%s)", async (emit) => {
    const source = "param x, y\ninput c\ndef f(a, b) = a * b * c\ngrad a = b * c\ngrad b = a * c\noutput o = f(x, y) + f(x, x)";
    expect(diagnostics(source, emit)).toEqual([]);
    const { module } = await load(source, { emit });
    const { outputs, grad } = module.backward({ x: 1.5, y: -2, c: 3 });
    // o = c x y + c x^2: do/dx = c y + 2 c x, do/dy = c x.
    expect(outputs.o).toBeCloseTo(3 * 1.5 * -2 + 3 * 1.5 * 1.5, 14);
    expect(grad.x).toBeCloseTo(3 * -2 + 2 * 3 * 1.5, 14);
    expect(grad.y).toBeCloseTo(3 * 1.5, 14);
  });
});

describe("the loop emitter", { timeout: 60_000 }, () => {
  // Found by the fuzzer: `output f = u` with u of 5 or more elements (fewer live in locals).
  it.each(EMITS)("an output that is a tensor param passes its seed back as the gradient (%s)", async (emit) => {
    for (const [source, n] of [["param u[5]\noutput f = u", 5], ["param C[3, 3]\noutput f = C", 9], ["param x[17]\noutput f = x", 17]] as const) {
      const { module } = await load(source, { emit });
      const seed = Array.from({ length: n }, (_, k) => k + 1);
      const args = { [source.includes("u[5]") ? "u" : source.includes("C[") ? "C" : "x"]: seed.map((k) => k / 7) };
      const { grad } = module.backward(args, { f: seed });
      expect(list(Object.values(grad)[0]), source).toEqual(seed);
    }
  });

  // Found by the fuzzer: `output f = exp(u)` (also `u + u`, `2 * u`, `-u`, `u * v`,
  // `softmax(u)`) fails with "ReferenceError: b2 is not defined": the elementwise loop is
  // fused into a consumer that is the output's `.set(b2)`, which never gets its buffer.
  // With emit "auto" every program big enough for loops has it.
  it.each(EMITS)("a tensor output that is an elementwise map of a param (%s)", async (emit) => {
    const u = [0.1, -0.2, 0.3, -0.4, 0.5];
    for (const [source, f] of [
      ["param u[5]\noutput f = exp(u)", u.map(Math.exp)],
      ["param u[5]\noutput f = 2 * u", u.map((x) => 2 * x)],
      ["param u[5]\noutput f = -u", u.map((x) => -x)],
    ] as const) {
      const { module } = await load(source, { emit });
      expect(list(module.forward({ u }).f), source).toEqual(f);
      expect(list(module.backward({ u }, { f: [1, 1, 1, 1, 1] }).outputs.f), source).toEqual(f);
    }
    const { module } = await load("param u[5]\noutput f = softmax(u)", { emit });
    const e = u.map(Math.exp);
    const total = e.reduce((a, b) => a + b, 0);
    list(module.forward({ u }).f).forEach((p, k) => expect(p).toBeCloseTo(e[k] / total, 15));
  });

  it("a large elementwise tensor output under emit auto (the loop form)", async () => {
    const { module } = await load("param x[3000]\noutput f = exp(x)");
    const x = Array.from({ length: 3000 }, (_, k) => k / 3000);
    expect(list(module.forward({ x }).f)).toEqual(x.map(Math.exp));
  });

  // Found by the fuzzer: `dot(A, A @ C + a)` with A[2, 5], C[5, 5]: the matrix product of a
  // short-row matrix declares its accumulator `let t4s` twice in one scope, so the module
  // is a SyntaxError ("Identifier 't4s' has already been declared"). Emit auto has it too
  // for A[2, 50] @ C[50, 50], a linear layer over a batch of two.
  it.each(EMITS)("[2, 5] @ [5, 5] loads and multiplies (%s)", async (emit) => {
    const A = Array.from({ length: 10 }, (_, k) => k + 1);
    const C = Array.from({ length: 25 }, (_, k) => (k % 7) - 3);
    const { module } = await load("param A[2, 5], C[5, 5]\noutput f = sum(A @ C)", { emit });
    let f = 0;
    for (let i = 0; i < 2; i++) for (let j = 0; j < 5; j++) for (let k = 0; k < 5; k++) f += A[i * 5 + k] * C[k * 5 + j];
    const { outputs, grad } = module.backward({ A, C });
    expect(outputs.f).toBe(f);
    // df/dA[i, k] = sum_j C[k, j]; df/dC[k, j] = sum_i A[i, k].
    expect(list(grad.A)).toEqual(Array.from({ length: 10 }, (_, t) => C.slice((t % 5) * 5, (t % 5) * 5 + 5).reduce((a, b) => a + b, 0)));
    expect(list(grad.C)).toEqual(Array.from({ length: 25 }, (_, t) => A[Math.floor(t / 5)] + A[5 + Math.floor(t / 5)]));
  });

  it("a linear layer over a batch of two under emit auto", async () => {
    const { module } = await load("param X[2, 50], W[50, 50]\noutput f = sum(X @ W)");
    const { outputs } = module.backward({ X: new Float64Array(100).fill(1), W: new Float64Array(2500).fill(0.5) });
    expect(outputs.f).toBe(2 * 50 * 50 * 0.5);
  });

  // Found by the fuzzer: `param a, u[5]` and `output f = a`: backwardInto must overwrite
  // every gradient in the holders (modules.md), but the loop form leaves the gradient of a
  // param that no output depends on as it was (NaN here); `A < a` (no gradient through a
  // comparison) does the same.
  it.each(EMITS)("backwardInto zeroes the gradient of a param no output depends on (%s)", async (emit) => {
    for (const [source, args, seed] of [
      ["param a, u[5]\noutput f = a", { a: 2, u: [1, 2, 3, 4, 5] }, undefined],
      ["param a, A[2, 3]\noutput f = A < a", { a: 2, A: [1, 2, 3, 4, 5, 6] }, { f: [1, 1, 1, 1, 1, 1] }],
    ] as const) {
      const { module } = await load(source, { emit });
      const g = module.createGrad();
      for (const k of Object.keys(g)) if (typeof g[k] === "number") g[k] = NaN;
      else (g[k] as Float64Array).fill(NaN);
      module.backwardInto(args, seed, g);
      expect(list(g.u ?? g.A), source).toEqual(source.includes("u[5]") ? [0, 0, 0, 0, 0] : [0, 0, 0, 0, 0, 0]);
      expect(g.a, source).toBe(source.includes("u[5]") ? 1 : 0);
    }
  });
});

describe("the straight-line emitter", { timeout: 60_000 }, () => {
  // Found by the fuzzer (a depth-4 program with `output t0`): past 1,500 lines, backward is
  // split into parts that keep temporaries in `backwardRegisters`, and the rename of `t<k>`
  // to `backwardRegisters[k]` also rewrites source names spelled like temporaries inside
  // quoted keys and comments: `outputs["t1"]` becomes `outputs["backwardRegisters[601]"]`.
  // So outputs.t1 stays NaN and the gradient of `param t5` lands under another key.
  it("source names spelled like temporaries (t1, t5) survive a backward split into parts", async () => {
    const lines = ["param t5", "y0 = t5"];
    for (let i = 1; i < 700; i++) lines.push(`y${i} = sin(y${i - 1}) + y${i - 1}`);
    lines.push("output t1 = y699");
    const { module, code } = await load(lines.join("\n"));
    expect(/"backwardRegisters/.test(code), "a quoted key was renamed").toBe(false);
    let y = 0.5;
    let dy = 1;
    for (let i = 1; i < 700; i++) {
      dy *= Math.cos(y) + 1;
      y = Math.sin(y) + y;
    }
    const { outputs, grad } = module.backward({ t5: 0.5 });
    expect(Object.keys(outputs)).toEqual(["t1"]);
    expect(Object.keys(grad)).toEqual(["t5"]);
    expect(outputs.t1).toBe(module.forward({ t5: 0.5 }).t1);
    expect(outputs.t1).toBeCloseTo(y, 12);
    expect(grad.t5).toBeCloseTo(dy, 12);
  });

  it("a tensor output named t0 in a long unrolled backward", async () => {
    const { module } = await load("param x[400]\noutput t0 = sin(x)", { emit: "unrolled" });
    const x = Array.from({ length: 400 }, (_, k) => k / 400);
    const { outputs, grad } = module.backward({ x }, { t0: new Float64Array(400).fill(1) });
    expect(Object.keys(outputs)).toEqual(["t0"]);
    expect(list(outputs.t0)).toEqual(x.map(Math.sin));
    expect(list(grad.x)).toEqual(x.map(Math.cos));
  });

  // Fuzz seed 777: a one-element view of an integer-free take (`A[i, (i - 1) % 1]` over a
  // loop of one step) asked its inline take for element [] instead of [0, 0].
  it("a one-element gather of a one-element take in loop code", async () => {
    const { module } = await load("param a, A[1, 1]\noutput f = sum(a + A[i, (i - 1) % 1] for i in 0..1)\noutput g = a", { emit: "loops" });
    const { outputs, grad } = module.backward({ a: 2, A: [5] }, { f: 1, g: 0 });
    expect(outputs.f).toBe(7);
    expect(grad.a).toBe(1);
    expect(list(grad.A)).toEqual([1]);
  });

  // Fuzz seed 5151: the same take read by a scalar gather of its one element (`[C[(2*i + 1)
  // % 1] for i in 0..1][0, 0]`) at the top level of loop code: asked for element [] too.
  it("a scalar gather of a one-element take in loop code", async () => {
    const { module } = await load("param A[1, 1], C[1, 1]\noutput f = exp(tanh([C[(2*i + 1) % 1] for i in 0..1][0, 0]))\noutput g = A", { emit: "loops" });
    const { outputs, grad } = module.backward({ A: [1], C: [0.5] }, { f: 1, g: [0] });
    expect(outputs.f).toBe(Math.exp(Math.tanh(0.5)));
    expect(list(grad.C)[0]).toBeCloseTo(Math.exp(Math.tanh(0.5)) * (1 - Math.tanh(0.5) ** 2), 14);
  });

  // Fuzz seed 9326 (v1): a comprehension of its own variable is an iota, and an iota taken
  // at an index computed when the code runs (`t[j % 3]`) had no element in loop code
  // ("internal: take from 'iota'"): it is the index's arithmetic.
  it("an iota taken at a run-time index in loop code", async () => {
    const source = "param a, q[3]\nt = [i for i in 0..3]\noutput f = [[q[(j + 1) % 3] + t[(i * j + 1) % 3] for j in 0..3] for i in 0..4]\noutput g = a";
    const forms = await Promise.all((["loops", "unrolled"] as const).map((emit) => load(source, { emit })));
    const q = [0.5, -1, 2];
    const expected = Array.from({ length: 4 }, (_, i) => Array.from({ length: 3 }, (_, j) => q[(j + 1) % 3] + ((i * j + 1) % 3)));
    for (const { module } of forms) expect(list(module.forward({ a: 1, q }).f)).toEqual(expected.flat());
  });
});
