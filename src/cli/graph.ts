// `gradc graph`: the computational graph of a program, drawn like the CS231n figures.
// buildDot makes Graphviz DOT (left to right, inputs on the left, one node per IR
// operation reachable from the outputs, a gate as one node); every edge carries the value
// of its tail in green and, when --at gives every input and param, the gradient of the
// seeded output with respect to that value in red. An edge from an input to one of its
// elements or rows (`w -> w[0]`) has no label: the part's own edges carry its numbers.
// Values and gradients come from the reference interpreter (ir/interpret.ts); gradients
// are the adjoint nodes that `differentiate` builds for every drawn node. renderSvg lays
// the DOT out with Graphviz compiled to WebAssembly (@viz-js/viz), so no system Graphviz
// is needed. The output depends only on the program and the values, byte for byte.

import { mulberry32 } from "../random.js";
import { integerRanges } from "../check/checker.js";
import { integerSource } from "../check/tensor.js";
import { instance } from "@viz-js/viz";
import type { CheckedProgram } from "../check/checker.js";
import { differentiate } from "../diff/reverse.js";
import { knownNode, knownSize, type Node, type Op, type Shape } from "../ir/graph.js";
import { formatSize } from "../ir/size.js";
import { dimsFromLengths, specialize } from "../ir/specialize.js";
import { evaluateAll, inputKey, type Value } from "../ir/interpret.js";

const GREEN = "#008000";
const RED = "#d00000";

/** Compact numbers: up to 4 significant digits (0.7311, -0.1966, -12, 1.235e6). */
export function formatNumber(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "inf";
  if (v === -Infinity) return "-inf";
  if (v === 0) return "0";
  const rounded = Number(v.toPrecision(4));
  const a = Math.abs(rounded);
  if (a >= 1e5 || a < 1e-4) {
    const [mantissa, exponent] = rounded.toExponential(3).split("e");
    return `${mantissa.replace(/\.?0+$/, "")}e${exponent.replace("+", "")}`;
  }
  return String(rounded);
}

const shapeText = (shape: Shape): string => `[${shape.map((d) => formatSize(d)).join(",")}]`;

/** A scalar as a number; a tensor as its shape and its elements (up to 4) or a summary. */
export function summarize(shape: Shape, values: ArrayLike<number>): string {
  if (shape.length === 0) return formatNumber(values[0]);
  if (values.length <= 4) return `${shapeText(shape)} ${Array.from(values, formatNumber).join(", ")}`;
  let sum = 0;
  let largest = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    largest = Math.max(largest, Math.abs(values[i]));
  }
  return `${shapeText(shape)} mean ${formatNumber(sum / values.length)}, |max| ${formatNumber(largest)}`;
}

/** A message when `at` names something that is not an argument or has the wrong length. */
export function checkAt(program0: CheckedProgram, at: ReadonlyMap<string, readonly number[]>): string | undefined {
  const program = atSizes(program0, at);
  for (const [name, values] of at) {
    const arg = program.args.find((a) => a.name === name);
    if (!arg) return `--at ${name}: the program has no input or param '${name}'`;
    if (values.length !== arg.node.size)
      return `--at ${name}: '${name}' is ${arg.shape.length ? shapeText(arg.shape) : "a scalar"} and needs ${arg.node.size} value${arg.node.size === 1 ? "" : "s"}, got ${values.length}`;
  }
  return integerProblem(program, at);
}

/** A message when `at` gives an integer input a value its module would refuse (a fraction, an index off its axis). */
export function integerProblem(program: CheckedProgram, at: ReadonlyMap<string, readonly number[]>): string | undefined {
  const ranges = integerRanges(program);
  const indexing = new Set(program.graph.nodes.filter((n) => n.op === "checkindex").map((n) => integerSource(n)?.name));
  for (const [name, values] of at) {
    if (!program.args.some((a) => a.name === name && a.integer)) continue;
    const fraction = values.find((v) => !Number.isInteger(v));
    if (fraction !== undefined) return `--at ${name}: an integer input takes whole numbers, got ${fraction}`;
    const n = ranges.get(name)!;
    const outside = indexing.has(name) ? values.find((v) => v < 0 || v >= n) : undefined;
    if (outside !== undefined) return `--at ${name}: the integer input indexes an axis of ${n}, so its values are in 0..${n - 1}, got ${outside}`;
  }
  return undefined;
}

/**
 * Deterministic pseudo-random values from the argument's name: in [-1, 1] with two
 * decimals, or whole numbers in 0..range-1 for an integer input.
 */
function pseudoRandom(name: string, size: number, range?: number): number[] {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  const next = mulberry32(h);
  return Array.from({ length: size }, () => (range === undefined ? Math.round((next() * 2 - 1) * 100) / 100 + 0 : Math.floor(next() * range)));
}

