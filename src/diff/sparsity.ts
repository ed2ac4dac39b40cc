// Which elements of `x` each element of `y` depends on, read from the structure of the
// graph (never from values), and a coloring of a Jacobian's columns (or rows) so that
// columns in one color share no row: one forward pass seeded with the sum of a color's
// one-hot columns then gives each of them exactly, as CasADi and ColPack compress sparse
// Jacobians. A stencil's Jacobian (each residual reads three neighbours) takes 3 passes
// instead of n.
//
// Dependence sets are bitsets over x's elements, one per element of each node, propagated
// in id order (a topological order) with no recursion; the analysis gives up (undefined)
// past a work budget or on an operation whose pattern depends on run-time values.

import { isKnownNode, knownNode, mapIndex, type Graph, type KnownNode, type Node } from "../ir/graph.js";
import { isElementwise } from "../ir/ops.js";
import { cone } from "../ir/rebuild.js";

/** Operations whose derivative is zero everywhere: they pass no dependence. */
const FLAT = new Set(["sign", "floor", "ceil", "mod", "lt", "le", "gt", "ge", "eq", "ne", "stop"]);

/** Words of bitset per element times elements, summed over nodes, past which the analysis gives up. */
const BUDGET = 4_000_000;

/**
 * For each element of `y` (row-major), the bitset (words of 32 elements of `x`) of the x
 * elements it depends on; undefined when the pattern cannot be read from the structure.
 */
