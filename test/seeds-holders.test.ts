// The errors of modules.md "Seeds and holders": a seed key that is no output, a seed of the
// wrong length, a holder without a property or with an array of the wrong length, each a
// TypeError or RangeError naming what is wrong, in the straight-line, loop and tape forms.
// Also: the cheap checks of plain arrays still find every element that is not a number.
import { describe, expect, it } from "vitest";
import { load, type GeneratedModule } from "./support/load.js";

const LOSS = "param w[3]\ninput x[3]\noutput loss = sum(w * x)^2";
const SEVERAL = "param w[3], b\noutput loss = sum(w)^2 + b\noutput scores = w * b";
const forms = ["unrolled", "loops", "tape"] as const;

const w = [1, 2, 3];
const x = [0.5, -1, 2];

async function module(source: string, emit: (typeof forms)[number]): Promise<GeneratedModule> {
  return (await load(source, { emit })).module;
}

describe.each(forms)("seeds (%s)", (emit) => {
  it("a misspelled seed key of the loss is a TypeError naming it and the output it is near", async () => {
    const m = await module(LOSS, emit);
    expect(() => m.backward({ w, x }, { los: 1 })).toThrow(TypeError);
    expect(() => m.backward({ w, x }, { los: 1 })).toThrow("test.expr: the seed has 'los', which is not an output (did you mean 'loss'?); the outputs are 'loss'");
    expect(() => m.backwardInto({ w, x }, { LOSS: 1 }, m.createGrad())).toThrow("did you mean 'loss'?");
  });

  it("a key far from every output gets no guess; with the right key beside it, still an error", async () => {
    const m = await module(LOSS, emit);
    expect(() => m.backward({ w, x }, { loss: 1, gradient: 1 })).toThrow(/the seed has 'gradient', which is not an output; the outputs are 'loss'$/);
  });

  it("several outputs: a misspelled key is a TypeError, not zero gradients", async () => {
    const m = await module(SEVERAL, emit);
    expect(() => m.backward({ w, b: 2 }, { scroes: [1, 1, 1] })).toThrow("the seed has 'scroes', which is not an output (did you mean 'scores'?); the outputs are 'loss', 'scores'");
    // The right keys still work, and a left-out output still contributes nothing.
    const g = m.backward({ w, b: 2 }, { scores: [1, 0, 0] }).grad;
    expect(Array.from(g.w as Float64Array)).toEqual([2, 0, 0]);
    expect(g.b).toBe(1);
  });

  it("a Map as the seed is a TypeError, not zero gradients (it has no keys an object's loop sees)", async () => {
    const one = await module(LOSS, emit);
    const several = await module(SEVERAL, emit);
    const seed = new Map([["loss", 1]]);
    expect(() => one.backward({ w, x }, seed)).toThrow(TypeError);
    expect(() => one.backwardInto({ w, x }, seed, one.createGrad())).toThrow("test.expr: the seed must be an object of upstream gradients by output name, got a Map");
    expect(() => several.backward({ w, b: 2 }, seed)).toThrow("got a Map");
  });

  it("inherited keys are no seeds and no errors", async () => {
    const m = await module(LOSS, emit);
    const seed = Object.create({ other: 1 }) as Record<string, number>;
    seed.loss = 2;
    const g = m.backward({ w, x }, seed).grad.w as Float64Array;
    const plain = m.backward({ w, x }).grad.w as Float64Array;
    expect(Array.from(g)).toEqual(Array.from(plain).map((v) => 2 * v));
  });

  it("a seed of the wrong length is a RangeError naming the output and both lengths", async () => {
    const m = await module(SEVERAL, emit);
    expect(() => m.backward({ w, b: 2 }, { scores: [1, 1] })).toThrow(RangeError);
    expect(() => m.backward({ w, b: 2 }, { scores: new Float64Array(4) })).toThrow("test.expr: the seed of 'scores' must have length 3 (flat, row-major), got length 4");
    expect(() => m.backward({ w, b: 2 }, { scores: [1, "x", 1] })).toThrow(/the seed of 'scores' must be a flat array of numbers, but element 1 is a string/);
  });

  it("a seed of the loss that is not a number is a TypeError naming the output", async () => {
    const m = await module(LOSS, emit);
    expect(() => m.backward({ w, x }, { loss: "1" })).toThrow("test.expr: the seed of 'loss' must be a number, got a string");
    expect(() => m.backward({ w, x }, [1])).toThrow(/the seed must be an object of upstream gradients by output name, got an array/);
  });
});

