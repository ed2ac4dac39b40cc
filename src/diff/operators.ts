// The derivative operators of the language (gradient, vjp, jvp, jacobian, hessian) as
// functions that build IR: the checker calls them with the nodes of `y`, `x` (and `v`,
// `u`) and gets a node back, which is an ordinary value: it can be used, printed, and
// differentiated again, by these operators or by `backward`.
//
// `x` stands for an independent variable: a param, an input, or a placeholder for a `def`
// parameter (later replaced by the call's argument with `substitute`). The derivative
// moves only `x`; every other leaf is held fixed, whatever its role.
//
// Every result is passed through `differentiable` before it is returned, which makes the
// next order right: inside a gate's local gradients `out` reads the gate's forward body, so
// differentiating them again would go through the body; the rebuilt graph reads the gate
// itself there, whose derivative is its `grad` lines. Backward-only operations (reluGrad,
// prodexcept) are written with operations that have derivative rules, with the same
// values; chainmul has its own rules and stays, one operation instead of three.

import { knownSize, reachable, rowMajor, sameShape, type Graph, type Node, type Shape } from "../ir/graph.js";
import { addSize, estimateSize, formatSize, isKnown, mulSize, productOf, type Size } from "../ir/size.js";
import { compareIndices } from "./rules.js";
import { isElementwise } from "../ir/ops.js";
import { batchOver, INDEX_TABLE_LIMIT, Unbatchable } from "../ir/batch.js";
import { cone, remake, substitute } from "../ir/rebuild.js";
import { evaluateGraph } from "../ir/interpret.js";
import { differentiate } from "./reverse.js";
import { groupPairs, pushforward } from "./forward.js";
import { colorPattern, dependencePattern } from "./sparsity.js";
import { scalarize } from "../ir/scalarize.js";

export { substitute };

const ones = (graph: Graph, shape: Shape) => graph.broadcast(graph.constant(1), shape);

/**
 * `[0, 1, ..., size - 1]` shaped like `shape`: the flat position of each element. A table of
 * constants up to INDEX_TABLE_LIMIT of them; past that an iota, computed in the loop, so that
 * the module does not grow with the size.
 */
function positions(graph: Graph, shape: Shape): Node {
  const size = productOf(shape);
  if (!isKnown(size) || size > INDEX_TABLE_LIMIT) return graph.reshape(graph.iota(0, size), shape);
  return graph.tensor(Array.from({ length: size }, (_, k) => k), shape);
}

/**
 * A Jacobian over run-time sizes that cannot be built: its passes cannot be batched, and
 * their number is known only when the module runs. The checker reports it (E0299).
 */
export class NotAtRunTimeSizes extends Error {}

/** A fresh loop variable over `0..extent-1`; negative ids never meet the checker's. */
function freshLoop(graph: Graph, extent: Size): Node {
  return graph.loopVariable(-1 - graph.nodes.length, 0, extent);
}

/**
 * `u^T dy/dx` by reverse accumulation, before `differentiable`. The reverse pass moves
 * params only, so `x` is first replaced by a fresh param placeholder, and back afterwards.
 */
function pullback(graph: Graph, y: Node, x: Node, u: Node, guarded: boolean): Node {
  const own = x.op === "input" && x.role === "param";
  const p = own ? x : graph.input(`#d${graph.nodes.length}`, "param", x.shape);
  // y may itself hold backward-only operations (a derivative not yet made differentiable).
  const yp = differentiable(graph, own ? y : substitute(graph, y, x, p), { gates: false });
  const [g] = differentiate(graph, [{ output: yp, seed: u, guarded }], [p]);
  return own ? g : substitute(graph, g, p, x);
}

/**
 * What each derivative operator was asked and gave, per graph, so that `gradc check` can
 * compare every derivative in a program with finite differences of what it differentiates.
 */
export interface DerivativeRecord {
  kind: "gradient" | "vjp" | "jvp" | "jacobian" | "hessian";
  y: Node;
  x: Node;
  /** jvp: the direction v; vjp: the cotangent u. */
  direction?: Node;
  /** hessian: the gradient it is the Jacobian of. */
  of?: Node;
  result: Node;
  /** The source line being built when the operator was called. */
  line?: number;
  /** How it was computed, for `--stats`: `reverse, 2 passes (one per row of y), each built apart`. */
  method: string;
}

