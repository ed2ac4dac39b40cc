// The flat form for optimizers (grammar/reference.md, "The flat form"): one objective, every
// param's elements in one vector `x` and the gradient written into one array `grad`, the
// calling convention `f(x, gradOut)` of minimizers. Its kernels are printed here, apart from
// forwardInto/backwardInto, so that they read `x[k]` and write `grad[k]` directly: a call
// then costs the program's arithmetic and a length comparison, not the packing of holder
// objects that a wrapper around backwardInto would pay (the module printer falls back to
// such a wrapper when no kernel is printed here: loops, tapes, bodies long enough to split).
//
// With dims (`dim N`) the flat functions always wrap backwardInto: the offsets in `x` are
// functions of the sizes (`paramSize(sizes)`), read from the inputs on each call.

import type { CheckedProgram } from "../check/checker.js";
import { differentiate } from "../diff/reverse.js";
import { knownSize, type Node } from "../ir/graph.js";
import { dimReadings, dimsOf, type Size } from "../ir/size.js";
import { scalarize } from "../ir/scalarize.js";
import { factorLateScales } from "../ir/factor.js";
import { SPLIT_LINES } from "./split.js";
import { printStraightLine } from "./straight.js";

/** Where the flat functions of a module come from (ModuleParts.flat). */
export interface FlatParts {
  /** Index of the objective among the outputs. */
  objective: number;
  /** Body of valueFlat after the input reads; ends with `return`. Undefined: the wrapper. */
  value?: string[];
  /** Body of valueAndGradFlat after the input reads; writes `grad`, ends with `return`. */
  valueAndGrad?: string[];
  helpers: Set<string>;
}

export type FlatChoice = { objective: number } | { none: true; reason?: string } | { error: "unknown" | "tensor"; index?: number };

/**
 * Which output the flat form minimizes: the one `objective` names, or else the only scalar
 * output. `none` when there is no such output and none was asked for.
 */
export function flatObjective(program: CheckedProgram, objective: string | undefined): FlatChoice {
  const { outputs } = program;
  if (objective !== undefined) {
    const index = outputs.findIndex((o) => o.name === objective);
    if (index === -1) return { error: "unknown" };
    if (outputs[index].node.shape.length) return { error: "tensor", index };
    const ruledOut = program.dims.length ? withoutFlatForm(program) : undefined;
    return ruledOut ? { none: true, reason: ruledOut } : { objective: index };
  }
  const scalars = outputs.flatMap((o, k) => (o.node.shape.length ? [] : [k]));
  if (scalars.length !== 1) return { none: true };
  const ruledOut = program.dims.length ? withoutFlatForm(program) : undefined;
  return ruledOut ? { none: true, reason: ruledOut } : { objective: scalars[0] };
}

/**
 * Why a program with dims has no flat form, or undefined when it has one. The flat functions
 * take `x` and the inputs, so every dim must be read from the inputs (modules.md: a dim that
 * only params have rules the flat form out); packParams takes the params alone, so the dims
 * of the params must be read from them.
 */
function withoutFlatForm(program: CheckedProgram): string | undefined {
  const shapes = (role: "input" | "param") => program.args.filter((a) => a.role === role).map((a) => ({ shape: a.node.shape }));
  const [inputs, params] = [shapes("input"), shapes("param")];
  const dimsIn = (list: { shape: readonly Size[] }[]) => [...new Set(list.flatMap((a) => a.shape.flatMap(dimsOf)))].sort();
  const fromInputs = dimsIn(inputs);
  const paramsOnly = program.dims.map((d) => d.name).filter((d) => !fromInputs.includes(d));
  if (paramsOnly.length)
    return `no flat form (valueFlat, valueAndGradFlat...): dim '${paramsOnly[0]}' is the size of params only, and the flat functions read the sizes from their inputs`;
  if (!dimReadings(fromInputs, inputs)) return "no flat form (valueFlat, valueAndGradFlat...): the inputs' lengths do not give every dim on their own";
  if (!dimReadings(dimsIn(params), params)) return "no flat form (valueFlat, valueAndGradFlat...): packParams could not read the params' dims from the params alone";
  return undefined;
}

