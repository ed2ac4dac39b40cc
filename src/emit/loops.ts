// Loop code for large tensor programs. Fully unrolled code past a few thousand operations
// runs tens of times slower than a loop (V8 never optimizes a function over 61,440 bytes of
// bytecode; see README, "Unrolled or loops"), so here tensor operations become loops over
// flat Float64Array buffers allocated once per module, while small things stay unrolled:
// an axis of at most SMALL_EXTENT elements is written out with literal indices, and a
// tensor of at most SMALL_TENSOR elements lives in local constants, not in a buffer.
//
// What is stored: matmuls, packs, scatters, and elementwise nodes with several users or
// with a user that reads them at other indices. An elementwise node with one elementwise
// (or summing) user of the same shape is fused into that user's loop; reads through index
// maps (rows, transposes, shifts, broadcasts, element reads) become index arithmetic.

import { reachable, rowMajor, type Graph, type Node } from "../ir/graph.js";
import { ELEMENTWISE, isElementwise, type ElementwiseOp } from "../ir/ops.js";
import { literal, stripOuter } from "./straight.js";

export const SMALL_EXTENT = 4;
/** How many statements back a loop looks for an earlier loop to join. */
const MERGE_WINDOW = 64;
/** Dot products at least this long keep four partial sums. */
export const LONG_DOT = 32;
export const SMALL_TENSOR = 4;

export interface LoopSink {
  node: Node;
  /** For a scalar: the statement storing expression `x`. */
  scalar?: (x: string) => string;
  /** For a tensor: the holder (a Float64Array) to fill. */
  tensor?: string;
  /** The holder may be used as the node's own storage (gradients; never read by anything else). */
  direct?: boolean;
}

export interface LoopCode {
  /** Local aliases of module buffers, then the computation. */
  statements: string[];
  stores: string[][];
  helpers: Set<string>;
  /** Module-level buffer declarations this code uses. */
  buffers: Map<string, string>;
  operations: number;
}

/** An index: a constant plus loop variables with coefficients, folded as it is built. */
interface Ix {
  c: number;
  v: [string, number][];
}
const lit = (c: number): Ix => ({ c, v: [] });
const variable = (name: string): Ix => ({ c: 0, v: [[name, 1]] });
function ixAdd(a: Ix, b: Ix, k = 1): Ix {
  const v = new Map(a.v);
  for (const [n, c] of b.v) v.set(n, (v.get(n) ?? 0) + k * c);
  return { c: a.c + k * b.c, v: [...v].filter(([, c]) => c !== 0) };
}
const isLiteral = (x: Ix) => x.v.length === 0;
function ixText(x: Ix): string {
  const parts = x.v.map(([n, c]) => (c === 1 ? n : `${n} * ${c}`));
  if (x.c !== 0 || parts.length === 0) parts.push(String(x.c));
  return parts.join(" + ");
}
/** Flat index of a multi-index over `shape`, row-major. */
function flatten(shape: readonly number[], idx: Ix[]): Ix {
  const strides = rowMajor(shape);
  return idx.reduce((acc, x, d) => ixAdd(acc, x, strides[d]), lit(0));
}

type Storage = "scalar" | "scalars" | "buffer" | "inline" | "leaf";