describe.each(forms)("holders (%s)", (emit) => {
  it("a grad holder without a param's array is a TypeError naming it", async () => {
    const m = await module(LOSS, emit);
    expect(() => m.backwardInto({ w, x }, undefined, {} as never)).toThrow(TypeError);
    expect(() => m.backwardInto({ w, x }, undefined, {} as never)).toThrow("test.expr: the grad holder has no 'w': expected a Float64Array of 3 numbers (make holders with createGrad())");
    expect(() => m.backwardInto({ w, x }, undefined, undefined as never)).toThrow("the grad holder must be an object (make it with createGrad()), got undefined");
  });

  it("a grad array of the wrong length is a RangeError naming it", async () => {
    const m = await module(LOSS, emit);
    expect(() => m.backwardInto({ w, x }, undefined, { w: new Float64Array(2) })).toThrow(RangeError);
    expect(() => m.backwardInto({ w, x }, undefined, { w: new Float64Array(2) })).toThrow("test.expr: 'w' of the grad holder must have length 3, got length 2");
    expect(() => m.backwardInto({ w, x }, undefined, { w: "abc" } as never)).toThrow("'w' of the grad holder must be a Float64Array of 3 numbers, got a string");
  });

  it("an outputs holder without a tensor output, or with the wrong length, names it", async () => {
    const m = await module(SEVERAL, emit);
    const args = { w, b: 2 };
    expect(() => m.forwardInto(args, { loss: 0 } as never)).toThrow("test.expr: the outputs holder has no 'scores': expected a Float64Array of 3 numbers (make holders with createOutputs())");
    expect(() => m.forwardInto(args, { loss: 0, scores: new Float64Array(5) })).toThrow(RangeError);
    expect(() => m.backwardInto(args, { loss: 1 }, m.createGrad(), { loss: 0, scores: new Float64Array(5) })).toThrow("'scores' of the outputs holder must have length 3, got length 5");
  });

  it("plain arrays of the right length are holders too", async () => {
    const m = await module(LOSS, emit);
    const grad = { w: [0, 0, 0] } as unknown as Record<string, Float64Array>;
    m.backwardInto({ w, x }, undefined, grad);
    expect(grad.w).toEqual(Array.from(m.backward({ w, x }).grad.w as Float64Array));
  });
});

describe("plain arrays are checked element by element on every call", () => {
  // Short arrays are tested inline, long ones (more than 8 elements) in a loop.
  it.each([3, 12])("a %i-element param", async (n) => {
    const m = (await load(`param v[${n}]\noutput f = sum(v^2)`)).module;
    const v = Array.from({ length: n }, (_, k) => k + 1);
    expect((m.forward({ v }).f as number)).toBe(v.reduce((s, a) => s + a * a, 0));
    for (const at of [0, n - 1]) {
      const bad: unknown[] = v.slice();
      bad[at] = String(bad[at]);
      expect(() => m.forward({ v: bad })).toThrow(`argument 'v' must be a flat array of numbers, but element ${at} is a string`);
      // Arrays change between calls: a checked array made wrong later is caught.
      const reused: unknown[] = v.slice();
      m.backward({ v: reused });
      reused[at] = undefined;
      expect(() => m.backward({ v: reused })).toThrow(TypeError);
    }
    const holey = new Array(n);
    expect(() => m.forward({ v: holey })).toThrow(TypeError);
  });
});

describe("--no-checks leaves the holder checks out too", () => {
  it("no checkGrad or checkOutputs in the module", async () => {
    const r = await load(LOSS, { checks: false });
    expect(r.code).not.toMatch(/checkGrad|checkOutputs|checkHolder/);
    // Seeds are still read by name: a misspelled seed is never silent.
    expect(() => r.module.backward({ w, x }, { los: 1 })).toThrow("did you mean 'loss'?");
  });
});

