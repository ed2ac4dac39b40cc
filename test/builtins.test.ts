// Every built-in function and operator, as tables: each case is a program, a way to draw
// a random point in the function's domain (away from kinks and ties), and a reference
// computed directly in JavaScript. At three seeded points the generated module's forward
// values must equal the reference, and backward must equal central finite differences OF
// THE REFERENCE (so a wrong forward and a matching wrong backward cannot agree), for the
// upstream gradient `seed` (random for tensor and multi-output programs). Unary functions
// are also checked against their hand-derived derivatives, at scalar, vector and matrix
// arguments.

import { describe, expect, it } from "vitest";
import { assertClose, awayFromZero, flat, load, numericGradient, rng, uniform } from "./support/load.js";

type Arg = number | number[];
type Args = Record<string, Arg>;

interface Case {
  /** Shown in the test name. */
  name: string;
  source: string;
  /** A random point: one value per input and param (tensors flat, row-major). */
  point: (random: () => number) => Args;
  /** The outputs, computed directly. */
  ref: (a: Args) => Record<string, Arg>;
  /** Optional hand-derived gradient of sum(seed * outputs) per param. */
  grad?: (a: Args, seed: Record<string, Arg>) => Record<string, Arg>;
  /** false where the point sits on a kink on purpose (ties of comparisons): hand gradient only. */
  fd?: false;
}

const POINTS = [1, 2, 3];
const FORWARD_TOL = 1e-12;
const FD_TOL = 1e-6;
const HAND_TOL = 1e-10;

const n = (a: Arg) => a as number;
const v = (a: Arg) => a as number[];
const vec = (random: () => number, length: number, draw: (r: () => number) => number) => Array.from({ length }, () => draw(random));
const u = (lo: number, hi: number) => (r: () => number) => uniform(r, lo, hi);
const away = (lo: number, hi: number) => (r: () => number) => awayFromZero(r, lo, hi);
/** Not near an integer, so floor and ceil are locally constant. */
const nonInteger = (r: () => number) => Math.floor(uniform(r, -3, 3)) + uniform(r, 0.1, 0.9);
const sum = (xs: number[]) => xs.reduce((s, x) => s + x, 0);
const dotp = (a: number[], b: number[]) => sum(a.map((x, i) => x * b[i]));
const zip = (a: number[], b: number[], f: (x: number, y: number) => number) => a.map((x, i) => f(x, b[i]));
const lse = (xs: number[]) => {
  const m = Math.max(...xs);
  return m + Math.log(sum(xs.map((x) => Math.exp(x - m))));
};
/** Flat row-major matrix product of [m, k] and [k, p]. */
const matmul = (a: number[], b: number[], m: number, k: number, p: number) =>
  Array.from({ length: m * p }, (_, ij) => {
    const i = Math.floor(ij / p);
    const j = ij % p;
    let s = 0;
    for (let t = 0; t < k; t++) s += a[i * k + t] * b[t * p + j];
    return s;
  });

async function runCase(c: Case) {
  const { module, interface: iface } = await load(c.source);
  const params = iface.args.filter((a) => a.role === "param").map((a) => a.name);
  const lossCase = iface.outputs.length === 1 && iface.outputs[0].shape.length === 0;
  for (const p of POINTS) {
    const random = rng(1000 * p + 7);
    const args = c.point(random);
    // Alternate number[] and Float64Array: both are valid ArrayLike<number> arguments.
    const passed = Object.fromEntries(Object.entries(args).map(([k, x]) => [k, typeof x === "number" ? x : p % 2 ? x.slice() : Float64Array.from(x)]));
    const expected = c.ref(args);
    const outputs = module.forward(passed);
    for (const o of iface.outputs) assertClose(outputs[o.name], expected[o.name] as number | number[], FORWARD_TOL, `point ${p}: forward ${o.name}`);

    const seed: Record<string, Arg> = {};
    for (const o of iface.outputs) {
      const size = o.shape.reduce((a, b) => a * b, 1);
      seed[o.name] = lossCase ? 1 : o.shape.length ? vec(random, size, u(-1, 1)) : uniform(random, -1, 1);
    }
    const objective = (a: Args) => {
      const out = c.ref(a);
      return sum(iface.outputs.map((o) => dotp(flat(out[o.name] as number | number[]), flat(seed[o.name] as number | number[]))));
    };
    const { outputs: bOutputs, grad } = module.backward(passed, lossCase ? undefined : seed);
    for (const o of iface.outputs) {
      const fwd = outputs[o.name];
      assertClose(bOutputs[o.name], typeof fwd === "number" ? fwd : Array.from(fwd), 0, `point ${p}: backward's output ${o.name} equals forward's`);
    }
    expect(Object.keys(grad).sort()).toEqual([...params].sort());
    for (const name of c.fd === false ? [] : params) {
      const numeric = numericGradient(objective, args, name);
      assertClose(grad[name], numeric, FD_TOL, `point ${p}: d/d${name} against finite differences`);
    }
    if (c.grad) {
      const hand = c.grad(args, seed);
      for (const name of params) assertClose(grad[name], hand[name], HAND_TOL, `point ${p}: d/d${name} against the hand-derived gradient`);
    }
  }
}

// ---- elementwise functions of one argument ---------------------------------------------

