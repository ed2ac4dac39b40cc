// Derivative rules, one per IR operation: given the node and its upstream gradient `g`
// (the adjoint, shaped like the node), the contribution to each operand, in operand order
// (`undefined`: none). This is CS231n's "upstream gradient times local gradient"; local
// gradients reuse forward nodes (`exp`'s derivative is the `exp` node itself, the sigmoid's
// is `out * (1 - out)`), so the backward pass shares work with the forward pass.
//
// A contribution may be shaped like the node while its operand is a broadcast scalar; the
// driver (reverse.ts) sums it. Reads through an index map return `{ values, map }`, which the
// driver gathers into one scatter per operand.

import type { Graph, IndexMap, Node, Op, Shape } from "../ir/graph.js";
import { knownSize, rowMajor } from "../ir/graph.js";
import { isKnown, mulSize, type Size } from "../ir/size.js";
import type { ElementwiseName } from "../ir/ops.js";

export type Contribution = Node | { values: Node; map: IndexMap } | undefined;

export interface RuleContext {
  graph: Graph;
  /** Tie weights test the tie first (winWeight). */
  tiesFirst: boolean;
  /** An elementwise node. */
  e(op: ElementwiseName, ...args: Node[]): Node;
  c(value: number): Node;
  /** upstream * local, guarded against 0 * Infinity where the upstream may be a masked zero. */
  chain(g: Node, local: Node): Node;
  /** Mark the contributions of this rule as possibly masked zeros (see `where`). */
  guard(): void;
}

export type Rule = (d: RuleContext, node: Node, g: Node) => Contribution[];

const none: Rule = () => [];

function transpose(graph: Graph, m: Node): Node {
  const [rows, cols] = m.shape;
  return graph.gather(m, [cols, rows], { offset: 0, strides: [1, cols] });
}

/** Each matrix of a stack `[..., m, n]` transposed (a view). */
export function transposeMatrices(graph: Graph, m: Node): Node {
  const r = m.shape.length;
  const strides = rowMajor(m.shape);
  const shape = [...m.shape.slice(0, r - 2), m.shape[r - 1], m.shape[r - 2]];
  return graph.gather(m, shape, { offset: 0, strides: [...strides.slice(0, r - 2), strides[r - 1], strides[r - 2]] });
}

/** Identity matrices shaped like the stack `shape` (`[..., n, n]`). */
export function identities(graph: Graph, shape: Shape): Node {
  const n = shape[shape.length - 1];
  return graph.broadcastTo(isKnown(n) ? graph.tensor(Array.from({ length: n * n }, (_, k) => (Math.floor(k / n) === k % n ? 1 : 0)), [n, n]) : compareIndices(graph, "eq", n), shape);
}

/** An n x n matrix of `row op column` (1 or 0) for a run-time n: the identity with "eq". */
export function compareIndices(graph: Graph, op: "eq" | "le", n: Size): Node {
  const index = graph.iota(0, n);
  const rows = graph.gather(index, [n, n], { offset: 0, strides: [1, 0] });
  const columns = graph.gather(index, [n, n], { offset: 0, strides: [0, 1] });
  return graph.elementwise(op, [rows, columns]);
}

/** outer(u, v)[i, j] = u[i] * v[j] */
function outer(d: RuleContext, u: Node, v: Node): Node {
  const shape = [u.size, v.size];
  return d.e("mul", d.graph.gather(u, shape, { offset: 0, strides: [1, 0] }), d.graph.gather(v, shape, { offset: 0, strides: [0, 1] }));
}

/**
 * Tie-splitting weight of `a` in max/min: 1 where it wins, 1/2 on a tie, else 0. A choice
 * (`a > b ? 1 : a === b ? 0.5 : 0` once printed), not the sum `(a > b) + 0.5 * (a === b)`:
 * fewer operations, and less bytecode, which keeps a clamp's kernel under V8's inlining limit.
 * V8 compiles a test that never ran into a deoptimization exit, and the choice's value on the
 * side that did run into a constant: the tie's test usually never runs, and the weight costs
 * one comparison. The flat kernels test the tie first instead (`tiesFirst`), so that every
 * call but a tie runs both tests: such an exit keeps V8 from peeling the loop the kernel is
 * inlined into, and a loop not peeled boxes the number the kernel returns on every call. The
 * point-segment distance, its kernels inlined, each order timed against the hand-written
 * function (bench/tiny.mjs's way, paired): valueAndGradFlat 1.90x with the win first, 1.70x
 * with the tie first; backwardInto, which returns the holder, 1.66x and 1.81x.
 */
