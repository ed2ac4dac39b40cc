// Batching: a comprehension's body is built once, over a symbolic loop variable, and then
// turned into tensor operations over every step at once, as JAX's `vmap` does. Each node
// that depends on the loop variable gets a new leading axis (one entry per step) by its
// op's batching rule; nodes that do not depend on it stay as they are and are broadcast
// where a batched operand meets them. So `[W @ x[n] + b for n in 0..N]` becomes one matrix
// product over the rows of `x`, never N copies of the body.
//
// The walk visits the body's nodes that are newer than the loop variable (older ones cannot
// depend on it), in id order (a topological order), with no recursion: linear in the body.

import { findUpstream, rowMajor, type Graph, type Node, type Shape } from "./graph.js";
import { addSize, isKnown, mulSize, subSize, type Size } from "./size.js";
import { isElementwise } from "./ops.js";
import { evaluateGraph } from "./interpret.js";

/**
 * The most indices a gather stores as a table of constants. A table is one load per step
 * where the index arithmetic (`(i + 1) % n`) is a few operations, but it is printed into the
 * module: past a few hundred entries the module would grow with the loop's length (701K of
 * code at n = 100,000), so longer index lists are computed in the loop, as over a dim.
 */
export const INDEX_TABLE_LIMIT = 256;

/** A body that no rule can batch; the checker then unrolls the loop instead. */
export class Unbatchable extends Error {
  constructor(reason: string) {
    super(reason);
  }
}

/** The values of `body` at every step of `loop` (a `loopvar` node): shape `[n, ...body.shape]`. */
export function batchOver(graph: Graph, loop: Node, body: Node): Node {
  const n = loop.loop!.extent;
  const nodes = subgraphAfter(loop, body);
  const batched = new Map<number, Node>();
  batched.set(loop.id, graph.iota(loop.loop!.from, n));
  for (const node of nodes) {
    if (node === loop || !(node.op === "gate" ? node.args : node.args).some((a) => batched.has(a.id))) continue;
    graph.line = node.line;
    batched.set(node.id, batchNode(graph, node, n, batched, loop));
  }
  const result = batched.get(body.id);
  return result ?? spread(graph, body, n);
}

/** The nodes `body` depends on with ids from `loop.id` on, in id order. */
function subgraphAfter(loop: Node, body: Node): Node[] {
  const seen = new Set<number>();
  const found: Node[] = [];
  const stack = [body];
  while (stack.length) {
    const x = stack.pop()!;
    if (x.id < loop.id || seen.has(x.id)) continue;
    seen.add(x.id);
    found.push(x);
    for (const a of x.args) stack.push(a);
  }
  return found.sort((a, b) => a.id - b.id);
}

/** An operand that does not depend on the loop, repeated for every step. */
function spread(graph: Graph, x: Node, n: Size): Node {
  return graph.gather(x, [n, ...x.shape], { offset: 0, strides: [0, ...rowMajor(x.shape)] });
}