const records = new WeakMap<Graph, DerivativeRecord[]>();

/** The derivative operators called on `graph`, in call order. */
export function derivativesOf(graph: Graph): readonly DerivativeRecord[] {
  return records.get(graph) ?? [];
}

/**
 * The records of `from` on another graph whose node for each old one is `nodeOf[old id]`
 * (a program rebuilt at given sizes, ir/specialize.ts), so its derivatives can be checked.
 */
export function carryDerivatives(from: Graph, to: Graph, nodeOf: readonly Node[]): void {
  const at = (n: Node) => nodeOf[n.id];
  const list = derivativesOf(from).map((r) => ({
    ...r,
    y: at(r.y),
    x: at(r.x),
    result: at(r.result),
    ...(r.direction ? { direction: at(r.direction) } : {}),
    ...(r.of ? { of: at(r.of) } : {}),
  }));
  if (list.length) records.set(to, list);
}

/**
 * Runs one operator and records it. The passes set `graph.line` to credit derivative nodes
 * to the lines of the nodes they come from; the caller's line is restored afterwards.
 */
function record(graph: Graph, kind: DerivativeRecord["kind"], y: Node, x: Node, build: () => { result: Node; direction?: Node; of?: Node; method: string }): Node {
  const line = graph.line;
  try {
    const r = build();
    let list = records.get(graph);
    if (!list) records.set(graph, (list = []));
    list.push({ kind, y, x, ...r, line });
    return r.result;
  } finally {
    graph.line = line;
  }
}

const REVERSE_ONCE = "reverse, 1 pass";
const FORWARD_ONCE = "forward, 1 pass";

/** `gradient(y, x)`: dy/dx for a scalar `y`, shaped like `x`. */
export function gradient(graph: Graph, y: Node, x: Node): Node {
  return record(graph, "gradient", y, x, () => ({ result: gradientOf(graph, y, x), method: REVERSE_ONCE }));
}

/** `vjp(y, x, u)`: `u^T J`, shaped like `x`; `u` is shaped like `y`. */
export function vjp(graph: Graph, y: Node, x: Node, u: Node): Node {
  return record(graph, "vjp", y, x, () => ({ direction: u, result: vjpOf(graph, y, x, u), method: REVERSE_ONCE }));
}

/** `jvp(y, x, v)`: `J v`, shaped like `y`; `v` is shaped like `x` (forward accumulation). */
export function jvp(graph: Graph, y: Node, x: Node, v: Node): Node {
  return record(graph, "jvp", y, x, () => ({ direction: v, result: jvpOf(graph, y, x, v), method: FORWARD_ONCE }));
}

/** `jacobian(y, x)`: shape `y.shape ++ x.shape` (see jacobianOf). */
export function jacobian(graph: Graph, y: Node, x: Node): Node {
  return record(graph, "jacobian", y, x, () => {
    const { node, method } = jacobianOf(graph, y, x, true);
    return { result: node, method };
  });
}

/** `hessian(y, x)`: shape `x.shape ++ x.shape` (see hessianOf). */
export function hessian(graph: Graph, y: Node, x: Node): Node {
  return record(graph, "hessian", y, x, () => {
    const of = gradientOf(graph, y, x);
    const { node, method } = hessianOf(graph, of, x);
    return { of, result: node, method: `the Jacobian of the gradient (one reverse pass): ${method}` };
  });
}

function gradientOf(graph: Graph, y: Node, x: Node): Node {
  if (y.size !== 1) throw new Error(`internal: gradient of a non-scalar ${y.shape}`);
  return vjpOf(graph, y, x, y.shape.length ? ones(graph, y.shape) : graph.constant(1));
}

function vjpOf(graph: Graph, y: Node, x: Node, u: Node): Node {
  if (!sameShape(u.shape, y.shape)) throw new Error(`internal: vjp seed of another shape than y`);
  return differentiable(graph, pullback(graph, y, x, u, false));
}