const sigma = (x: number) => 1 / (1 + Math.exp(-x));
const UNARY: [name: string, f: (x: number) => number, df: (x: number) => number, domain: (r: () => number) => number][] = [
  ["exp", Math.exp, Math.exp, u(-3, 3)],
  ["log", Math.log, (x) => 1 / x, u(0.2, 5)],
  ["sqrt", Math.sqrt, (x) => 0.5 / Math.sqrt(x), u(0.2, 5)],
  ["sin", Math.sin, Math.cos, u(-3, 3)],
  ["cos", Math.cos, (x) => -Math.sin(x), u(-3, 3)],
  ["tan", Math.tan, (x) => 1 / Math.cos(x) ** 2, u(-1.2, 1.2)],
  ["asin", Math.asin, (x) => 1 / Math.sqrt(1 - x * x), u(-0.9, 0.9)],
  ["acos", Math.acos, (x) => -1 / Math.sqrt(1 - x * x), u(-0.9, 0.9)],
  ["atan", Math.atan, (x) => 1 / (1 + x * x), u(-3, 3)],
  ["sinh", Math.sinh, Math.cosh, u(-3, 3)],
  ["cosh", Math.cosh, Math.sinh, u(-3, 3)],
  ["tanh", Math.tanh, (x) => 1 / Math.cosh(x) ** 2, u(-3, 3)],
  ["sigmoid", sigma, (x) => sigma(x) * (1 - sigma(x)), u(-6, 6)],
  ["relu", (x) => Math.max(0, x), (x) => (x > 0 ? 1 : 0), away(0.1, 3)],
  ["softplus", (x) => Math.log(1 + Math.exp(x)), sigma, u(-6, 6)],
  ["abs", Math.abs, Math.sign, away(0.1, 3)],
  ["sign", Math.sign, () => 0, away(0.1, 3)],
  ["floor", Math.floor, () => 0, nonInteger],
  ["ceil", Math.ceil, () => 0, nonInteger],
  ["log1p", Math.log1p, (x) => 1 / (1 + x), u(-0.5, 3)],
  ["expm1", Math.expm1, Math.exp, u(-3, 3)],
];

describe("elementwise functions of one argument", () => {
  const cases: Case[] = UNARY.flatMap(([name, f, df, domain]): Case[] => [
    {
      name: `${name}(x), scalar`,
      source: `param x\noutput f = ${name}(x)`,
      point: (r) => ({ x: domain(r) }),
      ref: (a) => ({ f: f(n(a.x)) }),
      grad: (a) => ({ x: df(n(a.x)) }),
    },
    {
      name: `sum(${name}(v)), v[4]`,
      source: `param v[4]\noutput f = sum(${name}(v))`,
      point: (r) => ({ v: vec(r, 4, domain) }),
      ref: (a) => ({ f: sum(v(a.v).map(f)) }),
      grad: (a) => ({ v: v(a.v).map(df) }),
    },
    {
      name: `y = ${name}(v), v[4], seeded`,
      source: `param v[4]\noutput y = ${name}(v)`,
      point: (r) => ({ v: vec(r, 4, domain) }),
      ref: (a) => ({ y: v(a.v).map(f) }),
      grad: (a, s) => ({ v: v(a.v).map((x, i) => v(s.y)[i] * df(x)) }),
    },
    {
      name: `Y = ${name}(M), M[2, 3], seeded`,
      source: `param M[2, 3]\noutput Y = ${name}(M)`,
      point: (r) => ({ M: vec(r, 6, domain) }),
      ref: (a) => ({ Y: v(a.M).map(f) }),
      grad: (a, s) => ({ M: v(a.M).map((x, i) => v(s.Y)[i] * df(x)) }),
    },
    {
      name: `${name}(2*x - 0.5) (chain rule), scalar`,
      source: `param x\noutput f = ${name}(2*x - 0.5)`,
      // x = (t + 0.5) / 2 puts the inner value at a point t of the domain.
      point: (r) => ({ x: (domain(r) + 0.5) / 2 }),
      ref: (a) => ({ f: f(2 * n(a.x) - 0.5) }),
      grad: (a) => ({ x: 2 * df(2 * n(a.x) - 0.5) }),
    },
  ]);
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_, c) => runCase(c));

  it("every unary built-in of the spec is in the table", () => {
    const spec = "exp log sqrt sin cos tan asin acos atan sinh cosh tanh sigmoid relu softplus abs sign floor ceil log1p expm1".split(" ");
    expect(UNARY.map(([name]) => name).sort()).toEqual(spec.sort());
  });
});

// ---- unary operators -------------------------------------------------------------------