function winWeight(d: RuleContext, wins: "gt" | "lt", a: Node, b: Node): Node {
  if (d.tiesFirst) return d.e("where", d.e("eq", a, b), d.c(0.5), d.e("where", d.e(wins, a, b), d.c(1), d.c(0)));
  return d.e("where", d.e(wins, a, b), d.c(1), d.e("where", d.e("eq", a, b), d.c(0.5), d.c(0)));
}

/** Adjoint of max/min reductions: the gradient is split evenly between tied extrema. */
const extremum: Rule = (d, n, g) => {
  const [x] = n.args;
  const keep = n.keep ?? 0;
  const spread = (v: Node) => d.graph.expand(v, x.shape);
  const hit = d.e("eq", x, spread(n));
  return [d.chain(spread(g), d.e("div", hit, spread(d.graph.reduce("sum", hit, keep))))];
};

/** where and mask: the upstream goes to the selected branch, a masked zero to the other. */
const selectRule: Rule = (d, { args: [c] }, g) => {
  d.guard();
  const zero = d.c(0);
  return [undefined, d.e("mask", c, g, zero), d.e("mask", c, zero, g)];
};

export const RULES: Record<Op, Rule | null> = {
  // Leaves: the driver collects their adjoints.
  const: none,
  input: none,

  neg: (d, n, g) => [d.e("neg", g)],
  add: (d, n, g) => [g, g],
  sub: (d, n, g) => [g, d.e("neg", g)],
  mul: (d, { args: [a, b] }, g) => [d.chain(g, b), d.chain(g, a)],
  // 1/b for the numerator, -(a/b)(1/b) for the denominator: one division serves both, as
  // in hand-written code, where (a/b)/b took a second one.
  div: (d, n, g) => {
    const inverse = d.e("div", d.c(1), n.args[1]);
    return [d.chain(g, inverse), d.chain(g, d.e("neg", d.e("mul", n, inverse)))];
  },
  // b a^(b-1) and a^b log a, with the limits the formulas miss at a = 0: d/da a^0 = 0
  // (not 0 * Infinity) and d/db 0^b = 0 for b > 0 (not 0 * -Infinity).
  pow: (d, n, g) => {
    const [a, b] = n.args;
    const zero = d.c(0);
    const da = d.e("where", d.e("eq", b, zero), zero, d.e("mul", b, d.e("pow", a, d.e("sub", b, d.c(1)))));
    const db = d.e("where", d.e("eq", n, zero), zero, d.e("mul", n, d.e("log", a)));
    return [d.chain(g, da), d.chain(g, db)];
  },
  exp: (d, n, g) => [d.chain(g, n)],
  expm1: (d, n, g) => [d.chain(g, d.e("add", n, d.c(1)))],
  log: (d, { args: [a] }, g) => [d.chain(g, d.e("div", d.c(1), a))],
  log1p: (d, { args: [a] }, g) => [d.chain(g, d.e("div", d.c(1), d.e("add", a, d.c(1))))],
  sqrt: (d, n, g) => [d.chain(g, d.e("div", d.c(0.5), n))],
  sin: (d, { args: [a] }, g) => [d.chain(g, d.e("cos", a))],
  cos: (d, { args: [a] }, g) => [d.chain(g, d.e("neg", d.e("sin", a)))],
  tan: (d, n, g) => [d.chain(g, d.e("add", d.c(1), d.e("mul", n, n)))],
  asin: (d, { args: [a] }, g) => [d.chain(g, d.e("div", d.c(1), d.e("sqrt", d.e("sub", d.c(1), d.e("mul", a, a)))))],
  acos: (d, { args: [a] }, g) => [d.chain(g, d.e("div", d.c(-1), d.e("sqrt", d.e("sub", d.c(1), d.e("mul", a, a)))))],
  atan: (d, { args: [a] }, g) => [d.chain(g, d.e("div", d.c(1), d.e("add", d.c(1), d.e("mul", a, a))))],
  sinh: (d, { args: [a] }, g) => [d.chain(g, d.e("cosh", a))],
  cosh: (d, { args: [a] }, g) => [d.chain(g, d.e("sinh", a))],
  tanh: (d, n, g) => [d.chain(g, d.e("sub", d.c(1), d.e("mul", n, n)))],
  sigmoid: (d, n, g) => [d.chain(g, d.e("mul", n, d.e("sub", d.c(1), n)))],
  softplus: (d, { args: [a] }, g) => [d.chain(g, d.e("sigmoid", a))],
  // relu(x) > 0 exactly where x > 0 (NaN in neither): testing the output keeps the
  // pre-activation dead after the forward pass, as in hand-written code.
  relu: (d, n, g) => [d.e("reluGrad", g, n)],
  abs: (d, { args: [a] }, g) => [d.chain(g, d.e("sign", a))],
  sign: none,
  floor: none,
  ceil: none,
  max: (d, { args: [a, b] }, g) => [d.chain(g, winWeight(d, "gt", a, b)), d.chain(g, winWeight(d, "gt", b, a))],
  min: (d, { args: [a, b] }, g) => [d.chain(g, winWeight(d, "lt", a, b)), d.chain(g, winWeight(d, "lt", b, a))],
  // x / (x² + y²) and -y / (x² + y²). Where r = x² + y² is in (1e-100, 1e100), which r + 1 / r
  // < 1e100 tests at the cost of one addition, x (1 / r) and y (1 / r): one division, as in
  // hand-written code. Elsewhere the same on x and y scaled by a power of two s chosen by r:
  // 2^332 in [1e-300, 1e-100], 2^-332 in [1e100, 1e300], which bring (x s)² + (y s)² into
  // [1e-101, 1e101]; 2^600 below 1e-300 (then max(|x|, |y|) < 1e-150, and a subnormal one
  // becomes at least 2^-474) and 2^-600 above or where r overflows (the largest double
  // becomes 2^424). Scaling by a power of two is exact, so s ((x s) / ((x s)² + (y s)²))
  // rounds as the plain formula does wherever that one is finite and normal, and is finite
  // where the gradient is; the sum's powers up to the third stay in range where the
  // derivatives of that order do (second derivatives are about 1 / r).
  // How V8 runs it decides the form: the two are chosen by `pick` (ir/ops.ts), both computed
  // on every path, never a branch around the scaled formula, whose never-run arithmetic V8
  // would compile as a deoptimization exit (a caller's loop is then not peeled and its result
  // boxed: the angle's flat kernel took 1.35x the hand-written time); and s is a table of
  // constants, not a branch. Computed before the choice, the scaled side is moved by TurboFan
  // to where it is used, and the common range costs one addition, a test and the two
  // products. The angle's flat kernel, paired against the hand-written one (by hand, without
  // checks): 1.08-1.11x with s applied on every path (a table that was 1 in the common range,
  // the division taking r itself there), 1.07-1.09x so; 1.06x with two scales (2^±600 only),
  // but then r³ overflows in [1e-300, 1e-100] where second derivatives are finite.
  atan2: (d, { args: [y, x] }, g) => {
    const r = d.e("add", d.e("mul", x, x), d.e("mul", y, y));
    const inverse = d.e("div", d.c(1), r);
    const common = d.e("lt", d.e("add", r, inverse), d.c(1e100));
    const table = (test: Node, a: number, b: number) => d.e("where", test, d.c(a), d.c(b));
    const scale = d.e(
      "where",
      d.e("lt", r, d.c(1)),
      table(d.e("lt", r, d.c(1e-300)), 2 ** 600, 2 ** 332),
      table(d.e("gt", r, d.c(1e300)), 2 ** -600, 2 ** -332),
    );
    const [xs, ys] = [d.e("mul", x, scale), d.e("mul", y, scale)];
    const scaledInverse = d.e("div", d.c(1), d.e("add", d.e("mul", xs, xs), d.e("mul", ys, ys)));
    const partial = (a: Node, as: Node) => d.e("pick", common, d.e("mul", a, inverse), d.e("mul", scale, d.e("mul", as, scaledInverse)));
    return [d.chain(g, partial(x, xs)), d.chain(g, d.e("neg", partial(y, ys)))];
  },
  // Index arithmetic: integers in, integers out, nothing to differentiate.
  mod: none,
  lt: none,
  le: none,
  gt: none,
  ge: none,
  eq: none,
  ne: none,
  // Only the selected branch receives gradient; the other gets an exact zero that later
  // products must not turn into NaN, hence guard() and the mask op (Graph.simplify moves
  // the mask past the products, so that they need no guard of their own).
  where: selectRule,
  mask: selectRule,
  pick: selectRule,
  // g === 0 ? 0 : g l, met when a derivative is differentiated again: where g is an exact
  // zero nothing passes, elsewhere it is a product; the same values as differentiating
  // where(g == 0, 0, g l), without building that form into the derivative's own code.
  chainmul: (d, { args: [g, l] }, u) => {
    d.guard();
    const passed = d.e("mask", d.e("eq", g, d.c(0)), d.c(0), u);
    return [d.chain(passed, l), d.chain(passed, g)];
  },
  stop: none,
  reluGrad: null,
  lseFinish: null,

  matmul: (d, { args: [a, b] }, g) => {
    const [ra, rb] = [a.shape.length, b.shape.length];
    const mm = (x: Node, y: Node) => d.graph.matmul(x, y);
    if (ra === 2 && rb === 2) return [mm(g, transpose(d.graph, b)), mm(transpose(d.graph, a), g)];
    if (ra === 2 && rb === 1) return [outer(d, g, b), mm(g, a)];
    if (ra === 1 && rb === 2) return [mm(b, g), outer(d, a, g)];
    return [d.chain(g, b), d.chain(g, a)];
  },
  // Reductions keep their first `keep` axes: the upstream is repeated over the reduced ones.
  sum: (d, { args: [x] }, g) => [d.graph.expand(g, x.shape)],
  prod: (d, { args: [x], keep }, g) => [d.chain(d.graph.expand(g, x.shape), d.graph.prodExcept(x, keep ?? 0))],
  rmax: extremum,
  rmin: extremum,
  // softmax, as exp(x - max) / sum(exp(x - max)): exp(x - out) would lose log(sum) next to
  // a huge max (1e300 + log 2 is 1e300).
  logsumexp: (d, { args: [x], keep }, g) => {
    const spread = (v: Node) => d.graph.expand(v, x.shape);
    const e = d.e("exp", d.e("sub", x, spread(d.graph.reduce("rmax", x, keep ?? 0))));
    return [d.chain(spread(g), d.e("div", e, spread(d.graph.reduce("sum", e, keep ?? 0))))];
  },
  prodexcept: null,
  tensor: none,
  iota: none,
  // A loop variable is batched away before anything is differentiated.
  loopvar: null,
  // Picking by index sends the gradient back to the picked elements; indices get none.
  take: (d, n, g) => [d.graph.put(g, n.args[1], n.axis!, n.args[0].shape), undefined],
  put: (d, n, g) => [d.graph.take(g, n.args[1], n.axis!), undefined],
  checkindex: none,
  // X = A^-1 B: dB = A^-T G (Y, a solve with the same factorization), dA = -Y X^T; for
  // X = A^-T B, dB = A^-1 G and dA = -X Y^T.
  solve: (d, n, g) => {
    const [a] = n.args;
    const y = d.graph.solve(a, g, !n.transposed);
    const dA = n.transposed ? d.graph.matmul(n, transposeMatrices(d.graph, y)) : d.graph.matmul(y, transposeMatrices(d.graph, n));
    return [d.e("neg", dA), y];
  },
  // d det(A) / dA = det(A) A^-T, the inverse transposed being a transposed solve against I.
  det: (d, n, g) => {
    const [a] = n.args;
    const invT = d.graph.solve(a, identities(d.graph, a.shape), true);
    return [d.chain(d.graph.expand(g, a.shape), d.e("mul", d.graph.expand(n, a.shape), invT))];
  },

  gather: (d, n, g) => [{ values: g, map: n.map! }],
  scatter: (d, n, g) => n.args.map((part, k) => d.graph.gather(g, part.shape, n.maps![k])),
  pack: (d, n, g) => {
    const part = n.args[0];
    const strides = rowMajor(part.shape);
    return n.args.map((_, k) => d.graph.gather(g, part.shape, { offset: mulSize(k, part.size), strides }));
  },
  // args: [forward, ...arguments, ...local gradients]; only the arguments receive gradient.
  // A reducing gate (a scalar value, a tensor argument) batched over rows has upstream [n]
  // and locals [n, ...argument]: the upstream is repeated along each row's elements.
  gate: (d, n, g) => {
    const k = n.arity!;
    return [
      undefined,
      ...n.args.slice(1, 1 + k).map((_, i) => {
        const local = n.args[1 + k + i];
        return d.chain(g.shape.length > 0 && g.shape.length < local.shape.length ? d.graph.expand(g, local.shape) : g, local);
      }),
    ];
  },
};
