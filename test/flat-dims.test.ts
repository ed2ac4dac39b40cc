// The flat form of a program with run-time sizes (modules.md, "Details of the version 2
// additions"): the flat functions read the dims from `inputs`, `paramSize` is a function of
// the sizes when a param is sized by a dim, and a dim that only params have rules the flat
// form out with a compile note. Values and gradients against backward at several sizes, the
// same module serving each; finite differences on the objective; wrong lengths.
import { describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { assertClose, centralDifference, load, rng, uniform } from "./support/load.js";

/** The central difference of f along x's element k. */
const partial = (f: (x: Float64Array) => number, x: Float64Array, k: number) =>
  centralDifference((t) => {
    const moved = Float64Array.from(x);
    moved[k] = t;
    return f(moved);
  }, x[k]);

interface SizedFlatModule {
  paramSize: number | ((sizes: unknown) => number);
  packParams(params: unknown, x?: Float64Array): Float64Array;
  unpackParams(x: ArrayLike<number>, params?: unknown, sizes?: unknown): Record<string, number | Float64Array>;
  valueFlat(x: ArrayLike<number>, inputs?: unknown): number;
  valueAndGradFlat(x: ArrayLike<number>, grad: Float64Array | number[], inputs?: unknown): number;
  backward(args: unknown, seed?: unknown): { outputs: Record<string, number | Float64Array>; grad: Record<string, number | Float64Array> };
  sizesOf(args: unknown): Record<string, number>;
}

const flatModule = async (source: string) => (await load(source)).module as unknown as SizedFlatModule;

// A line fit over N points: the dim comes from the inputs, the params have fixed sizes.
const LINE_FIT = `dim N
input X[N, 2], Y[N]
param w[2], b
output residuals = X @ w + b - Y
output loss = sum((X @ w + b - Y)^2) / N`;

// A smoothed signal: the param p has the inputs' dim, so x's length depends on N.
const SMOOTH = `dim N
input y[N], weight[N]
param p[N], s
output loss = sum(weight * (p + s - y)^2) + 3 * sum((p[1:] - p[:-1])^2)`;

function data(n: number, seed: number) {
  const random = rng(seed);
  const r = (k: number) => Float64Array.from({ length: k }, () => uniform(random, -1, 1));
  return r(n);
}

describe("the flat form with dims read from the inputs", () => {
  it("a module with fixed-size params: paramSize stays a number, one module serves every N", async () => {
    const m = await flatModule(LINE_FIT);
    expect(m.paramSize).toBe(3);
    const x = m.packParams({ w: [0.5, -0.25], b: 0.1 });
    for (const n of [1, 7, 300, 7]) {
      const inputs = { X: data(2 * n, n), Y: data(n, n + 1) };
      const grad = new Float64Array(3);
      const value = m.valueAndGradFlat(x, grad, inputs);
      const { outputs, grad: g } = m.backward({ ...inputs, w: x.subarray(0, 2), b: x[2] }, { loss: 1 });
      expect(value).toBeCloseTo(outputs.loss as number, 12);
      expect(m.valueFlat(x, inputs)).toBe(value);
      assertClose(Array.from(grad), [...(g.w as Float64Array), g.b as number], 1e-12);
      const f = (v: Float64Array) => m.valueFlat(v, inputs);
      for (let k = 0; k < 3; k++) expect(grad[k]).toBeCloseTo(partial(f, x, k), 6);
    }
  });

  it("a param sized by a dim: paramSize(sizes), x laid out at the inputs' N", async () => {
    const m = await flatModule(SMOOTH);
    expect(typeof m.paramSize).toBe("function");
    const paramSize = m.paramSize as (sizes: unknown) => number;
    for (const n of [1, 2, 9, 1000]) {
      expect(paramSize({ N: n })).toBe(n + 1);
      const inputs = { y: data(n, 3 * n), weight: data(n, 3 * n + 1).map((v) => v + 2) };
      const params = { p: data(n, 5 * n), s: 0.3 };
      const x = m.packParams(params);
      expect(x.length).toBe(n + 1);
      expect(Array.from(x.subarray(0, n))).toEqual(Array.from(params.p));
      expect(x[n]).toBe(0.3);
      const grad = new Array<number>(n + 1).fill(0);
      const value = m.valueAndGradFlat(x, grad, inputs);
      const { outputs, grad: g } = m.backward({ ...inputs, ...params });
      expect(value).toBeCloseTo(outputs.loss as number, 10);
      assertClose(grad, [...(g.p as Float64Array), g.s as number], 1e-10);
      if (n <= 9) {
        const f = (v: Float64Array) => m.valueFlat(v, inputs);
        for (let k = 0; k <= n; k++) expect(grad[k]).toBeCloseTo(partial(f, x, k), 5);
      }
      // unpackParams: from x's length alone, into holders, or at given sizes.
      const back = m.unpackParams(x);
      expect(Array.from(back.p as Float64Array)).toEqual(Array.from(params.p));
      expect(back.s).toBe(0.3);
      const holders = { p: new Float64Array(n), s: 0 };
      expect(m.unpackParams(x, holders)).toBe(holders);
      expect(Array.from(holders.p)).toEqual(Array.from(params.p));
      expect((m.unpackParams(x, undefined, { N: n }).p as Float64Array).length).toBe(n);
    }
  });

  it("wrong calls are TypeErrors and RangeErrors naming what is wrong", async () => {
    const m = await flatModule(SMOOTH);
    const inputs = { y: data(4, 1), weight: data(4, 2) };
    const x = new Float64Array(5);
    expect(() => m.valueFlat(x)).toThrow(TypeError);
    expect(() => m.valueFlat(x)).toThrow(/need the inputs \(y, weight\).*'y' is missing/);
    expect(() => m.valueFlat(x, { y: data(4, 1), weight: data(3, 2) })).toThrow(RangeError);
    expect(() => m.valueFlat(x, { y: data(4, 1), weight: data(3, 2) })).toThrow(/input 'weight' has 3 elements.*N = 4 \(from 'y'\)/);
    expect(() => m.valueFlat(new Float64Array(4), inputs)).toThrow(/'x' must have length 5 \(paramSize at N = 4\), got length 4/);
    expect(() => m.valueAndGradFlat(x, new Float64Array(6), inputs)).toThrow(/'grad' must have length 5/);
    expect(() => m.valueFlat(x, { y: new Float64Array(0), weight: new Float64Array(0) })).toThrow(/N = 0; a dim must be at least 1/);
    expect(() => (m.paramSize as (s: unknown) => number)({ N: 0 })).toThrow(RangeError);
    expect(() => (m.paramSize as (s: unknown) => number)(undefined)).toThrow(TypeError);
    expect(() => m.unpackParams(new Float64Array(1))).toThrow(/x has length 1, which paramSize gives for no N >= 1/);
    expect(() => m.unpackParams(5 as unknown as Float64Array)).toThrow(TypeError);
    expect(() => m.unpackParams(x, { p: new Float64Array(3), s: 0 })).toThrow(RangeError);
    expect(() => m.packParams({ p: data(4, 1), s: 1 }, new Float64Array(4))).toThrow(/'x' must have length 5/);
    expect(() => m.packParams({ p: data(4, 1) })).toThrow(/s/);
  });
});

describe("programs with dims that have no flat form", () => {
  it("a dim only params have: a compile note says so, and no flat function is exported", () => {
    const result = compile(`dim K\nparam a[K]\ninput t\noutput loss = sum(a^2) * t`, { filename: "only-params.expr", format: "js" });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.notes).toEqual([expect.stringMatching(/^only-params\.expr: note: no flat form .*dim 'K' is the size of params only/)]);
    expect(result.code).not.toMatch(/valueAndGradFlat/);
    expect(result.declaration).not.toMatch(/paramSize/);
  });

  it("a program with dims from the inputs compiles without notes, and its .d.ts types paramSize by the sizes", () => {
    const result = compile(SMOOTH, { filename: "smooth.expr", format: "js" });
    expect(result.ok && result.notes).toEqual([]);
    if (!result.ok) return;
    expect(result.declaration).toMatch(/export declare function paramSize\(sizes: Sizes\): number;/);
    expect(result.declaration).toMatch(/export declare function unpackParams\(x: ArrayLike<number>, params\?: Grads, sizes\?: Sizes\): Grads;/);
    expect(result.declaration).toMatch(/export declare function unpackParams\(x: ArrayLike<number>, params\?: Params, sizes\?: Sizes\): Params;/);
    const line = compile(LINE_FIT, { filename: "line.expr", format: "js" });
    expect(line.ok && line.declaration).toMatch(/export declare const paramSize: number;/);
  });
});
