// The derivative operators (diff/operators.ts) on graphs built by hand and run by the
// reference interpreter: forward-mode tangents of every operation, gradient, vjp, jvp,
// jacobian and hessian against hand-derived values and central finite differences, on
// scalars and tensors of rank 0 to 3, nested twice, through gates, `where` and ties of
// `max`; substitution of a `def` parameter; batching of the passes of a Jacobian.

import { describe, expect, test } from "vitest";
import { Graph, sizeOf, type Node, type Shape } from "../src/ir/graph.js";
import { evaluateGraph, inputKey } from "../src/ir/interpret.js";
import { differentiate } from "../src/diff/reverse.js";
import { pushforward } from "../src/diff/forward.js";
import { gradient, hessian, isElementwiseMap, jacobian, jvp, substitute, vjp } from "../src/diff/operators.js";
import { mulberry32 } from "../src/random.js";
import { batchOver } from "../src/ir/batch.js";
import { ELEMENTWISE } from "../src/ir/ops.js";
import { compile } from "../src/compile.js";

function values(n: number, seed: number, lo = -2, hi = 2): number[] {
  const next = mulberry32(seed);
  return Array.from({ length: n }, () => lo + (hi - lo) * next());
}

/** Evaluate `nodes` with `x` at `xv` (and any other inputs given). */
function at(g: Graph, x: Node, xv: readonly number[], nodes: Node[], others: [Node, number[]][] = []): Float64Array[] {
  const m = new Map<string, number[] | number>([[inputKey(x), xv.slice()]]);
  for (const [n, v] of others) m.set(inputKey(n), v.slice());
  return evaluateGraph(g, m, nodes);
}

/** Central differences of `y` along `v` at `xv`. */
function directional(g: Graph, x: Node, y: Node, xv: number[], v: number[], others: [Node, number[]][] = [], h = 1e-6): number[] {
  const plus = at(g, x, xv.map((a, k) => a + h * v[k]), [y], others)[0];
  const minus = at(g, x, xv.map((a, k) => a - h * v[k]), [y], others)[0];
  return Array.from(plus, (p, k) => (p - minus[k]) / (2 * h));
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol = 1e-6, what = "") {
  expect(got.length, what).toBe(want.length);
  for (let k = 0; k < want.length; k++) expect(Math.abs(got[k] - want[k]), `${what} element ${k}: ${got[k]} vs ${want[k]}`).toBeLessThan(tol * (1 + Math.abs(want[k])));
}

/** Every column of a Jacobian [...y, ...x] against central differences. */
function checkJacobian(g: Graph, x: Node, y: Node, J: Node, xv: number[], others: [Node, number[]][] = []) {
  expect(J.shape).toEqual([...y.shape, ...x.shape]);
  const [Jv] = at(g, x, xv, [J], others);
  const [m, n] = [y.size, x.size];
  for (let j = 0; j < n; j++) {
    const e = xv.map((_, k) => (k === j ? 1 : 0));
    const column = directional(g, x, y, xv, e, others);
    expectClose(Array.from({ length: m }, (_, i) => Jv[i * n + j]), column, 1e-6, `column ${j}`);
  }
}

// One builder per kind of operation, applied to x of the given shape (values in (-2, 2), or
// (0.2, 1.8) where `positive`).
interface Case {
  name: string;
  shape: Shape;
  positive?: boolean;
  build: (g: Graph, x: Node) => Node;
}
const e = (g: Graph, op: Parameters<Graph["elementwise"]>[0], ...a: Node[]) => g.elementwise(op, a);
const unary = ["neg", "exp", "sin", "cos", "tan", "atan", "sinh", "cosh", "tanh", "sigmoid", "softplus", "expm1"] as const;
const positiveUnary = ["log", "sqrt", "log1p"] as const;
const CASES: Case[] = [
  ...unary.map((op) => ({ name: op, shape: [3], build: (g: Graph, x: Node) => e(g, op, x) })),
  ...positiveUnary.map((op) => ({ name: op, shape: [3], positive: true, build: (g: Graph, x: Node) => e(g, op, x) })),
  { name: "asin, acos", shape: [3], build: (g, x) => e(g, "add", e(g, "asin", e(g, "mul", x, g.constant(0.4))), e(g, "acos", e(g, "mul", x, g.constant(0.3)))) },
  { name: "binary ops", shape: [2, 2], positive: true, build: (g, x) => {
    const r = g.gather(x, [2, 2], { offset: 0, strides: [1, 2] });
    return e(g, "add", e(g, "add", e(g, "div", x, r), e(g, "pow", x, r)), e(g, "sub", e(g, "atan2", x, r), e(g, "mul", x, r)));
  } },
  { name: "max, min, abs, relu away from ties", shape: [4], build: (g, x) => {
    const r = g.gather(x, [4], { offset: 3, strides: [-1] });
    return e(g, "add", e(g, "mul", e(g, "max", x, r), e(g, "min", x, e(g, "neg", r))), e(g, "mul", e(g, "abs", x), e(g, "relu", r)));
  } },
  { name: "where", shape: [4], build: (g, x) => e(g, "where", e(g, "gt", x, g.constant(0)), e(g, "mul", x, x), e(g, "sin", x)) },
  { name: "scalar beside a tensor", shape: [], build: (g, x) => e(g, "mul", g.tensor([1, 2, 3], [3]), e(g, "exp", x)) },
  ...(["sum", "prod", "rmax", "rmin", "logsumexp"] as const).map((k) => ({ name: `${k} keeping one axis`, shape: [2, 3], build: (g: Graph, x: Node) => g.reduce(k, x, 1) })),
  { name: "prodexcept", shape: [2, 3], build: (g, x) => g.prodExcept(x, 1) },
  { name: "matmul", shape: [2, 3], build: (g, x) => g.matmul(x, g.gather(e(g, "sin", x), [3, 2], { offset: 0, strides: [1, 3] })) },
  { name: "matrix times vector, stacked product", shape: [2, 2, 2], build: (g, x) => e(g, "add", g.matmul(x, g.tensor([1, -2], [2])), g.reduce("sum", g.matmul(x, x), 2)) },
  { name: "take and put", shape: [3, 2], build: (g, x) => g.put(e(g, "exp", g.take(x, g.tensor([2, 0, 2], [3]), 0)), g.tensor([2, 2], [2]), 1, [3, 3]) },
  { name: "scatter and pack", shape: [3], build: (g, x) => {
    const s = g.scatter([{ values: x, map: { offset: 0, strides: [2] } }, { values: e(g, "sin", x), map: { offset: 1, strides: [1] } }], [6]);
    return g.pack([s, e(g, "mul", s, s)]);
  } },
  { name: "a gate with a scalar argument", shape: [3], build: (g, x) => {
    const s = g.reduce("sum", x);
    const fwd = e(g, "mul", s, e(g, "exp", x));
    return g.gate("f", fwd, [s, x], [e(g, "exp", x), fwd]);
  } },
  { name: "rank 3", shape: [2, 1, 2], build: (g, x) => g.reduce("logsumexp", e(g, "mul", x, g.gather(x, [2, 1, 2], { offset: 3, strides: [-2, 0, -1] })), 2) },
];

