// Forward-mode accumulation over the IR: given tangents of some nodes (the direction `v`
// of a `jvp`, a one-hot column of a Jacobian), the tangent of every node that depends on
// them, walking the nodes in id order (a topological order) with no recursion. Tangent
// nodes are built in the same hash-consed graph as everything else.
//
// The table has one rule per operation, keyed like the reverse rules of rules.ts. An
// elementwise operation has a diagonal Jacobian, equal to its transpose, so its tangent is
// its reverse rule applied to each operand's tangent and summed: the local derivatives are
// written once, in rules.ts, and both modes share their nodes.

import { rowMajor, sameShape, type Graph, type Node, type Op } from "../ir/graph.js";
import { addSize, mulSize, productOf } from "../ir/size.js";
import type { ElementwiseName } from "../ir/ops.js";
import { identities, RULES, transposeMatrices, type RuleContext } from "./rules.js";

/** Tangents of a node's operands (undefined: zero) to the node's tangent (undefined: zero). */
export type TangentRule = (d: RuleContext, node: Node, t: readonly (Node | undefined)[]) => Node | undefined;

const none: TangentRule = () => undefined;

/** Sum of tangent terms, any of them missing. */
function total(d: RuleContext, terms: readonly (Node | undefined)[]): Node | undefined {
  let sum: Node | undefined;
  for (const x of terms) if (x) sum = sum ? d.e("add", sum, x) : x;
  return sum;
}

/** A diagonal operation: operand k's reverse contribution for upstream t[k] is its tangent term. */
const diagonal: TangentRule = (d, n, t) => {
  const rule = RULES[n.op]!;
  return total(
    d,
    t.map((tk, k) => {
      if (!tk) return undefined;
      const c = rule(d, n, tk)[k];
      if (c && !("id" in c)) throw new Error(`internal: '${n.op}' is not elementwise`);
      return c;
    }),
  );
};

/**
 * A reduction: each kept element's tangent is the sum over its group of the operand's tangent
 * times the local derivative, which the reverse rule gives for an upstream of ones.
 */
const reduction: TangentRule = (d, n, [t]) => {
  if (!t) return undefined;
  const local = RULES[n.op]!(d, n, d.graph.broadcast(d.c(1), n.shape))[0] as Node;
  return d.graph.reduce("sum", d.chain(t, local), n.keep ?? 0);
};

/**
 * The pairs (i, j) of elements within each group of x's trailing axes (from `keep` on), as
 * tensors of shape [...kept, m, m]: `eye` is 1 where i = j, `rows(v)` repeats each group of
 * v (shaped as x) along i. prodexcept and its tangent are written with them.
 */
export function groupPairs(graph: Graph, x: Node, keep: number) {
  const kept = x.shape.slice(0, keep);
  const m = productOf(x.shape.slice(keep));
  const full = [...kept, m, m];
  const eye = identities(graph, full);
  const rows = (v: Node) => graph.gather(graph.reshape(v, [...kept, m]), full, { offset: 0, strides: [...rowMajor(kept).map((s) => mulSize(s, m)), 0, 1] });
  return { eye, rows };
}

/**
 * prodexcept's tangent: element i gains t_j times the product of the elements other than i
 * and j, for each j != i; that product is prodexcept of the group with element i set to 1.
 */
const prodExcept: TangentRule = (d, n, [t]) => {
  if (!t) return undefined;
  const graph = d.graph;
  const x = n.args[0];
  const keep = n.keep ?? 0;
  const { eye, rows } = groupPairs(graph, x, keep);
  const others = graph.prodExcept(d.e("where", eye, d.c(1), rows(x)), keep + 1);
  const terms = d.chain(rows(t), d.e("where", eye, d.c(0), others));
  return graph.reshape(graph.reduce("sum", terms, keep + 1), n.shape);
};

