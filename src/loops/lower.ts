// Tensor IR -> loop IR. Each node the sinks need becomes statements over flat buffers, in
// node order (a topological order, walked forwards: no recursion over the graph):
// elementwise nodes and gathers are read in their users' loops when fusion allows it
// (passes/fusion.ts), otherwise stored; matmuls, reductions, packs, scatters and
// prodexcept get loops of their own. Loops are written for every axis of any rank, long
// axes outermost; axes of at most SMALL_EXTENT steps are loops here too, written out with
// literal indices by passes/unroll-short.ts. Where data lives is decided here: a gradient
// holder the caller gave (direct sinks), locals for tensors of at most SMALL_TENSOR
// elements, else a module-level scratch buffer.

import { knownSize, rowMajor, type Graph, type Node, type Shape } from "../ir/graph.js";
import { estimateSize, isKnown, mulSize, productOf, subSize, type Size } from "../ir/size.js";
import { isElementwise, type ElementwiseName } from "../ir/ops.js";
import {
  affineAdd,
  apply,
  lit,
  load,
  local,
  num,
  variable,
  visitExpr,
  type Affine,
  type Buffer,
  type Expr,
  type Stmt,
  type StoreOp,
} from "./ir.js";
import { fusable, planFusion, resolve } from "./passes/fusion.js";

export const SMALL_EXTENT = 4;
export const SMALL_TENSOR = 4;

export interface LoopSink {
  node: Node;
  /** For a scalar: the l-value that receives it (`outputs["f"]`). */
  scalar?: string;
  /** For a tensor: the holder (a Float64Array) to fill. */
  tensor?: string;
  /** The holder may be used as the node's own storage (gradients; never read by anything else). */
  direct?: boolean;
}

export interface LoweredFunction {
  /** Scratch buffers and holders the body uses through a local alias, in the order they were given storage. */
  aliases: Buffer[];
  /** The computation. */
  body: Stmt[];
  /** One list of statements per sink, in sink order. */
  stores: Stmt[][];
  /** Scalar operations, as the unrolled form would count them. */
  operations: number;
}

type Storage = "scalar" | "scalars" | "buffer" | "inline" | "leaf";

/** Whether a size is a number of at most `limit` (a run-time size never is: it may be large). */
const atMost = (s: Size, limit: number): boolean => isKnown(s) && s <= limit;

const count = estimateSize;

/**
 * Whether element `[i, q]` of a matrix is read with a longer stride along q than along i (a
 * transposed view); a stride in the dims counts as longer than any number.
 */
function readsAcrossRows(e: Expr): boolean {
  const stride = (v: string) => {
    let s = 0;
    visitExpr(e, (x) => {
      if (x.k === "load") for (const [u, c] of x.index.terms) if (u === v) s = Math.max(s, isKnown(c) ? Math.abs(c) : Infinity);
    });
    return s;
  };
  return stride("q") > stride("i");
}

/** Flat index of a multi-index over `shape`, row-major. */

function flatten(shape: Shape, idx: readonly Affine[]): Affine {
  const strides = rowMajor(shape);
  return idx.reduce((acc, x, d) => affineAdd(acc, x, strides[d]), lit(0));
}

/**
 * `leaf` names argument arrays and scalars (`a3`, `s0`) and returns undefined for other
 * nodes; `where` turns a source line into the text of a comment.
 */
