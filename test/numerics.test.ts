// Numerics at the edges (the "Robustness" issue): every built-in at ±0, ±1e-300, ±1e300,
// ±Infinity and NaN, in both code shapes (straight-line and loops) and both as a scalar
// and elementwise over a vector of all the points at once (another code path in the loop
// emitter). Forward values follow IEEE: the Math-backed built-ins give exactly what
// JavaScript's Math gives at the same point, zero signs included; the others follow the
// reference's conventions (stable sigmoid and softplus, relu as max(x, 0), where). Gradients
// are finite wherever the mathematical gradient is, and equal to it (1e-12 relative, or
// both below 1e-290 in size, where one rounding can lose the last digits of a subnormal).

import { describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { instantiate, type FuzzModule } from "./support/arbitrary.js";

const POINTS = [0, -0, 1e-300, -1e-300, 1e300, -1e300, Infinity, -Infinity, NaN];
const FORMS = ["unrolled", "loops"] as const;
const show = (x: number) => (Object.is(x, -0) ? "-0" : String(x));

const modules = new Map<string, FuzzModule>();
function module(source: string, emit: (typeof FORMS)[number]): FuzzModule {
  const key = `${emit}\n${source}`;
  if (!modules.has(key)) {
    const r = compile(source, { filename: "edges.expr", format: "js", emit });
    if (!r.ok) throw new Error(r.diagnostics.map((d) => d.text).join("\n"));
    modules.set(key, instantiate(r.code));
  }
  return modules.get(key)!;
}

/** The same value, NaN equal to NaN and -0 distinct from 0. */
const same = (a: number, b: number) => Object.is(a, b);

/** A gradient against the mathematical one: equal when finite, and finite where it is. */
function gradientProblem(actual: number, expected: number): string | undefined {
  if (!Number.isFinite(expected)) return undefined; // the math has no finite answer: anything goes
  if (!Number.isFinite(actual)) return `${show(actual)} where the math gives ${show(expected)}`;
  if (Math.abs(expected) < 1e-290 && Math.abs(actual) < 1e-290) return undefined;
  if (Math.abs(actual - expected) <= 1e-12 * Math.abs(expected)) return undefined;
  return `${show(actual)}, the math gives ${show(expected)}`;
}

function stableSigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** Each elementwise built-in: its value (the reference) and its derivative in x. */
const UNARY: Record<string, { value: (x: number) => number; derivative: (x: number) => number }> = {
  exp: { value: Math.exp, derivative: Math.exp },
  log: { value: Math.log, derivative: (x) => 1 / x },
  sqrt: { value: Math.sqrt, derivative: (x) => 0.5 / Math.sqrt(x) },
  sin: { value: Math.sin, derivative: Math.cos },
  cos: { value: Math.cos, derivative: (x) => -Math.sin(x) },
  tan: { value: Math.tan, derivative: (x) => 1 + Math.tan(x) ** 2 },
  asin: { value: Math.asin, derivative: (x) => 1 / Math.sqrt(1 - x * x) },
  acos: { value: Math.acos, derivative: (x) => -1 / Math.sqrt(1 - x * x) },
  atan: { value: Math.atan, derivative: (x) => (Math.abs(x) > 1e154 ? 1 / x / x : 1 / (1 + x * x)) },
  sinh: { value: Math.sinh, derivative: Math.cosh },
  cosh: { value: Math.cosh, derivative: Math.sinh },
  tanh: { value: Math.tanh, derivative: (x) => 1 - Math.tanh(x) ** 2 },
  sigmoid: { value: stableSigmoid, derivative: (x) => stableSigmoid(x) * stableSigmoid(-x) },
  // relu is max(x, 0) (grammar/reference.md): Math.max, so NaN stays NaN; relu'(0) = 0.
  relu: { value: (x) => Math.max(x, 0), derivative: (x) => (x > 0 ? 1 : x <= 0 ? 0 : NaN) },
  softplus: { value: (x) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x))), derivative: stableSigmoid },
  abs: { value: Math.abs, derivative: (x) => (x > 0 ? 1 : x < 0 ? -1 : x === 0 ? 0 : NaN) },
  sign: { value: Math.sign, derivative: (x) => (Number.isNaN(x) ? NaN : 0) },
  floor: { value: Math.floor, derivative: (x) => (Number.isNaN(x) ? NaN : 0) },
  ceil: { value: Math.ceil, derivative: (x) => (Number.isNaN(x) ? NaN : 0) },
  log1p: { value: Math.log1p, derivative: (x) => 1 / (1 + x) },
  expm1: { value: Math.expm1, derivative: Math.exp },
};