describe("forward mode: jvp against finite differences, and J v against u^T J", () => {
  CASES.forEach((c, k) =>
    test(c.name, () => {
      const g = new Graph();
      const x = g.input("x", "param", c.shape);
      const y = c.build(g, x);
      const v = g.input("v", "input", c.shape);
      const u = g.input("u", "input", y.shape);
      const Jv = jvp(g, y, x, v);
      const uJ = vjp(g, y, x, u);
      const xv = c.positive ? values(x.size, k + 1, 0.2, 1.8) : values(x.size, k + 1);
      const vv = values(x.size, k + 100);
      const uv = values(y.size, k + 200);
      const others: [Node, number[]][] = [[v, vv], [u, uv]];
      const [jvpValue, vjpValue] = at(g, x, xv, [Jv, uJ], others);
      expect(Jv.shape).toEqual(y.shape);
      expectClose(jvpValue, directional(g, x, y, xv, vv, others), 1e-6, "jvp");
      // <u, J v> = <u^T J, v>
      const left = uv.reduce((s, a, i) => s + a * jvpValue[i], 0);
      const right = vv.reduce((s, a, i) => s + a * vjpValue[i], 0);
      expect(Math.abs(left - right)).toBeLessThan(1e-9 * (1 + Math.abs(left)));
    }),
  );
});

describe("gradient, jacobian, hessian: hand-derived values", () => {
  test("gradient of sum(x^3) is 3 x^2, its hessian diag(6 x)", () => {
    const g = new Graph();
    const x = g.input("x", "param", [3]);
    const y = g.reduce("sum", e(g, "mul", x, e(g, "mul", x, x)));
    const xv = [1, -2, 0.5];
    const [gr, H] = at(g, x, xv, [gradient(g, y, x), hessian(g, y, x)]);
    expect(Array.from(gr)).toEqual([3, 12, 0.75]);
    expect(Array.from(H)).toEqual([6, 0, 0, 0, -12, 0, 0, 0, 3]);
  });
  test("the hessian of x^T A x is A + A^T, a scalar's second derivative is a scalar", () => {
    const g = new Graph();
    const x = g.input("x", "param", [3]);
    const A = [1, 2, 3, 4, 5, 6, 7, 8, 10];
    const y = g.matmul(x, g.matmul(g.tensor(A, [3, 3]), x));
    const [H] = at(g, x, [0.3, -1, 2], [hessian(g, y, x)]);
    expect(Array.from(H)).toEqual([2, 6, 10, 6, 10, 14, 10, 14, 20]);
    const s = g.input("s", "param", []);
    const d2 = hessian(g, e(g, "sin", e(g, "mul", s, s)), s);
    expect(d2.shape).toEqual([]);
    const [v] = at(g, s, [0.7], [d2]);
    expect(v[0]).toBeCloseTo(2 * Math.cos(0.49) - 4 * 0.49 * Math.sin(0.49), 12);
  });
  test("jacobian of an elementwise map is its derivative on the diagonal, computed once", () => {
    const g = new Graph();
    const x = g.input("x", "param", [2, 3]);
    const y = e(g, "mul", e(g, "tanh", x), g.constant(3));
    expect(isElementwiseMap(g, y, x)).toBe(true);
    const J = jacobian(g, y, x);
    expect(J.op).toBe("scatter");
    const xv = values(6, 7);
    const [Jv] = at(g, x, xv, [J]);
    for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) expect(Jv[i * 6 + j]).toBeCloseTo(i === j ? 3 * (1 - Math.tanh(xv[i]) ** 2) : 0, 12);
    expect(isElementwiseMap(g, e(g, "mul", x, g.reduce("sum", x)), x)).toBe(false);
  });
});