/**
 * Straight-line kernels of valueFlat and valueAndGradFlat, or only the objective's index
 * when they would be too long for straight-line code (the printer then wraps backwardInto).
 */
export function lowerFlat(program: CheckedProgram, objective: number, straightLine: boolean, where: (line: number) => string): FlatParts {
  if (!straightLine || program.dims.length) return { objective, helpers: new Set() };
  const { graph, args, outputs } = program;
  const params = args.filter((a) => a.role === "param");
  const output = outputs[objective].node;
  // Seed 1 on the objective alone: the other outputs are not part of the flat form. The
  // kernel returns a number, which a caller's loop boxes unless V8 peels it: tie weights test
  // the tie first (rules.ts, winWeight).
  const grads = differentiate(graph, [{ output, seed: graph.constant(1), guarded: false }], params.map((p) => p.node), { tiesFirst: true });
  const scalar = scalarize(graph, [output, ...grads]);

  const offsets = new Map<Node, number>();
  let at = 0;
  for (const p of params) {
    offsets.set(p.node, at);
    at += knownSize(p.node.size);
  }
  const argIndex = new Map(args.map((a, i) => [a.node, i]));
  const leaf = (n: Node): string | undefined => {
    const input = n.op === "input" ? n : n.op === "gather" && n.args[0].op === "input" ? n.args[0] : undefined;
    if (!input) return undefined;
    const element = n === input ? 0 : knownSize(n.map!.offset);
    const offset = offsets.get(input);
    if (offset !== undefined) return `x[${offset + element}]`;
    const local = `a${argIndex.get(input)}`;
    return n === input ? local : `${local}[${element}]`;
  };
  // x is the optimizer's Float64Array, whose elements V8 loads again on every read.
  const xReadsToName = (read: string) => (read.startsWith("x[") ? 2 : 3);
  // Late scales factored out of the gradient's combinations (ir/factor.ts), in the value too,
  // so that valueFlat and valueAndGradFlat print the same value.
  const elements = [scalar.elements(output)[0], ...params.flatMap((p, k) => scalar.elements(grads[k]))];
  const [value, ...gradElements] = factorLateScales(scalar.graph, elements);
  const only = printStraightLine(scalar.graph, [{ node: value, store: (e) => `return ${e};` }], leaf, where, "t", xReadsToName);
  // The gradient has the layout of `x`: each param's elements from its offset on.
  let next = 0;
  const gradSinks = params.flatMap((p, k) =>
    scalar.elements(grads[k]).map((_, j) => ({ node: gradElements[next++], store: (e: string) => `grad[${offsets.get(p.node)! + j}] = ${e};` })),
  );
  // The value is returned after the gradient's stores, with no local of its own (one register
  // less, which helps keep the kernel under V8's inlining limit), unless it is an argument's
  // element, which a store into an aliasing `grad` could have overwritten by then.
  const late = leaf(value) === undefined;
  // Each gradient element is stored where it is ready (emit/straight.ts, early), the return last.
  const valueSink = { node: value, store: (e: string) => (late ? `return ${e};` : `const value = ${e};`), late };
  const both = printStraightLine(scalar.graph, late ? [...gradSinks, valueSink] : [valueSink, ...gradSinks], leaf, where, "t", xReadsToName, true);
  if (only.statements.length + both.statements.length + both.stores.length > SPLIT_LINES) return { objective, helpers: new Set() };
  return {
    objective,
    value: [...only.statements, ...only.stores],
    valueAndGrad: [...both.statements, ...both.stores, ...(late ? [] : ["return value;"])],
    helpers: new Set([...only.helpers, ...both.helpers]),
  };
}