describe("elementwise built-ins at ±0, ±1e-300, ±1e300, ±Infinity and NaN", { timeout: 60_000 }, () => {
  const cases = Object.keys(UNARY).flatMap((f) => FORMS.map((emit) => [f, emit] as const));

  it.each(cases)("%s (%s): scalar", (f, emit) => {
    const m = module(`param x\noutput y = ${f}(x)`, emit);
    const problems: string[] = [];
    for (const x of POINTS) {
      const { outputs, grad } = m.backward({ x });
      const want = UNARY[f].value(x);
      if (!same(outputs.y as number, want)) problems.push(`${f}(${show(x)}) = ${show(outputs.y as number)}, expected ${show(want)}`);
      if (!same(m.forward({ x }).y as number, outputs.y as number)) problems.push(`${f}(${show(x)}): forward and backward outputs differ`);
      const bad = gradientProblem(grad.x as number, UNARY[f].derivative(x));
      if (bad) problems.push(`${f}'(${show(x)}) = ${bad}`);
    }
    expect(problems).toEqual([]);
  });

  it.each(cases)("%s (%s): over a vector of all the points", (f, emit) => {
    const m = module(`param v[${POINTS.length}]\noutput y = ${f}(v)`, emit);
    const { outputs, grad } = m.backward({ v: POINTS }, { y: POINTS.map(() => 1) });
    const problems: string[] = [];
    POINTS.forEach((x, i) => {
      const want = UNARY[f].value(x);
      if (!same((outputs.y as Float64Array)[i], want)) problems.push(`${f}(${show(x)}) = ${show((outputs.y as Float64Array)[i])}, expected ${show(want)}`);
      const bad = gradientProblem((grad.v as Float64Array)[i], UNARY[f].derivative(x));
      if (bad) problems.push(`${f}'(${show(x)}) = ${bad}`);
    });
    expect(problems).toEqual([]);
  });

  it.each(FORMS)("the documented conventions, by name (%s)", (emit) => {
    const at = (f: string, x: number) => module(`param x\noutput y = ${f}(x)`, emit).backward({ x });
    expect(at("sigmoid", 1e300)).toEqual({ outputs: { y: 1 }, grad: { x: 0 } });
    expect(at("sigmoid", -1e300)).toEqual({ outputs: { y: 0 }, grad: { x: 0 } });
    expect(at("sigmoid", -1000)).toEqual({ outputs: { y: 0 }, grad: { x: 0 } });
    expect(at("softplus", 1e300)).toEqual({ outputs: { y: 1e300 }, grad: { x: 1 } });
    expect(at("softplus", 1000)).toEqual({ outputs: { y: 1000 }, grad: { x: 1 } });
    expect(at("tanh", 1e300)).toEqual({ outputs: { y: 1 }, grad: { x: 0 } });
    expect(at("exp", -1e300)).toEqual({ outputs: { y: 0 }, grad: { x: 0 } });
    expect(at("relu", 0).grad.x).toBe(0);
    expect(at("abs", 0).grad.x).toBe(0);
    expect(at("sqrt", 0).grad.x).toBe(Infinity);
    expect(at("log", 0).outputs.y).toBe(-Infinity);
    expect(at("atan", 1e300).grad.x).toBe(0);
  });
});