export const TANGENTS: Record<Op, TangentRule> = {
  const: none,
  tensor: none,
  input: none,
  iota: none,
  loopvar: none,

  neg: diagonal,
  exp: diagonal,
  expm1: diagonal,
  log: diagonal,
  log1p: diagonal,
  sqrt: diagonal,
  sin: diagonal,
  cos: diagonal,
  tan: diagonal,
  asin: diagonal,
  acos: diagonal,
  atan: diagonal,
  sinh: diagonal,
  cosh: diagonal,
  tanh: diagonal,
  sigmoid: diagonal,
  softplus: diagonal,
  relu: diagonal,
  abs: diagonal,
  sign: none,
  floor: none,
  ceil: none,
  add: diagonal,
  sub: diagonal,
  mul: diagonal,
  div: diagonal,
  pow: diagonal,
  max: diagonal,
  min: diagonal,
  atan2: diagonal,
  mod: none,
  lt: none,
  le: none,
  gt: none,
  ge: none,
  eq: none,
  ne: none,
  where: diagonal,
  mask: diagonal,
  pick: diagonal,
  stop: none,
  // Backward-only operations, met when a derivative is differentiated again.
  // g === 0 ? 0 : g l, differentiated as where(g == 0, 0, g l) (as rules.ts does): nothing
  // passes where g is an exact zero, which may stand for a masked branch.
  chainmul: (d, { args: [g, l] }, [tg, tl]) => {
    d.guard();
    const t = total(d, [tg && d.chain(tg, l), tl && d.chain(tl, g)]);
    return t && d.e("mask", d.e("eq", g, d.c(0)), d.c(0), t);
  },
  // relu'' = 0: only the upstream's tangent passes, where the unit is active.
  reluGrad: (d, { args: [, x] }, [tg]) => tg && d.e("reluGrad", tg, x),
  lseFinish: (d, { args: [, s] }, [tm, ts]) => total(d, [tm, ts && d.e("div", ts, s)]),

  matmul: (d, { args: [a, b] }, [ta, tb]) => total(d, [ta && d.graph.matmul(ta, b), tb && d.graph.matmul(a, tb)]),
  sum: reduction,
  prod: reduction,
  rmax: reduction,
  rmin: reduction,
  logsumexp: reduction,
  prodexcept: prodExcept,
  gather: (d, n, [t]) => t && d.graph.gather(t, n.shape, n.map!),
  take: (d, n, [t]) => t && d.graph.take(t, n.args[1], n.axis!),
  put: (d, n, [t]) => t && d.graph.put(t, n.args[1], n.axis!, n.shape),
  checkindex: none,
  // d(A^-1 B) = A^-1 (dB - dA X), with the same factorization; transposed alike.
  solve: (d, n, [ta, tb]) => {
    const [a] = n.args;
    const change = ta && d.graph.matmul(n.transposed ? transposeMatrices(d.graph, ta) : ta, n);
    const rhs = tb && change ? d.e("sub", tb, change) : tb ?? (change && d.e("neg", change));
    return rhs && d.graph.solve(a, rhs, n.transposed);
  },
  // d det(A) = det(A) trace(A^-1 dA).
  det: (d, n, [t]) => {
    if (!t) return undefined;
    const [a] = n.args;
    const m = a.shape[a.shape.length - 1];
    const stack = a.shape.slice(0, -2);
    const s = d.graph.solve(a, t);
    const diagonal = d.graph.gather(s, [...stack, m], { offset: 0, strides: [...rowMajor(stack).map((x) => mulSize(x, mulSize(m, m))), addSize(m, 1)] });
    return d.e("mul", n, d.graph.reduce("sum", diagonal, stack.length));
  },
  scatter: (d, n, t) => {
    const parts = n.args.flatMap((_, k) => (t[k] ? [{ values: t[k]!, map: n.maps![k] }] : []));
    return parts.length ? d.graph.scatter(parts, n.shape) : undefined;
  },
  pack: (d, n, t) => d.graph.pack(n.args.map((a, k) => t[k] ?? d.graph.zeros(a.shape))),
  // args: [forward, ...arguments, ...local gradients]: the local gradients are the gate's
  // derivative; its forward body is not differentiated.
  gate: (d, n, t) => {
    const k = n.arity!;
    return total(
      d,
      n.args.slice(1, 1 + k).map((a, i) => {
        const ti = t[1 + i];
        if (!ti) return undefined;
        // A batched gate's per-row scalar argument meets its rows: repeat it along them.
        const spread = ti.shape.length > 0 && ti.shape.length < n.shape.length ? d.graph.expand(ti, n.shape) : ti;
        const term = d.chain(spread, n.args[1 + k + i]);
        // A reducing gate's value has fewer axes than its tensor argument: the tangent sums
        // the argument's own elements (those after the value's axes, the rows if batched).
        return term.shape.length > n.shape.length ? d.graph.reduce("sum", term, n.shape.length) : term;
      }),
    );
  },
};

export interface PushforwardOptions {
  /** The tangents may be exact zeros standing for "no direction here" (one-hot columns). */
  guarded?: boolean;
}

/**
 * The tangents of `roots` when the nodes of `tangents` move along the given directions
 * (each shaped like its node) and every other leaf is held fixed; a root that does not
 * depend on them gets zeros.
 */
export function pushforward(graph: Graph, roots: readonly Node[], tangents: ReadonlyMap<Node, Node>, options: PushforwardOptions = {}): Node[] {
  const top = graph.nodes.length;
  const tangent = new Map<number, Node>();
  const guarded = new Uint8Array(top);
  let first = top;
  for (const [x, t] of tangents) {
    if (!sameShape(x.shape, t.shape)) throw new Error(`internal: a tangent of another shape than its node`);
    tangent.set(x.id, t);
    if (options.guarded) guarded[x.id] = 1;
    first = Math.min(first, x.id);
  }
  // Only what the roots depend on; a gate's tangent reads its arguments' tangents, and its
  // forward operand and local gradients only as values.
  const needed = new Uint8Array(top);
  const stack = roots.filter((r) => r.id >= first);
  while (stack.length) {
    const n = stack.pop()!;
    if (needed[n.id]) continue;
    needed[n.id] = 1;
    const operands = n.op === "gate" ? n.args.slice(1, 1 + n.arity!) : n.args;
    for (const a of operands) if (a.id >= first && !needed[a.id]) stack.push(a);
  }

  let currentGuarded = false;
  const d: RuleContext = {
    graph,
    tiesFirst: false,
    e: (op: ElementwiseName, ...args: Node[]) => graph.elementwise(op, args),
    c: (value: number) => graph.constant(value),
    chain: (t, local) => graph.elementwise(currentGuarded ? "chainmul" : "mul", [t, local]),
    guard: () => {
      currentGuarded = true;
    },
  };
  const saved = graph.line;
  for (let id = first; id < top; id++) {
    if (!needed[id] || tangent.has(id)) continue;
    const n = graph.nodes[id];
    const t = n.args.map((a) => tangent.get(a.id));
    if (t.every((x) => x === undefined)) continue;
    currentGuarded = n.args.some((a) => guarded[a.id] === 1);
    graph.line = n.line;
    let r = TANGENTS[n.op](d, n, t);
    if (!r) continue;
    // A scalar operand's tangent beside tensor ones stands for every element.
    if (!sameShape(r.shape, n.shape)) r = graph.broadcast(r, n.shape);
    tangent.set(id, r);
    if (currentGuarded) guarded[id] = 1;
  }
  graph.line = saved;
  return roots.map((r) => tangent.get(r.id) ?? graph.zeros(r.shape));
}
