// Run-time sizes (`dim`, language.md "Run-time sizes", modules.md "Tensors of any rank and
// run-time sizes"): one compiled module serves every size, computes what the same program
// compiled with the size as a const computes, and refuses calls whose sizes disagree with
// a RangeError naming the argument, the dim and the sizes.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { analyze, compile } from "../src/compile.js";
import { interpretProgram } from "../src/ir/interpret.js";
import { dimsFromLengths, specialize } from "../src/ir/specialize.js";
import { INDEX_TABLE_LIMIT } from "../src/ir/batch.js";
import { buildDot } from "../src/cli/graph.js";
import { load, rng, type GeneratedModule, type Values } from "./support/load.js";

interface SizedModule extends GeneratedModule {
  sizesOf(args: unknown): Record<string, number>;
  createOutputs(sizes?: unknown): Values;
  createGrad(sizes?: unknown): Values;
}

const batched = readFileSync(new URL("../examples/cs231n/twolayer-batched.expr", import.meta.url), "utf8");
/** The course's batched net with the number of points a dim instead of a const. */
const withDim = batched.replace(/^const N = 300 .*$/m, "dim N");
const withConst = (n: number) => batched.replace(/^const N = 300 /m, `const N = ${n} `);

function netArgs(n: number, seed: number) {
  const random = rng(seed);
  const r = (k: number) => Float64Array.from({ length: k }, () => random() * 2 - 1);
  const Y = new Float64Array(n * 3);
  for (let i = 0; i < n; i++) Y[i * 3 + (i % 3)] = 1;
  return { X: r(n * 2), Y, reg: 1e-3, W1: r(2 * 100), b1: r(100), W2: r(100 * 3), b2: r(3) };
}

const closeArrays = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  expect(a.length).toBe(b.length);
  for (let k = 0; k < a.length; k++) expect(Math.abs(a[k] - b[k])).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(b[k])));
};

describe("one module for every N: the CS231n batched net", () => {
  const sized = load(withDim).then((l) => l.module as SizedModule);
  it.each([1, 7, 300])("N = %i gives the loss and gradients of the net compiled with that N as a const", async (n) => {
    const m = await sized;
    const fixed = (await load(withConst(n))).module;
    const args = netArgs(n, n);
    expect(m.sizesOf(args)).toEqual({ N: n });
    const a = m.backward(args);
    const b = fixed.backward(args);
    expect(a.outputs.loss as number).toBeCloseTo(b.outputs.loss as number, 12);
    for (const p of ["W1", "b1", "W2", "b2"]) closeArrays(a.grad[p] as Float64Array, b.grad[p] as Float64Array);
  });

  it("N = 100,000 runs in the same module, and its loss is the mean of per-chunk losses", async () => {
    const m = await sized;
    const n = 100_000;
    const args = netArgs(n, 5);
    const whole = m.forward(args).loss as number;
    // The data loss is a mean over rows: two halves, each run at N = 50,000, average to it.
    const half = (k: number) => ({ ...args, X: args.X.subarray(k * n, (k + 1) * n), Y: args.Y.subarray(k * 1.5 * n, (k + 1) * 1.5 * n), reg: 0 });
    const reg = 0.5 * 1e-3 * (sumSquares(args.W1) + sumSquares(args.W2));
    const halves = ((m.forward(half(0)).loss as number) + (m.forward(half(1)).loss as number)) / 2;
    expect(whole).toBeCloseTo(halves + reg, 10);
  });

  it("the generated code does not depend on N: no size appears in it, and the backward keeps one row of the hidden layer, not N", () => {
    const r = compile(withDim, { filename: "net.expr" });
    if (!r.ok) throw new Error(r.diagnostics[0].text);
    expect(r.code).toMatch(/export function sizesOf\(args: Args\): Sizes/);
    // Every scratch buffer has a fixed size: a const typed array, which V8 optimizes as the fixed program's.
    expect(r.code).not.toMatch(/useSizes|let buf/);
    expect(r.code).toMatch(/const buf\d+row = new Float64Array\(100\);/);
    const again = compile(withDim, { filename: "net.expr" });
    expect(again.ok && again.code).toBe(r.code);
  });

  it("N, then M, then N again: each call gives what the const program gives", async () => {
    const m = await sized;
    for (const n of [300, 7, 300, 1, 300]) {
      const args = netArgs(n, n + 1);
      const a = m.backward(args);
      const b = (await load(withConst(n))).module.backward(args);
      expect(a.outputs.loss as number).toBeCloseTo(b.outputs.loss as number, 12);
      for (const p of ["W1", "b1", "W2", "b2"]) closeArrays(a.grad[p] as Float64Array, b.grad[p] as Float64Array);
    }
  });

  it("holders are made for given sizes, and a holder for other sizes is a RangeError naming it", async () => {
    const m = await sized;
    const args = netArgs(7, 1);
    const grad = m.createGrad(m.sizesOf(args));
    expect(() => m.backwardInto(args, undefined, grad)).not.toThrow();
    expect(() => m.backwardInto(netArgs(8, 1), undefined, grad)).not.toThrow(); // params do not have N
    const outputs = m.createOutputs({ N: 7 });
    expect(() => m.forwardInto(args, outputs)).not.toThrow();
    expect(() => m.createGrad(undefined)).toThrow(TypeError);
    expect(() => m.createGrad({ N: 0 })).toThrow(/sizes\.N must be a whole number of at least 1/);
  });
});

const sumSquares = (x: Float64Array) => x.reduce((s, v) => s + v * v, 0);