function jvpOf(graph: Graph, y: Node, x: Node, v: Node): Node {
  if (!sameShape(v.shape, x.shape)) throw new Error(`internal: jvp direction of another shape than x`);
  const [t] = pushforward(graph, [y], new Map([[x, v]]));
  return differentiable(graph, t);
}

/**
 * Whether `y` is an elementwise map of `x` (same shape, every step from `x` to `y` an
 * elementwise operation or a gate on operands shaped like `x`): its Jacobian is diagonal.
 */
export function isElementwiseMap(graph: Graph, y: Node, x: Node): boolean {
  if (!sameShape(y.shape, x.shape)) return false;
  const depends = new Set<number>([x.id]);
  for (const n of cone(graph, [y])) {
    if (n.id <= x.id) continue;
    const operands = n.op === "gate" ? n.args.slice(1, 1 + n.arity!) : n.args;
    const moving = operands.filter((a) => depends.has(a.id));
    if (!moving.length) continue;
    if (!(isElementwise(n.op) || n.op === "gate") || !sameShape(n.shape, x.shape)) return false;
    if (moving.some((a) => !sameShape(a.shape, x.shape))) return false;
    depends.add(n.id);
  }
  return true;
}

/**
 * The Jacobian of `y` with respect to `x`. A diagonal Jacobian is its derivative vector
 * placed on the diagonal. Otherwise passes, forward (seeded in x) or reverse (seeded in y),
 * built once over a loop variable that picks the seed and batched into one tensor
 * computation: when the dependence pattern lets columns that share no row (or rows that
 * share no column) go together, one pass per color (diff/sparsity.ts), the entries picked
 * from the compressed passes and the structural zeros set; else min(m, n) one-hot passes.
 */
function jacobianOf(graph: Graph, y: Node, x: Node, cut = false, apart = false): { node: Node; diagonal: boolean; method: string } {
  const shape = [...y.shape, ...x.shape];
  // m or n may be run-time sizes (dims): then there is no dependence pattern to color, and
  // the passes are always batched over a loop of that size.
  const [m, n] = [y.size, x.size];
  if (n === 1) return { node: graph.reshape(jvpOf(graph, y, x, ones(graph, x.shape)), shape), diagonal: m === 1, method: `${FORWARD_ONCE} (x has one element)` };
  if (m === 1) return { node: graph.reshape(vjpOf(graph, y, x, ones(graph, y.shape)), shape), diagonal: false, method: `${REVERSE_ONCE} (y has one element)` };
  if (isElementwiseMap(graph, y, x)) {
    const d = jvpOf(graph, y, x, ones(graph, x.shape));
    return { node: graph.scatter([{ values: d, map: { offset: 0, strides: rowMajor(x.shape).map((s) => mulSize(s, addSize(n, 1))) } }], shape), diagonal: true, method: `diagonal (an elementwise map): ${FORWARD_ONCE}` };
  }
  // Columns (or rows) that share no row (column) go in one pass, when that saves passes.
  const pattern = isKnown(m) && isKnown(n) && Math.min(m, n) > 2 ? dependencePattern(graph, y, x) : undefined;
  if (pattern && isKnown(m) && isKnown(n)) {
    const byColumns = colorPattern(pattern, m, n, false);
    const byRows = colorPattern(pattern, m, n, true);
    const forward = byColumns.colors <= byRows.colors;
    const { color, colors } = forward ? byColumns : byRows;
    if (colors < Math.min(m, n)) {
      const { node: stacked, batched } = stackedPasses(graph, y, x, forward, colors, graph.tensor(Array.from(color), forward ? x.shape : y.shape), apart);
      const flat = graph.reshape(stacked, [colors * (forward ? m : n)]);
      const J = pickColored(graph, flat, pattern, color, colors, m, n, forward, shape);
      const what = forward ? `columns of J that share no row, for ${n} columns` : `rows of J that share no column, for ${m} rows`;
      return { node: differentiable(graph, J), diagonal: false, method: `${forward ? "forward" : "reverse"}, ${colors} passes (${what}), ${built(batched)}` };
    }
  }
  const forward = isKnown(n) && isKnown(m) ? n <= m : estimateSize(n) <= estimateSize(m);
  const { node: stacked, batched } = stackedPasses(graph, y, x, forward, forward ? n : m, positions(graph, forward ? x.shape : y.shape), apart);
  // Forward passes give columns, stacked as [n, ...y.shape]; reverse ones give rows.
  const J = forward
    ? graph.gather(stacked, shape, { offset: 0, strides: [...rowMajor(y.shape), ...rowMajor(x.shape).map((s) => mulSize(s, m))] })
    : graph.reshape(stacked, shape);
  const passes = forward ? `forward, ${formatSize(n)} passes (one per element of x)` : `reverse, ${formatSize(m)} passes (one per element of y)`;
  const plain = { node: differentiable(graph, J), diagonal: false, method: `${passes}, ${built(batched)}` };
  return (cut && !forward && throughCut(graph, y, x, plain)) || plain;
}