describe("jacobian against finite differences, forward and reverse, ranks 0 to 3", () => {
  const shapes: [Shape, Shape][] = [
    [[], [4]], // n = 1: one forward pass
    [[2], [5]], // n < m: forward passes
    [[5], [2]], // m < n: reverse passes
    [[2, 3], [2]],
    [[3], [2, 2, 3]],
    [[2, 1, 2], [3]],
  ];
  shapes.forEach(([xs, ys], k) =>
    test(`x ${JSON.stringify(xs)}, y ${JSON.stringify(ys)}`, () => {
      const g = new Graph();
      const x = g.input("x", "param", xs);
      const W = g.tensor(values(sizeOf(ys) * sizeOf(xs), 50 + k), [sizeOf(ys), sizeOf(xs)]);
      const flat = g.gather(x, [sizeOf(xs)], { offset: 0, strides: [1] });
      const z = g.matmul(W, e(g, "sin", flat));
      const y = g.gather(e(g, "mul", e(g, "tanh", z), g.reduce("sum", e(g, "mul", flat, flat))), ys, { offset: 0, strides: rowMajorOf(ys) });
      checkJacobian(g, x, y, jacobian(g, y, x), values(x.size, 60 + k));
    }),
  );
  test("a Jacobian is one batched computation: its graph does not grow with the number of passes", () => {
    const count = (m: number) => {
      const g = new Graph();
      const x = g.input("x", "param", [3]);
      const W = g.input("W", "input", [m, 3]);
      const before = g.nodes.length;
      jacobian(g, e(g, "exp", g.matmul(W, x)), x);
      return g.nodes.length - before;
    };
    expect(count(50)).toBe(count(5));
  });
  test("reverse passes through take: the adjoint's put is batched", () => {
    const g = new Graph();
    const x = g.input("x", "param", [6]);
    const y = e(g, "exp", g.take(x, g.tensor([5, 1, 1], [3]), 0));
    const J = jacobian(g, y, x);
    const xv = values(6, 3);
    checkJacobian(g, x, y, J, xv);
    const [Jv] = at(g, x, xv, [J]);
    expect(Jv[1 * 6 + 1]).toBe(Math.exp(xv[1]));
  });
});

function rowMajorOf(shape: Shape): number[] {
  const s: number[] = [];
  let a = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    s[d] = a;
    a *= shape[d];
  }
  return s;
}

describe("hessians: exact symmetry, finite differences of the gradient", () => {
  test("a dense hessian of a rank-2 x is exactly symmetric and matches differences of the gradient", () => {
    const g = new Graph();
    const x = g.input("x", "param", [2, 3]);
    const W = g.tensor(values(24, 9), [4, 6]);
    const flat = g.gather(x, [6], { offset: 0, strides: [1] });
    const y = g.reduce("logsumexp", e(g, "mul", g.matmul(W, e(g, "tanh", flat)), g.matmul(W, flat)));
    const H = hessian(g, y, x);
    expect(H.shape).toEqual([2, 3, 2, 3]);
    const xv = values(6, 10);
    const [Hv] = at(g, x, xv, [H]);
    for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) expect(Hv[i * 6 + j]).toBe(Hv[j * 6 + i]);
    checkJacobian(g, x, gradient(g, y, x), H, xv);
  });
  test("a hessian-vector product by jvp of a gradient equals H v; gradient of <gradient, v> too", () => {
    const g = new Graph();
    const x = g.input("x", "param", [4]);
    const v = g.input("v", "input", [4]);
    const y = g.reduce("sum", e(g, "mul", e(g, "sin", x), g.gather(x, [4], { offset: 3, strides: [-1] })));
    const grad = gradient(g, y, x);
    const hvp = jvp(g, grad, x, v);
    const hvp2 = gradient(g, g.reduce("sum", e(g, "mul", grad, v)), x);
    const H = hessian(g, y, x);
    const xv = values(4, 12);
    const vv = values(4, 13);
    const [a, b, Hv] = at(g, x, xv, [hvp, hvp2, H], [[v, vv]]);
    const want = [0, 1, 2, 3].map((i) => [0, 1, 2, 3].reduce((s, j) => s + Hv[i * 4 + j] * vv[j], 0));
    expectClose(a, want, 1e-12);
    expectClose(b, want, 1e-12);
  });
  test("gradient of a gradient (reverse over reverse) and jvp of a jvp, scalars", () => {
    const g = new Graph();
    const x = g.input("x", "param", []);
    const y = e(g, "pow", e(g, "sin", x), g.constant(3));
    const one = g.constant(1);
    const d2a = gradient(g, gradient(g, y, x), x);
    const d2b = jvp(g, jvp(g, y, x, one), x, one);
    const d3 = gradient(g, d2a, x);
    const t = 0.9;
    const [a, b, c] = at(g, x, [t], [d2a, d2b, d3]);
    const [s, co] = [Math.sin(t), Math.cos(t)];
    const want2 = 6 * s * co * co - 3 * s ** 3;
    expect(a[0]).toBeCloseTo(want2, 12);
    expect(b[0]).toBeCloseTo(want2, 12);
    expect(c[0]).toBeCloseTo(6 * co ** 3 - 21 * s * s * co, 11);
  });
});