const INFIX: Partial<Record<Op, string>> = {
  add: "+", sub: "-", mul: "*", div: "/", pow: "^", matmul: "@",
  lt: "<", le: "<=", gt: ">", ge: ">=", eq: "==", ne: "!=",
};
const COMMUTATIVE = new Set<Op>(["add", "mul", "eq", "ne", "max", "min"]);
const NAMES: Partial<Record<Op, string>> = { rmax: "max", rmin: "min" };

/** Multi-index text of a flat offset into `shape`: `3` or `1, 2`. */
function indexText(shape: readonly number[], flat: number): string {
  return shape.length === 2 ? `${Math.floor(flat / shape[1])}, ${flat % shape[1]}` : String(flat);
}

/** What a gather does, in the user's terms: `w[0]`, `M[1]`, `row 1`, `transpose`, ... */
function gatherLabel(n0: Node): string {
  // Drawn at the sizes of --at: a specialized graph, every size a number.
  const n = knownNode(n0);
  const source = n.args[0];
  const { offset, strides } = n.map!;
  const base = source.op === "input" ? source.name! : "";
  if (n.shape.length === 0) return `${base}[${indexText(source.shape, offset)}]`;
  if (strides.every((s) => s === 0)) return "broadcast";
  if (source.shape.length === 2 && n.shape.length === 1 && n.shape[0] === source.shape[1] && strides[0] === 1 && offset % source.shape[1] === 0) {
    const row = offset / source.shape[1];
    return base ? `${base}[${row}]` : `row ${row}`;
  }
  if (source.shape.length === 2 && n.shape.length === 2 && offset === 0 && n.shape[0] === source.shape[1] && strides[0] === 1 && strides[1] === source.shape[1])
    return "transpose";
  return "gather";
}

/** The label of an operation node; scalar constant operands are written into it ("* 2", "1 / ·"). */
function operationLabel(n: Node): string {
  if (n.op === "gather") return gatherLabel(n);
  // A gate is drawn as its def, named.
  if (n.op === "gate") return n.name ?? "gate";
  const constants = n.args.map((a) => (a.op === "const" ? formatNumber(a.value!) : undefined));
  const symbol = INFIX[n.op];
  if (symbol && n.args.length === 2 && constants.some((c) => c !== undefined)) {
    const [left, right] = constants;
    if (right !== undefined) return `${symbol} ${right}`;
    return COMMUTATIVE.has(n.op) ? `${symbol} ${left}` : `${left} ${symbol} ·`;
  }
  if (symbol) return symbol;
  const name = NAMES[n.op] ?? n.op;
  if (constants.some((c) => c !== undefined)) return `${name}(${constants.map((c) => c ?? "·").join(", ")})`;
  return name;
}