/**
 * J[i, j] from the compressed passes `flat` (colors x m forward, colors x n reverse): it is in
 * the pass of j's color at row i (forward), or of i's color at column j, where the pattern has
 * an entry, else 0. While J has at most COLORED_TABLE_LIMIT elements its index and mask are
 * tables of m x n constants. Past that (a Rosenbrock Hessian's tables were 95K characters of
 * module at n = 100, 8.6M at 1000) each column (row) takes its color's pass whole, by a table
 * of n (m) colors, and an entry is kept where a table of colors x m (x n) entries, which
 * column (row) of that color has an entry in that row (column), names it: at most one does,
 * by the coloring. Taking by a constant table rather than by a computed index keeps the
 * index out of a stored n x m buffer (44K operations at n = 100, not 64K).
 */
/**
 * Elements of a colored Jacobian up to which its index and mask stay m x n tables: reading
 * them is faster than the color-indexed pick (the Rosenbrock Hessian at n = 100 took 1.46-1.52x
 * the tables' time picked by color), and at this bound their text is about 150 KB at most.
 */
export const COLORED_TABLE_LIMIT = 16_384;

function pickColored(graph: Graph, flat: Node, pattern: Uint32Array, color: ArrayLike<number>, colors: number, m: number, n: number, forward: boolean, shape: Shape): Node {
  const words = Math.ceil(n / 32);
  const has = (i: number, j: number) => ((pattern[i * words + (j >> 5)] >>> (j & 31)) & 1) === 1;
  if (m * n <= COLORED_TABLE_LIMIT) {
    const index: number[] = [];
    const mask: number[] = [];
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        index.push(forward ? color[j] * m + i : color[i] * n + j);
        mask.push(has(i, j) ? 1 : 0);
      }
    const picked = graph.take(flat, graph.tensor(index, shape), 0);
    return graph.elementwise("where", [graph.tensor(mask, shape), picked, graph.constant(0)]);
  }
  const size = forward ? m : n;
  const owner = new Array<number>(colors * size).fill(-1);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) if (has(i, j)) owner[forward ? color[j] * m + i : color[i] * n + j] = forward ? j : i;
  // Each column's (row's) pass and owners, taken by its color: [n, m] forward, [m, n] reverse.
  const colorTable = graph.tensor(Array.from(color), [forward ? n : m]);
  const pass = graph.take(graph.reshape(flat, [colors, size]), colorTable, 0);
  const owners = graph.take(graph.tensor(owner, [colors, size]), colorTable, 0);
  const [outer, inner] = forward ? [n, m] : [m, n];
  const mine = graph.elementwise("eq", [owners, graph.gather(graph.iota(0, outer), [outer, inner], { offset: 0, strides: [1, 0] })]);
  const picked = graph.elementwise("where", [mine, pass, graph.constant(0)]);
  return graph.reshape(forward ? graph.gather(picked, [m, n], { offset: 0, strides: [1, m] }) : picked, shape);
}

/** A Jacobian of at most this many elements tries cuts (each candidate is built and counted). */
const CUT_MAX_ELEMENTS = 256;
/** ... and a y of at most this many tensor nodes. */
const CUT_MAX_NODES = 1000;
/** Candidate cuts tried, those with the most work upstream of them first. */
const CUT_CANDIDATES = 8;