// ---- two arguments --------------------------------------------------------------------------

/** Value and partial derivatives of the two-argument built-ins; NaN where the math has none. */
const BINARY: Record<string, { source: string; value: (a: number, b: number) => number; da: (a: number, b: number) => number; db: (a: number, b: number) => number }> = {
  pow: {
    source: "pow(a, b)",
    value: Math.pow,
    da: (a, b) => (b === 0 ? 0 : b * Math.pow(a, b - 1)),
    // d/db a^b = a^b log a; at a = 0 and b > 0, a^b is 0 near b: the derivative is 0.
    db: (a, b) => (a === 0 && b > 0 ? 0 : a < 0 ? NaN : Math.pow(a, b) * Math.log(a)),
  },
  max: { source: "max(a, b)", value: Math.max, da: (a, b) => (a > b ? 1 : a < b ? 0 : a === b ? 0.5 : NaN), db: (a, b) => (b > a ? 1 : b < a ? 0 : a === b ? 0.5 : NaN) },
  min: { source: "min(a, b)", value: Math.min, da: (a, b) => (a < b ? 1 : a > b ? 0 : a === b ? 0.5 : NaN), db: (a, b) => (b < a ? 1 : b > a ? 0 : a === b ? 0.5 : NaN) },
  atan2: {
    source: "atan2(a, b)",
    value: Math.atan2,
    // d/dy atan2(y, x) = x / (x² + y²), d/dx = -y / (x² + y²), scaled by hypot so that
    // neither overflows nor underflows; no derivative at the origin.
    da: (y, x) => (x === 0 && y === 0 ? NaN : x / Math.hypot(x, y) / Math.hypot(x, y)),
    db: (y, x) => (x === 0 && y === 0 ? NaN : -y / Math.hypot(x, y) / Math.hypot(x, y)),
  },
  where: { source: "where(a, b, 2 * b)", value: (c, b) => (c !== 0 ? b : 2 * b), da: () => 0, db: (c) => (c !== 0 ? 1 : 2) },
};

