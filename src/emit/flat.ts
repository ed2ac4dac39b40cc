// The flat form for optimizers (grammar/reference.md, "The flat form"): one objective, every
// param's elements in one vector `x` and the gradient written into one array `grad`, the
// calling convention `f(x, gradOut)` of minimizers. Its kernels are printed here, apart from
// forwardInto/backwardInto, so that they read `x[k]` and write `grad[k]` directly: a call
// then costs the program's arithmetic and a length comparison, not the packing of holder
// objects that a wrapper around backwardInto would pay (the module printer falls back to
// such a wrapper when no kernel is printed here: loops, tapes, bodies long enough to split).
//
// Params sized by a `dim` would make the offsets functions of the sizes (`paramSize(sizes)`);
// `flatObjective` is where such a program will be told that it has no flat form yet.

import type { CheckedProgram } from "../check/checker.js";
import { differentiate } from "../diff/reverse.js";
import { knownSize, type Node } from "../ir/graph.js";
import { scalarize } from "../ir/scalarize.js";
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
  const { outputs, args } = program;
  // A param whose size is not a number known here is sized by a dim: its offsets in x would
  // be functions of the sizes (modules.md: `paramSize(sizes)`, the dims read from `inputs`),
  // which the flat form does not do yet. Such a program gets no flat form; `reason` is the
  // text of the compile note to give when dims reach this far (the checker stops them today).
  const sized = args.find((a) => a.role === "param" && !Number.isInteger(a.node.size));
  if (sized) return { none: true, reason: `the param '${sized.name}' is sized by a dim: the flat form with paramSize(sizes) is not built yet` };
  if (program.dims.length) return { none: true, reason: "the flat form over run-time sizes (the dims read from inputs) is not built yet" };
  if (objective !== undefined) {
    const index = outputs.findIndex((o) => o.name === objective);
    if (index === -1) return { error: "unknown" };
    if (outputs[index].node.shape.length) return { error: "tensor", index };
    return { objective: index };
  }
  const scalars = outputs.flatMap((o, k) => (o.node.shape.length ? [] : [k]));
  return scalars.length === 1 ? { objective: scalars[0] } : { none: true };
}

/**
 * Straight-line kernels of valueFlat and valueAndGradFlat, or only the objective's index
 * when they would be too long for straight-line code (the printer then wraps backwardInto).
 */
export function lowerFlat(program: CheckedProgram, objective: number, straightLine: boolean, where: (line: number) => string): FlatParts {
  if (!straightLine) return { objective, helpers: new Set() };
  const { graph, args, outputs } = program;
  const params = args.filter((a) => a.role === "param");
  const output = outputs[objective].node;
  // Seed 1 on the objective alone: the other outputs are not part of the flat form.
  const grads = differentiate(graph, [{ output, seed: graph.constant(1), guarded: false }], params.map((p) => p.node));
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
  const [value] = scalar.elements(output);
  const only = printStraightLine(scalar.graph, [{ node: value, store: (e) => `return ${e};` }], leaf, where);
  // The gradient has the layout of `x`: each param's elements from its offset on.
  const gradSinks = params.flatMap((p, k) =>
    scalar.elements(grads[k]).map((node, j) => ({ node, store: (e: string) => `grad[${offsets.get(p.node)! + j}] = ${e};` })),
  );
  const both = printStraightLine(scalar.graph, [{ node: value, store: (e) => `const value = ${e};` }, ...gradSinks], leaf, where);
  if (only.statements.length + both.statements.length + gradSinks.length > SPLIT_LINES) return { objective, helpers: new Set() };
  return {
    objective,
    value: [...only.statements, ...only.stores],
    valueAndGrad: [...both.statements, ...both.stores, "return value;"],
    helpers: new Set([...only.helpers, ...both.helpers]),
  };
}