describe("checks read lengths first, inside try, and explain anything else one argument at a time", () => {
  // The usual case is one expression: a missing argument, a non-object or a value whose length
  // happens to fit reaches the explaining checks all the same, which name it.
  it.each(forms)("%s: values whose length fits, or that have none, are still errors naming them", async (emit) => {
    const m = await module(LOSS, emit);
    expect(() => m.forward({ w: "abc", x })).toThrow("test.expr: argument 'w' must be a flat array of 3 numbers, got a string");
    expect(() => m.forward({ w: { length: 3 }, x })).toThrow("argument 'w' must be a flat array of numbers, but element 0 is undefined");
    expect(() => m.forward({ w, x: null })).toThrow("test.expr: argument 'x' must be a flat array of 3 numbers, got null");
    expect(() => m.forward({ x })).toThrow("test.expr: argument 'w' is missing: expected a flat array of 3 numbers");
    for (const args of [null, undefined, 7, "wx"]) expect(() => m.forward(args)).toThrow(/expected an object of arguments, got/);
    expect(() => m.backwardInto({ w, x }, undefined, { w: { length: 3 } } as never)).toThrow("'w' of the grad holder must be a Float64Array of 3 numbers, got an object");
    expect(() => m.backwardInto({ w, x }, undefined, 5 as never)).toThrow("the grad holder must be an object (make it with createGrad()), got number 5");
    // Other typed arrays are right, through the explaining checks; nothing is written before.
    const grad = m.createGrad();
    m.backwardInto({ w: Float32Array.from(w), x: Int32Array.from([1, -1, 2]) }, undefined, grad);
    expect(Array.from(grad.w as Float64Array)).toEqual(Array.from(m.backward({ w, x: [1, -1, 2] }).grad.w as Float64Array));
    const before = Array.from(grad.w as Float64Array);
    expect(() => m.backwardInto({ w, x: [1, 2] }, undefined, grad)).toThrow(RangeError);
    expect(Array.from(grad.w as Float64Array)).toEqual(before);
    // An array-like of numbers is an ArrayLike<number>, as the types say, through either path.
    const like = { 0: w[0], 1: w[1], 2: w[2], length: 3 };
    expect(Array.from(m.backward({ w: like, x }).grad.w as Float64Array)).toEqual(Array.from(m.backward({ w, x }).grad.w as Float64Array));
    expect(() => m.forward({ w: { 0: 1, 1: "2", 2: 3, length: 3 }, x })).toThrow(TypeError);
  });

  it("the usual case is tested in one expression, lengths (as bounds checks) before kinds, with no typeof test of objects", async () => {
    const { code } = await load(LOSS, {});
    // Consts, not function declarations: V8 folds a call through a const to its function.
    const checkArgs = /const checkArgs = function \(args\) \{[\s\S]*?\n\};/.exec(code)![0];
    // Short arrays: their lengths in one bounds check, then their elements alone, whatever
    // their kind (no instanceof, which V8 stops folding after a joined length test).
    expect(checkArgs).toContain('ok = LENGTH_OK[(v0.length - 3) | (v1.length - 3)] !== undefined && (typeof v0[0] === "number" && typeof v0[1] === "number" && typeof v0[2] === "number") && (typeof v1[0] === "number"');
    expect(checkArgs).not.toContain("instanceof");
    // Array.isArray is not folded by V8 (a type test and branches per argument on every call).
    expect(checkArgs).not.toContain("Array.isArray");
    expect(checkArgs).not.toContain('typeof args !== "object"');
    const checkGrad = /const checkGrad = function \(holder\) \{[\s\S]*?\n\};/.exec(code)![0];
    expect(checkGrad).toContain("ok = LENGTH_OK[h0.length - 3] !== undefined && h0 instanceof Float64Array;");
    // The bounds checks' table is over a buffer of its own, so that V8 folds its length.
    expect(code).toContain("const LENGTH_OK = new Uint8Array(new ArrayBuffer(1));");
  });

  it("a wrong length is still an error after many right calls (the length test is a bounds check in optimized code)", async () => {
    const { module: m } = await load(LOSS, {});
    const args = { w: Float64Array.from(w), x: Float64Array.from(x) };
    const grad = m.createGrad();
    for (let i = 0; i < 200_000; i++) m.backwardInto(args, undefined, grad);
    for (const n of [0, 2, 4]) {
      expect(() => m.backwardInto({ w: new Float64Array(n), x: args.x }, undefined, grad)).toThrow(RangeError);
      expect(() => m.backwardInto(args, undefined, { w: new Float64Array(n) })).toThrow(RangeError);
    }
    expect(() => m.backwardInto({ w: { length: 3 }, x: args.x }, undefined, grad)).toThrow(TypeError);
    expect(() => m.backwardInto({ w: "abc", x: args.x }, undefined, grad)).toThrow(TypeError);
  });

  it("short arguments have their lengths tested in one bounds check, long ones alone, and each wrong one is still named after many right calls", async () => {
    const { code, module: m } = await load("param a[2], b[3], c\ninput d[9]\noutput f = a[0] * b[2] + a[1] * b[0] * c + sum(d) * a[1]", {});
    const checkArgs = /const checkArgs = function \(args\) \{[\s\S]*?\n\};/.exec(code)![0];
    expect(checkArgs).toContain("ok = LENGTH_OK[(v0.length - 2) | (v1.length - 3)] !== undefined && ");
    expect(checkArgs).toContain("(LENGTH_OK[v3.length - 9] !== undefined && (v3 instanceof Float64Array || allNumbers(v3, 9)))");
    const d = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    const expected = Array.from(m.backward({ a: [0.5, -2], b: [1, 2, 3], c: 4, d }).grad.a as Float64Array);
    for (const typed of [false, true]) {
      const of = (v: number[]) => (typed ? Float64Array.from(v) : v);
      const args = { a: of([0.5, -2]), b: of([1, 2, 3]), c: 4, d: of(d) };
      const grad = m.createGrad();
      for (let i = 0; i < 200_000; i++) m.backwardInto(args, undefined, grad);
      expect(Array.from(grad.a as Float64Array)).toEqual(expected);
      // Differences of opposite signs, which a sum of differences would cancel; too short, too long.
      expect(() => m.backwardInto({ ...args, a: of([1, 2, 3]), b: of([1, 2]) }, undefined, grad)).toThrow("argument 'a' must have length 2 (flat, row-major), got length 3");
      expect(() => m.backwardInto({ ...args, b: of([1, 2]) }, undefined, grad)).toThrow("argument 'b' must have length 3 (flat, row-major), got length 2");
      expect(() => m.backwardInto({ ...args, b: of([1, 2, 3, 4]) }, undefined, grad)).toThrow("argument 'b' must have length 3 (flat, row-major), got length 4");
      expect(() => m.backwardInto({ ...args, d: of([...d, 10]) }, undefined, grad)).toThrow("argument 'd' must have length 9 (flat, row-major), got length 10");
      expect(() => m.backwardInto({ ...args, b: [1, "2", 3] }, undefined, grad)).toThrow("argument 'b' must be a flat array of numbers, but element 1 is a string");
      expect(() => m.backwardInto({ ...args, a: undefined }, undefined, grad)).toThrow("argument 'a' is missing");
      // Nothing was written by the calls that threw.
      expect(Array.from(grad.a as Float64Array)).toEqual(expected);
    }
    // Other typed arrays still pass, as the explaining checks accept them.
    const grad = m.backwardInto({ a: Float32Array.of(0.5, -2), b: Int32Array.of(1, 2, 3), c: 4, d: Int16Array.from(d) }, undefined, m.createGrad());
    expect(Array.from(grad.a as Float64Array)).toEqual(expected);
  });

  it("several holders have their lengths tested in one bounds check, and each wrong one is still named", async () => {
    const { code, module: m } = await load("param a[2], b[3], c\noutput f = a[0] * b[2] + a[1] * b[0] * c", {});
    const checkGrad = /const checkGrad = function \(holder\) \{[\s\S]*?\n\};/.exec(code)![0];
    expect(checkGrad).toContain("ok = LENGTH_OK[(h0.length - 2) | (h1.length - 3)] !== undefined && h0 instanceof Float64Array && h1 instanceof Float64Array && given[\"c\"] !== undefined;");
    const args = { a: [0.5, -2], b: [1, 2, 3], c: 4 };
    const grad = m.createGrad();
    for (let i = 0; i < 200_000; i++) m.backwardInto(args, undefined, grad);
    expect(Array.from(grad.b as Float64Array)).toEqual([-8, 0, 0.5]);
    // Differences of opposite signs, which a sum of differences would cancel.
    expect(() => m.backwardInto(args, undefined, { a: new Float64Array(3), b: new Float64Array(2), c: 0 })).toThrow("'a' of the grad holder must have length 2, got length 3");
    expect(() => m.backwardInto(args, undefined, { a: new Float64Array(2), b: new Float64Array(4), c: 0 })).toThrow("'b' of the grad holder must have length 3, got length 4");
    expect(() => m.backwardInto(args, undefined, { a: new Float64Array(2), c: 0 })).toThrow("the grad holder has no 'b'");
    expect(() => m.backwardInto(args, undefined, { a: [0, 0], b: new Float64Array(3), c: 0 })).not.toThrow();
    // A scalar's field is only written, but a holder without it is named all the same (modules.md).
    expect(() => m.backwardInto(args, undefined, { a: new Float64Array(2), b: new Float64Array(3) })).toThrow(new TypeError("test.expr: the grad holder has no 'c': expected a number (make holders with createGrad())"));
  });

  it("a holder of scalars alone that lacks one is a TypeError naming it, for grad and for outputs", async () => {
    const { module: m } = await load("param x, y, z\noutput f = (x + y) * z\noutput g = x * y", {});
    const args = { x: -2, y: 5, z: -4 };
    expect(() => m.backwardInto(args, undefined, {})).toThrow(/the grad holder has no 'x': expected a number/);
    expect(() => m.backwardInto(args, undefined, { x: 0, y: 0 })).toThrow(TypeError);
    expect(() => m.backwardInto(args, undefined, { x: 0, y: 0 })).toThrow(/has no 'z'/);
    expect(() => m.forwardInto(args, { f: 0 })).toThrow(/the outputs holder has no 'g': expected a number \(make holders with createOutputs\(\)\)/);
    expect(() => m.backwardInto(args, { f: 1 }, m.createGrad(), {})).toThrow(/the outputs holder has no 'f'/);
    expect(m.backwardInto(args, { f: 1 }, m.createGrad(), m.createOutputs())).toEqual({ x: -4, y: -4, z: 3 });
    expect(m.forwardInto(args, { f: NaN, g: NaN })).toEqual({ f: -12, g: -10 });
  });
});