export function dependencePattern(graph: Graph, y0: Node, x0: Node): Uint32Array | undefined {
  // Over run-time sizes the pattern has no fixed number of elements to read.
  const cone0 = cone(graph, [y0]).filter((n) => n.id >= x0.id);
  if (!cone0.every(isKnownNode) || !isKnownNode(x0) || !isKnownNode(y0)) return undefined;
  const nodes = cone0.map(knownNode);
  const [x, y] = [knownNode(x0), knownNode(y0)];
  const words = Math.ceil(x.size / 32);
  let work = 0;
  for (const n of nodes) work += n.size * words;
  if (work > BUDGET) return undefined;
  const sets = new Map<number, Uint32Array>();
  const identity = new Uint32Array(x.size * words);
  for (let k = 0; k < x.size; k++) identity[k * words + (k >> 5)] |= 1 << (k & 31);
  sets.set(x.id, identity);
  const or = (into: Uint32Array, at: number, from: Uint32Array, fromAt: number) => {
    for (let w = 0; w < words; w++) into[at * words + w] |= from[fromAt * words + w];
  };
  for (const n of nodes) {
    if (n === x) continue;
    // A gate passes dependence from its arguments only; its forward body is a value.
    const operands = n.op === "gate" ? n.args.slice(1, 1 + n.arity!) : n.op === "where" || n.op === "mask" || n.op === "pick" ? n.args.slice(1) : n.args;
    if (FLAT.has(n.op) || !operands.some((a) => sets.has(a.id))) continue;
    const out = new Uint32Array(n.size * words);
    const get = (a: KnownNode) => sets.get(a.id);
    if (isElementwise(n.op) || n.op === "gate") {
      for (const a of operands) {
        const s = get(a);
        if (!s) continue;
        // A reducing gate (a scalar value of a tensor argument, per row when batched): each
        // element of its value reads the whole row of the argument.
        if (n.op === "gate" && a.size > n.size) {
          const row = a.size / n.size;
          for (let k = 0; k < n.size; k++) for (let j = 0; j < row; j++) or(out, k, s, k * row + j);
          continue;
        }
        // A scalar operand beside tensors reaches every element; a batched gate's per-row
        // argument (a shape prefix) reaches its row.
        const per = a.size === n.size ? 1 : 0;
        const group = per ? 1 : a.size > 1 ? n.size / a.size : n.size;
        for (let k = 0; k < n.size; k++) or(out, k, s, per ? k : a.size > 1 ? Math.floor(k / group) : 0);
      }
    } else
      switch (n.op) {
        case "gather": {
          const s = get(n.args[0])!;
          for (let k = 0; k < n.size; k++) or(out, k, s, mapIndex(n.map!, n.shape, k));
          break;
        }
        case "sum":
        case "prod":
        case "rmax":
        case "rmin":
        case "logsumexp":
        case "prodexcept": {
          const a = n.args[0];
          const s = get(a)!;
          const kept = n.op === "prodexcept" ? a.shape.slice(0, n.keep ?? 0).reduce((p, q) => p * q, 1) : n.size;
          const group = a.size / kept;
          const union = new Uint32Array(words);
          for (let k = 0; k < kept; k++) {
            union.fill(0);
            for (let j = 0; j < group; j++) or(union, 0, s, k * group + j);
            if (n.op === "prodexcept") for (let j = 0; j < group; j++) or(out, k * group + j, union, 0);
            else or(out, k, union, 0);
          }
          break;
        }
        case "matmul": {
          const [a, b] = n.args;
          const [sa, sb] = [get(a), get(b)];
          const inner = a.shape[a.shape.length - 1];
          const rows = a.shape.length === 2 ? a.shape[0] : 1;
          const cols = b.shape.length === 2 ? b.shape[1] : 1;
          for (let i = 0; i < rows; i++)
            for (let j = 0; j < cols; j++)
              for (let q = 0; q < inner; q++) {
                if (sa) or(out, i * cols + j, sa, i * inner + q);
                if (sb) or(out, i * cols + j, sb, q * cols + j);
              }
          break;
        }
        case "take":
        case "put": {
          const [source, index] = n.args;
          if (index.op !== "tensor") return undefined;
          const s = get(source);
          if (!s) break;
          const full = n.op === "take" ? source.shape : n.shape;
          const outer = full.slice(0, n.axis!).reduce((p, q) => p * q, 1);
          const along = full[n.axis!];
          const innerSize = full.slice(n.axis! + 1).reduce((p, q) => p * q, 1);
          for (let o = 0; o < outer; o++)
            for (let q = 0; q < index.size; q++)
              for (let i = 0; i < innerSize; i++) {
                const whole = (o * along + index.values![q]) * innerSize + i;
                const picked = (o * index.size + q) * innerSize + i;
                if (n.op === "take") or(out, picked, s, whole);
                else or(out, whole, s, picked);
              }
          break;
        }
        case "scatter":
          n.args.forEach((part, p) => {
            const s = get(part);
            if (s) for (let k = 0; k < part.size; k++) or(out, mapIndex(n.maps![p], part.shape, k), s, k);
          });
          break;
        case "pack": {
          let at = 0;
          for (const part of n.args) {
            const s = get(part);
            if (s) for (let k = 0; k < part.size; k++) or(out, at + k, s, k);
            at += part.size;
          }
          break;
        }
        default:
          return undefined;
      }
    sets.set(n.id, out);
  }
  return sets.get(y.id) ?? new Uint32Array(y.size * words);
}

/**
 * A greedy coloring of the n columns of an m x n pattern (bitsets per row) such that no two
 * columns of a color share a row; with `rows`, of the rows such that no two share a column.
 * Returns the color of each column (or row) and the number of colors.
 */
export function colorPattern(pattern: Uint32Array, m: number, n: number, rows: boolean): { color: Int32Array; colors: number } {
  const words = Math.ceil(n / 32);
  const has = (i: number, j: number) => (pattern[i * words + (j >> 5)] >>> (j & 31)) & 1;
  const [count, other] = rows ? [m, n] : [n, m];
  const color = new Int32Array(count);
  // taken[c * other + r]: color c already uses row (or column) r.
  const taken: Uint8Array[] = [];
  for (let d = 0; d < count; d++) {
    const touched: number[] = [];
    for (let r = 0; r < other; r++) if (rows ? has(d, r) : has(r, d)) touched.push(r);
    let c = 0;
    while (c < taken.length && touched.some((r) => taken[c][r])) c++;
    if (c === taken.length) taken.push(new Uint8Array(other));
    for (const r of touched) taken[c][r] = 1;
    color[d] = c;
  }
  return { color, colors: taken.length };
}