function batchNode(graph: Graph, node: Node, n: Size, batched: Map<number, Node>, loop: Node): Node {
  const has = (x: Node) => batched.has(x.id);
  /** The operand with its batch axis, repeated when it does not depend on the loop. */
  const full = (x: Node) => batched.get(x.id) ?? spread(graph, x, n);
  /** The operand batched to `[n, ...shape]`: a per-step scalar is repeated along `shape`. */
  const fit = (x: Node, shape: Shape) => {
    const b = full(x);
    if (x.shape.length === shape.length) return b;
    return graph.gather(b, [n, ...shape], { offset: 0, strides: [1, ...shape.map(() => 0)] });
  };
  const shape = node.shape;
  const out = [n, ...shape];

  if (isElementwise(node.op)) {
    // Equal shapes or scalars: a scalar that does not depend on the loop still broadcasts itself.
    const operands = node.args.map((a) => (!has(a) && a.shape.length === 0 ? a : fit(a, shape)));
    return graph.elementwise(node.op, operands);
  }
  switch (node.op) {
    case "gather": {
      const [x] = node.args;
      const map = node.map!;
      return graph.gather(full(x), out, { offset: map.offset, strides: [x.size, ...map.strides] });
    }
    case "sum":
    case "prod":
    case "rmax":
    case "rmin":
    case "logsumexp":
      return graph.reduce(node.op, full(node.args[0]), (node.keep ?? 0) + 1);
    case "prodexcept":
      return graph.prodExcept(full(node.args[0]), (node.keep ?? 0) + 1);
    case "matmul":
      return batchMatmul(graph, node, n, has, full);
    case "pack": {
      // Parts stacked on axis 0 with the steps on axis 1, then the two axes swapped.
      const part = node.args[0].shape;
      const size = node.args[0].size;
      const stacked = graph.pack(node.args.map(full));
      return graph.gather(stacked, out, { offset: 0, strides: [size, mulSize(n, size), ...rowMajor(part)] });
    }
    case "take":
      return batchTake(graph, node, n, has, full, loop);
    case "solve":
      return graph.solve(full(node.args[0]), full(node.args[1]), node.transposed === true);
    case "det":
      return graph.det(full(node.args[0]));
    case "checkindex":
      return graph.checkIndex(full(node.args[0]), node.bound!, node.name!);
    case "scatter":
      // Step k's parts land in step k's slot of the result; a part that does not depend on
      // the loop lands in every slot.
      return graph.scatter(
        node.args.map((part, k) => ({ values: full(part), map: { offset: node.maps![k].offset, strides: [node.size, ...node.maps![k].strides] } })),
        out,
      );
    case "put": {
      const [values, index] = node.args;
      if (has(index)) return batchPut(graph, node, n, full);
      return graph.put(full(values), index, node.axis! + 1, out);
    }
    case "gate": {
      const k = node.arity!;
      const forward = full(node.args[0]);
      // A scalar argument that does not depend on the loop stays scalar: its gradient is
      // summed over every step's elements, as a scalar beside tensors is in a gate.
      const args = node.args.slice(1, 1 + k).map((a) => (!has(a) && a.shape.length === 0 ? a : full(a)));
      // A local shaped like the gate's value is fit to it (a per-step scalar repeated along
      // it); a reducing gate's (a scalar value, a tensor argument) keeps its own shape.
      const locals = node.args.slice(1 + k).map((l) => (l.shape.length > shape.length ? full(l) : fit(l, shape)));
      return graph.gate(node.name!, forward, args, locals);
    }
  }
  throw new Unbatchable(`'${node.op}' in a comprehension body`);
}

function batchMatmul(graph: Graph, node: Node, n: Size, has: (x: Node) => boolean, full: (x: Node) => Node): Node {
  const [a, b] = node.args;
  const [ra, rb] = [a.shape.length, b.shape.length];
  if (ra === 1 && rb === 1) {
    // One dot product per step.
    if (has(a) && has(b)) return graph.reduce("sum", graph.elementwise("mul", [full(a), full(b)]), 1);
    return has(a) ? graph.matmul(full(a), b) : graph.matmul(full(b), a);
  }
  // W @ x[n] for every n: the rows x[n] as one matrix, times W transposed.
  if (ra === 2 && rb === 1 && !has(a)) return graph.matmul(full(b), graph.gather(a, [a.shape[1], a.shape[0]], { offset: 0, strides: [1, a.shape[1]] }));
  if (ra === 1 && rb === 2 && !has(b)) return graph.matmul(full(a), b);
  // Otherwise a stack of products; a batched vector is a stack of one-row (or one-column) matrices.
  const A = has(a) ? (ra === 1 ? graph.gather(full(a), [n, 1, a.shape[0]], { offset: 0, strides: [a.shape[0], 0, 1] }) : full(a)) : a;
  const B = has(b) ? (rb === 1 ? graph.gather(full(b), [n, b.shape[0], 1], { offset: 0, strides: [b.shape[0], 1, 0] }) : full(b)) : b;
  const product = graph.matmul(A, B);
  const out = [n, ...node.shape];
  return graph.gather(product, out, { offset: 0, strides: rowMajor(out) });
}

/**
 * `x[e]` along one axis. An index affine in the loop variable is a strided view of `x` (no
 * copy); any other compile-time index is a gather through a table of the indices of every step.
 */