describe("row buffers: per-row values of a deeper net keep one row, whatever N", () => {
  const mlp = (n: string) => `${n}\nparam X[N, 3], W1[3, 20], W2[20, 20], W3[20, 2]\ninput Y[N, 2]\noutput l = sum((tanh(relu(X @ W1) @ W2) @ W3 - Y) ^ 2)\n`;

  it("its backward has no buffer of run-time size, and N, M, N give what the const programs give", async () => {
    const r = compile(mlp("dim N"), { filename: "mlp.expr" });
    if (!r.ok) throw new Error(r.diagnostics[0].text);
    expect(r.code).not.toMatch(/useSizes|let buf/);
    expect(r.code.match(/^const buf\d+row = new Float64Array\(20\);/gm)).toHaveLength(3);
    const m = (await load(mlp("dim N"))).module;
    for (const n of [9, 2, 9, 1, 9]) {
      const random = rng(n + 17);
      const r = (k: number) => Float64Array.from({ length: k }, () => random() * 2 - 1);
      const args = { X: r(3 * n), Y: r(2 * n), W1: r(60), W2: r(400), W3: r(40) };
      const a = m.backward(args);
      const b = (await load(mlp(`const N = ${n}`))).module.backward(args);
      expect(a.outputs.l as number).toBeCloseTo(b.outputs.l as number, 12);
      for (const p of ["X", "W1", "W2", "W3"]) closeArrays(a.grad[p] as Float64Array, b.grad[p] as Float64Array);
    }
  });
});

describe("scratch buffers of run-time size: made when N changes", () => {
  // A softmax over the rows needs every row's exponentials before it can divide: buffers of 3 * N.
  const columns = (n: string) => `${n}\nparam x[N, 3]\ninput y[N, 3]\noutput l = sum(softmax(x, axis=0) * y) + sum(x * x)\n`;
  const sized = load(columns("dim N")).then((l) => l.module as SizedModule);

  it("the buffers are module-level lets made again by useSizes when N changes", () => {
    const r = compile(columns("dim N"), { filename: "columns.expr" });
    if (!r.ok) throw new Error(r.diagnostics[0].text);
    expect(r.code).toMatch(/function useSizes\(\)/);
    expect(r.code).toMatch(/let buf\d+ = new Float64Array\(0\); \/\/ 3 \* N elements, made by useSizes\(\)/);
    // The columns of [3, N] are sections (i + N, i + 2 N) that keep to their row as with a
    // const N: the loops merge as they do there, and as few buffers remain.
    const fixed = compile(columns("const N = 40"), { filename: "columns.expr" });
    if (!fixed.ok) throw new Error(fixed.diagnostics[0].text);
    const count = (code: string, pattern: RegExp) => code.match(pattern)?.length ?? 0;
    expect(count(r.code, /^let buf\d+ = /gm)).toBe(count(fixed.code, /^const buf\d+ = new Float64Array\(120\);/gm));
    const loops = (code: string) => count(code.slice(code.indexOf("export function backwardInto")), /i0 \+= 4\)/g);
    expect(loops(r.code)).toBe(loops(fixed.code));
  });

  it("N, then M, then N again (and the forward between): each gives what the const program gives", async () => {
    const m = await sized;
    for (const n of [40, 3, 40, 1, 40]) {
      const random = rng(n);
      const args = { x: Float64Array.from({ length: 3 * n }, () => random() * 2 - 1), y: Float64Array.from({ length: 3 * n }, () => random()) };
      const fixed = (await load(columns(`const N = ${n}`))).module;
      const a = m.backward(args);
      const b = fixed.backward(args);
      expect(a.outputs.l as number).toBeCloseTo(b.outputs.l as number, 12);
      closeArrays(a.grad.x as Float64Array, b.grad.x as Float64Array);
      expect(m.forward(args).l as number).toBeCloseTo(fixed.forward(args).l as number, 12);
    }
  });
});

describe("bad calls are RangeErrors naming the argument, the dim and the sizes", () => {
  const program = "dim N\ninput x[N, 2]\ninput y[N]\nparam w[2]\noutput l = sum((x @ w - y) ^ 2) + x[5, 0]\n";
  const mod = load(program).then((l) => l.module as SizedModule);
  const good = (n: number) => ({ x: new Float64Array(n * 2).fill(1), y: new Float64Array(n), w: Float64Array.of(1, 2) });

  it("mismatched sizes name both arguments and N", async () => {
    const m = await mod;
    expect(() => m.forward({ ...good(7), y: new Float64Array(6) })).toThrow(RangeError);
    expect(() => m.forward({ ...good(7), y: new Float64Array(6) })).toThrow("input 'y' has 6 elements, but its shape [N] needs 7 with N = 7 (from 'x')");
  });

  it("a flat length that is not a multiple of the other sizes", async () => {
    const m = await mod;
    expect(() => m.forward({ ...good(7), x: new Float64Array(13) })).toThrow("input 'x' has 13 elements, not a multiple of 2 as its shape [N, 2] needs");
  });

  it("a missing argument is a TypeError naming it and the length it needs", async () => {
    const m = await mod;
    // x gives N, so its length is known only as a multiple; y's follows from x's.
    expect(() => m.forward({ ...good(7), x: undefined })).toThrow(TypeError);
    expect(() => m.forward({ ...good(7), x: undefined })).toThrow("input 'x' is missing: expected a flat array of 2 * N numbers (shape [N, 2], row-major)");
    expect(() => m.backward({ ...good(7), y: undefined })).toThrow("input 'y' is missing: expected a flat array of 7 numbers");
    expect(() => m.forward({ ...good(7), y: "abc" })).toThrow("input 'y' must be a Float64Array or an array of 7 numbers, got a string");
  });

  it("N = 0", async () => {
    const m = await mod;
    expect(() => m.forward(good(0))).toThrow("input 'x' has 0 elements, so N = 0; a dim must be at least 1");
  });

  it("a constant index past a small N", async () => {
    const m = await mod;
    expect(() => m.forward(good(5))).toThrow(RangeError);
    expect(() => m.forward(good(5))).toThrow("x[5, 0] needs N >= 6, got N = 5");
    expect(m.forward(good(6)).l).toBe(6 * 9 + 1);
  });

  it("nothing is written on a bad call", async () => {
    const m = await mod;
    const grad = m.createGrad({ N: 7 });
    (grad.w as Float64Array).fill(42);
    expect(() => m.backwardInto({ ...good(7), y: new Float64Array(3) }, undefined, grad)).toThrow(RangeError);
    expect(Array.from(grad.w as Float64Array)).toEqual([42, 42]);
  });
});