describe("unary operators", () => {
  const cases: Case[] = [
    { name: "-x", source: "param x\noutput f = -x", point: (r) => ({ x: u(-3, 3)(r) }), ref: (a) => ({ f: -n(a.x) }), grad: () => ({ x: -1 }) },
    { name: "+x", source: "param x\noutput f = +x * 3", point: (r) => ({ x: u(-3, 3)(r) }), ref: (a) => ({ f: 3 * n(a.x) }), grad: () => ({ x: 3 }) },
    {
      name: "-v (vector), seeded",
      source: "param v[3]\noutput y = -v",
      point: (r) => ({ v: vec(r, 3, u(-3, 3)) }),
      ref: (a) => ({ y: v(a.v).map((x) => -x) }),
      grad: (a, s) => ({ v: v(s.y).map((x) => -x) }),
    },
    {
      name: "-x^2 is -(x^2)",
      source: "param x\noutput f = -x^2",
      point: (r) => ({ x: u(-3, 3)(r) }),
      ref: (a) => ({ f: -(n(a.x) ** 2) }),
      grad: (a) => ({ x: -2 * n(a.x) }),
    },
    {
      name: "2^-x",
      source: "param x\noutput f = 2^-x",
      point: (r) => ({ x: u(-3, 3)(r) }),
      ref: (a) => ({ f: 2 ** -n(a.x) }),
      grad: (a) => ({ x: -Math.LN2 * 2 ** -n(a.x) }),
    },
    {
      name: "x^y^z is x^(y^z)",
      source: "param x\nparam y\ninput z\noutput f = x^y^z",
      point: (r) => ({ x: u(0.5, 2)(r), y: u(0.5, 1.5)(r), z: u(0.5, 2)(r) }),
      ref: (a) => ({ f: n(a.x) ** (n(a.y) ** n(a.z)) }),
    },
    {
      name: "-(M) (matrix), seeded",
      source: "param M[2, 2]\noutput Y = -(M)",
      point: (r) => ({ M: vec(r, 4, u(-3, 3)) }),
      ref: (a) => ({ Y: v(a.M).map((x) => -x) }),
    },
  ];
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_, c) => runCase(c));
});

// ---- elementwise functions and operators of two arguments -------------------------------

interface Binary {
  name: string;
  /** Source text for operands named a and b. */
  form: string;
  f: (a: number, b: number) => number;
  /** Partial derivatives. */
  da: (a: number, b: number) => number;
  db: (a: number, b: number) => number;
  a: (r: () => number) => number;
  b: (r: () => number) => number;
  /** Extra condition on a pair (distinct values for max/min). */
  ok?: (a: number, b: number) => boolean;
}

const BINARY: Binary[] = [
  { name: "+", form: "a + b", f: (a, b) => a + b, da: () => 1, db: () => 1, a: u(-3, 3), b: u(-3, 3) },
  { name: "-", form: "a - b", f: (a, b) => a - b, da: () => 1, db: () => -1, a: u(-3, 3), b: u(-3, 3) },
  { name: "*", form: "a * b", f: (a, b) => a * b, da: (a, b) => b, db: (a) => a, a: u(-3, 3), b: u(-3, 3) },
  { name: "/", form: "a / b", f: (a, b) => a / b, da: (a, b) => 1 / b, db: (a, b) => -a / (b * b), a: u(-3, 3), b: away(0.5, 3) },
  { name: "^", form: "a ^ b", f: (a, b) => a ** b, da: (a, b) => b * a ** (b - 1), db: (a, b) => a ** b * Math.log(a), a: u(0.3, 2.5), b: u(-2, 3) },
  { name: "pow", form: "pow(a, b)", f: (a, b) => a ** b, da: (a, b) => b * a ** (b - 1), db: (a, b) => a ** b * Math.log(a), a: u(0.3, 2.5), b: u(-2, 3) },
  {
    name: "max",
    form: "max(a, b)",
    f: Math.max,
    da: (a, b) => (a > b ? 1 : 0),
    db: (a, b) => (b > a ? 1 : 0),
    a: u(-3, 3),
    b: u(-3, 3),
    ok: (a, b) => Math.abs(a - b) > 0.05,
  },
  {
    name: "min",
    form: "min(a, b)",
    f: Math.min,
    da: (a, b) => (a < b ? 1 : 0),
    db: (a, b) => (b < a ? 1 : 0),
    a: u(-3, 3),
    b: u(-3, 3),
    ok: (a, b) => Math.abs(a - b) > 0.05,
  },
  {
    name: "atan2",
    form: "atan2(a, b)",
    f: Math.atan2,
    da: (y, x) => x / (x * x + y * y),
    db: (y, x) => -y / (x * x + y * y),
    // Away from the branch cut (y = 0, x < 0) and the origin.
    a: away(0.2, 3),
    b: u(-3, 3),
  },
];

/** Shapes of the operands: scalar, vector and matrix, and scalars broadcast among tensors. */
const SHAPES: { label: string; a: number[]; b: number[] }[] = [
  { label: "scalar, scalar", a: [], b: [] },
  { label: "[4], [4]", a: [4], b: [4] },
  { label: "scalar, [4]", a: [], b: [4] },
  { label: "[4], scalar", a: [4], b: [] },
  { label: "[2, 3], [2, 3]", a: [2, 3], b: [2, 3] },
  { label: "scalar, [2, 3]", a: [], b: [2, 3] },
  { label: "[2, 3], scalar", a: [2, 3], b: [] },
];

const decl = (name: string, shape: number[]) => `param ${name}${shape.length ? `[${shape.join(", ")}]` : ""}`;
const size = (shape: number[]) => shape.reduce((x, y) => x * y, 1);

