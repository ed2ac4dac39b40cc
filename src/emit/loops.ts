// Loop code for large tensor programs. Fully unrolled code past a few thousand operations
// runs tens of times slower than a loop (V8 never optimizes a function over 61,440 bytes of
// bytecode; see README, "Unrolled or loops"), so here each tensor operation becomes a loop
// over flat Float64Array buffers allocated once per module, while scalar work stays
// straight-line.
//
// What is materialized: matmuls, packs, scatters, reductions' inputs that are read twice,
// and elementwise nodes with several users. An elementwise node with one elementwise (or
// summing) user of the same shape is fused into that user's loop; reads through index maps
// (rows, transposes, broadcasts, element reads) are inlined as index arithmetic.

import { rowMajor, type Graph, type Node } from "../ir/graph.js";
import { ELEMENTWISE, isElementwise, type ElementwiseOp } from "../ir/ops.js";
import { reachable } from "../ir/scalarize.js";
import { literal } from "./straight.js";

export interface LoopSink {
  node: Node;
  /** For a scalar: the statement storing expression `x`. */
  scalar?: (x: string) => string;
  /** For a tensor: the holder (a Float64Array expression) to fill. */
  tensor?: string;
}

export interface LoopCode {
  statements: string[];
  stores: string[][];
  helpers: Set<string>;
  /** Module-level buffer declarations this code uses. */
  buffers: Map<string, string>;
  operations: number;
}

type Kind = "scalar" | "buffer" | "inline" | "leaf";

