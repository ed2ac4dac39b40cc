// Shape-level building blocks the checker and the built-ins share: permuting, reshaping and
// broadcasting tensors, and reductions along chosen axes. Every one is a view (a gather,
// which costs nothing until something reads it) or a reduction of trailing axes after a
// view that moves the reduced axes last: the IR keeps one reduction op for every `axis=`.

import { broadcastShapes, rowMajor, sizeOf, type Graph, type Node, type Shape } from "../ir/graph.js";
import { productOf, type Size } from "../ir/size.js";
import type { ReductionName } from "../ir/ops.js";

/** A mistake in the user's terms; `at` says which argument it is about (index, or a named argument's name). */
export class ShapeError {
  constructor(
    readonly message: string,
    readonly at?: number | string,
    readonly code = "E0223",
  ) {}
}

/** An axis given by the user (negative counts from the end), checked against `rank`. */
export function normalizeAxis(axis: number, rank: number, at?: number | string): number {
  if (!Number.isInteger(axis)) throw new ShapeError(`an axis must be an integer, got ${axis}`, at, "E0260");
  const k = axis < 0 ? axis + rank : axis;
  if (k < 0 || k >= rank)
    throw new ShapeError(`axis ${axis} is out of range for a ${rank === 0 ? "scalar" : `tensor of rank ${rank}`}`, at, "E0260");
  return k;
}

/** Axes in the order given, normalized, each once. */
export function normalizeAxes(axes: readonly number[], rank: number, at?: number | string): number[] {
  const out: number[] = [];
  for (const a of axes) {
    const k = normalizeAxis(a, rank, at);
    if (out.includes(k)) throw new ShapeError(`axis ${a} is repeated`, at, "E0260");
    out.push(k);
  }
  return out;
}

/** `x` with its axes in the order `perm` (a view). */
export function permute(graph: Graph, x: Node, perm: readonly number[]): Node {
  const own = rowMajor(x.shape);
  return graph.gather(x, perm.map((d) => x.shape[d]), { offset: 0, strides: perm.map((d) => own[d]) });
}

/**
 * Operands of an elementwise operation brought to one shape, NumPy style. Scalars stay
 * scalars (elementwise ops take them beside tensors), so programs of version 1 build the
 * same graph as before.
 */
export function broadcastOperands(graph: Graph, xs: readonly Node[], describe: (a: Shape, b: Shape) => string): Node[] {
  let shape: Shape = [];
  for (const x of xs) {
    if (x.shape.length === 0) continue;
    const joined = broadcastShapes(shape, x.shape);
    if (!joined) throw new ShapeError(describe(shape, x.shape), undefined, "E0203");
    shape = joined;
  }
  return xs.map((x) => (x.shape.length === 0 ? x : graph.broadcastTo(x, shape)));
}

/**
 * Reduce `axes` of `x` (all of them when undefined): the reduced axes are moved last by a
 * view and the IR reduces trailing axes. With `keepdims` they stay as axes of size 1.
 */
export function reduceAxes(graph: Graph, kind: ReductionName, x: Node, axes: readonly number[] | undefined, keepdims: boolean): Node {
  const rank = x.shape.length;
  const reduced = axes ?? x.shape.map((_, d) => d);
  const kept = x.shape.map((_, d) => d).filter((d) => !reduced.includes(d));
  let r = reduced.length === 0 ? x : graph.reduce(kind, permute(graph, x, [...kept, ...reduced]), kept.length);
  if (keepdims && rank > 0) r = graph.reshape(r, x.shape.map((d, k) => (reduced.includes(k) ? 1 : d)));
  return r;
}

/** How many elements each reduction over `axes` combines. */
export function reducedCount(x: Node, axes: readonly number[] | undefined): Size {
  return axes ? productOf(axes.map((d) => x.shape[d])) : sizeOf(x.shape);
}

/**
 * `x` with `axis` moved last (a view), and the way back for a result of the same shape.
 * softmax and log_softmax work along the last axis and use this for any other.
 */
export function alongLastAxis(graph: Graph, x: Node, axis: number): { moved: Node; back: (y: Node) => Node } {
  const rank = x.shape.length;
  if (axis === rank - 1) return { moved: x, back: (y) => y };
  const perm = [...x.shape.map((_, d) => d).filter((d) => d !== axis), axis];
  const inverse = new Array<number>(rank);
  perm.forEach((d, k) => (inverse[d] = k));
  return { moved: permute(graph, x, perm), back: (y) => permute(graph, y, inverse) };
}

/**
 * The integer input that `x` reads when `x` is elements of one taken as they are (a view,
 * or elements picked by index), so its values can index; otherwise undefined.
 */
export function integerSource(x: Node): Node | undefined {
  let y = x;
  for (;;) {
    if (y.op === "input") return y.integer ? y : undefined;
    if (y.op === "gather" || y.op === "take" || y.op === "checkindex") y = y.args[0];
    else return undefined;
  }
}