function binaryCase(op: Binary, s: (typeof SHAPES)[number]): Case {
  const out = Math.max(size(s.a), size(s.b));
  const tensor = s.a.length > 0 || s.b.length > 0;
  const at = (x: Arg, i: number) => (typeof x === "number" ? x : x[i]);
  return {
    name: `${op.form}: ${s.label}`,
    source: `${decl("a", s.a)}\n${decl("b", s.b)}\noutput ${tensor ? "y" : "f"} = ${op.form}`,
    point: (r) => {
      for (;;) {
        const a = s.a.length ? vec(r, size(s.a), op.a) : op.a(r);
        const b = s.b.length ? vec(r, size(s.b), op.b) : op.b(r);
        let good = true;
        for (let i = 0; i < out; i++) if (op.ok && !op.ok(at(a, i), at(b, i))) good = false;
        if (good) return { a, b };
      }
    },
    ref: (x): Record<string, Arg> => {
      const values = Array.from({ length: out }, (_, i) => op.f(at(x.a, i), at(x.b, i)));
      return tensor ? { y: values } : { f: values[0] };
    },
    grad: (x, seed) => {
      const g = (i: number) => (tensor ? v(seed.y)[i] : 1);
      const ga = Array.from({ length: out }, (_, i) => g(i) * op.da(at(x.a, i), at(x.b, i)));
      const gb = Array.from({ length: out }, (_, i) => g(i) * op.db(at(x.a, i), at(x.b, i)));
      // A broadcast scalar gets the sum over elements of upstream * local.
      return { a: s.a.length ? ga : sum(ga), b: s.b.length ? gb : sum(gb) };
    },
  };
}

describe("elementwise operators and functions of two arguments", () => {
  const cases = BINARY.flatMap((op) => SHAPES.map((s) => binaryCase(op, s)));
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_, c) => runCase(c));
});

// ---- comparisons and where -------------------------------------------------------------

const COMPARISONS: [op: string, f: (a: number, b: number) => boolean][] = [
  ["<", (a, b) => a < b],
  ["<=", (a, b) => a <= b],
  [">", (a, b) => a > b],
  [">=", (a, b) => a >= b],
  ["==", (a, b) => a === b],
  ["!=", (a, b) => a !== b],
];

/** Random small integers so that ties (where <= and < differ) are common. */
const smallInt = (r: () => number) => Math.floor(uniform(r, -2, 3));

describe("comparisons: 1 where true, 0 where false, no gradient", () => {
  const cases: Case[] = COMPARISONS.flatMap(([op, f]): Case[] => [
    {
      name: `a ${op} b, scalars`,
      source: `param a\nparam b\noutput f = a ${op} b`,
      point: (r) => ({ a: smallInt(r), b: smallInt(r) }),
      ref: (x) => ({ f: +f(n(x.a), n(x.b)) }),
      grad: () => ({ a: 0, b: 0 }),
    },
    {
      name: `a ${op} b, [6] with ties, seeded`,
      source: `param a[6]\nparam b[6]\noutput y = a ${op} b`,
      point: (r) => {
        const a = vec(r, 6, smallInt);
        // Elements 0 and 1 tie; the rest are random small integers.
        const b = vec(r, 6, smallInt);
        b[0] = a[0];
        b[1] = a[1];
        return { a, b };
      },
      ref: (x) => ({ y: zip(v(x.a), v(x.b), (p, q) => +f(p, q)) }),
      grad: () => ({ a: [0, 0, 0, 0, 0, 0], b: [0, 0, 0, 0, 0, 0] }),
      fd: false,
    },
    {
      name: `(a ${op} 1) * a: the mask passes no gradient, the factor does`,
      source: `param a[5]\noutput f = sum((a ${op} 1) * a)`,
      point: (r) => ({ a: vec(r, 5, (q) => smallInt(q) + uniform(q, 0.2, 0.8)) }),
      ref: (x) => ({ f: sum(v(x.a).map((p) => +f(p, 1) * p)) }),
      grad: (x) => ({ a: v(x.a).map((p) => +f(p, 1)) }),
    },
  ]);
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_, c) => runCase(c));

  it("comparisons of equal values", async () => {
    const { module } = await load("input a\ninput b\noutput lt = a < b\noutput le = a <= b\noutput gt = a > b\noutput ge = a >= b\noutput eq = a == b\noutput ne = a != b");
    expect(module.forward({ a: 2, b: 2 })).toEqual({ lt: 0, le: 1, gt: 0, ge: 1, eq: 1, ne: 0 });
    expect(module.forward({ a: 1, b: 2 })).toEqual({ lt: 1, le: 1, gt: 0, ge: 0, eq: 0, ne: 1 });
    expect(module.forward({ a: 3, b: 2 })).toEqual({ lt: 0, le: 0, gt: 1, ge: 1, eq: 0, ne: 1 });
  });
});