export function printLoops(
  graph: Graph,
  sinks: readonly LoopSink[],
  leaf: (n: Node) => string | undefined,
  where: (line: number) => string = (line) => `line ${line}`,
): LoopCode {
  const resolve = (n: Node): Node => (n.op === "gate" ? resolve(n.args[0]) : n);
  const roots = sinks.map((s) => resolve(s.node));
  const needed = reachable(graph, roots);
  // Uses counted from the roots down; a gate is an alias of its forward value.
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
  // Gradient holders that can be a node's storage: the first direct sink of each node.
  const holderOf = new Map<number, string>();
  for (const s of sinks) if (s.direct && s.tensor && !holderOf.has(resolve(s.node).id) && resolve(s.node).size > SMALL_TENSOR) holderOf.set(resolve(s.node).id, s.tensor);

  const storage: Storage[] = new Array(graph.nodes.length);
  const name: string[] = new Array(graph.nodes.length);
  const statements: string[] = [];
  const aliases: string[] = [];
  const hoisted = new Map<string, string>();
  const helpers = new Set<string>();
  const buffers = new Map<string, string>();
  let operations = 0;
  let lastLine: number | undefined;

  const use = (op: ElementwiseOp) => {
    for (const h of op.helpers ?? []) helpers.add(h);
    return op;
  };
  const elementwiseOp = (n: Node) => use(ELEMENTWISE[n.op as keyof typeof ELEMENTWISE] as ElementwiseOp);

  /** JavaScript for element `idx` of node `n`. */
  const element = (n0: Node, idx: Ix[]): string => {
    const n = resolve(n0);
    if (n.op === "const") return literal(n.value!);
    if (n.size === 1) {
      if (storage[n.id] === "scalar") return name[n.id];
      if (storage[n.id] !== "inline") return storage[n.id] === "scalars" ? `${name[n.id]}_0` : `${name[n.id]}[0]`;
    }
    switch (storage[n.id]) {
      case "scalar":
        return name[n.id];
      case "leaf":
        return leafRead(n, flatten(n.shape, idx));
      case "buffer":
        return hoist(name[n.id], flatten(n.shape, idx));
      case "scalars": {
        const at = flatten(n.shape, idx);
        if (!isLiteral(at)) throw new Error(`internal: small tensor read at a variable index`);
        return `${name[n.id]}_${at.c}`;
      }
      case "inline": {
        if (n.op === "gather") {
          const source = resolve(n.args[0]);
          if (source.size === 1) return element(source, []);
          const at = idx.reduce((acc, x, d) => ixAdd(acc, x, n.map!.strides[d]), lit(n.map!.offset));
          return elementAtFlat(source, at);
        }
        if (n.op === "matmul") {
          // A short dot product, fused into its user: sum over q of a[i, q] * b[q, j].
          const [a, b] = n.args.map(resolve);
          const inner = a.shape[a.shape.length - 1];
          const [i, j] = a.shape.length === 2 && b.shape.length === 2 ? idx : a.shape.length === 2 ? [idx[0], undefined] : [undefined, idx[0]];
          const terms = Array.from({ length: inner }, (_, q) => `${element(a, i ? [i, lit(q)] : [lit(q)])} * ${element(b, j ? [lit(q), j] : [lit(q)])}`);
          return `(${terms.join(" + ")})`;
        }
        return elementwiseOp(n).print(...n.args.map((a) => element(a, resolve(a).shape.length ? idx : [])));
      }
    }
    throw new Error(`internal: no element of '${n.op}'`);
  };
  /** Element at a flat index of a stored node. */
  const elementAtFlat = (n: Node, at: Ix): string => {
    if (storage[n.id] === "scalars") {
      if (!isLiteral(at)) throw new Error("internal: small tensor read at a variable index");
      return `${name[n.id]}_${at.c}`;
    }
    if (storage[n.id] === "leaf") return leafRead(n, at);
    if (storage[n.id] === "buffer") return hoist(name[n.id], at);
    throw new Error(`internal: flat read of '${n.op}' stored as ${storage[n.id]}`);
  };
  /**
   * An argument element. At a fixed position it is read once, into a local: the loops that
   * use it write typed arrays V8 cannot prove distinct from it, so it would reload it.
   */
  function leafRead(n: Node, at: Ix): string {
    if (!isLiteral(at)) return hoist(name[n.id], at);
    const local = `${name[n.id]}_${at.c}`;
    if (!hoisted.has(local)) hoisted.set(local, `const ${local} = ${name[n.id]}[${at.c}];`);
    return local;
  }

  let depth = 0;
  const indexNames = ["i", "j", "k", "l"];
  /** The `for` loops being written, outermost first, each with reads hoisted to its body's top. */
  const levels: { variable: string; prelude: string[]; reads: Map<string, string> }[] = [];
  let hoistedReads = 0;
  /**
   * An array read in a nest of loops that does not depend on the innermost loop is read
   * once per iteration of the loop it does depend on: the arrays written in the nest may
   * be views of one buffer, so V8 would reload it every time. (Only reads of operands: a
   * node's loop nest writes only its own storage.)
   */
  const hoist = (array: string, at: Ix): string => {
    const text = `${array}[${ixText(at)}]`;
    if (levels.length < 2) return text;
    const used = at.v.map(([n]) => levels.findIndex((l) => l.variable === n));
    if (used.some((l) => l === -1) || used.includes(levels.length - 1)) return text;
    const level = levels[Math.max(0, ...used)];
    let local = level.reads.get(text);
    if (!local) {
      local = `r${hoistedReads++}`;
      level.reads.set(text, local);
      level.prelude.push(`const ${local} = ${text};`);
    }
    return local;
  };
  /**
   * Loops over `shape`: axes longer than SMALL_EXTENT become `for` loops, outermost; short
   * axes are unrolled inside them with literal indices (one loop of three statements, not
   * three loops).
   */
  const loops = (shape: readonly number[], body: (idx: Ix[]) => string[]): string[] => {
    const big = shape.map((_, d) => d).filter((d) => shape[d] > SMALL_EXTENT);
    const small = shape.map((_, d) => d).filter((d) => shape[d] <= SMALL_EXTENT);
    const idx: Ix[] = new Array(shape.length);
    const unrolled = (k: number): string[] => {
      if (k === small.length) return body([...idx]);
      const out: string[] = [];
      for (let v = 0; v < shape[small[k]]; v++) {
        idx[small[k]] = lit(v);
        out.push(...unrolled(k + 1));
      }
      return out;
    };
    const looped = (k: number): string[] => {
      if (k === big.length) return unrolled(0);
      const v = indexNames[depth] ?? `i${depth}`;
      idx[big[k]] = variable(v);
      depth++;
      const level = { variable: v, prelude: [] as string[], reads: new Map<string, string>() };
      levels.push(level);
      const inner = looped(k + 1);
      levels.pop();
      depth--;
      return [`for (let ${v} = 0; ${v} < ${shape[big[k]]}; ${v}++) {`, ...[...level.prelude, ...inner].map((s) => "  " + s), "}"];
    };
    return looped(0);
  };

  /** Give `n` storage: a gradient holder, local constants when small, else a module buffer. */
  const allocate = (n: Node): Storage => {
    const holder = holderOf.get(n.id);
    if (holder) {
      const local = `h${n.id}`;
      aliases.push(`const ${local} = ${holder};`);
      name[n.id] = local;
      return (storage[n.id] = "buffer");
    }
    if (n.size <= SMALL_TENSOR) {
      name[n.id] = `t${n.id}`;
      return (storage[n.id] = "scalars");
    }
    const b = `buf${n.id}`;
    buffers.set(b, `const ${b} = new Float64Array(${n.size});`);
    aliases.push(`const b${n.id} = ${b};`);
    name[n.id] = `b${n.id}`;
    return (storage[n.id] = "buffer");
  };
  /** The statement writing element `at` of stored node `n`. */
  const write = (n: Node, at: Ix, expr: string, op = "=", kind = storage[n.id]): string => {
    if (kind === "scalars") {
      if (!isLiteral(at)) throw new Error("internal: small tensor written at a variable index");
      return op === "=" ? `const ${name[n.id]}_${at.c} = ${expr};` : `${name[n.id]}_${at.c} ${op} ${expr};`;
    }
    return `${name[n.id]}[${ixText(at)}] ${op} ${expr};`;
  };

  const fusable = (n: Node) => {
    const user = consumer[n.id];
    return uses[n.id] === 1 && user !== undefined && n.shape.length > 0 && user.op !== "gate" &&
      ((isElementwise(user.op) && user.size === n.size) || user.op === "sum" || user.op === "prod" || user.op === "rmax" || user.op === "rmin" ||
        (user.op === "scatter" && n.op === "neg"));
  };

  /** Store an elementwise (or gather) node computed from its operands. */
  const materialize = (n: Node) => {
    const kind = allocate(n);
    storage[n.id] = "inline"; // computed from operands while its own loop is written
    const body = loops(n.shape, (idx) => [write(n, flatten(n.shape, idx), element(n, idx), "=", kind)]);
    storage[n.id] = kind;
    statements.push(...body);
  };

  for (const n of graph.nodes) {
    if (!needed[n.id] || !live[n.id] || n.op === "gate") continue;
    if (n.op === "const") continue;
    const leafName = leaf(n);
    if (leafName !== undefined) {
      name[n.id] = leafName;
      storage[n.id] = n.shape.length === 0 ? "scalar" : "leaf";
      continue;
    }
    const t = `t${n.id}`;
    const args = n.args.map(resolve);
    // A comment where the source line changes, so a profile or stack trace leads back.
    if (n.line !== undefined && n.line !== lastLine) {
      statements.push(`// ${where(n.line)}`);
      lastLine = n.line;
    }
    const scalarResult = (expr: string) => {
      statements.push(`const ${t} = ${expr};`);
      name[n.id] = t;
      storage[n.id] = "scalar";
    };

    if (n.op === "gather") {
      const source = args[0];
      if (storage[source.id] === "inline" && source.size !== 1) materialize(source);
      if (n.shape.length === 0) scalarResult(source.size === 1 ? element(source, []) : elementAtFlat(source, lit(n.map!.offset)));
      else storage[n.id] = "inline";
      continue;
    }
    if (isElementwise(n.op)) {
      operations += n.size;
      if (n.shape.length === 0) scalarResult(stripOuter(elementwiseOp(n).print(...args.map((a) => element(a, [])))));
      else if (fusable(n)) storage[n.id] = "inline";
      else materialize(n);
      continue;
    }
    switch (n.op) {
      case "matmul": {
        const [a, b] = args;
        const inner = a.shape[a.shape.length - 1];
        const rows = a.shape.length === 2 ? a.shape[0] : 0;
        const cols = b.shape.length === 2 ? b.shape[1] : 0;
        operations += 2 * Math.max(rows, 1) * inner * Math.max(cols, 1);
        // One dot product of length `inner`: an expression when short, else a loop into `acc`.
        const dot = (aAt: (q: Ix) => Ix[], bAt: (q: Ix) => Ix[], store: (expr: string) => string, acc: string): string[] => {
          if (inner <= SMALL_EXTENT) {
            const terms = Array.from({ length: inner }, (_, q) => `${element(a, aAt(lit(q)))} * ${element(b, bAt(lit(q)))}`);
            return [store(terms.join(" + "))];
          }
          const q = variable("q");
          const term = (k: number) => `${element(a, aAt(ixAdd(q, lit(k))))} * ${element(b, bAt(ixAdd(q, lit(k))))}`;
          if (inner < LONG_DOT) return [`let ${acc} = 0;`, `for (let q = 0; q < ${inner}; q++) ${acc} += ${term(0)};`, store(acc)];
          // A long dot product is bound by the latency of one running sum: four sums in
          // flight, as in hand-tuned code.
          const sums = [0, 1, 2, 3].map((k) => `${acc}${k}`);
          const whole = inner - (inner % 4);
          return [
            `let ${sums.map((v) => `${v} = 0`).join(", ")};`,
            `for (let q = 0; q < ${whole}; q += 4) {`,
            ...sums.map((v, k) => `  ${v} += ${term(k)};`),
            "}",
            ...(whole < inner ? [`for (let q = ${whole}; q < ${inner}; q++) ${sums[0]} += ${term(0)};`] : []),
            store(`(${sums[0]} + ${sums[1]}) + (${sums[2]} + ${sums[3]})`),
          ];
        };
        if (n.shape.length === 0) {
          statements.push(...dot((q) => [q], (q) => [q], (x) => `const ${t} = ${x};`, `${t}acc`));
          name[n.id] = t;
          storage[n.id] = "scalar";
          break;
        }
        if (inner <= SMALL_EXTENT && fusable(n)) {
          storage[n.id] = "inline";
          break;
        }
        if (n.size <= SMALL_TENSOR && inner > SMALL_EXTENT) {
          // A few long dot products: one pass over the inner axis, one accumulator each.
          allocate(n);
          const q = variable("q");
          const cells = Array.from({ length: n.size }, (_, k) => (rows && cols ? [lit(Math.floor(k / cols)), lit(k % cols)] : [lit(k)]));
          const terms = cells.map((idx) => {
            const [i, j] = rows && cols ? idx : rows ? [idx[0], undefined] : [undefined, idx[0]];
            return `${element(a, i ? [i, q] : [q])} * ${element(b, j ? [q, j] : [q])}`;
          });
          statements.push(...cells.map((_, k) => `let ${t}s${k} = 0;`));
          statements.push(`for (let i = 0; i < ${inner}; i++) {`, ...terms.map((x, k) => `  ${t}s${k} += ${x.replace(/\bq\b/g, "i")};`), "}");
          statements.push(...cells.map((_, k) => write(n, lit(k), `${t}s${k}`)));
          break;
        }
        const aOf = (i: Ix | undefined) => (q: Ix) => (i ? [i, q] : [q]);
        const bOf = (j: Ix | undefined) => (q: Ix) => (j ? [q, j] : [q]);
        let accCount = 0;
        const body = (idx: Ix[]) => {
          const [i, j] = rows && cols ? idx : rows ? [idx[0], undefined] : [undefined, idx[0]];
          const at = flatten(n.shape, idx);
          const acc = `${t}s${accCount++}`; // unique: unrolled short axes put several in one loop body
          return dot(aOf(i), bOf(j), (x) => write(n, at, x), acc);
        };
        allocate(n);
        statements.push(...loops(n.shape, body));
        break;
      }
      case "sum":
      case "prod":
      case "rmax":
      case "rmin": {
        const x = args[0];
        operations += x.size;
        const init = { sum: "0", prod: "1", rmax: "-Infinity", rmin: "Infinity" }[n.op];
        const step = (e: string) => (n.op === "sum" ? `${t} += ${e};` : n.op === "prod" ? `${t} *= ${e};` : `${t} = Math.${n.op === "rmax" ? "max" : "min"}(${t}, ${e});`);
        statements.push(`let ${t} = ${init};`, ...loops(x.shape, (idx) => [step(element(x, idx))]));
        name[n.id] = t;
        storage[n.id] = "scalar";
        break;
      }
      case "logsumexp": {
        const x = args[0];
        if (storage[x.id] === "inline") materialize(x);
        operations += 3 * x.size;
        use(ELEMENTWISE.lseFinish);
        statements.push(`let ${t}m = -Infinity;`, ...loops(x.shape, (idx) => [`${t}m = Math.max(${t}m, ${element(x, idx)});`]));
        statements.push(`let ${t}s = 0;`, ...loops(x.shape, (idx) => [`${t}s += Math.exp(${element(x, idx)} - ${t}m);`]));
        scalarResult(`lseFinish(${t}m, ${t}s)`);
        break;
      }
      case "prodexcept": {
        // prefix[i] * suffix[i+1]: the product of the other elements, exact at zeros.
        const x = args[0];
        if (storage[x.id] === "inline") materialize(x);
        operations += 3 * x.size;
        allocate(n);
        const at = (i: number) => elementAtFlat(x, lit(i));
        if (storage[n.id] === "scalars") {
          for (let i = 0; i < n.size; i++) {
            const others = Array.from({ length: n.size }, (_, k) => k).filter((k) => k !== i).map(at);
            statements.push(write(n, lit(i), others.join(" * ") || "1"));
          }
        } else {
          const self = name[n.id];
          const xi = elementAtFlat(x, variable("i"));
          statements.push(`let ${t}p = 1;`, `for (let i = 0; i < ${n.size}; i++) { ${self}[i] = ${t}p; ${t}p *= ${xi}; }`);
          statements.push(`${t}p = 1;`, `for (let i = ${n.size - 1}; i >= 0; i--) { ${self}[i] *= ${t}p; ${t}p *= ${xi}; }`);
        }
        break;
      }
      case "pack": {
        allocate(n);
        const part = args[0];
        args.forEach((p, k) => {
          statements.push(...loops(part.shape, (idx) => [write(n, ixAdd(flatten(part.shape, idx), lit(k * part.size)), element(p, idx))]));
        });
        break;
      }
      case "scatter": {
        allocate(n);
        if (storage[n.id] === "scalars") for (let k = 0; k < n.size; k++) statements.push(`let ${name[n.id]}_${k} = 0;`);
        else statements.push(`${name[n.id]}.fill(0);`);
        args.forEach((p, k) => {
          const map = n.maps![k];
          operations += p.size;
          // A negated part fused here is subtracted: the adjoint of `a - b` sends -g to b.
          const negated = p.op === "neg" && storage[p.id] === "inline";
          const at = (idx: Ix[]) => idx.reduce((acc, x, d) => ixAdd(acc, x, map.strides[d]), lit(map.offset));
          statements.push(...loops(p.shape, (idx) => [write(n, at(idx), negated ? element(p.args[0], idx) : element(p, idx), negated ? "-=" : "+=")]));
        });
        break;
      }
      default:
        throw new Error(`internal: no loop code for '${n.op}'`);
    }
  }

  const stores = sinks.map((s) => {
    const n = resolve(s.node);
    if (s.scalar) return [s.scalar(stripOuter(element(n, [])))];
    if (holderOf.get(n.id) === s.tensor && name[n.id] === `h${n.id}`) return []; // computed in place
    if (n.size === 1 && n.shape.length === 0) return [`${s.tensor}.fill(${element(n, [])});`];
    if (storage[n.id] === "buffer") return [`${s.tensor}.set(${name[n.id]});`];
    return [`{`, `  const out = ${s.tensor};`, ...loops(n.shape, (idx) => [`  out[${ixText(flatten(n.shape, idx))}] = ${element(n, idx)};`]), `}`];
  });
  // The stores read buffers too: fusion must not turn those into loop locals.
  const fused = fuseLoops(statements, (buffer) => graph.nodes[Number(buffer.slice(1))].size, stores.flat().join("\n"));
  for (const b of fused.scalarized) buffers.delete(`buf${b.slice(1)}`);
  const keptAliases = aliases.filter((a) => !fused.scalarized.has(a.slice(6, a.indexOf(" ", 6))));
  // A source-line comment whose code moved into an earlier loop is left heading nothing.
  const lines = fused.lines.filter((l, k) => !(l.startsWith("// ") && fused.lines[k + 1]?.startsWith("// ")));
  return { statements: [...keptAliases, ...hoisted.values(), ...unrollLoops(lines)], stores: stores.map(unrollLoops), helpers, buffers, operations };
}

