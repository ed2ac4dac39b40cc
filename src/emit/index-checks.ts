// Checks of integer inputs, run before anything is computed: every element must be a whole
// number (a TypeError naming the input), and every element that indexes must be in range
// for the axis it indexes (a RangeError naming the input, the element as `obs[4, 1]` and its
// value). As they run first, a bad index leaves every holder as it was. The IR marks indices
// read from data with `checkindex` nodes (see Graph.checkIndex); each reads a view of one
// integer input, whose elements are walked here with the view's own index arithmetic. Sizes that
// are dims are read from the function's locals (`$N`), set before these checks run.

/** A size in a function body: a number, or the dims' locals (`$N * 3`). */
const sizeText = (s: Size): string => (isKnown(s) ? String(s) : `(${localSize(s)})`);

import { reachable, rowMajor, type Graph, type Node } from "../ir/graph.js";
import { formatSize, isKnown, type Size } from "../ir/size.js";
import { sizeText as localSize } from "../loops/print.js";
import type { Argument } from "../check/checker.js";

/** Statements for the top of forwardInto and backwardInto; `local(i)` names argument i's local. */
export function indexChecks(graph: Graph, roots: readonly Node[], args: readonly Argument[], sourceName: string): string[] {
  const integers = args.map((a, i) => ({ a, i })).filter(({ a }) => a.integer);
  if (integers.length === 0) return [];
  const file = JSON.stringify(sourceName);
  const lines: string[] = [];
  const where = (a: Argument, k: string) =>
    a.shape.length <= 1 ? `"[" + ${k} + "]"` : `"[" + [${rowMajor(a.shape).map((s, d) => `Math.floor(${k} / ${sizeText(s)}) % ${sizeText(a.shape[d])}`).join(", ")}].join(", ") + "]"`;
  // The element as the source would write it (`obs[4, 1]`); a scalar input by its name.
  const element = (a: Argument, k: string) => (a.shape.length ? `${JSON.stringify(a.name)} + ${where(a, k)}` : JSON.stringify(a.name));
  for (const { a, i } of integers) {
    const value = a.shape.length ? `a${i}[k]` : `a${i}`;
    const body = `if (!Number.isInteger(v)) throw new TypeError(${file} + ": integer input " + ${JSON.stringify(`'${a.name}'`)} + " must hold whole numbers, but " + ${element(a, "k")} + " is " + v);`;
    lines.push(a.shape.length ? `for (let k = 0; k < ${sizeText(a.node.size)}; k++) { const v = ${value}; ${body} }` : `{ const v = ${value}; ${body} }`);
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
    const text = `${i}:${formatSize(view.offset)}:${view.shape.map((d) => formatSize(d)).join(",")}:${view.strides.map((d) => formatSize(d)).join(",")}:${formatSize(n.bound!)}`;
    if (seen.has(text)) continue;
    seen.add(text);
    const bound = sizeText(n.bound!);
    // Known bounds stay in the message's text; a dim's value is joined in when it is thrown.
    const last = isKnown(n.bound!) ? String(n.bound - 1) : `" + (${bound} - 1) + "`;
    const axis = isKnown(n.bound!) ? bound : `" + ${bound} + "`;
    // The flat positions the view reads: offset + sum(stride * index) over its shape.
    const loops = view.shape.map((d, k) => `for (let i${k} = 0; i${k} < ${sizeText(d)}; i${k}++) `).join("");
    const at = [sizeText(view.offset), ...view.strides.map((s, k) => (s === 0 ? "" : s === 1 ? `i${k}` : `i${k} * ${sizeText(s)}`))].filter(Boolean).join(" + ");
    const read = a.shape.length ? `a${i}[k]` : `a${i}`;
    lines.push(
      `${loops}{ const k = ${at}; const v = ${read}; if (!(v >= 0 && v < ${bound})) throw new RangeError(${file} + ": integer input " + ${JSON.stringify(`'${a.name}'`)} + ": " + ${element(a, "k")} + " is " + v + ", out of range 0..${last} for the axis of ${axis} it indexes"); }`,
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
function viewOfInput(x: Node): { input: Node; offset: Size; shape: readonly Size[]; strides: readonly Size[] } | undefined {
  if (x.op === "input") return { input: x, offset: 0, shape: x.shape, strides: rowMajor(x.shape) };
  if (x.op === "gather" && x.args[0].op === "input") return { input: x.args[0], offset: x.map!.offset, shape: x.shape, strides: x.map!.strides };
  return undefined;
}