describe("where(c, a, b)", () => {
  const cases: Case[] = [
    {
      name: "where(c, a, b), input mask c[5], seeded",
      source: "input c[5]\nparam a[5]\nparam b[5]\noutput y = where(c, a, b)",
      point: (r) => ({ c: [1, 0, 2.5, 0, -1], a: vec(r, 5, u(-3, 3)), b: vec(r, 5, u(-3, 3)) }),
      ref: (x) => ({ y: v(x.c).map((c, i) => (c !== 0 ? v(x.a)[i] : v(x.b)[i])) }),
      grad: (x, s) => ({
        a: v(x.c).map((c, i) => (c !== 0 ? v(s.y)[i] : 0)),
        b: v(x.c).map((c, i) => (c !== 0 ? 0 : v(s.y)[i])),
      }),
    },
    {
      name: "where(a > b, a*a, b), [6]",
      source: "param a[6]\nparam b[6]\noutput f = sum(where(a > b, a*a, b))",
      point: (r) => {
        for (;;) {
          const a = vec(r, 6, u(-2, 2));
          const b = vec(r, 6, u(-2, 2));
          if (a.every((p, i) => Math.abs(p - b[i]) > 0.05)) return { a, b };
        }
      },
      ref: (x) => ({ f: sum(v(x.a).map((p, i) => (p > v(x.b)[i] ? p * p : v(x.b)[i]))) }),
      grad: (x) => ({ a: v(x.a).map((p, i) => (p > v(x.b)[i] ? 2 * p : 0)), b: v(x.a).map((p, i) => (p > v(x.b)[i] ? 0 : 1)) }),
    },
    {
      name: "where(c, a, 0): a scalar branch broadcast",
      source: "input c[4]\nparam a[4]\noutput y = where(c, a, 0)",
      point: (r) => ({ c: [0, 1, 1, 0], a: vec(r, 4, u(-3, 3)) }),
      ref: (x) => ({ y: v(x.c).map((c, i) => (c ? v(x.a)[i] : 0)) }),
    },
    {
      name: "where(c, s, v): a scalar param among tensors gets the sum over selected elements",
      source: "input c[4]\nparam s\nparam w[4]\noutput y = where(c, s * s, w)",
      point: (r) => ({ c: [0, 1, 1, 0], s: u(-3, 3)(r), w: vec(r, 4, u(-3, 3)) }),
      ref: (x) => ({ y: v(x.c).map((c, i) => (c ? n(x.s) ** 2 : v(x.w)[i])) }),
      grad: (x, sd) => ({ s: sum(v(x.c).map((c, i) => (c ? 2 * n(x.s) * v(sd.y)[i] : 0))), w: v(x.c).map((c, i) => (c ? 0 : v(sd.y)[i])) }),
    },
    {
      name: "where(x > 0, x, -x), scalar",
      source: "param x\noutput f = where(x > 0, x, -x)",
      point: (r) => ({ x: away(0.1, 3)(r) }),
      ref: (x) => ({ f: Math.abs(n(x.x)) }),
      grad: (x) => ({ x: Math.sign(n(x.x)) }),
    },
  ];
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_, c) => runCase(c));
});

// ---- reductions and vector functions ---------------------------------------------------

const REDUCTIONS: [name: string, f: (xs: number[]) => number, g: (xs: number[]) => number[], domain: (r: () => number) => number][] = [
  ["sum", sum, (xs) => xs.map(() => 1), u(-3, 3)],
  ["mean", (xs) => sum(xs) / xs.length, (xs) => xs.map(() => 1 / xs.length), u(-3, 3)],
  ["prod", (xs) => xs.reduce((p, x) => p * x, 1), (xs) => xs.map((_, i) => xs.reduce((p, x, j) => (j === i ? p : p * x), 1)), away(0.5, 1.5)],
  ["max", (xs) => Math.max(...xs), (xs) => xs.map((x) => (x === Math.max(...xs) ? 1 : 0)), u(-3, 3)],
  ["min", (xs) => Math.min(...xs), (xs) => xs.map((x) => (x === Math.min(...xs) ? 1 : 0)), u(-3, 3)],
  ["norm", (xs) => Math.sqrt(sum(xs.map((x) => x * x))), (xs) => xs.map((x) => x / Math.sqrt(sum(xs.map((y) => y * y)))), u(-3, 3)],
  ["logsumexp", lse, (xs) => xs.map((x) => Math.exp(x - lse(xs))), u(-3, 3)],
];

describe("reductions", () => {
  const cases: Case[] = REDUCTIONS.flatMap(([name, f, g, domain]): Case[] => [
    {
      name: `${name}(v), v[5]`,
      source: `param v[5]\noutput f = ${name}(v)`,
      point: (r) => ({ v: vec(r, 5, domain) }),
      ref: (a) => ({ f: f(v(a.v)) }),
      grad: (a) => ({ v: g(v(a.v)) }),
    },
    {
      name: `${name}(M), M[2, 3]`,
      source: `param M[2, 3]\noutput f = ${name}(M)`,
      point: (r) => ({ M: vec(r, 6, domain) }),
      ref: (a) => ({ f: f(v(a.M)) }),
      grad: (a) => ({ M: g(v(a.M)) }),
    },
    {
      name: `${name}(v) of a single element, v[1]`,
      source: `param v[1]\noutput f = ${name}(v) * 3`,
      point: (r) => ({ v: vec(r, 1, domain) }),
      ref: (a) => ({ f: 3 * f(v(a.v)) }),
    },
    {
      name: `${name}(2 * v) seeded beside another output`,
      source: `param v[3]\noutput f = ${name}(2 * v)\noutput y = v * v`,
      point: (r) => ({ v: vec(r, 3, domain) }),
      ref: (a) => ({ f: f(v(a.v).map((x) => 2 * x)), y: v(a.v).map((x) => x * x) }),
    },
    {
      name: `${name}(w[i] * x[i] for i in 0..3): generator`,
      source: `param w[3]\ninput x[3]\noutput f = ${name}(w[i] * x[i] for i in 0..3)`,
      point: (r) => ({ w: vec(r, 3, domain), x: vec(r, 3, away(0.5, 1.5)) }),
      ref: (a) => ({ f: f(zip(v(a.w), v(a.x), (p, q) => p * q)) }),
    },
  ]);
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_, c) => runCase(c));
});