describe("shapes are checked at compile time with dims as symbols", () => {
  const diagnostics = (source: string) => {
    const r = compile(source, { filename: "t.expr" });
    return r.ok ? [] : r.diagnostics.map((d) => `${d.code} ${d.message}`);
  };
  it("[N] + [N] and [N, 2] + [2] are fine; [N] + [M] and [N] + [3] are errors", () => {
    expect(diagnostics("dim N\ninput a[N], b[N], c[N, 2], d[2]\noutput s = sum(a + b) + sum(c + d)")).toEqual([]);
    expect(diagnostics("dim N, M\ninput a[N], b[M]\noutput s = sum(a + b)")[0]).toMatch(/cannot broadcast shapes \[N\] and \[M\]/);
    expect(diagnostics("dim N\ninput a[N], b[3]\noutput s = sum(a + b)")[0]).toMatch(/cannot broadcast shapes \[N\] and \[3\]/);
  });
  it("a dim that no input or param has is an error", () => {
    expect(diagnostics("dim N, K\ninput a[N]\noutput s = sum(a) * K")).toEqual(["E0269 dim 'K' is not the size of any input or param: a call could not tell its value"]);
  });
  // These passed the check (each dim is an axis of some argument) and then the module's
  // size reader threw "internal: a dim that no argument gives".
  it("dims that only share arguments cannot be read apart: E0269 for each", () => {
    const unreadable = (dim: string, holders: string) =>
      `E0269 dim '${dim}' cannot be told apart from the other dims of ${holders}: a call knows only each argument's length; give '${dim}' an axis in an argument whose other sizes are known`;
    expect(diagnostics("dim N, M\ninput a[N, M]\noutput s = sum(a)")).toEqual([unreadable("N", "'a' [N, M]"), unreadable("M", "'a' [N, M]")]);
    expect(diagnostics("dim N, M\ninput a[N, M], b[M, N]\noutput s = sum(a) + sum(b)")).toEqual([unreadable("N", "'a' [N, M], 'b' [M, N]"), unreadable("M", "'a' [N, M], 'b' [M, N]")]);
    // One of them read from an argument of its own, then the other from their product; a square.
    expect(diagnostics("dim N, M\ninput a[N, M], b[M]\noutput s = sum(a) + sum(b)")).toEqual([]);
    expect(diagnostics("dim S\ninput p[S, S, 3]\noutput s = sum(p)")).toEqual([]);
  });
  it("an index into a dim axis must be provably in range", () => {
    expect(diagnostics("dim N\ninput a[N]\noutput s = sum(a[i + 1] for i in 0..N)")[0]).toMatch(/E0208 index N out of range for a\[N\]/);
    expect(diagnostics("dim N\ninput a[N]\noutput s = sum(a[i + 1] - a[i] for i in 0..N-1)")).toEqual([]);
  });
  // A dim has no value at compile time: what would need one is a diagnostic, not the
  // interpreter's internal error (these compiled to a stack trace).
  it("a const, an index table or a non-affine index that reads a dim is an error with a code", () => {
    expect(diagnostics("dim N\nconst M = 2*N\ninput a[N]\noutput s = sum(a)")).toEqual([
      "E0212 a const must be known at compile time, but this one reads the dim 'N', known only when the module runs: use 'N' itself where its value is needed",
    ]);
    expect(diagnostics("dim N\nconst M = [N, 1]\ninput a[N]\noutput s = sum(a)")[0]).toMatch(/^E0212 a const must be known at compile time, but this one reads the dim 'N'/);
    expect(diagnostics("dim N\ninput a[N]\noutput s = sum(a[[0, N - 1]])")[0]).toMatch(/^E0212 an array of indices must be known at compile time, but this one reads the dim 'N'/);
    for (const index of ["N % 2", "floor(N / 2)", "max(N - 1, 0)", "(N - 1) % 3"])
      expect(diagnostics(`dim N\ninput a[N]\noutput s = a[${index}]`)).toEqual([
        "E0268 an index that reads the dim 'N' must be affine in it and in the loop variables (as in x[N - 1] or x[i + 1]), or a remainder by the size of its axis ((i + 1) % N)",
      ]);
    // What a dim may do stays allowed: a value, an affine index, a remainder by it.
    expect(diagnostics("dim N\ninput a[N]\nM = 2*N\noutput s = a[N - 1] * M + sum(a[(i + 1) % N] for i in 0..N)")).toEqual([]);
  });
  // It said "must be known at compile time: use numbers, consts and loop variables", and
  // then that the dim was the size of no input or param.
  it("an axis written as an expression of a dim is one E0212 saying what to write", () => {
    const message = "E0212 an axis of an input or param is a number, a const or a dim by itself, not an expression of the dim 'N': declare another dim for it, or split it into axes ([N, 2] holds 2 * N elements)";
    expect(diagnostics("dim N\ninput a[N], b[2*N]\noutput s = sum(a) + sum(b)")).toEqual([message]);
    expect(diagnostics("dim N\ninput a[N, N + 1]\noutput s = sum(a)")).toEqual([message]);
    expect(diagnostics("dim N\nconst K = 2\ninput a[N, K + 1]\noutput s = sum(a)")).toEqual([]);
  });
  it("a derivative with respect to a dim is E0270: a size is not a variable", () => {
    expect(diagnostics("dim N\nparam a[N]\noutput s = gradient(sum(a) * N, N)")).toEqual([
      "E0270 'gradient' cannot differentiate with respect to the dim 'N': a size is a whole number, not a variable; name a param, an input or a parameter of the enclosing def",
    ]);
    expect(diagnostics("dim N\nparam a[N]\noutput j = jacobian(a * N, N)")[0]).toMatch(/^E0270 'jacobian' cannot differentiate with respect to the dim 'N'/);
  });
});

