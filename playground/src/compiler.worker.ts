// The compiler worker: every compile, drawing and gradient check of the page runs here,
// off the main thread. It uses gradc's public entry points only: compile() for code,
// stats and diagnostics, analyze() and `gradc graph`'s buildDot/renderSvg for the circuit
// picture with values and gradients.

import { analyze, compile } from "../../src/compile.js";
import { mulberry32 } from "../../src/random.js";
import { gradientCheck, THRESHOLD, type LoadedModule } from "./gradient-check.js";
import type { At, CheckReply, CompileReply, CompilerRequest, Envelope, GraphReply, GraphResult } from "./protocol.js";

// Drawing needs Graphviz (WebAssembly, most of the worker's bytes): it is a chunk of its own,
// fetched beside the first compile, so that compiles and diagnostics do not wait for it.
let graphTools: Promise<typeof import("../../src/cli/graph.js")> | undefined;
const loadGraphTools = () => (graphTools ??= import("../../src/cli/graph.js"));

/** Graphs with more nodes than this are not laid out: the picture would be unreadable and slow. */
const MAX_DRAWN_NODES = 400;

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Values for an argument the page has none for: one decimal in [-1, 1], never 0, seeded by its name. */
function defaultValues(name: string, size: number): number[] {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  const next = mulberry32(h);
  return Array.from({ length: size }, () => Math.round((next() * 2 - 1) * 10) / 10 || 0.5);
}

/** `at` where it names an argument with the right number of values, defaults elsewhere. */
function completeAt(args: readonly { name: string; shape: readonly number[] }[], at: At): At {
  const out: At = {};
  for (const a of args) {
    const size = sizeOf(a.shape);
    const given = Object.hasOwn(at, a.name) ? at[a.name] : undefined;
    out[a.name] = given && given.length === size && given.every(Number.isFinite) ? given : defaultValues(a.name, size);
  }
  return out;
}

async function draw(source: string, requested: At): Promise<GraphReply> {
  const analyzed = analyze(source, "playground.expr");
  if (!analyzed.program) return { at: requested, graph: { note: "no graph: the program has errors" } };
  const at = completeAt(analyzed.program.args, requested);
  const count = analyzed.program.graph.nodes.length;
  if (count > 4 * MAX_DRAWN_NODES) return { at, graph: { note: `no graph: ${count} operations are too many to draw` } };
  const { buildDot, renderSvg } = await loadGraphTools();
  const dot = buildDot(analyzed.program, new Map(Object.entries(at)));
  const drawn = dot.match(/^ {2}n\d+ \[/gm)?.length ?? 0;
  let graph: GraphResult;
  if (drawn > MAX_DRAWN_NODES) graph = { note: `no graph: ${drawn} nodes are too many to draw` };
  else {
    try {
      graph = { svg: await renderSvg(dot) };
    } catch (e) {
      graph = { note: `no graph: ${(e as Error).message}` };
    }
  }
  return { at, graph };
}

async function load(code: string): Promise<LoadedModule> {
  const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
  try {
    return (await import(/* @vite-ignore */ url)) as LoadedModule;
  } finally {
    URL.revokeObjectURL(url);
  }
}

async function handle(request: CompilerRequest): Promise<CompileReply | GraphReply | CheckReply> {
  if (request.kind === "graph") return draw(request.source, request.at);
  if (request.kind === "check") {
    const result = compile(request.source, { filename: "playground.expr", format: "js" });
    if (!result.ok) return { ok: false, diagnostics: result.diagnostics, rows: [], points: 0, threshold: THRESHOLD };
    const rows = gradientCheck(await load(result.code), result.interface, request.points);
    return { ok: rows.every((r) => r.maxError <= THRESHOLD), diagnostics: [], rows, points: request.points, threshold: THRESHOLD };
  }
  const t0 = performance.now();
  const result = compile(request.source, { filename: "playground.expr", format: request.format, emit: request.emit });
  const ms = performance.now() - t0;
  if (!result.ok) return { ok: false, diagnostics: result.diagnostics, at: request.at, ms };
  const at = completeAt(result.interface.args, request.at);
  return { ok: true, diagnostics: [], code: result.code, stats: result.stats, interface: result.interface, at, ms };
}

// Start loading Graphviz at once, beside the first compile.
void loadGraphTools();

self.onmessage = async (event: MessageEvent<Envelope<CompilerRequest>>) => {
  const { id, body } = event.data;
  try {
    self.postMessage({ id, body: await handle(body) });
  } catch (e) {
    self.postMessage({ id, error: e instanceof Error ? e.message : String(e) });
  }
};