/** Innermost loops at least this long are unrolled by UNROLL_BY. */
const UNROLL_MIN_EXTENT = 8;
const UNROLL_BY = 4;
/** Loop bodies longer than this (in lines) stay rolled: four copies would bloat the function. */
const UNROLL_MAX_BODY = 32;

/**
 * Innermost loops run four steps per iteration: `for (let i0 = 0; i0 < 996; i0 += 4)` around four
 * copies of the body, each in a block that binds `i` to its step, then the remaining steps.
 * V8 checks each typed array again at every access after a store, and checks for interrupts
 * once per iteration; four steps share that work. Measured on the benchmark models' backward
 * passes: 11% (the chain) to 35% (the softmax classifier's outer product) less time. The steps
 * run in their original order, so every value is the same, bit for bit.
 */
export function unrollLoops(lines: string[]): string[] {
  const out: string[] = [];
  for (let k = 0; k < lines.length; k++) {
    const m = /^(\s*)for \(let (\w+) = 0; \2 < (\d+); \2\+\+\) \{$/.exec(lines[k]);
    let end = k + 1;
    if (m) while (end < lines.length && lines[end] !== `${m[1]}}`) end++;
    const body = lines.slice(k + 1, end);
    const extent = m ? Number(m[3]) : 0;
    if (!m || end === lines.length || extent < UNROLL_MIN_EXTENT || body.length > UNROLL_MAX_BODY || body.some((l) => /^\s*for /.test(l))) {
      out.push(lines[k]);
      continue;
    }
    const [, indent, v] = m;
    const whole = extent - (extent % UNROLL_BY);
    out.push(`${indent}for (let ${v}0 = 0; ${v}0 < ${whole}; ${v}0 += ${UNROLL_BY}) {`);
    for (let step = 0; step < UNROLL_BY; step++) {
      out.push(`${indent}  {`, `${indent}    const ${v} = ${v}0${step ? ` + ${step}` : ""};`, ...body.map((l) => "  " + l), `${indent}  }`);
    }
    out.push(`${indent}}`);
    if (whole < extent) out.push(`${indent}for (let ${v} = ${whole}; ${v} < ${extent}; ${v}++) {`, ...body, `${indent}}`);
    k = end;
  }
  return out;
}

interface Block {
  lines: string[];
  /** `for (let i = 0; i < N; i++) {` of a top-level loop, else undefined. */
  header?: string;
}

/**
 * Merge consecutive top-level loops over the same range when every buffer one of them
 * writes is touched by the others only at the loop index itself (`b[i]`): the backward
 * pass of a layer then walks its hidden units once, as hand-written code does. Fresh
 * accumulators (`let t = 0;`) and zero fills of buffers the loops do not touch move above
 * them. A buffer that a merged loop writes and reads only at `[i]`, and nothing else reads,
 * becomes a local constant of the loop body (`bN_i`), and its module buffer goes.
 */
function fuseLoops(lines: string[], sizeOf: (buffer: string) => number, readAfter: string): { lines: string[]; scalarized: Set<string> } {
  const extent = (header: string) => Number(/i < (\d+);/.exec(header)![1]);
  /** Carry the group's shifted sums now when `next` can join it then; whether it can. */
  const carryEarly = (group: { hoisted: string[]; loops: Block[]; after: string[] }, next: Block): boolean => {
    const header = group.loops[0].header!;
    const carried = carryShiftedSums(group.hoisted, header, group.loops.flatMap((l) => l.lines), sizeOf);
    if (carried.after.length === 0) return false;
    const whole: Block = { lines: carried.body, header };
    if (!independent([whole], { ...next, header })) return false;
    group.loops = [whole];
    group.hoisted = carried.before;
    group.after.push(...carried.after);
    return true;
  };
  /** `x[n] = xcarry;` after a loop over n, or a read of such an `x[n]`, with x carried. */
  const carriedLast = (group: { after: string[]; loops: Block[] }, line: string) => {
    const n = extent(group.loops[0].header!);
    const accesses = [...line.matchAll(/\b(b\d+)\[([^\]]*)\]/g)];
    return accesses.length > 0 && accesses.every((m) => m[2] === String(n) && group.after.includes(`${m[1]}[${n}] = ${m[1]}carry;`)) && !/\bb\d+\b(?!\[)/.test(line.replace(/\bb\d+carry\b/g, ""));
  };
  const blocks: Block[] = [];
  for (let k = 0; k < lines.length; k++) {
    const line = lines[k];
    if (/^for \(let i = 0; i < \d+; i\+\+\) \{$/.test(line)) {
      let end = k + 1;
      while (lines[end] !== "}") end++;
      blocks.push({ lines: lines.slice(k + 1, end), header: line });
      k = end;
    } else blocks.push({ lines: [line] });
  }
  // Fresh accumulators with constant initial values (`let t = 0;`) go to the top, so that
  // no loop is kept from moving by the declaration of its own accumulator.
  const declarations = blocks.filter((b) => !b.header && /^let t\w+ = (0|1|-Infinity|Infinity);$/.test(b.lines[0])).map((b) => b.lines[0]);
  // The names of an item are read only when a loop looks back past it: computed then, once.
  // `after`: statements right after the loop (the last element of a carried sum), before the
  // peeled last step.
  type Group = { hoisted: string[]; loops: Block[]; peeled: string[]; after: string[] };
  type Item = ({ group: Group } | { line: string }) & { known?: Set<string> };
  const items: Item[] = [];
  const names = (ls: string[]) => new Set(ls.flatMap((l) => [...l.matchAll(/\b(?:t\w+|[bh]\d+)\b/g)].map((m) => m[0])));
  const namesOf = (item: Item) => (item.known ??= names("line" in item ? [item.line] : [...item.group.loops.flatMap((l) => l.lines), ...item.group.peeled]));
  const declared = new Set(declarations);
  for (const b of blocks) {
    if (!b.header) {
      if (!declared.has(b.lines[0])) items.push({ line: b.lines[0] });
      continue;
    }
    const own = names(b.lines);
    // The nearest earlier loop over the same range that this one can join: everything in
    // between shares nothing with it, except zero fills of buffers it accumulates into,
    // which move up with it.
    let merged = false;
    for (let j = items.length - 1; j >= Math.max(0, items.length - MERGE_WINDOW); j--) {
      const item = items[j];
      // A loop one step longer joins too, its last step peeled off after the loop (x[i+1] - x[i]
      // runs over n - 1 steps beside sums over n).
      const longer = "group" in item && extent(b.header) === extent(item.group.loops[0].header!) + 1;
      // A loop that reads a sum the group carries (see carryShiftedSums) can join once the sum
      // is carried: each element is then complete in its own iteration.
      const joins = "group" in item && (item.group.loops[0].header === b.header || longer) && (independent(item.group.loops, b) || carryEarly(item.group, b));
      if (joins) {
        const between = items.slice(j + 1);
        const fills = between.filter((x) => "line" in x && /^[bh]\d+\.fill\(0\);$/.test(x.line) && own.has(x.line.slice(0, x.line.indexOf("."))));
        const blocked = between.some((x) => !fills.includes(x) && [...own].some((n) => namesOf(x).has(n)));
        const fillsFree = fills.every((f) => {
          const buffer = (f as { line: string }).line.slice(0, (f as { line: string }).line.indexOf("."));
          return !namesOf(item).has(buffer) && between.every((x) => x === f || !namesOf(x).has(buffer));
        });
        if (!blocked && fillsFree) {
          item.group.hoisted.push(...fills.map((f) => (f as { line: string }).line));
          for (const f of fills) items.splice(items.indexOf(f), 1);
          if (longer) {
            const last = String(extent(b.header) - 1);
            item.group.peeled.push(...b.lines.map((l) => l.replace(/\bi\b/g, last)));
            item.group.loops.push({ lines: b.lines, header: item.group.loops[0].header });
          } else item.group.loops.push(b);
          for (const n of own) namesOf(item).add(n);
          merged = true;
        }
        break;
      }
    }
    if (!merged) items.push({ group: { hoisted: [], loops: [b], peeled: [], after: [] }, known: own });
  }
  const groups: Group[] = [];
  const out: (string | { group: number })[] = [...declarations];
  for (const item of items) {
    if ("line" in item) out.push(item.line);
    else out.push({ group: groups.push(item.group) - 1 });
  }

  // Buffers used anywhere outside a loop body can not become locals.
  const usedOutside = new Map<string, number>();
  const count = (text: string, group: number) => {
    for (const m of text.matchAll(/\b(b\d+)\b/g)) {
      const seen = usedOutside.get(m[1]);
      usedOutside.set(m[1], seen === undefined || seen === group ? group : -1);
    }
  };
  count(readAfter, -1);
  out.forEach((item) => {
    if (typeof item === "string") count(item, -1);
    else {
      for (const l of [...groups[item.group].hoisted, ...groups[item.group].loops.flatMap((b) => b.lines)]) count(l, item.group);
      // The statements after the loop and its peeled step read at a fixed index: a buffer used
      // there too is kept, unless it is a carried sum whose last element only they use.
      for (const l of [...groups[item.group].after, ...groups[item.group].peeled]) count(l, carriedLast(groups[item.group], l) ? item.group : -1);
    }
  });
  const scalarized = new Set<string>();
  const result: string[] = [];
  for (const item of out) {
    if (typeof item === "string") {
      result.push(item);
      continue;
    }
    const g = groups[item.group];
    let body = g.loops.flatMap((b) => b.lines);
    const locals = [...new Set(body.flatMap((l) => [...l.matchAll(/\b(b\d+)\[([^\]]*)\]/g)].map((m) => m[1])))].filter((b) => {
      if (usedOutside.get(b) !== item.group) return false;
      const uses = body.flatMap((l) => [...l.matchAll(new RegExp(`\\b${b}\\[([^\\]]*)\\]`, "g"))].map((m) => m[1]));
      const firstWrite = body.findIndex((l) => l.startsWith(`  ${b}[i] = `));
      const firstUse = body.findIndex((l) => l.includes(`${b}[`));
      return uses.every((ix) => ix === "i") && firstWrite !== -1 && firstWrite === firstUse && body.filter((l) => l.startsWith(`  ${b}[i] = `)).length === 1;
    });
    for (const b of locals) {
      scalarized.add(b);
      body = body.map((l) => (l.startsWith(`  ${b}[i] = `) ? `  const ${b}_i = ${l.slice(`  ${b}[i] = `.length)}` : l).replaceAll(`${b}[i]`, `${b}_i`));
    }
    const carried = carryShiftedSums(g.hoisted, g.loops[0].header!, body, sizeOf);
    result.push(...carried.before, g.loops[0].header!, ...bindElementReads(carried.body), "}", ...carried.after);
    // A carried sum that became a local: its last element, after the loop, a local too.
    const last = extent(g.loops[0].header!);
    let tail = [...g.after, ...g.peeled];
    for (const b of locals) tail = tail.map((l) => l.replace(`${b}[${last}] = `, `const ${b}_last = `).replaceAll(`${b}[${last}]`, `${b}_last`));
    result.push(...tail.slice(0, g.after.length));
    if (g.peeled.length) result.push("{", ...tail.slice(g.after.length), "}");
  }
  return { lines: result, scalarized };
}

/**
 * A zero-filled buffer of n + 1 elements that a loop over n only accumulates into at `[i]`
 * and `[i + 1]` (the adjoint of reading x[i] and x[i+1], as in Rosenbrock or a chain of
 * springs) is written once per element instead: what iteration i adds to element i + 1 is
 * carried to the next iteration, and the zero fill goes.
 */
function carryShiftedSums(hoisted: string[], header: string, body: string[], sizeOf: (buffer: string) => number) {
  const n = Number(/i < (\d+);/.exec(header)![1]);
  const before = [...hoisted];
  const after: string[] = [];
  for (const fill of hoisted) {
    const m = /^([bh]\d+)\.fill\(0\);$/.exec(fill);
    if (!m || sizeOf(m[1]) !== n + 1) continue;
    const x = m[1];
    const uses = body.filter((l) => l.includes(`${x}[`));
    // `x[i] += e` or `x[i] -= e` (a negated part)
    const update = (l: string) => /^ {2}(\w+)\[(.*?)\] ([-+])= (.*);$/.exec(l) ?? undefined;
    const updates = body.map(update);
    const here = updates.findIndex((u) => u?.[1] === x && u[2] === "i");
    const next = updates.findIndex((u) => u?.[1] === x && u[2] === "i + 1");
    if (uses.length !== 2 || here === -1 || next === -1 || body.some((l) => (l.match(new RegExp(`\\b${x}\\[`, "g")) ?? []).length > 1)) continue;
    const carry = `${x}carry`;
    before.splice(before.indexOf(fill), 1, `let ${carry} = 0;`);
    const [, , , ownSign, own] = updates[here]!;
    const [, , , shiftedSign, shifted] = updates[next]!;
    body = body.map((l, k) => (k === here ? `  ${x}[i] = ${carry} ${ownSign} ${own};` : k === next ? `  ${carry} = ${shiftedSign === "-" ? `-(${shifted})` : shifted};` : l));
    // The carry must be read before it is overwritten.
    if (next < here) [body[here], body[next]] = [body[next], body[here]];
    after.push(`${x}[${n}] = ${carry};`);
  }
  return { before, body, after };
}

/**
 * An array element that one loop body uses more than once goes into a local constant: the
 * element written by `x[i] = e;` and read further down, and an element only read, several
 * times. Every write in the body is to a typed array V8 cannot prove distinct from the others,
 * so it would load the element again at each use. (The spiral net's backward loop reads the
 * hidden layer's element four times, and its bias gradient twice after writing it.)
 */
function bindElementReads(body: string[]): string[] {
  if (body.some((l) => /^\s*for /.test(l) || !l.startsWith("  ") || l.startsWith("   "))) return body; // nested code: leave alone
  const access = /\b([abh]\d+)\[([^\[\]]*)\]/g;
  const writeOf = (l: string) => /^ {2}([abh]\d+)\[([^\[\]]*)\] (=|\+=|\*=|-=) /.exec(l);
  const written = new Map<string, number>();
  for (const l of body) {
    const w = writeOf(l);
    if (w) written.set(w[1], (written.get(w[1]) ?? 0) + 1);
  }
  const localOf = (array: string, index: string) => `${array}_${index.replace(/ \+ /g, "p").replace(/ \* /g, "x")}`;
  const out = body.slice();
  const seen = new Set<string>();
  for (let k = 0; k < out.length; k++) {
    for (const m of [...out[k].matchAll(access)]) {
      const [text, array, index] = m;
      if (seen.has(text) || !/^[\w +*]+$/.test(index)) continue;
      seen.add(text);
      const local = localOf(array, index);
      const w = writeOf(out[k]);
      const isWrite = w !== null && w[1] === array && w[2] === index && m.index === 2;
      if (isWrite) {
        // Written once with `=`, read further down: the value is at hand.
        if (written.get(array) !== 1 || w![3] !== "=" ) continue;
        if (!out.slice(k + 1).some((l) => l.includes(text))) continue;
        const value = out[k].slice(2 + text.length + 3, -1);
        out.splice(k, 1, `  const ${local} = ${value};`, `  ${text} = ${local};`);
        for (let j = k + 2; j < out.length; j++) out[j] = out[j].replaceAll(text, local);
        k++;
        continue;
      }
      // Only read, never written in the body, at least twice: read once.
      if (written.has(array)) continue;
      const uses = out.slice(k).reduce((n, l) => n + l.split(text).length - 1, 0);
      if (uses < 2) continue;
      for (let j = k; j < out.length; j++) out[j] = out[j].replaceAll(text, local);
      out.splice(k, 0, `  const ${local} = ${text};`);
      k++;
    }
  }
  return out;
}

const BUFFER_ACCESS = /\b([bh]\d+)\[([^\]]*)\]/g;