describe("dot, softmax, log_softmax, transpose", () => {
  const softmax = (xs: number[]) => xs.map((x) => Math.exp(x - lse(xs)));
  const cases: Case[] = [
    {
      name: "dot(a, b), vectors [4]",
      source: "param a[4]\nparam b[4]\noutput f = dot(a, b)",
      point: (r) => ({ a: vec(r, 4, u(-3, 3)), b: vec(r, 4, u(-3, 3)) }),
      ref: (x) => ({ f: dotp(v(x.a), v(x.b)) }),
      grad: (x) => ({ a: v(x.b), b: v(x.a) }),
    },
    {
      name: "dot(A, B), matrices [2, 3]",
      source: "param A[2, 3]\nparam B[2, 3]\noutput f = dot(A, B)",
      point: (r) => ({ A: vec(r, 6, u(-3, 3)), B: vec(r, 6, u(-3, 3)) }),
      ref: (x) => ({ f: dotp(v(x.A), v(x.B)) }),
      grad: (x) => ({ A: v(x.B), B: v(x.A) }),
    },
    {
      name: "dot(a, a)",
      source: "param a[3]\noutput f = dot(a, a)",
      point: (r) => ({ a: vec(r, 3, u(-3, 3)) }),
      ref: (x) => ({ f: dotp(v(x.a), v(x.a)) }),
      grad: (x) => ({ a: v(x.a).map((p) => 2 * p) }),
    },
    {
      name: "softmax(v), v[4], seeded",
      source: "param v[4]\noutput y = softmax(v)",
      point: (r) => ({ v: vec(r, 4, u(-3, 3)) }),
      ref: (x) => ({ y: softmax(v(x.v)) }),
      grad: (x, s) => {
        // J = diag(p) - p p^T, so the VJP is p * (s - p.s).
        const p = softmax(v(x.v));
        const ps = dotp(p, v(s.y));
        return { v: p.map((q, i) => q * (v(s.y)[i] - ps)) };
      },
    },
    {
      name: "log_softmax(v), v[4], seeded",
      source: "param v[4]\noutput y = log_softmax(v)",
      point: (r) => ({ v: vec(r, 4, u(-3, 3)) }),
      ref: (x) => ({ y: v(x.v).map((q) => q - lse(v(x.v))) }),
      grad: (x, s) => {
        const p = softmax(v(x.v));
        const total = sum(v(s.y));
        return { v: v(s.y).map((q, i) => q - p[i] * total) };
      },
    },
    {
      name: "cross-entropy -log_softmax(v)[2]",
      source: "param v[5]\noutput f = -log_softmax(v)[2]",
      point: (r) => ({ v: vec(r, 5, u(-3, 3)) }),
      ref: (x) => ({ f: lse(v(x.v)) - v(x.v)[2] }),
      grad: (x) => ({ v: softmax(v(x.v)).map((p, i) => p - (i === 2 ? 1 : 0)) }),
    },
    {
      name: "transpose(M), M[2, 3], seeded",
      source: "param M[2, 3]\noutput Y = transpose(M)",
      point: (r) => ({ M: vec(r, 6, u(-3, 3)) }),
      // Y is [3, 2]: Y[j, i] = M[i, j].
      ref: (x) => ({ Y: Array.from({ length: 6 }, (_, k) => v(x.M)[(k % 2) * 3 + Math.floor(k / 2)]) }),
      grad: (x, s) => ({ M: Array.from({ length: 6 }, (_, k) => v(s.Y)[(k % 3) * 2 + Math.floor(k / 3)]) }),
    },
    {
      name: "transpose(M)[2, 1] picks M[1, 2]",
      source: "param M[2, 3]\noutput f = transpose(M)[2, 1] * 5",
      point: (r) => ({ M: vec(r, 6, u(-3, 3)) }),
      ref: (x) => ({ f: 5 * v(x.M)[5] }),
      grad: () => ({ M: [0, 0, 0, 0, 0, 5] }),
    },
  ];
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_, c) => runCase(c));
});

// ---- matrix products -------------------------------------------------------------------

describe("@ in all four shape combinations", () => {
  const cases: Case[] = [
    {
      name: "[2, 3] @ [3] -> [2]",
      source: "param A[2, 3]\nparam x[3]\noutput y = A @ x",
      point: (r) => ({ A: vec(r, 6, u(-2, 2)), x: vec(r, 3, u(-2, 2)) }),
      ref: (a) => ({ y: matmul(v(a.A), v(a.x), 2, 3, 1) }),
      // dA = s x^T, dx = A^T s
      grad: (a, s) => ({ A: matmul(v(s.y), v(a.x), 2, 1, 3), x: matmul(v(s.y), v(a.A), 1, 2, 3) }),
    },
    {
      name: "[2, 3] @ [3, 4] -> [2, 4]",
      source: "param A[2, 3]\nparam B[3, 4]\noutput Y = A @ B",
      point: (r) => ({ A: vec(r, 6, u(-2, 2)), B: vec(r, 12, u(-2, 2)) }),
      ref: (a) => ({ Y: matmul(v(a.A), v(a.B), 2, 3, 4) }),
    },
    {
      name: "[3] @ [3, 4] -> [4]",
      source: "param x[3]\nparam B[3, 4]\noutput y = x @ B",
      point: (r) => ({ x: vec(r, 3, u(-2, 2)), B: vec(r, 12, u(-2, 2)) }),
      ref: (a) => ({ y: matmul(v(a.x), v(a.B), 1, 3, 4) }),
    },
    {
      name: "[3] @ [3] -> scalar",
      source: "param x[3]\nparam z[3]\noutput f = x @ z",
      point: (r) => ({ x: vec(r, 3, u(-2, 2)), z: vec(r, 3, u(-2, 2)) }),
      ref: (a) => ({ f: dotp(v(a.x), v(a.z)) }),
      grad: (a) => ({ x: v(a.z), z: v(a.x) }),
    },
    {
      name: "a layer: sum(relu(W @ x + b))",
      source: "param W[3, 2]\nparam b[3]\ninput x[2]\noutput f = sum(tanh(W @ x + b))",
      point: (r) => ({ W: vec(r, 6, u(-2, 2)), b: vec(r, 3, u(-1, 1)), x: vec(r, 2, u(-2, 2)) }),
      ref: (a) => ({ f: sum(matmul(v(a.W), v(a.x), 3, 2, 1).map((s, i) => Math.tanh(s + v(a.b)[i]))) }),
    },
    {
      name: "(A @ B) @ x against A @ (B @ x)",
      source: "param A[2, 3]\nparam B[3, 3]\nparam x[3]\noutput y = (A @ B) @ x - A @ (B @ x) + A @ x",
      point: (r) => ({ A: vec(r, 6, u(-2, 2)), B: vec(r, 9, u(-2, 2)), x: vec(r, 3, u(-2, 2)) }),
      ref: (a) => ({ y: matmul(v(a.A), v(a.x), 2, 3, 1) }),
    },
  ];
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_, c) => runCase(c));
});

