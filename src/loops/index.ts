// The loop form of one function (forward or backward), from tensor IR to statements: lower,
// then the passes in order, then print. Each pass is a file of passes/; this file is only
// the order they run in and what the module wrapper needs back.

import type { Graph, Node } from "../ir/graph.js";
import type { Buffer, Stmt } from "./ir.js";
import { lowerToLoopIR, type LoopSink } from "./lower.js";
import { bindElementReads, replaceBuffers } from "./passes/scalar-replace.js";
import { hoistArgumentReads, hoistNestReads } from "./passes/hoist.js";
import { mergeLoops } from "./passes/merge.js";
import { partialSums } from "./passes/partial-sums.js";
import { unrollInnermost } from "./passes/unroll.js";
import { unrollShortLoops } from "./passes/unroll-short.js";
import { aliasLine, Printer, scratchDeclaration } from "./print.js";

export { SMALL_EXTENT, SMALL_TENSOR, type LoopSink } from "./lower.js";

export interface LoopFunction {
  /** Local aliases of module buffers and holders, then argument elements read once. */
  prelude: Stmt[];
  aliases: { name: string; source: string }[];
  body: Stmt[];
  stores: Stmt[][];
  /** Module-level scratch buffers the function uses (constant tensors with their values). */
  scratch: Buffer[];
  operations: number;
}

/** Lowers and optimizes; the result is still loop IR. */
export function buildLoops(graph: Graph, sinks: readonly LoopSink[], leaf: (n: Node) => string | undefined, where?: (line: number) => string): LoopFunction {
  const lowered = lowerToLoopIR(graph, sinks, leaf, where);
  let body = partialSums(unrollShortLoops(lowered.body));
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
  body = mergeLoops(body);
  const replaced = replaceBuffers(body, stores.flat());
  body = bindElementReads(replaced.body);
  // A source-line comment whose code moved into an earlier loop is left heading nothing.
  body = body.filter((s, k) => !(s.k === "comment" && body[k + 1]?.k === "comment"));
  body = unrollInnermost(body);
  stores = stores.map(unrollInnermost);
  const kept = lowered.aliases.filter((b) => !replaced.replaced.has(b.name));
  const scratch = kept.filter((b) => b.kind === "scratch");
  return { prelude: argumentReads.prelude, aliases: kept.map((b) => ({ name: b.name, source: b.source! })), body, stores, scratch, operations: lowered.operations };
}

export interface LoopCode {
  /** Local aliases of module buffers, then the computation. */
  statements: string[];
  stores: string[][];
  helpers: Set<string>;
  /** Module-level buffer declarations this code uses, by buffer name. */
  buffers: Map<string, string>;
  operations: number;
}

/** Loop code for the sinks, printed. */
export function printLoops(graph: Graph, sinks: readonly LoopSink[], leaf: (n: Node) => string | undefined, where?: (line: number) => string): LoopCode {
  const f = buildLoops(graph, sinks, leaf, where);
  const printer = new Printer();
  const statements = [...f.aliases.map((a) => `const ${a.name} = ${a.source};`), ...printer.stmts(f.prelude), ...printer.stmts(f.body)];
  const stores = f.stores.map((s) => printer.stmts(s));
  const buffers = new Map(f.scratch.map((b) => [b.source!, scratchDeclaration(b)]));
  return { statements, stores, helpers: printer.helpers, buffers, operations: f.operations };
}

export { aliasLine };