function batchTake(graph: Graph, node: Node, n: Size, has: (x: Node) => boolean, full: (x: Node) => Node, loop: Node): Node {
  const [x, index] = node.args;
  const axis = node.axis!;
  const out = [n, ...node.shape];
  if (!has(index)) return graph.take(full(x), index, axis + 1);
  const strides = rowMajor(x.shape);
  const rest = [...strides.slice(0, axis), ...strides.slice(axis + 1)];
  const affine = index.shape.length === 0 ? affineIn(graph, index, loop) : undefined;
  if (affine && affine.rest === undefined) {
    const first = affine.coef * loop.loop!.from + affine.offset;
    const step = mulSize(affine.coef, strides[axis]);
    if (!has(x)) return graph.gather(x, out, { offset: mulSize(first, strides[axis]), strides: [step, ...rest] });
    // x batched too: step k reads its own slice of x at its own index.
    return graph.gather(full(x), out, { offset: mulSize(first, strides[axis]), strides: [addSize(x.size, step), ...rest] });
  }
  if (affine && !has(x)) {
    // `x[r + c*j]`, r fixed while j runs (an outer loop's variable): a view whose step k
    // starts c*k further along the axis, indexed at r. Every read stays in range, since
    // r + c*j was checked to be in range for every step.
    const { coef, offset, rest: r } = affine;
    const length = x.shape[axis];
    const span = mulSize(Math.abs(coef), subSize(n, 1));
    const viewShape = [n, ...x.shape.slice(0, axis), subSize(length, span), ...x.shape.slice(axis + 1)];
    const base = coef < 0 ? span : 0;
    const view = graph.gather(x, viewShape, { offset: mulSize(base, strides[axis]), strides: [mulSize(coef, strides[axis]), ...strides] });
    const shift = subSize(coef * loop.loop!.from + offset, base);
    const at = shift === 0 ? r! : graph.elementwise("add", [r!, graph.sizeValue(shift)]);
    return graph.take(view, at, axis + 1);
  }
  if (has(x)) {
    // Step k reads its own x at its own index: the indexed axis moved next to the steps, the
    // steps' axes laid end to end as one, and the result's axes put back in order.
    const xs = full(x);
    const length = x.shape[axis];
    const [outer, inner] = [x.shape.slice(0, axis), x.shape.slice(axis + 1)];
    const xsStrides = rowMajor(xs.shape);
    const front =
      axis === 0 ? xs : graph.gather(xs, [n, length, ...outer, ...inner], { offset: 0, strides: [xsStrides[0], xsStrides[axis + 1], ...xsStrides.slice(1, axis + 1), ...xsStrides.slice(axis + 2)] });
    const joinedShape = [mulSize(n, length), ...outer, ...inner];
    const joined = graph.gather(front, joinedShape, { offset: 0, strides: rowMajor(joinedShape) });
    const taken = graph.take(joined, indicesEndToEnd(graph, index, full(index), n, length), 0);
    if (axis === 0) return taken;
    // taken is [n, ...index, ...outer, ...inner].
    const m = index.shape.length;
    const ts = rowMajor(taken.shape);
    return graph.gather(taken, out, { offset: 0, strides: [ts[0], ...ts.slice(1 + m, 1 + m + axis), ...ts.slice(1, 1 + m), ...ts.slice(1 + m + axis)] });
  }
  const steps = full(index);
  const runtime = graph.runtimeIndices.has(index.id);
  if (runtime) graph.runtimeIndices.add(steps.id);
  // Indices known now become a table, up to INDEX_TABLE_LIMIT of them; indices read from data,
  // clamped, too many to store, or reading an outer loop's variable (`(i + j) % N` batched over
  // j: the outer loop batches them in turn) are taken as they are, computed in the loop.
  const stored = !readsData(steps) && !runtime && !readsLoopVariable(steps) && isKnown(steps.size) && steps.size <= INDEX_TABLE_LIMIT;
  const table = stored ? graph.tensor(Array.from(evaluateGraph(graph, new Map(), [steps])[0]), steps.shape) : steps;
  const taken = graph.take(x, table, axis);
  if (axis === 0) return taken;
  // take put the steps at `axis`: move them to the front.
  const shape = taken.shape;
  const own = rowMajor(shape);
  const order = [axis, ...shape.map((_, d) => d).filter((d) => d !== axis)];
  return graph.gather(taken, order.map((d) => shape[d]), { offset: 0, strides: order.map((d) => own[d]) });
}

/**
 * The adjoint of a gather whose indices change with the step (`gradient(f(x[y[i]]), x)` in a
 * comprehension): step k adds its values into its own slot of the result. The steps' slots
 * of the indexed axis are laid end to end, as one axis of n * L, so that one put with the
 * index k * L + index[k] does every step at once; the result is then read back as
 * `[n, ...shape]`. The indexed axis is moved next to the step axis for this and back after,
 * both as views.
 */
function batchPut(graph: Graph, node: Node, n: Size, full: (x: Node) => Node): Node {
  const [values, index] = node.args;
  const axis = node.axis!;
  const shape = node.shape;
  const length = shape[axis];
  const joined = indicesEndToEnd(graph, index, full(index), n, length);
  // Values [n, ...outer, ...index, ...inner] seen as [...outer, n, ...index, ...inner].
  const batchedValues = full(values);
  const vs = rowMajor(batchedValues.shape);
  const moved = axis === 0 ? batchedValues : graph.gather(batchedValues, [...values.shape.slice(0, axis), n, ...values.shape.slice(axis)], {
    offset: 0,
    strides: [...vs.slice(1, axis + 1), vs[0], ...vs.slice(axis + 1)],
  });
  const wide = [...shape.slice(0, axis), mulSize(n, length), ...shape.slice(axis + 1)];
  const put = graph.put(moved, joined, axis, wide);
  // [...outer, n * L, ...inner] read as [n, ...outer, L, ...inner].
  const ws = rowMajor(wide);
  return graph.gather(put, [n, ...shape], { offset: 0, strides: [mulSize(length, ws[axis]), ...ws.slice(0, axis), ws[axis], ...ws.slice(axis + 1)] });
}