// ---- indexing, rows, arrays, comprehensions, generators --------------------------------

describe("indexing, rows, array literals, comprehensions, generators", () => {
  const cases: Case[] = [
    {
      name: "w[1] * w[2] + M[1, 2]",
      source: "param w[3]\nparam M[2, 3]\noutput f = w[1] * w[2] + M[1, 2]",
      point: (r) => ({ w: vec(r, 3, u(-2, 2)), M: vec(r, 6, u(-2, 2)) }),
      ref: (a) => ({ f: v(a.w)[1] * v(a.w)[2] + v(a.M)[5] }),
      grad: (a) => ({ w: [0, v(a.w)[2], v(a.w)[1]], M: [0, 0, 0, 0, 0, 1] }),
    },
    {
      name: "a row M[1] is a vector",
      source: "param M[3, 2]\noutput y = M[1] * 2",
      point: (r) => ({ M: vec(r, 6, u(-2, 2)) }),
      ref: (a) => ({ y: [2 * v(a.M)[2], 2 * v(a.M)[3]] }),
      grad: (a, s) => ({ M: [0, 0, 2 * v(s.y)[0], 2 * v(s.y)[1], 0, 0] }),
    },
    {
      name: "indices from consts and index arithmetic",
      source: "const N = 4\nconst K = N - 1\nparam w[N]\noutput f = w[K] * w[(K + 2) % N] + w[2 * 1 - 1]",
      point: (r) => ({ w: vec(r, 4, u(-2, 2)) }),
      ref: (a) => ({ f: v(a.w)[3] * v(a.w)[1] + v(a.w)[1] }),
    },
    {
      name: "the same element used twice accumulates",
      source: "param w[2]\noutput f = w[0] * w[0] + w[0]",
      point: (r) => ({ w: vec(r, 2, u(-2, 2)) }),
      ref: (a) => ({ f: v(a.w)[0] ** 2 + v(a.w)[0] }),
      grad: (a) => ({ w: [2 * v(a.w)[0] + 1, 0] }),
    },
    {
      name: "array literal of scalars is a vector",
      source: "param x\nparam y\nparam w[2]\noutput v = [x, x * y, w[1], 3]",
      point: (r) => ({ x: u(-2, 2)(r), y: u(-2, 2)(r), w: vec(r, 2, u(-2, 2)) }),
      ref: (a) => ({ v: [n(a.x), n(a.x) * n(a.y), v(a.w)[1], 3] }),
    },
    {
      name: "array literal of vectors is a matrix (rows)",
      source: "param a[3]\nparam b[3]\noutput M = [a, b * 2, a * b]",
      point: (r) => ({ a: vec(r, 3, u(-2, 2)), b: vec(r, 3, u(-2, 2)) }),
      ref: (x) => ({ M: [...v(x.a), ...v(x.b).map((q) => 2 * q), ...zip(v(x.a), v(x.b), (p, q) => p * q)] }),
    },
    {
      name: "nested array literal [[x, y], [y * y, x]]",
      source: "param x\nparam y\noutput M = [[x, y], [y * y, x]]\noutput d = M[0, 0] * M[1, 1] - M[0, 1] * M[1, 0]",
      point: (r) => ({ x: u(-2, 2)(r), y: u(-2, 2)(r) }),
      ref: (a) => ({ M: [n(a.x), n(a.y), n(a.y) ** 2, n(a.x)], d: n(a.x) ** 2 - n(a.y) ** 3 }),
    },
    {
      name: "array literal in a product: [a, b] @ c",
      source: "param a[2]\nparam b[2]\nparam c[2]\noutput y = [a, b] @ c",
      point: (r) => ({ a: vec(r, 2, u(-2, 2)), b: vec(r, 2, u(-2, 2)), c: vec(r, 2, u(-2, 2)) }),
      ref: (x) => ({ y: [dotp(v(x.a), v(x.c)), dotp(v(x.b), v(x.c))] }),
    },
    {
      name: "comprehension [w[i] * (i + 1) for i in 0..4]",
      source: "param w[4]\noutput y = [w[i] * (i + 1) for i in 0..4]",
      point: (r) => ({ w: vec(r, 4, u(-2, 2)) }),
      ref: (a) => ({ y: v(a.w).map((x, i) => x * (i + 1)) }),
      grad: (a, s) => ({ w: v(s.y).map((x, i) => x * (i + 1)) }),
    },
    {
      name: "comprehension with wrapping indices (i - 1) % n and (i + 1) % n",
      source: "const n = 4\nparam w[n]\noutput y = [w[(i + 1) % n] - w[(i - 1) % n] for i in 0..n]",
      point: (r) => ({ w: vec(r, 4, u(-2, 2)) }),
      ref: (a) => ({ y: [0, 1, 2, 3].map((i) => v(a.w)[(i + 1) % 4] - v(a.w)[(i + 3) % 4]) }),
    },
    {
      name: "comprehension over a range with a non-zero start and a const bound 1..N-1",
      source: "const N = 5\nparam w[N]\noutput y = [w[i] * w[i - 1] for i in 1..N-1]",
      point: (r) => ({ w: vec(r, 5, u(-2, 2)) }),
      ref: (a) => ({ y: [1, 2, 3].map((i) => v(a.w)[i] * v(a.w)[i - 1]) }),
    },
    {
      name: "nested comprehension builds a matrix",
      source: "param M[3, 3]\noutput S = [[M[i, j] * M[j, i] for j in 0..3] for i in 0..3]",
      point: (r) => ({ M: vec(r, 9, u(-2, 2)) }),
      ref: (a) => ({ S: Array.from({ length: 9 }, (_, k) => v(a.M)[k] * v(a.M)[(k % 3) * 3 + Math.floor(k / 3)]) }),
    },
    {
      name: "comprehension of rows builds a matrix",
      source: "param M[2, 3]\noutput S = [M[i] * (i + 2) for i in 0..2]",
      point: (r) => ({ M: vec(r, 6, u(-2, 2)) }),
      ref: (a) => ({ S: v(a.M).map((x, k) => x * (Math.floor(k / 3) + 2)) }),
    },
    {
      name: "sum(w[i] * x[i] for i in 0..3)",
      source: "param w[3]\nparam x[3]\noutput f = sum(w[i] * x[i] for i in 0..3)",
      point: (r) => ({ w: vec(r, 3, u(-2, 2)), x: vec(r, 3, u(-2, 2)) }),
      ref: (a) => ({ f: dotp(v(a.w), v(a.x)) }),
      grad: (a) => ({ w: v(a.x), x: v(a.w) }),
    },
    {
      name: "a loop variable is a number: sum(x ^ i for i in 0..4)",
      source: "param x\noutput f = sum(x ^ i for i in 0..4)",
      point: (r) => ({ x: u(-2, 2)(r) }),
      ref: (a) => ({ f: 1 + n(a.x) + n(a.x) ** 2 + n(a.x) ** 3 }),
      grad: (a) => ({ x: 1 + 2 * n(a.x) + 3 * n(a.x) ** 2 }),
    },
    {
      name: "nested generators: sum(sum(M[i, j] * i for j in 0..2) for i in 0..3)",
      source: "param M[3, 2]\noutput f = sum(sum(M[i, j] * (i + j) for j in 0..2) for i in 0..3)",
      point: (r) => ({ M: vec(r, 6, u(-2, 2)) }),
      ref: (a) => ({ f: sum(v(a.M).map((x, k) => x * (Math.floor(k / 2) + (k % 2)))) }),
      grad: () => ({ M: [0, 1, 1, 2, 2, 3] }),
    },
    {
      name: "a generator over a vector body: sum(M[i] for i in 0..2) is the sum of all elements",
      source: "param M[2, 3]\noutput f = sum(M[i] * 2 for i in 0..2)",
      point: (r) => ({ M: vec(r, 6, u(-2, 2)) }),
      ref: (a) => ({ f: 2 * sum(v(a.M)) }),
    },
    {
      name: "a const-sized program: const N = 4; sum(v * N)",
      source: "const N = 4\nconst H = 2 * N\nconst a = -0.5\nparam v[N]\noutput f = sum(v * H) + a",
      point: (r) => ({ v: vec(r, 4, u(-2, 2)) }),
      ref: (x) => ({ f: 8 * sum(v(x.v)) - 0.5 }),
      grad: () => ({ v: [8, 8, 8, 8] }),
    },
    {
      name: "a def through its body, shape-polymorphic (scalar and vector calls)",
      source: "def sq(t) = t * t\nparam x\nparam w[3]\noutput f = sq(x) + sum(sq(w))",
      point: (r) => ({ x: u(-2, 2)(r), w: vec(r, 3, u(-2, 2)) }),
      ref: (a) => ({ f: n(a.x) ** 2 + sum(v(a.w).map((q) => q * q)) }),
      grad: (a) => ({ x: 2 * n(a.x), w: v(a.w).map((q) => 2 * q) }),
    },
    {
      name: "output of a param exports it: gradient is the seed",
      source: "param w[2]\noutput w\noutput f = sum(w * w)",
      point: (r) => ({ w: vec(r, 2, u(-2, 2)) }),
      ref: (a) => ({ w: v(a.w), f: sum(v(a.w).map((q) => q * q)) }),
      grad: (a, s) => ({ w: v(a.w).map((q, i) => v(s.w)[i] + 2 * q * n(s.f)) }),
    },
  ];
  it.each(cases.map((c) => [c.name, c] as const))("%s", async (_, c) => runCase(c));
});
