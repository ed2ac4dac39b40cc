// The loop form of one function (forward or backward), from tensor IR to statements: lower,
// then the passes in order, then print. Each pass is a file of passes/; this file is only
// the order they run in and what the module wrapper needs back.

import type { Graph, Node } from "../ir/graph.js";
import type { Buffer, Stmt } from "./ir.js";
import { lowerToLoopIR, type LoopSink } from "./lower.js";
import { bindElementReads, replaceBuffers, replaceNestedBuffers } from "./passes/scalar-replace.js";
import { contractRowBuffers } from "./passes/contract.js";
import { hoistArgumentReads, hoistNestReads } from "./passes/hoist.js";
import { mergeLoops } from "./passes/merge.js";
import { accumulateIntoResults } from "./passes/accumulate-into.js";
import { partialSums } from "./passes/partial-sums.js";
import { unrollInnermost } from "./passes/unroll.js";
import { unrollShortLoops } from "./passes/unroll-short.js";
import { splitLongBody } from "./passes/split.js";
import { smallTensorsToLocals } from "./passes/locals.js";
import { guardZeroUnits } from "./passes/zero-guard.js";
import type { Part } from "../emit/split.js";
import { isKnown, type Size } from "../ir/size.js";
import { aliasLine, Printer, scratchDeclaration } from "./print.js";

export { SMALL_EXTENT, SMALL_TENSOR, type LoopSink } from "./lower.js";

export interface LoopFunction {
  /** Argument elements read once per call. */
  prelude: Stmt[];
  /** Local aliases of module buffers and holders. */
  aliases: Buffer[];
  body: Stmt[];
  stores: Stmt[][];
  /** Module-level scratch buffers the function uses (constant tensors with their values). */
  scratch: Buffer[];
  operations: number;
}

/** Lowers and optimizes; the result is still loop IR. */
export function buildLoops(graph: Graph, sinks: readonly LoopSink[], leaf: (n: Node) => string | undefined, where?: (line: number) => string): LoopFunction {
  const lowered = lowerToLoopIR(graph, sinks, leaf, where);
  const folded = accumulateIntoResults(lowered.body, lowered.stores.flat());
  let body = unrollShortLoops(folded.body);
  let stores = lowered.stores.map(unrollShortLoops);
  const nest = hoistNestReads(body);
  body = nest.body;
  let next = nest.next;
  stores = stores.map((s) => {
    const h = hoistNestReads(s, next);
    next = h.next;
    return h.body;
  });
  const argumentReads = hoistArgumentReads([body, ...stores]);
  [body, ...stores] = argumentReads.lists;
  // Partial sums after merging: a dot product that joined other loops has sums in flight already.
  body = partialSums(mergeLoops(body));
  const replaced = replaceBuffers(body, stores.flat());
  const nested = replaceNestedBuffers(replaced.body, stores.flat());
  for (const name of nested.replaced) replaced.replaced.add(name);
  // What could not become locals may still need only one row.
  const rows = contractRowBuffers(nested.body, stores.flat());
  body = bindElementReads(rows.body);
  // A source-line comment whose code moved into an earlier loop is left heading nothing.
  body = body.filter((s, k) => !(s.k === "comment" && body[k + 1]?.k === "comment"));
  body = smallTensorsToLocals(unrollInnermost(guardZeroUnits(body)));
  stores = stores.map((s) => smallTensorsToLocals(unrollInnermost(s)));
  const kept = lowered.aliases.filter((b) => !replaced.replaced.has(b.name) && !folded.replaced.has(b.name)).map((b) => rows.contracted.get(b.name) ?? b);
  const scratch = kept.filter((b) => b.kind === "scratch");
  return { prelude: argumentReads.prelude, aliases: kept, body, stores, scratch, operations: lowered.operations };
}

export interface LoopCode {
  /** Local aliases of module buffers, then the computation (or the calls of its parts). */
  statements: string[];
  stores: string[][];
  helpers: Set<string>;
  /** Module-level declarations this code uses (scratch buffers, a register file), by name. */
  buffers: Map<string, string>;
  /** Scratch buffers of run-time length (made by the module when the sizes change), by name. */
  resized: Map<string, Size>;
  /** Part functions of a long body. */
  parts: Part[];
  operations: number;
}

/**
 * Loop code for the sinks, printed. `name` and `context`: a long body is split into part
 * functions `${name}Part<k>`, which take from `context` the caller's locals they use.
 */
export function printLoops(
  graph: Graph,
  sinks: readonly LoopSink[],
  leaf: (n: Node) => string | undefined,
  where?: (line: number) => string,
  split?: { name: string; context: readonly string[] },
): LoopCode {
  const f = buildLoops(graph, sinks, leaf, where);
  const printer = new Printer();
  const buffers = new Map(f.scratch.map((b) => [b.source!, scratchDeclaration(b)]));
  const resized = new Map(f.scratch.filter((b) => !isKnown(b.size)).map((b) => [b.source!, b.size]));
  const aliases = f.aliases.map(aliasLine);
  const parted = split && splitLongBody(f, split.name, split.context, printer);
  if (!parted) {
    const statements = [...aliases, ...printer.stmts(f.prelude), ...printer.stmts(f.body)];
    return { statements, stores: f.stores.map((s) => printer.stmts(s)), helpers: printer.helpers, buffers, resized, parts: [], operations: f.operations };
  }
  buffers.set(parted.registers.name, `const ${parted.registers.name} = new Float64Array(${parted.registers.size});`);
  const parts = parted.parts.map((p) => ({ name: p.name, params: p.params, lines: [...p.aliases.map(aliasLine), ...printer.stmts(p.body)] }));
  const statements = [...aliases, ...printer.stmts(f.prelude), ...printer.stmts(parted.body)];
  return { statements, stores: parted.stores.map((s) => printer.stmts(s)), helpers: printer.helpers, buffers, resized, parts, operations: f.operations };
}