/** Buffers written by one side and used by the other are only ever indexed `[i]`. */
function independent(group: Block[], next: Block): boolean {
  const accesses = (ls: string[]) => {
    const written = new Set<string>();
    const used = new Map<string, Set<string>>();
    for (const l of ls) {
      if (/^\s*for /.test(l)) return undefined; // nested loops: leave alone
      for (const m of l.matchAll(BUFFER_ACCESS)) {
        if (!used.has(m[1])) used.set(m[1], new Set());
        used.get(m[1])!.add(m[2]);
      }
      const w = /^\s*([bh]\d+)\[/.exec(l);
      if (w) written.add(w[1]);
      const acc = /^\s*(t\w+) (?:=|\+=|\*=) /.exec(l);
      if (acc) accumulators.add(acc[1]);
    }
    return { written, used, accumulators, text: ls.join("\n") };
  };
  const accumulators = new Set<string>();
  const a = accesses(group.flatMap((b) => b.lines));
  const b = accesses(next.lines);
  if (!a || !b) return false;
  // An accumulator (a reduction running in the loop) is complete only after the loop.
  for (const t of accumulators) if (new RegExp(`\\b${t}\\b`).test(a.text) && new RegExp(`\\b${t}\\b`).test(b.text)) return false;
  const shared = [...a.written].filter((x) => b.used.has(x)).concat([...b.written].filter((x) => a.used.has(x)));
  // A buffer only ever accumulated into (`x[..] += ...`, as scatters do) may be hit at any
  // index in any order: addition commutes, and nothing reads it inside the loops.
  const lines = [...group.flatMap((g) => g.lines), ...next.lines];
  const onlyAccumulated = (x: string) =>
    lines.every((l) => {
      const hits = [...l.matchAll(new RegExp(`\\b${x}\\[`, "g"))].length;
      return hits === 0 || (hits === 1 && new RegExp(`^\\s*${x}\\[[^\\]]*\\] [-+]= `).test(l));
    });
  return shared.every((x) => onlyAccumulated(x) || [...(a.used.get(x) ?? []), ...(b.used.get(x) ?? [])].every((ix) => ix === "i"));
}