export function printLoops(graph: Graph, sinks: readonly LoopSink[], leaf: (n: Node) => string | undefined): LoopCode {
  const resolve = (n: Node): Node => (n.op === "gate" ? resolve(n.args[0]) : n);
  const roots = sinks.map((s) => resolve(s.node));
  const needed = reachable(graph, roots);
  // Gates are aliases of their forward value: do not schedule their local gradients.
  const uses = new Uint32Array(graph.nodes.length);
  const consumer: (Node | undefined)[] = new Array(graph.nodes.length);
  const live = new Uint8Array(graph.nodes.length);
  for (const r of roots) live[r.id] = 1;
  for (let id = graph.nodes.length - 1; id >= 0; id--) {
    if (!live[id] || !needed[id]) continue;
    const n = graph.nodes[id];
    if (n.op === "gate") continue;
    for (const a0 of n.args) {
      const a = resolve(a0);
      live[a.id] = 1;
      uses[a.id]++;
      consumer[a.id] = n;
    }
  }
  for (const r of roots) uses[r.id] += 2;

  const kind: Kind[] = new Array(graph.nodes.length);
  const name: string[] = new Array(graph.nodes.length);
  const statements: string[] = [];
  const helpers = new Set<string>();
  const buffers = new Map<string, string>();
  let operations = 0;

  const isLeaf = (n: Node) => n.op === "const" || leaf(n) !== undefined;
  const addressable = (n: Node) => kind[n.id] === "buffer" || (n.op === "input" && isLeaf(n));
  const fusable = (n: Node, user: Node | undefined) =>
    isElementwise(n.op) && uses[n.id] === 1 && user !== undefined && n.shape.length > 0 &&
    ((isElementwise(user.op) && user.size === n.size) || user.op === "sum" || user.op === "prod" || user.op === "rmax" || user.op === "rmin");

  /** Flat index expression of a multi-index over `shape`. */
  const flat = (shape: readonly number[], idx: string[]) => {
    const strides = rowMajor(shape);
    return idx.map((v, d) => (strides[d] === 1 ? v : `${v} * ${strides[d]}`)).join(" + ") || "0";
  };

  /** JavaScript for element `idx` (one index expression per axis) of node `n`. */
  const element = (n0: Node, idx: string[]): string => {
    const n = resolve(n0);
    if (n.op === "const") return literal(n.value!);
    if (n.size === 1 && n.shape.length === 0) return name[n.id];
    switch (kind[n.id]) {
      case "buffer":
      case "leaf":
        return `${name[n.id]}[${flat(n.shape, idx)}]`;
      case "inline": {
        if (n.op === "gather") {
          const source = resolve(n.args[0]);
          if (source.size === 1) return element(source, []);
          const terms = [String(n.map!.offset), ...idx.map((v, d) => (n.map!.strides[d] === 0 ? "" : n.map!.strides[d] === 1 ? v : `${v} * ${n.map!.strides[d]}`))].filter((t) => t && t !== "0");
          return `${name[source.id]}[${terms.join(" + ") || "0"}]`;
        }
        const op = ELEMENTWISE[n.op as keyof typeof ELEMENTWISE] as ElementwiseOp;
        for (const h of op.helpers ?? []) helpers.add(h);
        return op.print(...n.args.map((a) => element(a, a.shape.length ? idx : [])));
      }
    }
    throw new Error(`internal: no element of '${n.op}'`);
  };

  let loopDepth = 0;
  const indexNames = ["i", "j", "k", "l"];
  /** Nested loops over `shape`; `body` receives the index variables. */
  const loops = (shape: readonly number[], body: (idx: string[]) => string[]): string[] => {
    const idx = shape.map((_, d) => indexNames[loopDepth + d] ?? `i${loopDepth + d}`);
    loopDepth += shape.length;
    let inner = body(idx);
    loopDepth -= shape.length;
    for (let d = shape.length - 1; d >= 0; d--) {
      inner = [`for (let ${idx[d]} = 0; ${idx[d]} < ${shape[d]}; ${idx[d]}++) {`, ...inner.map((s) => "  " + s), "}"];
    }
    return inner;
  };

  const buffer = (n: Node) => {
    const b = `buf${n.id}`;
    buffers.set(b, `const ${b} = new Float64Array(${n.size});`);
    name[n.id] = b;
    kind[n.id] = "buffer";
    return b;
  };

  for (const n of graph.nodes) {
    if (!needed[n.id] || !live[n.id] || n.op === "gate") continue;
    const leafName = leaf(n);
    if (n.op === "const") continue;
    if (leafName !== undefined) {
      name[n.id] = leafName;
      kind[n.id] = n.shape.length === 0 ? "scalar" : "leaf";
      continue;
    }
    const scalarOut = n.shape.length === 0;
    const t = `t${n.id}`;
    // Operands that must be addressable (read at arbitrary indices or more than once).
    const args = n.args.map(resolve);

    if (n.op === "gather") {
      const source = args[0];
      if (!addressable(source) && source.size !== 1) materialize(source);
      if (scalarOut) {
        statements.push(`const ${t} = ${source.size === 1 ? element(source, []) : `${name[source.id]}[${n.map!.offset}]`};`);
        name[n.id] = t;
        kind[n.id] = "scalar";
      } else {
        kind[n.id] = "inline";
      }
      continue;
    }
    if (isElementwise(n.op)) {
      operations += n.size;
      if (scalarOut) {
        const op = ELEMENTWISE[n.op as keyof typeof ELEMENTWISE] as ElementwiseOp;
        for (const h of op.helpers ?? []) helpers.add(h);
        statements.push(`const ${t} = ${op.print(...args.map((a) => element(a, [])))};`);
        name[n.id] = t;
        kind[n.id] = "scalar";
        continue;
      }
      kind[n.id] = "inline";
      if (!fusable(n, consumer[n.id]) || needsAddress(n)) materialize(n);
      continue;
    }
    switch (n.op) {
      case "matmul": {
        const [a, b] = args;
        operations += 2 * (a.shape.length === 2 ? a.shape[0] : 1) * a.shape[a.shape.length - 1] * (b.shape.length === 2 ? b.shape[1] : 1);
        const inner = a.shape[a.shape.length - 1];
        const rows = a.shape.length === 2 ? a.shape[0] : 0;
        const cols = b.shape.length === 2 ? b.shape[1] : 0;
        // `q` runs over the inner dimension; loops() names its indices i, j.
        const dotLoop = (aAt: string[], bAt: string[]) => `for (let q = 0; q < ${inner}; q++) s += ${element(a, aAt)} * ${element(b, bAt)};`;
        if (scalarOut) {
          statements.push(`let ${t} = 0;`, `for (let q = 0; q < ${inner}; q++) ${t} += ${element(a, ["q"])} * ${element(b, ["q"])};`);
          name[n.id] = t;
          kind[n.id] = "scalar";
          break;
        }
        const out = buffer(n);
        if (rows && cols) statements.push(...loops([rows, cols], ([i, j]) => ["let s = 0;", dotLoop([i, "q"], ["q", j]), `${out}[${i} * ${cols} + ${j}] = s;`]));
        else if (rows) statements.push(...loops([rows], ([i]) => ["let s = 0;", dotLoop([i, "q"], ["q"]), `${out}[${i}] = s;`]));
        else statements.push(...loops([cols], ([j]) => ["let s = 0;", dotLoop(["q"], ["q", j]), `${out}[${j}] = s;`]));
        break;
      }
      case "sum":
      case "prod":
      case "rmax":
      case "rmin": {
        const x = args[0];
        operations += x.size;
        const [init, step] = {
          sum: ["0", (e: string) => `${t} += ${e};`],
          prod: ["1", (e: string) => `${t} *= ${e};`],
          rmax: ["-Infinity", (e: string) => `${t} = Math.max(${t}, ${e});`],
          rmin: ["Infinity", (e: string) => `${t} = Math.min(${t}, ${e});`],
        }[n.op] as [string, (e: string) => string];
        statements.push(`let ${t} = ${init};`, ...loops(x.shape, (idx) => [step(element(x, idx))]));
        name[n.id] = t;
        kind[n.id] = "scalar";
        break;
      }
      case "logsumexp": {
        const x = args[0];
        operations += 3 * x.size;
        helpers.add("lseFinish");
        statements.push(`let ${t}m = -Infinity;`, ...loops(x.shape, (idx) => [`${t}m = Math.max(${t}m, ${element(x, idx)});`]));
        statements.push(`let ${t}s = 0;`, ...loops(x.shape, (idx) => [`${t}s += Math.exp(${element(x, idx)} - ${t}m);`]));
        statements.push(`const ${t} = lseFinish(${t}m, ${t}s);`);
        name[n.id] = t;
        kind[n.id] = "scalar";
        break;
      }
      case "prodexcept": {
        const x = args[0];
        operations += 3 * x.size;
        const out = buffer(n);
        statements.push(`let ${t}p = 1;`, `for (let i = 0; i < ${n.size}; i++) { ${out}[i] = ${t}p; ${t}p *= ${element(x, ["i"])}; }`);
        statements.push(`${t}p = 1;`, `for (let i = ${n.size - 1}; i >= 0; i--) { ${out}[i] *= ${t}p; ${t}p *= ${element(x, ["i"])}; }`);
        break;
      }
      case "pack": {
        const out = buffer(n);
        const part = args[0];
        args.forEach((p, k) => {
          if (p.shape.length === 0) statements.push(`${out}[${k}] = ${element(p, [])};`);
          else statements.push(...loops(part.shape, (idx) => [`${out}[${k * part.size} + ${flat(part.shape, idx)}] = ${element(p, idx)};`]));
        });
        break;
      }
      case "scatter": {
        const out = buffer(n);
        statements.push(`${out}.fill(0);`);
        args.forEach((p, k) => {
          const map = n.maps![k];
          const target = (idx: string[]) => [String(map.offset), ...idx.map((v, d) => (map.strides[d] === 0 ? "" : map.strides[d] === 1 ? v : `${v} * ${map.strides[d]}`))].filter((s) => s && s !== "0").join(" + ") || "0";
          operations += p.size;
          statements.push(...loops(p.shape, (idx) => [`${out}[${target(idx)}] += ${element(p, idx)};`]));
        });
        break;
      }
      default:
        throw new Error(`internal: no loop code for '${n.op}'`);
    }
  }

  const stores = sinks.map((s) => {
    const n = resolve(s.node);
    if (s.scalar) return [s.scalar(element(n, []))];
    if (n.size === 1 && n.shape.length === 0) return [`${s.tensor}.fill(${element(n, [])});`];
    if (kind[n.id] === "buffer") return [`${s.tensor}.set(${name[n.id]});`];
    return loops(n.shape, (idx) => [`${s.tensor}[${flat(n.shape, idx)}] = ${element(n, idx)};`]);
  });
  return { statements, stores, helpers, buffers, operations };

  function materialize(n: Node) {
    const out = buffer(n);
    statements.push(...loops(n.shape, (idx) => [`${out}[${flat(n.shape, idx)}] = ${elementOf(n, idx)};`]));
  }
  /** The element of an inline node computed from its operands (not from its own buffer). */
  function elementOf(n: Node, idx: string[]): string {
    const saved = kind[n.id];
    kind[n.id] = "inline";
    const e = element(n, idx);
    kind[n.id] = saved;
    return e;
  }
  /** Its user reads it at other indices than its own (matmul, gather, logsumexp, pack...). */
  function needsAddress(n: Node): boolean {
    const user = consumer[n.id];
    return uses[n.id] !== 1 || !user || !(isElementwise(user.op) || ["sum", "prod", "rmax", "rmin"].includes(user.op));
  }
}