describe("dims through the language", () => {
  it("slices, differences of neighbours, a dim as a value, and a loop to N - 1 agree with the const program", async () => {
    const body = "input p[N, 2]\nparam k\nd = p[1:] - p[:-1]\noutput e = k * sum(d * d) / N + sum(p[i + 1, 0] * p[i, 1] for i in 0..N-1) + p[-1, 0]\n";
    const sized = (await load("dim N\n" + body)).module as SizedModule;
    for (const n of [2, 5, 40]) {
      const fixed = (await load(`const N = ${n}\n` + body)).module;
      const random = rng(n);
      const args = { p: Float64Array.from({ length: 2 * n }, () => random()), k: 1.5 };
      const a = sized.backward(args);
      const b = fixed.backward(args);
      expect(a.outputs.e as number).toBeCloseTo(b.outputs.e as number, 12);
      expect(a.grad.k as number).toBeCloseTo(b.grad.k as number, 12);
    }
  });

  it("a slice with a step over a multiple of the step: x[::2], x[1::2], x[1:-1:2] of [2 * M] against the const program", async () => {
    const body = "input p[M, 2]\nparam w\nq = reshape(p, [-1])\noutput s = w * sum(q[::2] * q[1::2]) + w * w * sum(q[1:-1:2]) + sum(q[::2] * w)\n";
    const sized = (await load("dim M\n" + body)).module as SizedModule;
    // At M = 1, q[1:-1:2] is empty (the const program refuses it): s = w * p0 * p1 + p0 * w.
    expect(sized.forward({ p: [2, 3], w: 1.5 }).s).toBe(1.5 * 6 + 3);
    for (const m of [2, 7]) {
      const fixed = (await load(`const M = ${m}\n` + body)).module;
      const random = rng(m);
      const args = { p: Float64Array.from({ length: 2 * m }, () => random()), w: 1.5 };
      const a = sized.backward(args);
      const b = fixed.backward(args);
      expect(a.outputs.s as number).toBeCloseTo(b.outputs.s as number, 12);
      expect(a.grad.w as number).toBeCloseTo(b.grad.w as number, 12);
    }
  });

  it("a slice with a step whose length is no polynomial is E0267, saying what to write", () => {
    const r = compile("dim N\ninput x[N]\noutput s = sum(x[1::3])", { filename: "t.expr" });
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(`${r.diagnostics[0].code} ${r.diagnostics[0].message}`).toBe(
        "E0267 slice 1::3 of x[N] would have ceil((N - 1) / 3) elements, which is not a size: sizes are polynomials in the dims, so a step needs a length that is a multiple of it (an axis of 3 * N), or the step as an axis of its own ([N, 3], then [:, 0])",
      );
  });

  it("at N = 1 an empty slice sums to 0", async () => {
    const m = (await load("dim N\ninput x[N]\nparam w\noutput s = w * sum(x[1:] - x[:-1]) + w * x[0]")).module as SizedModule;
    expect(m.forward({ x: [3], w: 2 }).s).toBe(6);
    expect(m.backward({ x: [3], w: 2 }).grad.w).toBe(3);
  });
});

