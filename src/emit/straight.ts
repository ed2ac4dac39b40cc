// Straight-line code for a scalar graph: one `const` per shared or deep subexpression, in
// topological order, and single-use subexpressions inlined into their user (up to a depth,
// so V8's parser never meets a thousand nested parentheses). Every temporary is named
// `t<n>`, and names from the source never become identifiers, so the two cannot collide.

import { reachable, type Graph, type Node } from "../ir/graph.js";
import { ELEMENTWISE, type ElementwiseOp } from "../ir/ops.js";

export interface Sink {
  node: Node;
  /** The statement that stores the value, given its expression. */
  store: (expr: string) => string;
}

export interface Printed {
  /** The computation, then one store per sink, in sink order. */
  statements: string[];
  stores: string[];
  helpers: Set<string>;
  /** Scalar operations computed (constants and argument reads excluded). */
  operations: number;
}

const MAX_INLINE_DEPTH = 12;

/** A JavaScript numeric literal for any double, parenthesised when negative. */
export function literal(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "Infinity";
  if (v === -Infinity) return "(-Infinity)";
  if (Object.is(v, -0)) return "(-0)";
  return v < 0 ? `(${String(v)})` : String(v);
}

/**
 * `leaf` names argument reads (`a0`, `a0[3]`, `s1`) and returns undefined for other nodes;
 * `prefix` keeps temporaries of several functions in one module apart. An array element read
 * at least `readsToName(read)` times is read once into a temporary (see below).
 */
export function printStraightLine(
  graph: Graph,
  sinks: readonly Sink[],
  leaf: (n: Node) => string | undefined,
  where: (line: number) => string = (line) => `line ${line}`,
  prefix = "t",
  readsToName: (read: string) => number = () => 3,
): Printed {
  const needed = reachable(graph, sinks.map((s) => s.node));
  const names: (string | undefined)[] = graph.nodes.map((n) => (needed[n.id] ? leaf(n) : undefined));
  // Uses by computed nodes: an argument read is printed by name, not from its operands.
  const uses = new Uint32Array(graph.nodes.length);
  for (const n of graph.nodes) if (needed[n.id] && names[n.id] === undefined) for (const a of n.args) uses[a.id]++;
  // chainmul reads its upstream twice (g === 0 ? 0 : g * l): named, it is printed inline,
  // where a call of the helper would stay a call once V8's inlining budget is spent.
  for (const n of graph.nodes) if (needed[n.id] && n.op === "chainmul") uses[n.args[0].id]++;
  const stored = new Uint32Array(graph.nodes.length);
  for (const s of sinks) stored[s.node.id]++;

  const text: string[] = new Array(graph.nodes.length);
  const depth = new Uint8Array(graph.nodes.length);
  // Whether an inlined expression reads an argument: the stores come after every statement
  // and may write into an array the arguments alias, so such an expression is named first.
  const readsArgument = new Uint8Array(graph.nodes.length);
  // `a > b` of an inlined comparison, for the `where` that tests it (`a > b ? x : y`, not
  // `(a > b ? 1 : 0) !== 0 ? x : y`).
  const test: (string | undefined)[] = new Array(graph.nodes.length);
  const statements: string[] = [];
  const helpers = new Set<string>();
  let operations = 0;
  let temporaries = 0;
  let lastLine: number | undefined;

  for (const n of graph.nodes) {
    if (!needed[n.id]) continue;
    if (n.op === "const") {
      text[n.id] = literal(n.value!);
      continue;
    }
    const name = names[n.id];
    if (name !== undefined) {
      // An array element read several times is read once into a temporary: V8 does not
      // reuse a loaded typed-array element for the next read of it, so each read is a load
      // and a bounds check again (Rosenbrock's x[0], read four times: the flat kernel took
      // 1.13x the hand-written function's time, 0.98x with one read; the triangle's area,
      // each element read twice: 1.17x, 1.10x). Named, it is read before any store, so a
      // store into an aliasing array cannot change it. The flat kernels name elements of x
      // read twice; other reads are named from three on: an unrolled program reads each
      // element of a long input for the value and again for the gradient, and its module
      // would grow by a line per element.
      if (name.endsWith("]") && uses[n.id] + stored[n.id] >= readsToName(name)) {
        const t = `${prefix}${temporaries++}`;
        statements.push(`const ${t} = ${name};`);
        text[n.id] = t;
      } else {
        text[n.id] = name;
        readsArgument[n.id] = 1;
      }
      continue;
    }
    const op = ELEMENTWISE[n.op as keyof typeof ELEMENTWISE] as ElementwiseOp | undefined;
    if (!op || n.size !== 1) throw new Error(`internal: '${n.op}' in straight-line code`);
    for (const h of op.helpers ?? []) helpers.add(h);
    operations++;
    const args = n.args.map((a) => text[a.id]);
    const condition = n.op === "where" ? test[n.args[0].id] : undefined;
    const expr = condition !== undefined ? `(${condition} ? ${args[1]} : ${args[2]})` : op.print(...args);
    const d = 1 + Math.max(0, ...n.args.map((a) => depth[a.id]));
    const reads = n.args.some((a) => readsArgument[a.id]);
    // Used once, by one other expression or (reading no argument) by one store: inlined. A
    // store's value is named otherwise, and named values cost V8 a register each; a kernel
    // with fewer registers and instructions stays under V8's inlining limit longer.
    const once = stored[n.id] === 0 ? uses[n.id] === 1 : stored[n.id] === 1 && uses[n.id] === 0 && !reads;
    if (once && d < MAX_INLINE_DEPTH && expr.length < 200) {
      text[n.id] = expr;
      depth[n.id] = d;
      readsArgument[n.id] = reads ? 1 : 0;
      if (n.op in COMPARISON) test[n.id] = comparison(n.op, n.args[0].op === "const" && n.args[1].op !== "const", args[0], args[1]);
    } else {
      const t = `${prefix}${temporaries++}`;
      // A comment where the source line changes, so a profile or stack trace leads back.
      if (n.line !== undefined && n.line !== lastLine) statements.push(`// ${where(n.line)}`);
      lastLine = n.line ?? lastLine;
      statements.push(`const ${t} = ${stripOuter(expr)};`);
      text[n.id] = t;
    }
  }
  const stores = sinks.map((s) => s.store(stripOuter(text[s.node.id])));
  return { statements, stores, helpers, operations };
}

/** The operators of the comparisons, which print as `(a > b ? 1 : 0)` on their own. */
const COMPARISON: Record<string, string> = { lt: "<", le: "<=", gt: ">", ge: ">=", eq: "===", ne: "!==" };
const MIRRORED: Record<string, string> = { lt: "gt", le: "ge", gt: "lt", ge: "le", eq: "eq", ne: "ne" };

/**
 * `a op b`, or `b op' a` with the constant `a` moved right (`t > 0` for `0 < t`): V8 compares
 * with a constant in its accumulator, so that order is a few bytes shorter.
 */
function comparison(op: string, flip: boolean, a: string, b: string): string {
  return flip ? `${b} ${COMPARISON[MIRRORED[op]]} ${a}` : `${a} ${COMPARISON[op]} ${b}`;
}

/** `(a + b)` -> `a + b` when the parentheses enclose the whole expression. */
export function stripOuter(expr: string): string {
  if (!expr.startsWith("(") || !expr.endsWith(")")) return expr;
  let level = 0;
  for (let i = 0; i < expr.length; i++) {
    if (expr[i] === "(") level++;
    else if (expr[i] === ")") level--;
    if (level === 0 && i < expr.length - 1) return expr;
  }
  return expr.slice(1, -1);
}