/**
 * Each step's indices (`steps`, `[n, ...index.shape]`) into an axis of `length`, shifted by
 * k * length for step k: indices into the steps' axes laid end to end. Known now, and few,
 * they are a table, as batchTake's are; otherwise computed in the loop.
 */
function indicesEndToEnd(graph: Graph, index: Node, steps: Node, n: Size, length: Size): Node {
  const starts = graph.elementwise("mul", [graph.iota(0, n), graph.sizeValue(length)]);
  const shift = graph.gather(starts, steps.shape, { offset: 0, strides: [1, ...index.shape.map(() => 0)] });
  const joined = graph.elementwise("add", [steps, shift]);
  if (graph.runtimeIndices.has(index.id) || graph.runtimeIndices.has(steps.id)) graph.runtimeIndices.add(joined.id);
  else if (!readsData(joined) && !readsLoopVariable(joined) && isKnown(joined.size) && joined.size <= INDEX_TABLE_LIMIT)
    return graph.tensor(Array.from(evaluateGraph(graph, new Map(), [joined])[0]), joined.shape);
  return joined;
}

/** Whether `x` reads an argument (an index read from an integer input). */
const readsData = (x: Node): boolean => findUpstream(x, (n) => n.op === "input") !== undefined;

/** Whether `x` depends on any loop variable (an index expression: a few nodes). */
const readsLoopVariable = (x: Node): boolean => findUpstream(x, (n) => n.op === "loopvar") !== undefined;

interface Affine {
  coef: number;
  offset: number;
  /** The part that does not depend on the loop (outer loop variables), if any. */
  rest?: Node;
}

/** `index` as `coef * loop + offset + rest` when built from the loop variable by + - * and constants. */
export function affineIn(graph: Graph, index: Node, loop: Node): Affine | undefined {
  const forms = new Map<number, Affine>();
  const order = subgraphAfter(loop, index);
  const inLoop = new Set(order.map((x) => x.id));
  const formOf = (x: Node): Affine | undefined =>
    x.op === "const" ? { coef: 0, offset: x.value! } : x === loop ? { coef: 1, offset: 0 } : forms.get(x.id) ?? (inLoop.has(x.id) ? undefined : { coef: 0, offset: 0, rest: x });
  const plus = (a?: Node, b?: Node, sign = 1) =>
    !b ? a : !a ? (sign > 0 ? b : graph.elementwise("neg", [b])) : graph.elementwise(sign > 0 ? "add" : "sub", [a, b]);
  // Nodes that do not read the loop variable are kept whole, as `rest`.
  const reads = new Set<number>([loop.id]);
  for (const x of order) if (x.args.some((a) => reads.has(a.id))) reads.add(x.id);
  for (const x of order) {
    if (x === loop || x.op === "const") continue;
    if (!reads.has(x.id)) {
      forms.set(x.id, { coef: 0, offset: 0, rest: x });
      continue;
    }
    const [a, b] = x.args.map(formOf);
    if (!a || (x.args.length > 1 && !b)) return undefined;
    let f: Affine | undefined;
    if (x.op === "neg") f = { coef: -a.coef, offset: -a.offset, rest: plus(undefined, a.rest, -1) };
    else if (x.op === "add") f = { coef: a.coef + b!.coef, offset: a.offset + b!.offset, rest: plus(a.rest, b!.rest) };
    else if (x.op === "sub") f = { coef: a.coef - b!.coef, offset: a.offset - b!.offset, rest: plus(a.rest, b!.rest, -1) };
    else if (x.op === "mul") {
      // Only a constant factor keeps it affine.
      const [c, v] = x.args[0].op === "const" ? [x.args[0].value!, b!] : x.args[1].op === "const" ? [x.args[1].value!, a] : [undefined, undefined];
      if (c !== undefined && v) f = { coef: c * v.coef, offset: c * v.offset, rest: v.rest && graph.elementwise("mul", [graph.constant(c), v.rest]) };
    }
    if (!f) return undefined;
    forms.set(x.id, f);
  }
  return formOf(index);
}