describe("modular indices over a const: a table while short, arithmetic in the loop past INDEX_TABLE_LIMIT", () => {
  const ring = (n: number) => `param x[${n}]\nparam w\noutput s = sum([x[(i + 1) % ${n}] * x[i] * w for i in 0..${n}])\n`;
  const code = (source: string) => compile(source, { format: "js" }).code!;

  it("the module stays the same size as n grows, as with a dim; a short ring keeps its table", { timeout: 60_000 }, () => {
    const sizes = [1_000, 10_000, 100_000].map((n) => code(ring(n)).length);
    // Only the digits of n grow: a table of 100,000 indices was 700K of code.
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThan(200);
    expect(sizes[2]).toBeLessThan(code(`dim N\ninput x[N]\nparam w\noutput s = sum([x[(i + 1) % N] * x[i] * w for i in 0..N])\n`).length * 1.5);
    expect(code(ring(100))).toContain("[1, 2, 3, 4, 5");
    expect(code(ring(INDEX_TABLE_LIMIT + 1))).not.toContain("[1, 2, 3, 4, 5");
    expect(code(`param x[2]\noutput y = sum([x[i % 2] * i for i in 0..10000000])\n`).length).toBeLessThan(20_000);
  });

  it("past the limit, values and gradients equal those of the same indices given as a table", async () => {
    const n = 1000;
    const computed = (await load(ring(n))).module;
    const indices = Array.from({ length: n }, (_, i) => (i + 1) % n).join(", ");
    const tabled = (await load(`param x[${n}]\nparam w\noutput s = sum(x[[${indices}]] * x * w)\n`)).module;
    const random = rng(11);
    const args = { x: Float64Array.from({ length: n }, () => random() * 2 - 1), w: 0.75 };
    const [a, b] = [computed.backward(args), tabled.backward(args)];
    expect(a.outputs.s as number).toBeCloseTo(b.outputs.s as number, 10);
    expect(a.grad.w as number).toBeCloseTo(b.grad.w as number, 10);
    closeArrays(a.grad.x as Float64Array, b.grad.x as Float64Array);
    // And against finite differences at the ends of the ring, where the index wraps.
    for (const j of [0, 1, n - 1]) {
      const at = (v: number) => {
        const x = args.x.slice();
        x[j] = v;
        return computed.forward({ ...args, x }).s as number;
      };
      const h = 1e-5;
      expect((a.grad.x as Float64Array)[j]).toBeCloseTo((at(args.x[j] + h) - at(args.x[j] - h)) / (2 * h), 6);
    }
  });

  it("a remainder over ten million steps is arithmetic, its value and gradient exact", { timeout: 60_000 }, async () => {
    const { module } = await load(`param x[2]\noutput y = sum([x[i % 2] * i for i in 0..10000000])\n`);
    const { outputs, grad } = module.backward({ x: [1, 2] });
    // Even steps sum to 2.5e13 - 5e6, odd ones to 2.5e13.
    expect(outputs.y).toBe(24_999_995_000_000 + 2 * 25_000_000_000_000);
    expect(Array.from(grad.x as Float64Array)).toEqual([24_999_995_000_000, 25_000_000_000_000]);
  });
});