describe("conventions at every order", () => {
  test("a gate's second derivative comes from its grad lines (out differentiated through them)", () => {
    // def e(z) = exp(z), grad z = 2 * out: the derivative is 2 e^z by the grad line, the
    // second 2 * (2 out) = 4 e^z (through the body it would be 2 e^z).
    const g = new Graph();
    const x = g.input("x", "param", [2]);
    const fwd = e(g, "exp", x);
    const gate = g.gate("e", fwd, [x], [e(g, "mul", g.constant(2), fwd)]);
    const y = g.reduce("sum", gate);
    const xv = [0.3, -0.5];
    const ex = xv.map(Math.exp);
    const [d1, H, dd, jj] = at(g, x, xv, [
      gradient(g, y, x),
      hessian(g, y, x),
      gradient(g, g.reduce("sum", gradient(g, y, x)), x),
      jvp(g, jvp(g, y, x, g.tensor([1, 0], [2])), x, g.tensor([1, 0], [2])),
    ]);
    expect(Array.from(d1)).toEqual(ex.map((v) => 2 * v));
    expectClose(H, [4 * ex[0], 0, 0, 4 * ex[1]], 1e-14);
    expectClose(dd, [4 * ex[0], 4 * ex[1]], 1e-14);
    expectClose(jj, [4 * ex[0]], 1e-14);
  });
  test("where leaks no NaN at any order: where(x > 0, sqrt(x), 0) at x = -1", () => {
    const g = new Graph();
    const x = g.input("x", "param", [2]);
    const y = g.reduce("sum", e(g, "where", e(g, "gt", x, g.constant(0)), e(g, "sqrt", x), g.constant(0)));
    const d1 = gradient(g, y, x);
    const nodes = [d1, hessian(g, y, x), gradient(g, g.reduce("sum", d1), x), jvp(g, d1, x, g.tensor([1, 1], [2])), jacobian(g, d1, x)];
    const got = at(g, x, [-1, 4], nodes);
    expect(Array.from(got[0])).toEqual([0, 0.25]);
    const second = -0.25 / 8; // d/dx (1 / (2 sqrt x)) at 4
    expectClose(got[1], [0, 0, 0, second], 1e-14);
    expectClose(got[2], [0, second], 1e-14);
    expectClose(got[3], [0, second], 1e-14);
    for (const v of got) for (const a of v) expect(Number.isNaN(a)).toBe(false);
  });
  test("where in a multi-output Jacobian: the unselected branch's infinite derivative stays out", () => {
    const g = new Graph();
    const x = g.input("x", "param", [3]);
    const s = g.reduce("sum", x);
    const y = g.pack([e(g, "where", e(g, "gt", s, g.constant(0)), e(g, "log", s), s), e(g, "mul", s, s)]);
    const [J] = at(g, x, [-1, 0.5, 0.5], [jacobian(g, y, x)]);
    expect(Array.from(J)).toEqual([1, 1, 1, 0, 0, 0]);
  });
  test("max ties split evenly at every order; relu'' = abs'' = 0", () => {
    const g = new Graph();
    const x = g.input("x", "param", []);
    const c = g.input("c", "input", []);
    const tie = e(g, "mul", e(g, "max", x, c), e(g, "max", x, c)); // max(x, c)^2
    const d1 = gradient(g, tie, x);
    const [a, b] = at(g, x, [1.5], [d1, gradient(g, d1, x)], [[c, [1.5]]]);
    expect(a[0]).toBe(1.5); // 2 * 1.5 * (1/2)
    expect(b[0]).toBe(0.5); // 2 * (1/2)^2
    const self = gradient(g, gradient(g, e(g, "mul", e(g, "max", x, x), x), x), x);
    expect(at(g, x, [2], [self])[0][0]).toBe(2);
    const kinks = e(g, "add", e(g, "relu", x), e(g, "abs", x));
    for (const v of [-1, 0, 1]) expect(at(g, x, [v], [hessian(g, kinks, x)])[0][0]).toBe(0);
    const v = g.input("v", "param", [4]);
    const m = g.reduce("rmax", v);
    const [J, H2] = at(g, v, [1, 3, 3, 0], [jacobian(g, e(g, "mul", m, v), v), hessian(g, e(g, "mul", m, m), v)]);
    // d(m v_i)/dv_j = m [i = j] + v_i w_j, w = (0, 1/2, 1/2, 0)
    expect(Array.from(J.slice(4, 8))).toEqual([0, 3 + 1.5, 1.5, 0]);
    expect(Array.from(H2)).toEqual([0, 0, 0, 0, 0, 0.5, 0.5, 0, 0, 0.5, 0.5, 0, 0, 0, 0, 0]);
  });
  test("relu through a gradient and a jacobian: inactive units pass nothing at second order", () => {
    const g = new Graph();
    const x = g.input("x", "param", [3]);
    const W = g.tensor([1, -1, 2, 0.5, 1, -2], [2, 3]);
    const y = g.reduce("sum", e(g, "mul", e(g, "relu", g.matmul(W, x)), e(g, "relu", g.matmul(W, x))));
    const xv = [0.5, 1, 0.75]; // W x = [1, -0.25]: one unit active, one not
    const H = hessian(g, y, x);
    checkJacobian(g, x, gradient(g, y, x), H, xv);
  });
});