const quote = (s: string): string => `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
const html = (s: string): string => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/**
 * The DOT text of a program's graph. `at` gives argument values by name (flat, row-major);
 * arguments it leaves out get pseudo-random values, and then no gradients are drawn.
 * Throws a RangeError when `at` names an unknown argument or has a wrong length (see checkAt).
 * Adds seed inputs and adjoint nodes to the program's graph, as compiling does.
 */
/** A program with dims at the sizes the `--at` values give (3 for a dim none gives): the graph drawn is evaluated. */
function atSizes(program: CheckedProgram, at: ReadonlyMap<string, readonly number[]> | undefined): CheckedProgram {
  if (!program.dims.length) return program;
  return specialize(program, dimsFromLengths(program, new Map([...(at ?? [])].map(([name, v]) => [name, v.length])), 3));
}

export function buildDot(program0: CheckedProgram, at?: ReadonlyMap<string, readonly number[]>): string {
  const program = atSizes(program0, at);
  const { graph, outputs } = program;
  const problem = checkAt(program, at ?? new Map());
  if (problem) throw new RangeError(problem);

  const values = new Map<string, Value>();
  const guessed: string[] = [];
  const ranges = integerRanges(program);
  for (const a of program.args) {
    const given = at?.get(a.name);
    if (!given) guessed.push(a.name);
    values.set(inputKey(a.node), given ?? pseudoRandom(a.name, knownSize(a.node.size), ranges.get(a.name)));
  }

  // The drawn nodes: reachable from the outputs through operands, a gate through its
  // arguments only. Scalar constants are written into their users' labels; a tensor made of
  // constants only (an array literal, a broadcast) is one small node.
  const forwardCount = graph.nodes.length;
  const constant = new Uint8Array(forwardCount);
  for (const n of graph.nodes) constant[n.id] = n.op === "const" || (n.op !== "input" && n.args.every((a) => constant[a.id])) ? 1 : 0;
  const operands = (n: Node): readonly Node[] => (constant[n.id] ? [] : n.op === "gate" ? n.args.slice(1, 1 + n.arity!) : n.args);
  const drawnFlag = new Uint8Array(forwardCount);
  const stack = outputs.map((o) => o.node);
  while (stack.length) {
    const n = stack.pop()!;
    if (drawnFlag[n.id]) continue;
    drawnFlag[n.id] = 1;
    for (const a of operands(n)) if (a.op !== "const" && !drawnFlag[a.id]) stack.push(a);
  }
  const drawn = graph.nodes.filter((n) => drawnFlag[n.id]);

  // Gradients: of the first scalar output (seed 1), or of every output seeded with ones.
  const params = program.args.filter((a) => a.role === "param");
  const showGradients = guessed.length === 0 && params.length > 0;
  const firstScalar = outputs.find((o) => o.node.shape.length === 0);
  const seeded = firstScalar ? [firstScalar] : outputs;
  const adjoint = new Map<number, Node>();
  if (showGradients) {
    const seeds = seeded.map((o) => graph.input(o.name, "seed", o.node.shape));
    seeds.forEach((s) => values.set(inputKey(s), new Array<number>(knownSize(s.size)).fill(1)));
    const grads = differentiate(graph, seeded.map((o, k) => ({ output: o.node, seed: seeds[k], guarded: outputs.length > 1 })), drawn);
    drawn.forEach((n, k) => adjoint.set(n.id, grads[k]));
  }
  // Only nodes that depend on a param have a gradient (the rule of diff/reverse.ts).
  const dependsOnParam = new Uint8Array(forwardCount);
  for (const n of graph.nodes.slice(0, forwardCount)) {
    if (n.op === "input") dependsOnParam[n.id] = n.role === "param" ? 1 : 0;
    else dependsOnParam[n.id] = (n.op === "gate" ? n.args.slice(1, 1 + n.arity!) : n.args).some((a) => dependsOnParam[a.id]) ? 1 : 0;
  }

  const computed = evaluateAll(graph, values, [...drawn, ...adjoint.values()]);
  const edgeLabel = (tail: Node): string => {
    const lines = [`<font color="${GREEN}">${html(summarize(tail.shape, computed[tail.id]!))}</font>`];
    const g = adjoint.get(tail.id);
    if (g && dependsOnParam[tail.id]) lines.push(`<font color="${RED}">${html(summarize(tail.shape, computed[g.id]!))}</font>`);
    return `<${lines.join("<br/>")}>`;
  };

  const lines: string[] = [];
  const out = (s: string) => lines.push(s);
  const legend = [
    showGradients
      ? `values in <font color="${GREEN}">green</font>, gradients of ${html(firstScalar ? firstScalar.name : "the outputs, seeded with ones,")} in <font color="${RED}">red</font>`
      : `values in <font color="${GREEN}">green</font>`,
  ];
  if (guessed.length)
    legend.push(`pseudo-random values for ${html(guessed.join(", "))} (not given by --at)${params.length ? ": gradients not drawn" : ""}`);
  else if (!params.length) legend.push("no params: no gradients");
  out("digraph gradc {");
  out(`  graph [rankdir=LR, fontname="Helvetica", fontsize=11, labelloc=b, label=<${legend.join("<br/>")}>];`);
  out(`  node [fontname="Helvetica", fontsize=12];`);
  out(`  edge [fontname="Helvetica", fontsize=10];`);
  for (const n of drawn) {
    let attributes: string;
    if (n.op === "input") {
      const label = n.shape.length ? `${n.name} ${shapeText(n.shape)}` : n.name!;
      const fill = n.role === "param" ? "#fff4c2" : "#e8eefc";
      attributes = `label=${quote(label)}, shape=box, style="rounded,filled", fillcolor="${fill}"`;
    } else if (constant[n.id]) {
      attributes = `label=${quote(summarize(n.shape, computed[n.id]!))}, shape=box, style=dashed, fontsize=10`;
    } else {
      const label = operationLabel(n);
      attributes = `label=${quote(label)}${[...label].length <= 2 ? ", shape=circle" : ""}`;
    }
    out(`  n${n.id} [${attributes}];`);
  }
  const inputs = drawn.filter((n) => n.op === "input");
  if (inputs.length) out(`  { rank=source; ${inputs.map((n) => `n${n.id};`).join(" ")} }`);
  outputs.forEach((o, k) => out(`  o${k} [label=<<b>${html(o.name)}</b>>, shape=plaintext];`));
  for (const n of drawn)
    for (const a of operands(n)) {
      if (a.op === "const") continue;
      // `w -> w[0]`: the element's own edges carry its value; the whole of `w` on every
      // such edge would only repeat itself.
      const readsNamedPart = n.op === "gather" && a.op === "input" && gatherLabel(n).startsWith(a.name! + "[");
      out(`  n${a.id} -> n${n.id}${readsNamedPart ? "" : ` [label=${edgeLabel(a)}]`};`);
    }
  outputs.forEach((o, k) => out(`  n${o.node.id} -> o${k} [label=${edgeLabel(o.node)}];`));
  out("}");
  return lines.join("\n") + "\n";
}

/** SVG of DOT text, laid out by Graphviz (WebAssembly); throws on a Graphviz error. */
export async function renderSvg(dot: string): Promise<string> {
  const viz = await instance();
  const result = viz.render(dot, { format: "svg" });
  if (result.status !== "success") throw new Error(`graphviz: ${result.errors.map((e) => e.message).join("; ")}`);
  return result.output;
}