/**
 * A small reverse-mode Jacobian (m passes from y) through a cut: an intermediate tensor c
 * that y depends on, J = dy/dx (c held) + dy/dc dc/dx. The Jacobian of c (the rotated
 * point of a bundle adjustment's residual, 3 values of 15 params) is built apart, its passes
 * seeded by constants that fold, and does not wait for the passes from y: in straight-line
 * code it is computed beside the rest of the forward pass, where each reverse pass went
 * back through the rotation after the projection's divisions. Kept only when its
 * straight-line form has no more operations than the plain passes' and a shorter chain of
 * operations waiting on each other (latency, which the passes from y add to the forward's).
 */
function throughCut(graph: Graph, y: Node, x: Node, plain: { node: Node; method: string }): { node: Node; diagonal: boolean; method: string } | undefined {
  const [m, n] = [y.size, x.size];
  // A Jacobian by a def's parameter may be batched over a comprehension's rows, where loop
  // code, not the chain one waits on, decides what it costs: only the program's own params.
  if (!isKnown(m) || !isKnown(n) || m < 2 || m * n > CUT_MAX_ELEMENTS || (x.name ?? "#").startsWith("#")) return undefined;
  const nodes = cone(graph, [y]);
  if (nodes.length > CUT_MAX_NODES || nodes.some((c) => c.op === "loopvar" || !isKnown(c.size))) return undefined;
  // Nodes that move with x, and how many of those each one's value needs (a walk of its
  // cone, at most CUT_MAX_NODES, per candidate).
  const moving = new Set<number>([x.id]);
  for (const c of nodes) if (c.args.some((a) => moving.has(a.id))) moving.add(c.id);
  const workOf = (c: Node) => {
    const seen = new Set<number>();
    const stack = [c];
    while (stack.length) {
      const d = stack.pop()!;
      if (seen.has(d.id) || !moving.has(d.id)) continue;
      seen.add(d.id);
      stack.push(...d.args);
    }
    return seen.size;
  };
  const candidates = nodes
    .filter((c) => moving.has(c.id) && c !== x && c !== y && c.shape.length > 0 && (c.size as number) < n && c.op !== "gather")
    .map((c) => ({ c, work: workOf(c) }))
    .sort((a, b) => b.work - a.work || a.c.id - b.c.id)
    .slice(0, CUT_CANDIDATES);
  let best: { node: Node; operations: number; depth: number; c: Node } | undefined;
  const bar = scalarCost(graph, [y, plain.node]);
  for (const { c } of candidates) {
    const s = c.size as number;
    const p = graph.input(`#c${graph.nodes.length}`, "param", c.shape);
    const yp = substitute(graph, y, c, p);
    const held = jacobianOf(graph, yp, x, false, true).node;
    const outer = graph.reshape(jacobianOf(graph, yp, p, false, true).node, [m, s]);
    const inner = graph.reshape(jacobianOf(graph, c, x, false, true).node, [s, n]);
    // Entry by entry, as scalars: the product's terms where a column of dc/dx is zero fold,
    // and no tensor operation is added that would make the program look like loop work.
    const at = (t: Node, k: number) => graph.gather(t, [], { offset: k, strides: [] });
    const flatHeld = graph.reshape(held, [m * n]);
    const [flatOuter, flatInner] = [graph.reshape(outer, [m * s]), graph.reshape(inner, [s * n])];
    const entries: Node[] = [];
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let sum = at(flatHeld, i * n + j);
        for (let k = 0; k < s; k++) sum = graph.elementwise("add", [sum, graph.elementwise("mul", [at(flatOuter, i * s + k), at(flatInner, k * n + j)])]);
        entries.push(sum);
      }
    const J = substitute(graph, graph.reshape(graph.pack(entries), held.shape), p, c);
    const cost = scalarCost(graph, [y, J]);
    // No more work than the plain passes, and less to wait for: the shortest chain wins.
    const better = best ? cost.depth < best.depth || (cost.depth === best.depth && cost.operations < best.operations) : cost.depth < bar.depth;
    if (cost.operations <= bar.operations && better) best = { node: J, ...cost, c };
  }
  if (!best) return undefined;
  return { node: best.node, diagonal: false, method: `${plain.method.replace(/, each built apart|, built once and batched/, "")} to a cut of ${best.c.size} values, whose own Jacobian is built apart (unrolled: ${best.operations} operations and a chain of ${best.depth}, against ${bar.operations} and ${bar.depth})` };
}