describe("independent variables that are not params", () => {
  test("a def parameter: force(q) = -gradient(energy(q), q), called at p[1] (substitute)", () => {
    const g = new Graph();
    const p = g.input("p", "param", [3, 2]);
    const k = g.input("k", "param", []);
    // energy(q) = k * sum(q^2) + sum(sin(q)) for a placeholder q, held apart from p.
    const q = g.input("q", "input", [2]);
    const energy = e(g, "add", e(g, "mul", k, g.reduce("sum", e(g, "mul", q, q))), g.reduce("sum", e(g, "sin", q)));
    const force = e(g, "neg", gradient(g, energy, q));
    const row = g.gather(p, [2], { offset: 2, strides: [1] });
    const called = substitute(g, force, q, row);
    const pv = values(6, 21);
    const kv = 0.7;
    const vals = new Map<string, number[] | number>([[inputKey(p), pv], [inputKey(k), kv]]);
    const [f] = evaluateGraph(g, vals, [called]);
    expectClose(f, [pv[2], pv[3]].map((a) => -(2 * kv * a + Math.cos(a))), 1e-14);
    // backward of an output built from it: d sum(force) / dp, dk
    const out = g.reduce("sum", called);
    const [dp, dk] = differentiate(g, [{ output: out, seed: g.constant(1), guarded: false }], [p, k]);
    const [dpv, dkv] = evaluateGraph(g, vals, [dp, dk]);
    expectClose(dpv, [0, 0, -(2 * kv - Math.sin(pv[2])), -(2 * kv - Math.sin(pv[3])), 0, 0], 1e-14);
    expect(dkv[0]).toBeCloseTo(-2 * (pv[2] + pv[3]), 12);
  });
  test("the derivative with respect to an input holds the params fixed", () => {
    const g = new Graph();
    const w = g.input("w", "param", [2]);
    const x = g.input("x", "input", [2]);
    const y = g.reduce("sum", e(g, "mul", e(g, "exp", w), e(g, "mul", x, x)));
    const wv = [0.1, -0.3];
    const xv = [2, 3];
    const [d, J] = at(g, x, xv, [gradient(g, y, x), jacobian(g, e(g, "mul", w, x), x)], [[w, wv]]);
    expectClose(d, [2 * Math.exp(wv[0]) * 2, 2 * Math.exp(wv[1]) * 3], 1e-14);
    expect(Array.from(J)).toEqual([wv[0], 0, 0, wv[1]]);
  });
  test("pushforward from an inner node moves what depends on it only", () => {
    const g = new Graph();
    const x = g.input("x", "param", []);
    const s = e(g, "sin", x);
    const y = e(g, "mul", s, x);
    const [t] = pushforward(g, [y], new Map([[s, g.constant(1)]]));
    expect(at(g, x, [0.4], [t])[0][0]).toBe(0.4);
  });
});

describe("sparse jacobians: columns (or rows) that share no row (column) in one pass", () => {
  /**
   * The passes a jacobian call made: the extent of each loop variable (a batched computation),
   * or the parts of a pack (one or two passes are built apart, each with its constant seed).
   */
  const passes = (g: Graph, before: number) =>
    g.nodes.slice(before).flatMap((n) => (n.op === "loopvar" ? [n.loop!.extent] : n.op === "pack" ? [n.args.length] : []));
  test("a three-point stencil over 10 elements takes 3 forward passes", () => {
    const g = new Graph();
    const x = g.input("x", "param", [10]);
    const left = g.gather(x, [8], { offset: 0, strides: [1] });
    const mid = g.gather(x, [8], { offset: 1, strides: [1] });
    const right = g.gather(x, [8], { offset: 2, strides: [1] });
    const y = e(g, "add", e(g, "mul", left, e(g, "sin", mid)), e(g, "mul", right, right));
    const before = g.nodes.length;
    const J = jacobian(g, y, x);
    expect(passes(g, before)[0]).toBe(3);
    const xv = values(10, 31);
    checkJacobian(g, x, y, J, xv);
    const [Jv] = at(g, x, xv, [J]);
    expect(Jv[0 * 10 + 5]).toBe(0); // structural zeros are exact
  });
  test("residuals on disjoint blocks of x (4 rows of 3 columns) take 1 reverse pass", () => {
    const g = new Graph();
    const x = g.input("x", "param", [12]);
    const blocks = g.gather(x, [4, 3], { offset: 0, strides: [3, 1] });
    const y = g.reduce("logsumexp", e(g, "mul", blocks, e(g, "cos", blocks)), 1);
    const before = g.nodes.length;
    const J = jacobian(g, y, x);
    expect(passes(g, before)[0]).toBe(1);
    checkJacobian(g, x, y, J, values(12, 32));
  });
  test("rows picked by an index table: the pattern reads the table", () => {
    const g = new Graph();
    const x = g.input("x", "param", [6]);
    const picked = g.take(x, g.tensor([0, 2, 4, 1, 3, 5], [3, 2]), 0);
    const y = g.reduce("prod", e(g, "exp", picked), 1);
    const before = g.nodes.length;
    const J = jacobian(g, y, x);
    expect(passes(g, before)[0]).toBe(1);
    checkJacobian(g, x, y, J, values(6, 33));
  });
  test("a tridiagonal hessian (Rosenbrock, n = 8): 3 passes, exactly symmetric", () => {
    const g = new Graph();
    const x = g.input("x", "param", [8]);
    const head = g.gather(x, [7], { offset: 0, strides: [1] });
    const tail = g.gather(x, [7], { offset: 1, strides: [1] });
    const a = e(g, "sub", tail, e(g, "mul", head, head));
    const b = e(g, "sub", g.constant(1), head);
    const y = g.reduce("sum", e(g, "add", e(g, "mul", g.constant(100), e(g, "mul", a, a)), e(g, "mul", b, b)));
    const before = g.nodes.length;
    const H = hessian(g, y, x);
    expect(passes(g, before)[0]).toBe(3);
    const xv = values(8, 34);
    const [Hv] = at(g, x, xv, [H]);
    for (let i = 0; i < 8; i++)
      for (let j = 0; j < 8; j++) {
        expect(Hv[i * 8 + j]).toBe(Hv[j * 8 + i]);
        if (Math.abs(i - j) > 1) expect(Hv[i * 8 + j]).toBe(0);
      }
    checkJacobian(g, x, gradient(g, y, x), H, xv);
  });
});

