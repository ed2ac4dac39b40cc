// Checks of integer inputs, run before anything is computed: every element must be a whole
// number (a TypeError naming the input), and every element that indexes must be in range
// for the axis it indexes (a RangeError naming the input, the element and its value). As
// they run first, a bad index leaves every holder as it was. The IR marks indices read from
// data with `checkindex` nodes (see Graph.checkIndex); each reads a view of one integer
// input, whose elements are walked here with the view's own index arithmetic.

import { knownNode, knownSize, reachable, rowMajor, type Graph, type Node } from "../ir/graph.js";
import { formatSize } from "../ir/size.js";
import type { Argument } from "../check/checker.js";

/** Statements for the top of forwardInto and backwardInto; `local(i)` names argument i's local. */
export function indexChecks(graph: Graph, roots: readonly Node[], args: readonly Argument[], sourceName: string): string[] {
  const integers = args.map((a, i) => ({ a, i })).filter(({ a }) => a.integer);
  if (integers.length === 0) return [];
  const file = JSON.stringify(sourceName);
  const lines: string[] = [];
  const where = (a: Argument, k: string) =>
    a.shape.length <= 1 ? `"[" + ${k} + "]"` : `"[" + [${rowMajor(a.shape).map((s, d) => `Math.floor(${k} / ${s}) % ${a.shape[d]}`).join(", ")}].join(", ") + "]"`;
  for (const { a, i } of integers) {
    const value = a.shape.length ? `a${i}[k]` : `a${i}`;
    const body = `if (!Number.isInteger(v)) throw new TypeError(${file} + ": integer input " + ${JSON.stringify(`'${a.name}'`)} + " must hold whole numbers, but element " + ${a.shape.length ? where(a, "k") : '"[]"'} + " is " + v);`;
    lines.push(a.shape.length ? `for (let k = 0; k < ${a.node.size}; k++) { const v = ${value}; ${body} }` : `{ const v = ${value}; ${body} }`);
  }
  const needed = reachable(graph, roots);
  const seen = new Set<string>();
  for (const n of graph.nodes) {
    if (!needed[n.id] || n.op !== "checkindex") continue;
    // A view of the input is walked as it reads; anything else (a pick through a table)
    // checks the whole input, which is stricter than needed but never misses.
    const view = viewOfInput(n.args[0]) ?? viewOfInput(sourceInput(n.args[0]));
    if (!view) throw new Error("internal: a checked index that does not read an integer input");
    const i = args.findIndex((a) => a.node === view.input);
    const a = args[i];
    const text = `${i}:${view.offset}:${view.shape.join(",")}:${view.strides.join(",")}:${formatSize(n.bound!)}`;
    if (seen.has(text)) continue;
    seen.add(text);
    const bound = knownSize(n.bound!);
    // The flat positions the view reads: offset + sum(stride * index) over its shape.
    const loops = view.shape.map((d, k) => `for (let i${k} = 0; i${k} < ${d}; i${k}++) `).join("");
    const at = [String(view.offset), ...view.strides.map((s, k) => (s === 0 ? "" : s === 1 ? `i${k}` : `i${k} * ${s}`))].filter(Boolean).join(" + ");
    const read = a.shape.length ? `a${i}[k]` : `a${i}`;
    lines.push(
      `${loops}{ const k = ${at}; const v = ${read}; if (!(v >= 0 && v < ${bound})) throw new RangeError(${file} + ": integer input " + ${JSON.stringify(`'${a.name}'`)} + " element " + ${a.shape.length ? where(a, "k") : '"[]"'} + " is " + v + ", out of range 0..${bound - 1} for the axis of ${bound} it indexes"); }`,
    );
  }
  return lines;
}

function sourceInput(x: Node): Node {
  let y = x;
  while (y.op !== "input" && y.args.length) y = y.args[0];
  return y;
}

/** `x` as a view (offset, shape, strides over the flat elements) of an integer input, when it is one. */
function viewOfInput(x0: Node): { input: Node; offset: number; shape: readonly number[]; strides: readonly number[] } | undefined {
  const x = knownNode(x0);
  if (x.op === "input") return { input: x, offset: 0, shape: x.shape, strides: rowMajor(x.shape) as number[] };
  if (x.op === "gather" && x.args[0].op === "input") return { input: x.args[0], offset: x.map!.offset, shape: x.shape, strides: x.map!.strides };
  return undefined;
}