/** Latency of an operation in the straight-line form, in additions: a division or a root takes several. */
const LATENCY: Partial<Record<string, number>> = { div: 4, sqrt: 6, exp: 8, log: 8, sin: 8, cos: 8, tan: 8, pow: 10, atan2: 10 };

/**
 * The straight-line form of `roots` (their scalar elements and what those need): how many
 * operations, and the longest chain of them that one waits on, weighed by latency.
 */
function scalarCost(graph: Graph, roots: readonly Node[]): { operations: number; depth: number } {
  const scalar = scalarize(graph, roots);
  const seen = reachable(graph, roots.flatMap((r) => scalar.elements(r)));
  const depth = new Float64Array(seen.length);
  let operations = 0;
  let longest = 0;
  for (let id = 0; id < seen.length; id++) {
    const n = graph.nodes[id];
    if (!seen[id] || n.op === "input" || n.op === "const" || n.op === "tensor" || n.op === "iota") continue;
    operations++;
    let start = 0;
    for (const a of n.args) start = Math.max(start, depth[a.id]);
    depth[id] = start + (LATENCY[n.op] ?? 1);
    longest = Math.max(longest, depth[id]);
  }
  return { operations, depth: longest };
}

const built = (batched: boolean) => (batched ? "built once and batched" : "each built apart");

/** Up to this many passes, each is built with its constant seed rather than batched. */
const FEW_PASSES = 2;

/**
 * `steps` passes, forward (tangent shaped like x) or reverse (seed shaped like y), pass k
 * seeded with ones where `group` equals k: built once over a loop variable and batched,
 * stacked as [steps, ...result shape].
 */
function stackedPasses(graph: Graph, y: Node, x: Node, forward: boolean, steps: Size, group: Node, apart = false): { node: Node; batched: boolean } {
  const pass = (seed: Node) => (forward ? pushforward(graph, [y], new Map([[x, seed]]), { guarded: true })[0] : pullback(graph, y, x, seed, true));
  const unrolled = () => {
    if (!isKnown(steps)) throw new NotAtRunTimeSizes(`its ${formatSize(steps)} passes could not be batched into one`);
    // A group computed in the loop (positions past the table's size) is evaluated here.
    const groups = group.values ?? (group.op === "const" ? [group.value!] : Array.from(evaluateGraph(graph, new Map(), [group])[0]));
    return { node: graph.pack(Array.from({ length: steps }, (_, k) => pass(graph.tensor(groups.map((c) => (c === k ? 1 : 0)), group.shape)))), batched: false };
  };
  // A few passes are cheaper apart: each seed is a constant, whose zeros fold away.
  if (isKnown(steps) && (steps <= FEW_PASSES || apart)) return unrolled();
  try {
    const loop = freshLoop(graph, steps);
    return { node: batchOver(graph, loop, pass(graph.elementwise("eq", [group, loop]))), batched: true };
  } catch (e) {
    if (!(e instanceof Unbatchable)) throw e;
    // No batching rule for something in the pass: one pass per step.
    return unrolled();
  }
}

/**
 * The Hessian as the Jacobian of the gradient `grad` (forward over reverse). The passes give
 * `H[i, j]` and `H[j, i]` by different roundings, so the result takes the upper triangle
 * (i <= j) and mirrors it: exactly symmetric. A diagonal Hessian is symmetric already.
 */
function hessianOf(graph: Graph, grad: Node, x: Node): { node: Node; method: string } {
  const { node: H, diagonal, method } = jacobianOf(graph, grad, x);
  const n = x.size;
  if (diagonal) return { node: H, method };
  const flat = graph.reshape(H, [n, n]);
  const mirrored = graph.gather(flat, [n, n], { offset: 0, strides: [1, n] });
  const upper = upperTriangle(graph, n);
  return { node: graph.reshape(graph.elementwise("where", [upper, flat, mirrored]), H.shape), method: `${method}; the upper triangle mirrored` };
}