describe("more of the language over dims, each against the same program with consts", () => {
  const cases: [string, string, Record<string, number>][] = [
    ["a ring: x[(i + 1) % N]", "input x[N]\nparam w\noutput s = sum(x[(i + 1) % N] * x[i] * w for i in 0..N)", { N: 5 }],
    ["prod and mean over a dim", "input x[N]\nparam w\noutput m = mean(x * w) + prod(x * w)", { N: 4 }],
    ["a transpose and @ with two dims", "input A[N, M]\nparam v[M]\noutput s = sum((A @ v) ^ 2) + sum(transpose(A) * 0.5)", { N: 3, M: 4 }],
    ["softmax along rows, einsum", "input X[N, 3]\nparam W[3, 2], w[3]\noutput l = sum(log_softmax(X @ W, axis=1)) + sum(einsum(\"ij,j->i\", X, w) ^ 2)", { N: 6 }],
    ["centring by a mean over a dim axis", "input X[N, 3]\nparam b[3]\noutput l = sum((X - mean(X, axis=0, keepdims=true) + b) ^ 2)", { N: 5 }],
    ["gradient and vjp inside", "input X[N, 3]\nparam w[3]\noutput g = sum(gradient(sum((X @ w) ^ 2), w) * w) + sum(vjp(X @ w, w, X[:, 0]))", { N: 4 }],
  ];
  it.each(cases)("%s", async (_, body, dims) => {
    const names = Object.keys(dims);
    const sized = (await load(`dim ${names.join(", ")}\n${body}`)).module;
    const fixed = (await load(names.map((d) => `const ${d} = ${dims[d]}`).join("\n") + "\n" + body)).module;
    const random = rng(3);
    const args: Record<string, number | Float64Array> = {};
    for (const decl of body.matchAll(/(input|param) ([^\n]+)/g))
      for (const item of decl[2].split(/,\s*(?![^[]*\])/)) {
        const m = /(\w+)(?:\[([^\]]+)\])?/.exec(item)!;
        const size = m[2] ? m[2].split(",").reduce((p, d) => p * (dims[d.trim()] ?? Number(d)), 1) : 0;
        args[m[1]] = size ? Float64Array.from({ length: size }, () => random() + 0.5) : random() + 0.5;
      }
    const a = sized.backward(args);
    const b = fixed.backward(args);
    for (const k of Object.keys(b.outputs)) expect(a.outputs[k] as number).toBeCloseTo(b.outputs[k] as number, 10);
    for (const k of Object.keys(b.grad)) {
      const [ga, gb] = [a.grad[k], b.grad[k]];
      if (typeof gb === "number") expect(ga as number).toBeCloseTo(gb, 10);
      else closeArrays(ga as Float64Array, gb);
    }
  });

  const derivativesSource = `dim N
input A[N, N], b[N]
param x[N]
r = tanh(A @ x) - b
output J = jacobian(r, x)
output H = hessian(sum(exp(A @ x)) + sum(x^3), x)
output D = jacobian(sin(x), x)
output loss = sum(r^2) + sum(J * J)`;

  it.each([1, 2, 6])("jacobian and hessian of dim-sized tensors, N = %i: the const program's values and gradients", async (n) => {
    const sized = (await load(derivativesSource)).module as SizedModule;
    const fixed = (await load(derivativesSource.replace("dim N", `const N = ${n}`))).module;
    const random = rng(n + 40);
    const r = (k: number) => Float64Array.from({ length: k }, () => random() - 0.5);
    const args = { A: r(n * n), b: r(n), x: r(n) };
    const [a, b] = [sized.backward(args, { loss: 1 }), fixed.backward(args, { loss: 1 })];
    for (const k of ["J", "H", "D"]) closeArrays(a.outputs[k] as Float64Array, b.outputs[k] as Float64Array);
    expect(a.outputs.loss as number).toBeCloseTo(b.outputs.loss as number, 12);
    closeArrays(a.grad.x as Float64Array, b.grad.x as Float64Array);
    // The Hessian is exactly symmetric at run-time sizes too.
    const H = a.outputs.H as Float64Array;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(H[i * n + j]).toBe(H[j * n + i]);
  });

  const linalgSource = `dim N, K
input A[N, N], B[N, K], b[N]
param x[N], W[N, K]
M = A + x * transpose(x)
output d = det(M)
output s = solve(M, b + x)
output S = solve(M, B * W)
output loss = d^2 + sum(s^2) + sum(inv(M) * A) + sum(S)
output J = jacobian(solve(A, x), x)`;

  it.each([[1, 1], [3, 2], [5, 4]])("det, inv, solve of dim-sized matrices (N = %i, K = %i) match the const program", async (n, k) => {
    const sized = (await load(linalgSource)).module as SizedModule;
    const fixed = (await load(linalgSource.replace("dim N, K", `const N = ${n}\nconst K = ${k}`))).module;
    const random = rng(n * 10 + k);
    const r = (len: number) => Float64Array.from({ length: len }, () => random() - 0.5);
    const A = r(n * n);
    for (let i = 0; i < n; i++) A[i * n + i] += n; // well conditioned
    const args = { A, B: r(n * k), b: r(n), x: r(n), W: r(n * k) };
    const [a, f] = [sized.backward(args, { loss: 1 }), fixed.backward(args, { loss: 1 })];
    expect(a.outputs.d as number).toBeCloseTo(f.outputs.d as number, 12);
    for (const o of ["s", "S", "J"]) closeArrays(a.outputs[o] as Float64Array, f.outputs[o] as Float64Array);
    closeArrays(a.grad.x as Float64Array, f.grad.x as Float64Array);
    closeArrays(a.grad.W as Float64Array, f.grad.W as Float64Array);
  });

  // Shapes beyond the square case: y or x of known size, two dims, [N - 1] by [N], a scalar x.
  const shapes: [string, string, Record<string, number>][] = [
    ["[N] by [3]", "input X[N, 3]\nparam w[3]\noutput j = jacobian(tanh(X @ w), w)", { N: 4 }],
    ["[N] by a scalar", "input X[N]\nparam k\noutput j = jacobian(exp(k * X), k)", { N: 2 }],
    ["[N - 1] by [N]", "param x[N]\noutput j = jacobian(x[1:] * x[:-1], x)", { N: 2 }],
    ["[N] by [M]", "input A[N, M]\nparam x[M]\noutput l = sum(jacobian(tanh(A @ x), x) ^ 2)", { N: 3, M: 5 }],
    ["a diagonal hessian", "param x[N]\noutput h = hessian(sum(exp(x)), x)", { N: 3 }],
    // prod's gradient is prodexcept; its tangent pairs the elements of an axis of run-time length.
    ["the hessian of a product", "param x[N]\noutput h = hessian(prod(x), x)", { N: 3 }],
    ["jvp of det (its tangent reads the diagonal of a run-time-sized solve)", "input A[N, N], V[N, N]\nparam k\noutput t = jvp(det(A + k * V), A, V)", { N: 2 }],
  ];
  it.each(shapes)("jacobian and hessian of %s at two sizes: the const program's values and gradients", async (_, body, dims) => {
    const names = Object.keys(dims);
    const sized = (await load(`dim ${names.join(", ")}\n${body}`)).module;
    for (const extra of [0, 3]) {
      const at = Object.fromEntries(names.map((d) => [d, dims[d] + extra]));
      const fixed = (await load(names.map((d) => `const ${d} = ${at[d]}`).join("\n") + "\n" + body)).module;
      const random = rng(7 + extra);
      const args: Record<string, number | Float64Array> = {};
      for (const decl of body.matchAll(/(input|param) ([^\n]+)/g))
        for (const item of decl[2].split(/,\s*(?![^[]*\])/)) {
          const m = /(\w+)(?:\[([^\]]+)\])?/.exec(item)!;
          const size = m[2] ? m[2].split(",").reduce((p, d) => p * (at[d.trim()] ?? Number(d)), 1) : 0;
          args[m[1]] = size ? Float64Array.from({ length: size }, () => random() * 0.5 + 0.2) : random() + 0.5;
        }
      // Tensor outputs (the Jacobians themselves) are seeded, so backward differentiates them too.
      const seed: Record<string, number | Float64Array> = {};
      for (const [k, v] of Object.entries(fixed.forward(args))) seed[k] = typeof v === "number" ? 1 : Float64Array.from(v, () => random() - 0.5);
      const [a, b] = [sized.backward(args, seed), fixed.backward(args, seed)];
      for (const [x, y] of [...Object.keys(b.outputs).map((k) => [a.outputs[k], b.outputs[k]]), ...Object.keys(b.grad).map((k) => [a.grad[k], b.grad[k]])]) {
        if (typeof y === "number") expect(x as number).toBeCloseTo(y, 10);
        else closeArrays(x as Float64Array, y);
      }
    }
  });

  it("a jacobian over dims is batched into loops: the module does not grow with N", () => {
    const r = compile(derivativesSource, { filename: "t.expr" });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.stats.derivatives.map((d) => d.method)).toEqual([
      expect.stringMatching(/^forward, N passes .*built once and batched$/),
      expect.stringMatching(/upper triangle mirrored/),
      expect.stringMatching(/^diagonal/),
    ]);
  });
  // language.md: derivative operators may appear in comprehensions. Over a loop of dim size
  // a hessian's sparsity analysis met the loop variable and threw an internal error; it now
  // reads no pattern there, and the hessian is computed as where sizes are known.
  it("a hessian in a comprehension over a dim: 2 t t^T and diag(-t^2 sin(t v)) per row", async () => {
    const source = "dim N\ninput T[N, 3]\nparam v[3]\noutput H = [hessian(dot(T[i], v)^2, v) for i in 0..N]\noutput S = [hessian(sum(sin(T[i] * v)), v) for i in 0..N]";
    const { module } = await load(source);
    const T = [1, 2, 3, 0.5, -1, 2];
    const v = [0.1, 0.2, 0.3];
    const out = module.forward({ T, v });
    const H: number[] = [];
    const S: number[] = [];
    for (let r = 0; r < 2; r++)
      for (let a = 0; a < 3; a++)
        for (let b = 0; b < 3; b++) {
          H.push(2 * T[3 * r + a] * T[3 * r + b]);
          S.push(a === b ? -(T[3 * r + a] ** 2) * Math.sin(T[3 * r + a] * v[a]) : 0);
        }
    closeArrays(out.H as Float64Array, H);
    closeArrays(out.S as Float64Array, S);
  });
});