describe("two-argument built-ins over all pairs of edge points", { timeout: 60_000 }, () => {
  const cases = Object.keys(BINARY).flatMap((f) => FORMS.map((emit) => [f, emit] as const));
  it.each(cases)("%s (%s)", (f, emit) => {
    const op = BINARY[f];
    const m = module(`param a, b\noutput y = ${op.source}`, emit);
    const problems: string[] = [];
    for (const a of POINTS) {
      for (const b of POINTS) {
        const { outputs, grad } = m.backward({ a, b });
        const want = op.value(a, b);
        if (!same(outputs.y as number, want)) problems.push(`${f}(${show(a)}, ${show(b)}) = ${show(outputs.y as number)}, expected ${show(want)}`);
        // Gradients at finite points only: at an infinite argument the "math" is a limit.
        if (!Number.isFinite(a) || !Number.isFinite(b)) continue;
        for (const [name, d] of [["a", op.da(a, b)], ["b", op.db(a, b)]] as const) {
          const bad = gradientProblem(grad[name] as number, d);
          if (bad) problems.push(`d/d${name} ${f}(${show(a)}, ${show(b)}) = ${bad}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

describe("atan2's gradient between the edge points", () => {
  // Magnitudes the edge points skip: subnormal, where 1 / max(|x|, |y|) would overflow
  // unless the maximum is bounded below, and near the largest double.
  const pairs = [
    [5e-309, 5e-309],
    [-3e-320, 7e-310],
    [2e-308, -1e-300],
    [1.5e308, 1.5e308],
    [-1e308, 3e-300],
    [1e-200, 1e200],
    [3, -4],
    // About the ends of the ranges of x² + y² that pick the scale, 1e-300, 1e-100, 1e100 and
    // 1e300, on both sides, and an underflowing square beside a large one.
    [1e-150, 3e-151],
    [7.0710678118654e-151, 7.0710678118654e-151],
    [-1.0000000000000002e-50, 1e-60],
    [7.0710678118654e-51, -7.0710678118655e-51],
    [9.9e49, -9.9e49],
    [7.0710678118655e49, 7.0710678118655e49],
    [1e150, 1e150],
    [-7.0710678118654e149, 7.0710678118654e149],
    [1e40, 1e160],
    [3e-300, 1e-151],
  ];
  it.each(FORMS)("%s: equal to x / (x² + y²) and -y / (x² + y²)", (emit) => {
    const m = module("param a, b\noutput y = atan2(a, b)", emit);
    const problems: string[] = [];
    for (const [a, b] of pairs) {
      const { grad } = m.backward({ a, b });
      for (const [name, d] of [["a", BINARY.atan2.da(a, b)], ["b", BINARY.atan2.db(a, b)]] as const) {
        const bad = gradientProblem(grad[name] as number, d);
        if (bad) problems.push(`d/d${name} atan2(${show(a)}, ${show(b)}) = ${bad}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it.each(FORMS)("%s: in the common range, exactly the plain formula x (1 / (x² + y²))", (emit) => {
    const m = module("param a, b\noutput y = atan2(a, b)", emit);
    let state = 12345;
    const next = () => ((state = (state * 16807) % 2147483647) / 2147483647) * 2 - 1;
    const problems: string[] = [];
    for (let k = 0; k < 200; k++) {
      // Magnitudes from 1e-100 to 1e100, signs and ratios at random.
      const [a, b] = [next() * 10 ** (100 * next()), next() * 10 ** (100 * next())];
      const { grad } = m.backward({ a, b });
      const inverse = 1 / (b * b + a * a);
      if (grad.a !== b * inverse || grad.b !== -(a * inverse)) problems.push(`atan2(${a}, ${b}): ${grad.a}, ${grad.b}; plain ${b * inverse}, ${-(a * inverse)}`);
    }
    expect(problems).toEqual([]);
  });

  it.each(FORMS)("%s: far from 1, exactly the plain formula at (a, b) scaled, by a power of two", (emit) => {
    const m = module("param a, b\noutput y = atan2(a, b)", emit);
    let state = 777;
    const next = () => ((state = (state * 16807) % 2147483647) / 2147483647) * 2 - 1;
    const problems: string[] = [];
    for (const k of [700, 520, 300, 170, -170, -300, -520, -700]) {
      for (let i = 0; i < 50; i++) {
        const [a, b] = [next() * 10 ** next(), next() * 10 ** next()];
        const inverse = 1 / (b * b + a * a);
        // atan2(a 2^k, b 2^k) has the gradient of atan2(a, b) times 2^-k, which is normal here.
        const { grad } = m.backward({ a: a * 2 ** k, b: b * 2 ** k });
        if (grad.a !== b * inverse * 2 ** -k || grad.b !== -(a * inverse) * 2 ** -k) problems.push(`2^${k} (${a}, ${b}): ${grad.a}, ${grad.b}`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("the unrolled backward divides by r once, as hand-written code does, and by the scaled sum once", () => {
    const r = compile("param a, b\noutput y = atan2(a, b)", { filename: "edges.expr", format: "js" });
    if (!r.ok) throw new Error("did not compile");
    const body = r.code.slice(r.code.indexOf("export function backwardInto("));
    const divisions = body.slice(0, body.indexOf("\n}\n")).match(/ = 1 \/ .*;/g) ?? [];
    expect(divisions).toHaveLength(2);
    expect(divisions[0]).toMatch(/^ = 1 \/ t\d+;$/);
  });
});

// ---- reductions and vector functions --------------------------------------------------------

describe("reductions and vector functions at the edges", { timeout: 60_000 }, () => {
  /** [source, v, expected value, expected gradient (seed 1 per element for vector outputs)] */
  const table: [string, number[], number | number[], number[]][] = [
    ["logsumexp(v)", [1000, 1000], 1000 + Math.LN2, [0.5, 0.5]],
    ["logsumexp(v)", [-1e300, -1e300], -1e300, [0.5, 0.5]],
    ["logsumexp(v)", [1e300, -1e300], 1e300, [1, 0]],
    ["logsumexp(v)", [1e300, 1e300], 1e300, [0.5, 0.5]],
    ["logsumexp(v)", [1e16, 1e16], 1e16, [0.5, 0.5]],
    ["softmax(v)", [1e300, -1e300], [1, 0], [0, 0]],
    ["softmax(v)", [-1e300, -1e300], [0.5, 0.5], [0, 0]],
    ["softmax(v)", [1e300, 1e300], [0.5, 0.5], [0, 0]],
    ["softmax(v)", [1e16, 1e16], [0.5, 0.5], [0, 0]],
    ["log_softmax(v)", [1e300, 1e300], [-Math.LN2, -Math.LN2], [0, 0]],
    ["log_softmax(v)", [-1e300, 1e300], [-2e300, 0], [1, -1]],
    ["prod(v)", [1e300, 1e300], Infinity, [1e300, 1e300]],
    ["prod(v)", [0, 1e300], 0, [1e300, 0]],
    ["prod(v)", [0, 0], 0, [0, 0]],
    ["prod(v)", [1e-300, 1e-300], 0, [1e-300, 1e-300]],
    ["max(v)", [1e300, 1e300], 1e300, [0.5, 0.5]],
    ["min(v)", [-Infinity, -Infinity], -Infinity, [0.5, 0.5]],
    ["mean(v)", [1e300, 1e300], 1e300, [0.5, 0.5]],
    ["sum(v)", [1e300, -1e300], 0, [1, 1]],
    ["dot(v, v)", [1e-300, 1e-300], 0, [2e-300, 2e-300]],
    ["norm(v)", [3e300, 4e300], 5e300, [0.6, 0.8]],
    ["norm(v)", [3e-300, 4e-300], 5e-300, [0.6, 0.8]],
    ["norm(v)", [3, 4], 5, [0.6, 0.8]],
  ];

  it.each(FORMS.flatMap((emit) => table.map((row) => [`${row[0]} at [${row[1].map(show).join(", ")}]`, emit, ...row] as const)))(
    "%s (%s)",
    (_, emit, source, v, value, gradient) => {
      const m = module(`param v[2]\noutput y = ${source}`, emit);
      const seed = Array.isArray(value) ? { y: [1, 0] } : undefined;
      const { outputs, grad } = m.backward({ v }, seed);
      const got = Array.isArray(value) ? Array.from(outputs.y as Float64Array) : [outputs.y as number];
      const want = Array.isArray(value) ? value : [value];
      const problems: string[] = [];
      want.forEach((w, i) => {
        const ok = same(got[i], w) || (Number.isFinite(w) && Math.abs(got[i] - w) <= 1e-14 * Math.abs(w));
        if (!ok) problems.push(`value[${i}] = ${show(got[i])}, expected ${show(w)}`);
      });
      // Vector outputs: the gradient of the first element (seed [1, 0]).
      const expectedGradient = Array.isArray(value)
        ? source.startsWith("softmax")
          ? (() => {
              const p = want;
              return [p[0] * (1 - p[0]), -p[0] * p[1]];
            })()
          : source.startsWith("log_softmax")
            ? [1 - Math.exp(want[0]), -Math.exp(want[1])]
            : gradient
        : gradient;
      Array.from(grad.v as Float64Array).forEach((g, i) => {
        const bad = gradientProblem(g, expectedGradient[i]);
        if (bad) problems.push(`gradient[${i}] = ${bad}`);
      });
      expect(problems).toEqual([]);
    },
  );
});