describe("batching rules for what derivative graphs contain", () => {
  /** batchOver's result against the body evaluated at each step (the loop variable substituted). */
  function checkBatched(g: Graph, loop: Node, body: Node, x: Node, xv: number[]) {
    const batched = batchOver(g, loop, body);
    const steps = loop.loop!.extent;
    expect(batched.shape).toEqual([steps, ...body.shape]);
    const [all] = at(g, x, xv, [batched]);
    for (let k = 0; k < steps; k++) {
      const [one] = at(g, x, xv, [substitute(g, body, loop, g.constant(loop.loop!.from + k))]);
      expect(Array.from(all.slice(k * body.size, (k + 1) * body.size))).toEqual(Array.from(one));
    }
  }
  test("put: values that depend on the loop, a fixed index table with repeats", () => {
    const g = new Graph();
    const x = g.input("x", "input", [3, 2]);
    const loop = g.loopVariable(-7, 1, 4);
    const body = g.put(e(g, "mul", x, loop), g.tensor([2, 0, 2], [3]), 0, [4, 2]);
    checkBatched(g, loop, body, x, values(6, 40));
  });
  test("scatter: one part that depends on the loop, one that does not", () => {
    const g = new Graph();
    const x = g.input("x", "input", [3]);
    const loop = g.loopVariable(-8, 0, 3);
    const body = g.scatter(
      [
        { values: e(g, "add", x, loop), map: { offset: 0, strides: [2] } },
        { values: e(g, "sin", x), map: { offset: 1, strides: [1] } },
      ],
      [6],
    );
    checkBatched(g, loop, body, x, values(3, 41));
  });
});

describe("degenerate cases", () => {
  test("y that does not depend on x: zeros of the right shapes at every operator", () => {
    const g = new Graph();
    const x = g.input("x", "param", [3]);
    const w = g.input("w", "input", [4]);
    const y = e(g, "sin", w);
    const s = g.reduce("sum", y);
    const nodes = [gradient(g, s, x), jacobian(g, y, x), hessian(g, s, x), jvp(g, y, x, g.tensor([1, 2, 3], [3])), vjp(g, y, x, w)];
    expect(nodes.map((n) => n.shape)).toEqual([[3], [4, 3], [3, 3], [4], [3]]);
    for (const v of at(g, x, [1, 2, 3], nodes, [[w, [1, 2, 3, 4]]])) expect(Array.from(v).every((a) => a === 0)).toBe(true);
  });
  test("scalar by scalar: jacobian and hessian are scalars", () => {
    const g = new Graph();
    const x = g.input("x", "input", []);
    const y = e(g, "mul", e(g, "exp", x), x);
    const [J, H] = at(g, x, [0.5], [jacobian(g, y, x), hessian(g, y, x)]);
    expect(J[0]).toBeCloseTo(1.5 * Math.exp(0.5), 14);
    expect(H[0]).toBeCloseTo(2.5 * Math.exp(0.5), 14);
  });
});