/**
 * 1 where row <= column in an n x n matrix, else 0. A table of constants while it has at
 * most INDEX_TABLE_LIMIT entries; past that (and when n is a dim) the indices are compared
 * in the loop, or the module would hold n^2 constants (3 MB at n = 1000).
 */
function upperTriangle(graph: Graph, n: Size): Node {
  if (isKnown(n) && n * n <= INDEX_TABLE_LIMIT) return graph.tensor(Array.from({ length: n * n }, (_, k) => (Math.floor(k / n) <= k % n ? 1 : 0)), [n, n]);
  return compareIndices(graph, "le", n);
}

/**
 * `root` rebuilt so that differentiating it again follows the language's conventions: a
 * gate's local gradients read the gate where they read its forward value (`out`), and the
 * backward-only operations become differentiable ones with the same values:
 * reluGrad(g, x) is mask(x > 0, g, 0), and prodexcept multiplies each group with the
 * element itself replaced by 1. chainmul (g === 0 ? 0 : g l) stays: rules.ts and
 * forward.ts differentiate it as where(g == 0, 0, g l) would be.
 */
export function differentiable(graph: Graph, root: Node, options: { gates: boolean } = { gates: true }): Node {
  const nodes = cone(graph, [root]);
  const gateOf = options.gates ? gatesByForward(graph) : new Map<number, Node>();
  const done = new Map<number, Node>();
  const get = (a: Node) => done.get(a.id) ?? a;
  const saved = graph.line;
  for (const n of nodes) {
    if (done.has(n.id)) continue;
    graph.line = n.line;
    const gate = gateOf.get(n.id);
    if (gate) {
      // Readers of the forward value read the gate; the gate keeps its forward operand and
      // local gradients, and takes its (rebuilt) arguments, all of which come before.
      const k = gate.arity!;
      const args = gate.args.slice(1, 1 + k).map(get);
      const made = graph.gate(gate.name!, gate.args[0], args, gate.args.slice(1 + k));
      done.set(n.id, made);
      done.set(gate.id, made);
      continue;
    }
    // A gate keeps its forward operand (only a value); its arguments and local gradients follow.
    const args = n.args.map((a, k) => (n.op === "gate" && k === 0 ? a : get(a)));
    let made: Node;
    if (n.op === "reluGrad") {
      const [g, x] = args;
      made = graph.elementwise("mask", [graph.elementwise("gt", [x, graph.constant(0)]), g, graph.constant(0)]);
    } else if (n.op === "prodexcept") made = lowerProdExcept(graph, args[0], n.keep ?? 0);
    else made = remake(graph, n, args);
    if (made !== n) done.set(n.id, made);
  }
  graph.line = saved;
  return get(root);
}

const gateIndex = new WeakMap<Graph, { scanned: number; gates: Map<number, Node> }>();

/**
 * The gate whose forward operand each node is (the first such gate), unless the forward
 * operand is one of the gate's arguments (def f(z) = z). A derivative may read a gate's
 * local gradients without reading the gate, so the whole graph is indexed, once.
 */
function gatesByForward(graph: Graph): Map<number, Node> {
  let index = gateIndex.get(graph);
  if (!index) gateIndex.set(graph, (index = { scanned: 0, gates: new Map() }));
  for (; index.scanned < graph.nodes.length; index.scanned++) {
    const n = graph.nodes[index.scanned];
    if (n.op === "gate" && !index.gates.has(n.args[0].id) && !n.args.slice(1, 1 + n.arity!).includes(n.args[0])) index.gates.set(n.args[0].id, n);
  }
  return index.gates;
}

/** prodexcept(x) as prod over each group with the element itself replaced by 1 (no division). */
function lowerProdExcept(graph: Graph, x: Node, keep: number): Node {
  const { eye, rows } = groupPairs(graph, x, keep);
  const product = graph.reduce("prod", graph.elementwise("where", [eye, graph.constant(1), rows(x)]), keep + 1);
  return graph.reshape(product, x.shape);
}