describe("the IR at given sizes (gradc graph, gradc check)", () => {
  it("a program specialized to N = 6 interprets to what the compiled module computes", async () => {
    const { program } = analyze(withDim);
    if (!program) throw new Error("does not check");
    const args = netArgs(6, 2);
    expect(dimsFromLengths(program, new Map([["X", 12]]), 3)).toEqual({ N: 6 });
    const reference = interpretProgram(specialize(program, { N: 6 }), args);
    const module = (await load(withDim)).module.backward(args);
    expect(module.outputs.loss as number).toBeCloseTo(reference.outputs.loss as number, 12);
    closeArrays(module.grad.W1 as Float64Array, reference.grad.W1 as Float64Array);
  });
  it("gradc graph draws a program with dims at the sizes of --at", () => {
    const { program } = analyze("dim N\ninput x[N]\nparam w\noutput s = sum(w * x)");
    const dot = buildDot(program!, new Map([["x", [1, 2, 3, 4]], ["w", [2]]]));
    expect(dot).toMatch(/20/); // s = 2 * (1 + 2 + 3 + 4)
    expect(dot).toMatch(/\[4\]/);
  });
});

describe("a dim on several axes", () => {
  it("is read as the root of their product: a square cloth p[S, S, 3]", async () => {
    const source = "dim S\nparam p[S, S, 3]\ninput k\noutput e = k * sum((p[1:] - p[:-1]) ^ 2) + k * sum((p[:, 1:] - p[:, :-1]) ^ 2)";
    const m = (await load(source)).module as SizedModule;
    const p = Float64Array.from({ length: 4 * 4 * 3 }, (_, k) => k * 0.1);
    expect(m.sizesOf({ p, k: 1 })).toEqual({ S: 4 });
    // Neighbours along the first axis differ by 1.2, along the second by 0.3: 36 pairs each.
    expect(m.forward({ p, k: 1 }).e).toBeCloseTo(36 * (1.44 + 0.09), 10);
    expect(() => m.forward({ p: new Float64Array(30), k: 1 })).toThrow("param 'p' has 30 elements, which its shape [S, S, 3] cannot have");
  });
});

describe("integer inputs beside dims", () => {
  const labels = readFileSync(new URL("../examples/cs231n/twolayer-labels.expr", import.meta.url), "utf8");
  const labelsWithDim = labels.replace(/^const N = 300 .*$/m, "dim N");
  const labelArgs = (n: number, seed: number) => {
    const { Y: _, ...rest } = netArgs(n, seed);
    return { ...rest, y: Int32Array.from({ length: n }, (_, i) => (i * 7 + seed) % 3) };
  };

  it.each([1, 7, 300])("the course's net with integer labels, N = %i, matches the program with N a const", async (n) => {
    const m = (await load(labelsWithDim)).module as SizedModule;
    const fixed = (await load(labels.replace(/^const N = 300 /m, `const N = ${n} `))).module;
    const args = labelArgs(n, n);
    expect(m.sizesOf(args)).toEqual({ N: n });
    const [a, b] = [m.backward(args), fixed.backward(args)];
    expect(a.outputs.loss as number).toBeCloseTo(b.outputs.loss as number, 12);
    for (const p of ["W1", "b1", "W2", "b2"]) closeArrays(a.grad[p] as Float64Array, b.grad[p] as Float64Array);
    // Plain arrays of whole numbers serve as well as an Int32Array.
    expect(m.forward({ ...args, y: Array.from(args.y) }).loss as number).toBeCloseTo(b.outputs.loss as number, 12);
  });

  it("a label out of range is a RangeError naming the input and the element; a fractional one a TypeError", async () => {
    const m = (await load(labelsWithDim)).module as SizedModule;
    const args = labelArgs(5, 1);
    expect(() => m.forward({ ...args, y: [0, 1, 2, 3, 0] })).toThrow(/integer input 'y': y\[3\] is 3, out of range 0\.\.2/);
    expect(() => m.forward({ ...args, y: [0, 1, 2.5, 1, 0] })).toThrow(TypeError);
    expect(() => m.forward({ ...args, y: [0, 1, 2] })).toThrow(/input 'y' has 3 elements, but its shape \[N\] needs 5 with N = 5 \(from 'X'\)/);
  });

  it("the flat form reads N from its inputs, labels and all, and checks the labels", async () => {
    const m = (await load(labelsWithDim)).module as SizedModule & {
      paramSize: number;
      valueAndGradFlat(x: Float64Array, grad: Float64Array, inputs: unknown): number;
      unpackParams(x: Float64Array): Values;
    };
    const { y, X, reg } = labelArgs(5, 2);
    const x = Float64Array.from({ length: m.paramSize }, (_, k) => 0.1 * Math.cos(k));
    const grad = new Float64Array(m.paramSize);
    const value = m.valueAndGradFlat(x, grad, { X, y, reg });
    const r = m.backward({ X, y, reg, ...m.unpackParams(x) });
    expect(value).toBeCloseTo(r.outputs.loss as number, 12);
    closeArrays(grad.subarray(0, 200), r.grad.W1 as Float64Array);
    expect(() => m.valueAndGradFlat(x, grad, { X, y: Int32Array.of(0, 1, 2, 3, 0), reg })).toThrow("integer input 'y': y[3] is 3");
  });

  it("an index into a dim axis is checked against that dim at run time", async () => {
    const m = (await load("dim N, M\ninput idx[M] int\nparam x[N]\noutput s = sum(x[idx] ^ 2)")).module as SizedModule;
    const { outputs, grad } = m.backward({ idx: [0, 2, 2], x: [1, 2, 3] });
    expect(outputs.s).toBe(19);
    expect(Array.from(grad.x as Float64Array)).toEqual([2, 0, 12]);
    expect(() => m.forward({ idx: [0, 3], x: [1, 2, 3] })).toThrow(/integer input 'idx': idx\[1\] is 3, out of range 0\.\.2 for the axis of 3/);
    expect(() => m.forward({ idx: [0, 3], x: [1, 2, 3, 4] })).not.toThrow();
  });
});