describe("guarded products (chainmul) inside derivatives", () => {
  // Past a `where`, the reverse pass's products must send no NaN out of the branch that was
  // not selected. The rule masks the upstream (mask(c, g, 0)), and the mask moves past the
  // products to where the branch's values meet others, so the products need no guard; a
  // product whose upstream may still hold a masked zero (a seed, another mask) is
  // `g === 0 ? 0 : g l` (chainmul), one operation instead of where(g == 0, 0, g l).
  const build = () => {
    const g = new Graph();
    const x = g.input("x", "param", [2]);
    const y = g.reduce("sum", e(g, "where", e(g, "gt", x, g.constant(0)), e(g, "mul", e(g, "sqrt", x), x), e(g, "mul", x, e(g, "mul", x, x))));
    return { g, x, y, d1: gradient(g, y, x) };
  };
  const opsOf = (g: Graph, root: Node) => {
    const seen = new Set<number>();
    const ops = new Set<string>();
    const stack = [root];
    while (stack.length) {
      const n = stack.pop()!;
      if (seen.has(n.id)) continue;
      seen.add(n.id);
      ops.add(n.op);
      stack.push(...n.args);
    }
    return ops;
  };
  test("a gradient through where holds masks and no guarded product, nor where(g == 0, 0, g l)", () => {
    const { g, d1 } = build();
    const ops = opsOf(g, d1);
    expect(ops.has("mask")).toBe(true);
    expect(ops.has("chainmul")).toBe(false);
    expect(ops.has("eq")).toBe(false);
  });
  test("with an upstream that may hold masked zeros (a seed), the products past the masks keep their guard", () => {
    const { g, x, y } = build();
    const u = g.input("u", "seed", []);
    const d = vjp(g, y, x, u);
    expect(opsOf(g, d).has("chainmul")).toBe(true);
    expectClose(at(g, x, [4, -1], [d], [[u, [2]]])[0], [6, 6], 1e-14);
    expect(Array.from(at(g, x, [0, -1], [d], [[u, [0]]])[0])).toEqual([0, 0]);
  });
  test("its second derivatives, reverse (hessian, backward) and forward (jvp), by hand and without NaN", () => {
    // y = x^1.5 for x > 0, x^3 otherwise: y' = 1.5 sqrt(x) or 3 x^2, y'' = 0.75 / sqrt(x) or 6 x.
    const { g, x, y, d1 } = build();
    const xv = [4, -1];
    const want = [0.75 / 2, 0, 0, -6];
    const [H, Hv, dd] = at(g, x, xv, [hessian(g, y, x), jvp(g, d1, x, g.tensor([1, 1], [2])), gradient(g, g.reduce("sum", d1), x)]);
    expectClose(H, want, 1e-14);
    expectClose(Hv, [0.375, -6], 1e-14);
    expectClose(dd, [0.375, -6], 1e-14);
    checkJacobian(g, x, d1, jacobian(g, d1, x), xv);
    // At 0 the masked branch's sqrt'(0) is infinite; nothing of it may leak.
    for (const v of at(g, x, [0, 0], [hessian(g, y, x), jvp(g, d1, x, g.tensor([1, 1], [2]))])) for (const a of v) expect(Number.isNaN(a)).toBe(false);
  });
  test("a constant upstream that is not zero, or an upstream without masked zeros, needs no guard", () => {
    const g = new Graph();
    const x = g.input("x", "param", []);
    const u = g.input("u", "seed", []);
    expect(e(g, "chainmul", g.constant(1), x)).toBe(x);
    expect(e(g, "chainmul", g.constant(2), x).op).toBe("mul");
    expect(e(g, "chainmul", g.constant(0), x).op).toBe("const");
    expect(e(g, "chainmul", u, g.input("l", "input", [])).op).toBe("chainmul");
    // A param, a where of the program's own (its 0 is a value), a product of params: no masked zero.
    const own = e(g, "where", e(g, "gt", x, g.constant(0)), x, g.constant(0));
    for (const v of [x, own, e(g, "mul", x, own)]) expect(e(g, "chainmul", v, g.input("l", "input", [])).op).toBe("mul");
  });
  test("which values may hold masked zeros", () => {
    const g = new Graph();
    const x = g.input("x", "param", [2]);
    const c = e(g, "gt", x, g.constant(0));
    const masked = e(g, "mask", c, x, g.constant(0));
    const holds = (n: Node) => g.mayHoldMaskedZeros(n);
    expect([x, e(g, "sin", x), e(g, "where", c, x, g.constant(0))].map(holds)).toEqual([false, false, false]);
    // Masks, seeds, one-hot constants and comparisons (a batched pass's seed), and what is computed from them.
    const seed = g.input("s", "seed", [2]);
    const oneHot = g.tensor([1, 0], [2]);
    expect([masked, seed, oneHot, c, e(g, "mul", x, masked), e(g, "add", x, seed), e(g, "where", c, x, seed)].map(holds)).toEqual([true, true, true, true, true, true, true]);
  });
  test("a mask moves past products and merges with a mask by the same condition", () => {
    const g = new Graph();
    const [x, l, m] = ["x", "l", "m"].map((name) => g.input(name, "param", []));
    const c = e(g, "gt", x, g.constant(0));
    const zero = g.constant(0);
    const onTrue = e(g, "mask", c, x, zero);
    const onFalse = e(g, "mask", c, zero, l);
    // A guarded product of a mask: a mask of a plain product.
    const p = e(g, "chainmul", onTrue, l);
    expect([p.op, p.args[0], p.args[1].op, p.args[2]]).toEqual(["mask", c, "mul", zero]);
    expect(e(g, "neg", onFalse).args[2].op).toBe("neg");
    // One condition, both sides: one mask.
    const sum = e(g, "add", onTrue, onFalse);
    expect([sum.op, sum.args[1], sum.args[2]]).toEqual(["mask", x, l]);
    const difference = e(g, "sub", onTrue, onFalse);
    expect([difference.op, difference.args[1], difference.args[2].op]).toEqual(["mask", x, "neg"]);
    // Not moved: a mask with two values (the product would be computed on both), and masks by other conditions.
    const both = e(g, "mask", c, x, l);
    expect(e(g, "mul", both, m).op).toBe("mul");
    const other = e(g, "mask", e(g, "gt", l, zero), m, zero);
    expect(e(g, "add", onTrue, other).op).toBe("add");
    // The values: those of the expressions as written, and no NaN from the unselected branch.
    const value = (n: Node, [xv, lv]: number[]) => evaluateGraph(g, new Map([[inputKey(x), xv], [inputKey(l), lv]]), [n])[0][0];
    expect(value(p, [2, 3])).toBe(6);
    expect(value(p, [-2, Infinity])).toBe(0);
    expect(value(sum, [2, 3])).toBe(2);
    expect(value(sum, [-2, 3])).toBe(3);
  });
  test("a negated factor of a guarded product in a sum becomes a difference", () => {
    const g = new Graph();
    const [a, l] = ["a", "l"].map((name) => g.input(name, "param", []));
    // An upstream that may hold masked zeros, so that the products keep their guard.
    const u = g.input("u", "seed", []);
    const neg = (v: Node) => e(g, "neg", v);
    const guarded = (p: Node, q: Node) => e(g, "chainmul", p, q);
    // Upstream or local negated, either operand of the sum: one sub, no neg left.
    for (const [s, op] of [
      [e(g, "add", a, guarded(neg(u), l)), "sub"],
      [e(g, "add", guarded(u, neg(l)), a), "sub"],
      [e(g, "sub", a, guarded(neg(u), l)), "add"],
    ] as const) {
      expect(s.op).toBe(op);
      expect([...opsOf(g, s)].sort()).toEqual(["chainmul", "input", op].sort());
    }
    // Not a sum, or no negation: left as built (a lone -(u l) would only move the negation).
    expect(guarded(neg(u), l).args[0].op).toBe("neg");
    expect(e(g, "add", a, guarded(u, l)).op).toBe("add");
    expect(e(g, "mul", e(g, "add", a, a), guarded(neg(u), l)).op).toBe("mul");
    // The values: those of the sum as written, and no NaN from a zero upstream.
    const value = (x: Node, [av, uv, lv]: number[]) => evaluateGraph(g, new Map([[inputKey(a), av], [inputKey(u), uv], [inputKey(l), lv]]), [x])[0][0];
    const built = e(g, "add", a, guarded(neg(u), l));
    expect(value(built, [1.5, 2, 3])).toBe(1.5 - 6);
    expect(value(built, [1.5, 0, Infinity])).toBe(1.5);
  });
  test("printed inline when the upstream is a name or an element, else as the helper's call", () => {
    const print = ELEMENTWISE.chainmul.print;
    expect(print("t5", "(a + b)")).toBe("(t5 === 0 ? 0 : t5 * (a + b))");
    expect(print("a0[3]!", "t1")).toBe("(a0[3]! === 0 ? 0 : a0[3]! * t1)");
    expect(print("b6[i * 100 + j]", "t1")).toBe("(b6[i * 100 + j] === 0 ? 0 : b6[i * 100 + j] * t1)");
    expect(print("(t1 + t2)", "t3")).toBe("chainMul((t1 + t2), t3)");
    expect(print("b6[b2[i]]", "t3")).toBe("chainMul(b6[b2[i]], t3)");
  });
  test("straight-line code names every upstream, so no guarded product calls the helper", () => {
    // Two outputs: backward's seeds may leave one out, so its products keep their guard.
    const result = compile("param x[3], w[3]\noutput f = sum(where(x > 0, sqrt(x) * w, x * w) * exp(x + w))\noutput h = sum(x * w)", { emit: "unrolled", format: "js" });
    if (!result.ok) throw new Error("does not compile");
    expect(result.code).toMatch(/=== 0 \? 0 : /);
    expect(result.code).not.toMatch(/chainMul\(/);
  });
});

describe("equal contributions scaled once (reverse.ts)", () => {
  // x * x sends g x to x twice, added once as 2 (g x). When g is one scalar spread over x
  // (the adjoint of sum(x * x), of dot(p, p)), the 2 goes on g: one product, not one per element.
  const build = (upstream: "scalar" | "tensor") => {
    const g = new Graph();
    const x = g.input("x", "param", [3]);
    const s = g.input("s", "input", upstream === "scalar" ? [] : [3]);
    const y = upstream === "scalar" ? e(g, "mul", s, g.reduce("sum", e(g, "mul", x, x))) : g.reduce("sum", e(g, "mul", s, e(g, "mul", x, x)));
    const [d] = differentiate(g, [{ output: y, seed: g.constant(1), guarded: false }], [x]);
    return { g, x, s, d };
  };
  test("a scalar upstream: (2 s) x, the values of 2 (s x)", () => {
    const { g, x, s, d } = build("scalar");
    expect(d.op).toBe("mul");
    const scale = d.args.find((a) => a.shape.length === 0)!;
    expect(scale.op).toBe("mul");
    expect(scale.args.map((a) => String(a.value ?? a.name)).sort()).toEqual(["2", "s"]);
    const xv = [0.3, -1.7, 2.9];
    const [dv] = at(g, x, xv, [d], [[s, [1.1]]]);
    expect(Array.from(dv)).toEqual(xv.map((v) => 2 * (1.1 * v)));
  });
  test("an upstream that varies along x: left as 2 (s x)", () => {
    const { d } = build("tensor");
    expect(d.op).toBe("mul");
    expect(d.args.find((a) => a.op === "const")?.value).toBe(2);
    expect(d.args.find((a) => a.op !== "const")?.op).toBe("mul");
  });
  test("the CS231n regularisation gradient is reg * W, the 2 and the 0.5 folded", () => {
    const result = compile("input reg\nparam W[2, 2]\noutput loss = 0.5 * reg * sum(W * W)", { emit: "unrolled", format: "js" });
    if (!result.ok) throw new Error("does not compile");
    const start = result.code.indexOf("export function backwardInto");
    const backward = result.code.slice(start, result.code.indexOf("\n}\n", start));
    // The loss itself keeps its 0.5; each gradient element is one product, of an element of
    // W read once into a temporary (it is read twice: in the loss and in its gradient), and
    // the scalar reg, printed in the element's store.
    expect(backward.match(/const t\d+ = a1\[\d\];/g)).toHaveLength(4);
    expect(backward.match(/g0\[\d\] = \(a0 \* t\d+\) \* s0;/g)).toHaveLength(4);
    expect(backward).not.toMatch(/\W2 \*/);
  });
});