export function lowerToLoopIR(
  graph: Graph,
  sinks: readonly LoopSink[],
  leaf: (n: Node) => string | undefined,
  where: (line: number) => string = (line) => `line ${line}`,
): LoweredFunction {
  const roots = sinks.map((s) => resolve(s.node));
  const plan = planFusion(graph, roots);
  // Gradient holders that can be a node's storage: the first direct sink of each node.
  const holderOf = new Map<number, string>();
  for (const s of sinks) {
    const n = resolve(s.node);
    if (s.direct && s.tensor && !holderOf.has(n.id) && !atMost(n.size, SMALL_TENSOR)) holderOf.set(n.id, s.tensor);
  }

  // Tensors read or written at run-time indices (take's source, put's result) must be arrays.
  const needsArray = new Uint8Array(graph.nodes.length);
  for (const n of graph.nodes) {
    if (!plan.needed[n.id]) continue;
    if (n.op === "take") needsArray[resolve(n.args[0]).id] = 1;
    if (n.op === "put") needsArray[n.id] = 1;
    // Factorizations and solves work on whole arrays.
    if (n.op === "solve" || n.op === "det") {
      needsArray[n.id] = 1;
      for (const a of n.args) needsArray[resolve(a).id] = 1;
    }
  }

  const storage: Storage[] = new Array(graph.nodes.length);
  const name: string[] = new Array(graph.nodes.length);
  const buffer: Buffer[] = new Array(graph.nodes.length);
  /** Fused depth of inline nodes. */
  const depth = new Uint16Array(graph.nodes.length);
  const body: Stmt[] = [];
  /** The LU factors of each factorized matrix (by node id). */
  const factors = new Map<number, { lu: Buffer; piv: Buffer; sign: Buffer }>();
  const aliases: Buffer[] = [];
  let operations = 0;
  let lastLine: number | undefined;
  let loopDepth = 0;
  let small = 0;
  const indexNames = ["i", "j", "k", "l"];

  /** The expression of element `idx` of node `n`. Recursion only through fused nodes: bounded by MAX_FUSION_DEPTH. */
  const element = (n0: Node, idx: readonly Affine[]): Expr => {
    const n = resolve(n0);
    if (n.op === "const") return num(n.value!);
    if (n.op === "iota") return { k: "index", index: affineAdd(flatten(n.shape, idx), lit(n.value!)) };
    if (n.op === "tensor") return elementAtFlat(n, flatten(n.shape, idx));
    if (n.size === 1 && storage[n.id] !== "inline") {
      if (storage[n.id] === "scalar") return local(name[n.id]);
      return load(buffer[n.id], lit(0));
    }
    switch (storage[n.id]) {
      case "scalar":
        return local(name[n.id]);
      case "leaf":
      case "buffer":
      case "scalars":
        return load(buffer[n.id], flatten(n.shape, idx));
      case "inline": {
        if (n.op === "gather") {
          const source = resolve(n.args[0]);
          // Its one element: index 0 on each of its axes (an inline take reads them).
          if (source.size === 1) return element(source, source.shape.map(() => lit(0)));
          const at = idx.reduce((acc, x, d) => affineAdd(acc, x, n.map!.strides[d]), lit(n.map!.offset));
          return elementAtFlat(source, at);
        }
        if (n.op === "take") return takeElement(n, idx);
        if (n.op === "matmul") {
          // A short dot product, fused into its user: sum over q of a[i, q] * b[q, j].
          const [a, b] = n.args.map(resolve);
          const inner = knownSize(a.shape[a.shape.length - 1]);
          const [i, j] = a.shape.length === 2 && b.shape.length === 2 ? idx : a.shape.length === 2 ? [idx[0], undefined] : [undefined, idx[0]];
          const terms = Array.from({ length: inner }, (_, q) => [element(a, i ? [i, lit(q)] : [lit(q)]), element(b, j ? [lit(q), j] : [lit(q)])] as const);
          return { k: "dot", terms };
        }
        return apply(n.op as ElementwiseName, ...n.args.map((a) => element(a, resolve(a).shape.length ? idx : [])));
      }
    }
    throw new Error(`internal: no element of '${n.op}'`);
  };
  /** Element at a flat index of a stored node. */
  const elementAtFlat = (n: Node, at: Affine): Expr => {
    // A constant tensor read at a constant index is its value.
    if (n.op === "tensor" && at.terms.length === 0 && isKnown(at.c)) return num(n.values![at.c]);
    if (n.op === "iota") return { k: "index", index: affineAdd(at, lit(n.value!)) };
    if (storage[n.id] === "scalars" || storage[n.id] === "leaf" || storage[n.id] === "buffer") return load(buffer[n.id], at);
    throw new Error(`internal: flat read of '${n.op}' stored as ${storage[n.id]}`);
  };

  /**
   * Element `idx` of `take(x, index, axis)`: x's element with the taken axis at the index's
   * value, known only when the code runs unless the index is a constant.
   */
  const takeElement = (n: Node, idx: readonly Affine[]): Expr => {
    const [x, index] = n.args.map(resolve);
    const axis = n.axis!;
    const m = index.shape.length;
    const strides = rowMajor(x.shape);
    let at = lit(0);
    x.shape.forEach((_, d) => {
      if (d < axis) at = affineAdd(at, idx[d], strides[d]);
      else if (d > axis) at = affineAdd(at, idx[d + m - 1], strides[d]);
    });
    const which = element(index, idx.slice(axis, axis + m));
    if (which.k === "num") return elementAtFlat(x, affineAdd(at, lit(mulSize(which.value, strides[axis]))));
    if (which.k === "index") return elementAtFlat(x, affineAdd(at, which.index, strides[axis]));
    // An iota is its flat index: taken at a run-time index, it is that index's arithmetic.
    if (x.op === "iota") {
      const stride = strides[axis];
      const scaled = stride === 1 ? which : apply("mul", which, isKnown(stride) ? num(stride) : { k: "index", index: lit(stride) });
      return apply("add", { k: "index", index: affineAdd(at, lit(x.value!)) }, scaled);
    }
    // A constant tensor is a module buffer: read at a run-time index, it is a load like any
    // other (elementAtFlat would fold the constant part of the index to one of its values).
    const read = x.op === "tensor" ? load(buffer[x.id], at) : elementAtFlat(x, at);
    if (read.k !== "load") throw new Error(`internal: take from '${x.op}'`);
    return { ...read, dynamic: { stride: strides[axis], at: which } };
  };

  /**
   * Loops over `shape`: axes longer than SMALL_EXTENT outermost, short axes inside them (to
   * be written out with literal indices: one loop of three statements, not three loops).
   */
  const loops = (shape: Shape, inner: (idx: Affine[]) => Stmt[]): Stmt[] => {
    const order = [...shape.keys()].filter((d) => !atMost(shape[d], SMALL_EXTENT)).concat([...shape.keys()].filter((d) => atMost(shape[d], SMALL_EXTENT)));
    const idx: Affine[] = new Array(shape.length);
    // Long axes are named by nesting depth (i, j, k, l, then i4, i5, ...), short ones uniquely.
    let level = loopDepth;
    const names = order.map((d) => {
      if (atMost(shape[d], SMALL_EXTENT)) return `u${small++}`;
      const v = indexNames[level] ?? `i${level}`;
      level++;
      return v;
    });
    order.forEach((d, k) => (idx[d] = variable(names[k])));
    const saved = loopDepth;
    loopDepth = level;
    let stmts = inner(idx);
    loopDepth = saved;
    for (let k = order.length - 1; k >= 0; k--) stmts = [{ k: "loop", v: names[k], from: 0, extent: shape[order[k]], step: 1, body: stmts }];
    return stmts;
  };

  const aliased = (b: Buffer) => {
    aliases.push(b);
    return b;
  };
  /** Give `n` storage: a gradient holder, locals when small, else a module buffer. */
  const allocate = (n: Node): Storage => {
    const holder = holderOf.get(n.id);
    if (holder) {
      buffer[n.id] = aliased({ name: `h${n.id}`, kind: "holder", size: n.size, source: holder });
      return (storage[n.id] = "buffer");
    }
    if (atMost(n.size, SMALL_TENSOR) && !needsArray[n.id]) {
      buffer[n.id] = { name: `t${n.id}`, kind: "local", size: n.size };
      return (storage[n.id] = "scalars");
    }
    buffer[n.id] = aliased({ name: `b${n.id}`, kind: "scratch", size: n.size, source: `buf${n.id}` });
    return (storage[n.id] = "buffer");
  };
  const store = (n: Node, at: Affine, value: Expr, op: StoreOp = "="): Stmt => ({ k: "store", buffer: buffer[n.id], index: at, value, op });

  /** Store an elementwise (or gather) node computed from its operands. */
  const materialize = (n: Node) => {
    const kind = allocate(n);
    storage[n.id] = "inline"; // computed from operands while its own loop is written
    const stmts = loops(n.shape, (idx) => [store(n, flatten(n.shape, idx), element(n, idx))]);
    storage[n.id] = kind;
    body.push(...stmts);
  };
  const inlineDepth = (n: Node) => 1 + Math.max(0, ...n.args.map((a) => (storage[resolve(a).id] === "inline" ? depth[resolve(a).id] : 0)));
  const markInline = (n: Node) => {
    storage[n.id] = "inline";
    depth[n.id] = inlineDepth(n);
  };

  for (const n of graph.nodes) {
    if (!plan.needed[n.id] || !plan.live[n.id] || n.op === "gate" || n.op === "checkindex" || n.op === "const") continue;
    const leafName = leaf(n);
    if (leafName !== undefined) {
      name[n.id] = leafName;
      if (n.shape.length === 0) storage[n.id] = "scalar";
      else {
        storage[n.id] = "leaf";
        buffer[n.id] = { name: leafName, kind: "argument", size: n.size };
      }
      continue;
    }
    const t = `t${n.id}`;
    const args = n.args.map(resolve);
    // A comment where the source line changes, so a profile or stack trace leads back.
    if (n.line !== undefined && n.line !== lastLine) {
      body.push({ k: "comment", text: where(n.line) });
      lastLine = n.line;
    }
    const scalarResult = (value: Expr) => {
      body.push({ k: "let", name: t, value });
      name[n.id] = t;
      storage[n.id] = "scalar";
    };

    if (n.op === "solve" || n.op === "det") {
      // LU factors of each A, made once per function for every solve and det of that A.
      const a = args[0];
      // m x m matrices, `count` of them; either may be a run-time size (the helpers take numbers).
      const m = a.shape[a.shape.length - 1];
      const count = productOf(a.shape.slice(0, -2));
      if (storage[a.id] === "inline") materialize(a);
      let f = factors.get(a.id);
      if (!f) {
        f = {
          lu: aliased({ name: `b${a.id}lu`, kind: "scratch", size: a.size, source: `buf${a.id}lu` }),
          piv: aliased({ name: `b${a.id}piv`, kind: "scratch", size: mulSize(count, m), source: `buf${a.id}piv` }),
          sign: aliased({ name: `b${a.id}sign`, kind: "scratch", size: count, source: `buf${a.id}sign` }),
        };
        factors.set(a.id, f);
        body.push({ k: "kernel", name: "luFactor", args: [buffer[a.id], f.lu, f.piv, f.sign, count, m], reads: [buffer[a.id]], writes: [f.lu, f.piv, f.sign] });
      }
      allocate(n);
      const [em, ea] = [estimateSize(m), estimateSize(a.size)];
      operations += n.op === "det" ? (2 * ea * em) / 3 : 2 * ea * (estimateSize(n.size) / (estimateSize(count) * em));
      if (n.op === "det") {
        body.push({ k: "kernel", name: "luDet", args: [f.lu, f.sign, buffer[n.id], count, m], reads: [f.lu, f.sign], writes: [buffer[n.id]] });
      } else {
        const b = args[1];
        if (storage[b.id] === "inline") materialize(b);
        const k = b.shape[b.shape.length - 1];
        body.push({ k: "kernel", name: "luSolve", args: [f.lu, f.piv, buffer[b.id], buffer[n.id], count, m, k, n.transposed === true], reads: [f.lu, f.piv, buffer[b.id]], writes: [buffer[n.id]] });
      }
      continue;
    }
    if (n.op === "tensor") {
      // A constant tensor: a module buffer filled when the module loads, never written.
      buffer[n.id] = aliased({ name: `b${n.id}`, kind: "scratch", size: n.size, source: `buf${n.id}`, values: n.values });
      storage[n.id] = "buffer";
      continue;
    }
    if (n.op === "iota") {
      storage[n.id] = "inline";
      continue;
    }
    if (n.op === "take") {
      const source = args[0];
      if (storage[source.id] === "inline" && source.op !== "iota") materialize(source);
      if (n.shape.length === 0) scalarResult(takeElement(n, []));
      else markInline(n);
      continue;
    }
    if (n.op === "gather") {
      const source = args[0];
      if (storage[source.id] === "inline" && source.size !== 1 && source.op !== "iota") materialize(source);
      if (n.shape.length === 0) scalarResult(source.size === 1 ? element(source, source.shape.map(() => lit(0))) : elementAtFlat(source, lit(n.map!.offset)));
      else markInline(n);
      continue;
    }
    if (isElementwise(n.op)) {
      operations += count(n.size);
      if (n.shape.length === 0) scalarResult(apply(n.op, ...args.map((a) => element(a, []))));
      else if (fusable(plan, n, inlineDepth(n))) markInline(n);
      else materialize(n);
      continue;
    }
    const keep = (n as { keep?: number }).keep ?? 0;
    switch (n.op) {
      case "matmul": {
        const [a, b] = args;
        const inner = a.shape[a.shape.length - 1];
        const rows = a.shape.length === 2 ? a.shape[0] : 0;
        const cols = b.shape.length === 2 ? b.shape[1] : 0;
        operations += 2 * Math.max(count(rows), 1) * count(inner) * Math.max(count(cols), 1);
        const term = (aAt: Affine[], bAt: Affine[]): Expr => apply("mul", element(a, aAt), element(b, bAt));
        // One dot product of length `inner`: an expression when short, else a loop into `acc`
        // (passes/partial-sums.ts gives a long one four running sums).
        const dot = (aAt: (q: Affine) => Affine[], bAt: (q: Affine) => Affine[], put: (e: Expr) => Stmt, acc: string): Stmt[] => {
          if (isKnown(inner) && inner <= SMALL_EXTENT) return [put({ k: "dot", terms: Array.from({ length: inner }, (_, q) => [element(a, aAt(lit(q))), element(b, bAt(lit(q)))] as const) })];
          const q = variable("q");
          return [
            { k: "let", name: acc, value: num(0), mutable: true, reassociate: true },
            { k: "loop", v: "q", from: 0, extent: inner, step: 1, body: [{ k: "assign", name: acc, op: "+=", value: term(aAt(q), bAt(q)) }] },
            put(local(acc)),
          ];
        };
        if (n.shape.length === 0) {
          body.push(...dot((q) => [q], (q) => [q], (value) => ({ k: "let", name: t, value }), `${t}acc`));
          name[n.id] = t;
          storage[n.id] = "scalar";
          break;
        }
        if (atMost(inner, SMALL_EXTENT) && fusable(plan, n, inlineDepth(n))) {
          markInline(n);
          break;
        }
        const split = (idx: Affine[]) => (rows && cols ? idx : rows ? [idx[0], undefined] : [undefined, idx[0]]);
        if (isKnown(n.size) && n.size <= SMALL_TENSOR && !atMost(inner, SMALL_EXTENT)) {
          // A few long dot products: one pass over the inner axis, one accumulator each.
          allocate(n);
          const i = variable("i");
          const width = knownSize(cols);
          const cells = Array.from({ length: n.size }, (_, k) => (rows && cols ? [lit(Math.floor(k / width)), lit(k % width)] : [lit(k)]));
          const terms = cells.map((idx) => {
            const [r, c] = split(idx);
            return term(r ? [r, i] : [i], c ? [i, c] : [i]);
          });
          body.push(...cells.map((_, k): Stmt => ({ k: "let", name: `${t}s${k}`, value: num(0), mutable: true })));
          body.push({ k: "loop", v: "i", from: 0, extent: inner, step: 1, body: terms.map((value, k): Stmt => ({ k: "assign", name: `${t}s${k}`, op: "+=", value })) });
          body.push(...cells.map((_, k) => store(n, lit(k), local(`${t}s${k}`))));
          break;
        }
        if (rows && cols && !atMost(inner, SMALL_EXTENT) && readsAcrossRows(element(a, [variable("i"), variable("q")]))) {
          // `transpose(A) @ B` (a weight gradient over a batch): the inner axis outermost, so that
          // both operands are read in order and the loop over rows joins the one that made them.
          allocate(n);
          const q = variable("q");
          body.push(
            { k: "fill", buffer: buffer[n.id], value: num(0) },
            { k: "loop", v: "q", from: 0, extent: inner, step: 1, body: loops(n.shape, (idx) => [store(n, flatten(n.shape, idx), term([idx[0], q], [q, idx[1]]), "+=")]) },
          );
          break;
        }
        let accCount = 0;
        allocate(n);
        body.push(
          ...loops(n.shape, (idx) => {
            const [i, j] = split(idx);
            const at = flatten(n.shape, idx);
            const acc = `${t}s${accCount++}`;
            return dot((q) => (i ? [i, q] : [q]), (q) => (j ? [q, j] : [q]), (value) => store(n, at, value), acc);
          }),
        );
        break;
      }
      case "sum":
      case "prod":
      case "rmax":
      case "rmin": {
        const x = args[0];
        operations += count(x.size);
        const init = { sum: 0, prod: 1, rmax: -Infinity, rmin: Infinity }[n.op];
        const step = (acc: string, e: Expr): Stmt =>
          n.op === "sum"
            ? { k: "assign", name: acc, op: "+=", value: e }
            : n.op === "prod"
              ? { k: "assign", name: acc, op: "*=", value: e }
              : { k: "assign", name: acc, op: "=", value: apply(n.op === "rmax" ? "max" : "min", local(acc), e) };
        if (keep === 0) {
          body.push({ k: "let", name: t, value: num(init), mutable: true }, ...loops(x.shape, (idx) => [step(t, element(x, idx))]));
          name[n.id] = t;
          storage[n.id] = "scalar";
          break;
        }
        // The leading `keep` axes stay: one running value per kept element, over the trailing axes.
        allocate(n);
        const kept = x.shape.slice(0, keep);
        const reduced = x.shape.slice(keep);
        let cell = 0;
        body.push(
          ...loops(kept, (outer) => {
            const acc = `${t}r${cell++}`;
            return [
              { k: "let", name: acc, value: num(init), mutable: true },
              ...loops(reduced, (inner) => [step(acc, element(x, [...outer, ...inner]))]),
              store(n, flatten(kept, outer), local(acc)),
            ];
          }),
        );
        break;
      }
      case "logsumexp": {
        const x = args[0];
        if (storage[x.id] === "inline") materialize(x);
        operations += 3 * count(x.size);
        // The maximum, then the sum of exp(x - max), over the trailing axes of each kept element.
        const group = (outer: Affine[], suffix: string): Stmt[] => {
          const reduced = x.shape.slice(keep);
          const [m, sum] = [`${t}m${suffix}`, `${t}s${suffix}`];
          return [
            { k: "let", name: m, value: num(-Infinity), mutable: true },
            ...loops(reduced, (idx) => [{ k: "assign", name: m, op: "=", value: apply("max", local(m), element(x, [...outer, ...idx])) }]),
            { k: "let", name: sum, value: num(0), mutable: true },
            ...loops(reduced, (idx) => [{ k: "assign", name: sum, op: "+=", value: apply("exp", apply("sub", element(x, [...outer, ...idx]), local(m))) }]),
          ];
        };
        if (keep === 0) {
          body.push(...group([], ""));
          scalarResult(apply("lseFinish", local(`${t}m`), local(`${t}s`)));
          break;
        }
        allocate(n);
        const kept = x.shape.slice(0, keep);
        let cell = 0;
        body.push(
          ...loops(kept, (outer) => {
            const suffix = `${cell++}`;
            return [...group(outer, suffix), store(n, flatten(kept, outer), apply("lseFinish", local(`${t}m${suffix}`), local(`${t}s${suffix}`)))];
          }),
        );
        break;
      }
      case "prodexcept": {
        // prefix[i] * suffix[i+1]: the product of the other elements of a group, exact at zeros.
        const x = args[0];
        if (storage[x.id] === "inline") materialize(x);
        operations += 3 * count(x.size);
        allocate(n);
        const kept = x.shape.slice(0, keep);
        const group = productOf(x.shape.slice(keep));
        if (storage[n.id] === "scalars" && isKnown(group)) {
          for (let base = 0; base < knownSize(n.size); base += group)
            for (let i = 0; i < group; i++) {
              const others = Array.from({ length: group }, (_, k) => k).filter((k) => k !== i).map((k) => elementAtFlat(x, lit(base + k)));
              body.push(store(n, lit(base + i), others.length ? others.reduce((p, e) => apply("mul", p, e)) : num(1)));
            }
          break;
        }
        let cell = 0;
        // Over a run-time group the suffix pass counts up and reads from the end (a loop's start is a number).
        const suffixLoop = (v: string, back: Affine, p: string): Stmt => ({
          k: "loop", v, from: 0, extent: group, step: 1,
          body: [store(n, back, local(p), "*="), { k: "assign", name: p, op: "*=", value: elementAtFlat(x, back) }],
        });
        const pass = (outer: Affine[]): Stmt[] => {
          const p = `${t}p${keep ? cell++ : ""}`;
          const v = keep ? "q" : "i";
          const at = affineAdd(variable(v), flatten(kept, outer), group);
          const xi = elementAtFlat(x, at);
          return [
            { k: "let", name: p, value: num(1), mutable: true },
            { k: "loop", v, from: 0, extent: group, step: 1, body: [store(n, at, local(p)), { k: "assign", name: p, op: "*=", value: xi }] },
            { k: "assign", name: p, op: "=", value: num(1) },
            isKnown(group)
              ? { k: "loop", v, from: group - 1, extent: group, step: -1, body: [store(n, at, local(p), "*="), { k: "assign", name: p, op: "*=", value: xi }] }
              : suffixLoop(v, affineAdd(affineAdd(lit(subSize(group, 1)), variable(v), -1), flatten(kept, outer), group), p),
          ];
        };
        body.push(...(keep ? loops(kept, pass) : pass([])));
        break;
      }
      case "put": {
        // Zeros, with each value added at the element its index picks along `axis`.
        const [values, index] = args;
        allocate(n);
        operations += count(values.size);
        body.push({ k: "fill", buffer: buffer[n.id], value: num(0) });
        const axis = n.axis!;
        const m = index.shape.length;
        const strides = rowMajor(n.shape);
        body.push(
          ...loops(values.shape, (idx) => {
            let at = lit(0);
            n.shape.forEach((_, d) => {
              if (d < axis) at = affineAdd(at, idx[d], strides[d]);
              else if (d > axis) at = affineAdd(at, idx[d + m - 1], strides[d]);
            });
            const which = element(index, idx.slice(axis, axis + m));
            const value = element(values, idx);
            if (which.k === "num") return [store(n, affineAdd(at, lit(mulSize(which.value, strides[axis]))), value, "+=")];
            if (which.k === "index") return [store(n, affineAdd(at, which.index, strides[axis]), value, "+=")];
            return [{ k: "store", buffer: buffer[n.id], index: at, value, op: "+=", dynamic: { stride: strides[axis], at: which } }];
          }),
        );
        break;
      }
      case "pack": {
        allocate(n);
        const part = args[0];
        args.forEach((p, k) => {
          body.push(...loops(part.shape, (idx) => [store(n, affineAdd(flatten(part.shape, idx), lit(mulSize(k, part.size))), element(p, idx))]));
        });
        break;
      }
      case "scatter": {
        allocate(n);
        body.push({ k: "fill", buffer: buffer[n.id], value: num(0) });
        args.forEach((p, k) => {
          const map = n.maps![k];
          operations += count(p.size);
          // A negated part fused here is subtracted: the adjoint of `a - b` sends -g to b.
          const negated = p.op === "neg" && storage[p.id] === "inline";
          const at = (idx: Affine[]) => idx.reduce((acc, x, d) => affineAdd(acc, x, map.strides[d]), lit(map.offset));
          body.push(...loops(p.shape, (idx) => [store(n, at(idx), negated ? element(p.args[0], idx) : element(p, idx), negated ? "-=" : "+=")]));
        });
        break;
      }
      default:
        throw new Error(`internal: no loop code for '${n.op}'`);
    }
  }

  const stores = sinks.map((s): Stmt[] => {
    const n = resolve(s.node);
    if (s.scalar) return [{ k: "result", target: s.scalar, value: element(n, []) }];
    const holder: Buffer = { name: s.tensor!, kind: "holder", size: n.size };
    if (holderOf.get(n.id) === s.tensor && buffer[n.id]?.name === `h${n.id}`) return []; // computed in place
    if (n.size === 1 && n.shape.length === 0) return [{ k: "fill", buffer: holder, value: element(n, []) }];
    if (storage[n.id] === "buffer") return [{ k: "copy", to: holder, from: buffer[n.id] }];
    const out: Buffer = { name: "out", kind: "holder", size: n.size, source: s.tensor };
    return [{ k: "block", aliases: [out], body: loops(n.shape, (idx) => [{ k: "store", buffer: out, index: flatten(n.shape, idx), value: element(n, idx), op: "=" }]) }];
  });
  return { aliases, body, stores, operations };
}