describe("a remainder of two loop variables by a dim", () => {
  // (i + j) % N in a comprehension over j inside one over i: the inner loop's indices read
  // the outer variable, so they cannot be a table; over a dim both loops must be batched,
  // and this was refused ("an index that is not affine in two loop variables").
  const source = [
    "dim N",
    "param x[N]",
    "output C = [[x[(i + j) % N] for j in 0..N] for i in 0..N]",
    "output r = [sum(x[(i - j) % N] * x[j] for j in 0..N) for i in 0..N]",
  ].join("\n");
  const mod = (a: number, n: number) => ((a % n) + n) % n;

  for (const n of [1, 2, 5]) {
    it(`the circulant matrix and a circular convolution at N = ${n}, by hand and against differences`, async () => {
      const { module } = await load(source);
      const next = rng(n);
      const x = Array.from({ length: n }, () => next() * 2 - 1);
      const { C, r } = module.forward({ x }) as Record<string, Float64Array>;
      expect(Array.from(C)).toEqual(Array.from({ length: n * n }, (_, k) => x[mod(Math.floor(k / n) + (k % n), n)]));
      const conv = (v: number[]) => v.map((_, i) => v.reduce((t, xj, j) => t + v[mod(i - j, n)] * xj, 0));
      Array.from(r).forEach((v, i) => expect(v).toBeCloseTo(conv(x)[i], 12));
      // d/dx of sum(r): each x[j] x[k] pair appears once per i, so 2 sum(x) in every element.
      const { grad } = module.backward({ x }, { C: new Float64Array(n * n), r: new Float64Array(n).fill(1) });
      const total = x.reduce((t, v) => t + v, 0);
      Array.from(grad.x as Float64Array).forEach((g, j) => {
        const h = 1e-6;
        const moved = (d: number) => conv(x.map((v, k) => (k === j ? v + d : v))).reduce((t, v) => t + v, 0);
        expect(g).toBeCloseTo(2 * total, 10);
        expect(Math.abs(g - (moved(h) - moved(-h)) / (2 * h))).toBeLessThan(1e-7);
      });
    });
  }
});

describe("a remainder by the axis's size is in range without checking every step", () => {
  it("(i + 0.5) % N is not an index: an error, not NaN when the module runs", () => {
    for (const index of ["(i + 0.5) % N", "(i * 0.5) % N"]) {
      const result = compile(`dim N\nparam x[N]\noutput f = [x[${index}] for i in 0..N]`, { filename: "t.expr" });
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.diagnostics.map((d) => [d.code, d.message])).toEqual([["E0214", "an index must be an integer at every step"]]);
    }
  });

  it("over a fixed size too: 100,000 triangular steps of x[(i + j) % 3] compile to one loop, with the right value", async () => {
    // Its steps were evaluated one by one to check the index (past 10,000,000 the loop was
    // written out instead: 20 MB of code in 76 s at n = 10,000, no end at 100,000).
    const source = (n: number) => `param x[3]\noutput f = sum(sum(x[(i + j) % 3] * x[(2 * i + j + 1) % 3] for j in 0..i+1) for i in 0..${n})`;
    const started = Date.now();
    const big = compile(source(100_000), { format: "js" });
    expect(big.ok).toBe(true);
    expect(big.code!.length).toBeLessThan(30_000);
    expect(Date.now() - started).toBeLessThan(5_000);
    const n = 3000;
    const { module } = await load(source(n));
    const x = [0.3, -0.7, 1.1];
    let want = 0;
    const dx = [0, 0, 0];
    for (let i = 0; i < n; i++)
      for (let j = 0; j <= i; j++) {
        const [a, b] = [(i + j) % 3, (2 * i + j + 1) % 3];
        want += x[a] * x[b];
        dx[a] += x[b];
        dx[b] += x[a];
      }
    const { outputs, grad } = module.backward({ x });
    expect(Math.abs((outputs.f as number) - want)).toBeLessThan(1e-9 * Math.abs(want));
    Array.from(grad.x as Float64Array).forEach((g, k) => expect(Math.abs(g - dx[k])).toBeLessThan(1e-9 * Math.abs(dx[k])));
  });
});
