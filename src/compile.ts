// The pipeline, end to end: parse, check, differentiate, schedule and emit. Each stage
// lives in its own folder (syntax/, check/, ir/, diff/, emit/); this file only wires them
// and turns their diagnostics into the records callers see.

import { renderDiagnostic, locate, type Diagnostic } from "./diagnostics.js";
import { parse } from "./syntax/parser.js";
import { checkSource, type Argument, type CheckedProgram, type Output } from "./check/checker.js";
import { differentiate } from "./diff/reverse.js";
import { derivativesOf } from "./diff/operators.js";
import { knownSize, reachable, type Node } from "./ir/graph.js";
import { estimateSize, formatSize, isKnown, type Size } from "./ir/size.js";
import { scalarize } from "./ir/scalarize.js";
import { printStraightLine, type Sink } from "./emit/straight.js";
import { printTapes, type TapeLeaf } from "./emit/tape.js";
import { isElementwise } from "./ir/ops.js";
import { printLoops, SMALL_TENSOR } from "./loops/index.js";
import { SPLIT_LINES, splitBody, type Part } from "./emit/split.js";
import type { Graph } from "./ir/graph.js";
import { commentSafe, key, printModule, type ModuleParts } from "./emit/module.js";
import { flatObjective, lowerFlat } from "./emit/flat.js";
import { closest } from "./diagnostics.js";
import { VERSION } from "./version.js";
import { indexChecks } from "./emit/index-checks.js";
import { moduleSize, sizeLocals, type SizeParts } from "./emit/sizes.js";

export interface CompileOptions {
  /**
   * Shown in diagnostics as given; the generated module names only its last path
   * segment, so the output does not depend on where the file was compiled from.
   * Default `input.expr`.
   */
  filename?: string;
  /** `ts` (default) gives a TypeScript module; `js` an ES module plus its declaration file. */
  format?: "ts" | "js";
  /** Argument checks in the generated functions (default true). */
  checks?: boolean;
  /**
   * `auto` (default): straight-line code up to UNROLL_LIMIT scalar operations, loops over
   * tensors beyond, and a tape for scalar programs past TAPE_LIMIT operations. `unrolled`,
   * `loops` or `tape` force one form (benchmarks, tests).
   */
  emit?: "auto" | "unrolled" | "loops" | "tape";
  /**
   * The scalar output the flat form (valueFlat, valueAndGradFlat...) minimizes. Default: the
   * program's only scalar output, if it has exactly one; otherwise no flat form.
   */
  objective?: string;
}

/**
 * Estimated scalar operations of backward above which tensor operations become loops.
 * Measured by bench/crossover.mjs (README, "Unrolled or loops"): after warm-up, straight-line
 * code is up to 2x faster below about 250 operations, about even from 300 to 550 on a layer,
 * and slower beyond (1.4-3x at 500-4,000 on Rosenbrock); it also takes V8 far longer to
 * optimize.
 */
export const UNROLL_LIMIT = 400;

/**
 * Scalar operations of backward (after CSE) above which a program without tensor work is
 * emitted as a tape (emit/tape.ts) rather than straight-line code. Measured on chains of
 * scalar statements (`npm run bench:scale-scalar`, README "Unrolled or loops"): split
 * straight-line code of 11,000 backward operations runs at 4-5 ns per operation within
 * seconds, but at 33,000 it takes 20 s of calls to get below 10 ns (30 ns before) and at
 * 110,000 a minute (50-60 ns before); the tape runs at 4-6 ns per operation from the
 * first calls.
 */
export const TAPE_LIMIT = 20_000;

export interface DiagnosticRecord {
  code: string;
  message: string;
  file: string;
  line: number;
  column: number;
  /** `file:line:col: error: message`, the source line and a caret. */
  text: string;
}

export interface CompileStats {
  /** Scalar operations after CSE and simplification. */
  forwardOperations: number;
  backwardOperations: number;
  /** The form chosen: straight-line code, loops over tensors, or a tape (emit/tape.ts). */
  emitted: "unrolled" | "loops" | "tape";
  /** Per generated function: its form, why that form, and its operation count. */
  functions: { forward: FunctionStats; backward: FunctionStats };
  /** Per derivative operator in the program, in source order: how it is computed and its cost. */
  derivatives: DerivativeStats[];
}

export interface DerivativeStats {
  kind: "gradient" | "jacobian" | "hessian" | "jvp" | "vjp";
  /** The line of the call, and what it differentiates by: a name, or `a parameter of NAME` (a def's). */
  line: number | undefined;
  x: string;
  /** Its shape: numbers, and dims by name where sizes are known only at run time. */
  shape: (number | string)[];
  /** Forward or reverse, how many passes and why: `reverse, 2 passes (one per element of y), each built apart`. */
  method: string;
  /**
   * The scalar operations it adds to computing what it differentiates, by the estimate that
   * chooses the form of the code (before scalar simplification), for one evaluation: one
   * row, in a comprehension. Undefined where it depends on run-time sizes (`dim`).
   */
  operations: number | undefined;
}

export interface FunctionStats {
  form: "unrolled" | "loops" | "tape";
  /** Why this form, in numbers: `loops: 12,400 operations > UNROLL_LIMIT 400, 12,000 of them on tensors > 200`. */
  reason: string;
  operations: number;
}

/**
 * What a module takes and gives, for tools that drive it (gradc check, benchmarks). A size
 * known only at run time is its text (`"N"`, `"N - 1"`).
 */
export interface ModuleInterface {
  args: { name: string; role: "input" | "param"; shape: (number | string)[] }[];
  outputs: { name: string; shape: (number | string)[] }[];
}

const sizeEntry = (s: Size): number | string => (isKnown(s) ? s : formatSize(s));

export type CompileResult =
  | {
      ok: true;
      code: string;
      declaration?: string;
      diagnostics: [];
      /** What the compiler left out and why, for the user to read (`file: note: ...`): e.g. no flat form. */
      notes: string[];
      stats: CompileStats;
      interface: ModuleInterface;
    }
  | { ok: false; diagnostics: DiagnosticRecord[] };

/** Compile `.expr` source text to module text. Touches no file system. */
export function compile(source: string, options: CompileOptions = {}): CompileResult {
  checkOptions(source, options);
  const filename = options.filename ?? "input.expr";
  const fail = (ds: Diagnostic[]): CompileResult => ({ ok: false, diagnostics: ds.map((d) => record(filename, source, d)) });
  const parsed = parse(source);
  if (parsed.diagnostics.length) return fail(parsed.diagnostics);
  const checked = checkSource(parsed.program, source);
  if (!checked.checked) return fail(checked.diagnostics);
  const { dims } = checked.checked;
  const sourceName = filename.split(/[\\/]/).pop() || filename;
  const flat = flatObjective(checked.checked, options.objective);
  if ("error" in flat) return fail([objectiveDiagnostic(checked.checked, options.objective!, flat.index)]);
  const parts = lower(checked.checked, sourceName, source, options.checks ?? true, options.emit ?? "auto");
  if ("objective" in flat) {
    const where = (line: number) => `${commentSafe(sourceName)}:${line}`;
    parts.module.flat = lowerFlat(checked.checked, flat.objective, parts.emitted === "unrolled", where);
  }
  const format = options.format ?? "ts";
  const perFunction = (operations: number): FunctionStats => ({ form: parts.emitted, reason: parts.reason, operations });
  const stats: CompileStats = {
    forwardOperations: parts.forwardOperations,
    backwardOperations: parts.backwardOperations,
    emitted: parts.emitted,
    functions: { forward: perFunction(parts.forwardOperations), backward: perFunction(parts.backwardOperations) },
    derivatives: derivativeStats(checked.checked.graph),
  };
  const iface: ModuleInterface = {
    args: parts.module.args.map((a) => ({ name: a.name, role: a.role, shape: a.shape.map(sizeEntry) })),
    outputs: parts.module.outputs.map((o) => ({ name: o.name, shape: o.shape.map(sizeEntry) })),
  };
  const notes = "reason" in flat && flat.reason ? [`${filename}: note: ${flat.reason}`] : [];
  const result = { ok: true as const, diagnostics: [] as [], notes, stats, interface: iface };
  if (format === "ts") return { ...result, code: printModule(parts.module, "ts") };
  return { ...result, code: printModule(parts.module, "js"), declaration: printModule(parts.module, "dts") };
}

/**
 * The caller's mistakes, not the program's: a TypeError naming the option, as a JavaScript
 * caller has no type checker to catch `format: "mjs"` (which would otherwise give JavaScript
 * silently) or a source that is not a string.
 */
function checkOptions(source: unknown, options: unknown): void {
  if (typeof source !== "string") throw new TypeError(`compile: the source must be a string, got ${source === null ? "null" : typeof source}`);
  if (options === null || typeof options !== "object") throw new TypeError(`compile: the options must be an object, got ${options === null ? "null" : typeof options}`);
  const o = options as Record<string, unknown>;
  const oneOf = (name: string, values: readonly unknown[]) => {
    if (o[name] !== undefined && !values.includes(o[name])) throw new TypeError(`compile: option '${name}' must be ${values.map((v) => JSON.stringify(v)).join(" or ")}, got ${JSON.stringify(o[name])}`);
  };
  oneOf("format", ["ts", "js"]);
  oneOf("emit", ["auto", "unrolled", "loops", "tape"]);
  oneOf("checks", [true, false]);
  for (const name of ["filename", "objective"])
    if (o[name] !== undefined && typeof o[name] !== "string") throw new TypeError(`compile: option '${name}' must be a string, got ${JSON.stringify(o[name])}`);
}

/** `--objective NAME` that names no output (E0301) or a tensor output (E0302), in the user's terms. */
function objectiveDiagnostic(program: CheckedProgram, name: string, index: number | undefined): Diagnostic {
  const names = program.outputs.map((o) => `'${o.name}'`).join(", ");
  if (index === undefined) {
    const near = closest(name, program.outputs.map((o) => o.name));
    const guess = near === undefined ? "" : ` (did you mean '${near}'?)`;
    return { code: "E0301", message: `the objective '${name}' is not an output of this program${guess}; its outputs are ${names}`, span: program.outputs[0].span };
  }
  const o = program.outputs[index];
  return {
    code: "E0302",
    message: `the objective '${name}' is a tensor output [${o.node.shape.join(", ")}]; the flat form minimizes a scalar: name a scalar output, or add one such as 'output loss = sum(${name}^2)'`,
    span: o.span,
  };
}

/** Parse and check only: the IR of a program, for tools (`gradc graph`, `gradc check`). */
export function analyze(source: string, filename = "input.expr"): { program?: CheckedProgram; diagnostics: DiagnosticRecord[] } {
  const parsed = parse(source);
  if (parsed.diagnostics.length) return { diagnostics: parsed.diagnostics.map((d) => record(filename, source, d)) };
  const checked = checkSource(parsed.program, source);
  if (!checked.checked) return { diagnostics: checked.diagnostics.map((d) => record(filename, source, d)) };
  return { program: checked.checked, diagnostics: [] };
}

function record(file: string, source: string, d: Diagnostic): DiagnosticRecord {
  const loc = locate(source, d.span.start);
  return { code: d.code, message: d.message, file, line: loc.line, column: loc.column, text: renderDiagnostic(file, source, d) };
}

/** Differentiate and print the kernels of a checked program. */
function lower(program: CheckedProgram, sourceName: string, source: string, checks: boolean, emit: "auto" | "unrolled" | "loops" | "tape") {
  const { graph, args, outputs } = program;
  const params = args.filter((a) => a.role === "param").map((a) => a.node);
  // The loss case (one scalar output) is differentiated with seed 1, so that constant factors
  // fold through the gradient (0.5 * dot(r, r) gives r, not 2 * (r * (0.5 * s0))), and the
  // seed `s0` is applied where each gradient is stored, in the same statement: with no seed
  // V8 folds `x * 1` once `seed` has always been undefined, and a seed costs one product per
  // gradient element, not a second pass over the gradients. Loop code instead lets `s0`
  // enter at the output, as every seed does (its stores are inside loops and scatters).
  // Unguarded both ways: a seed of 0 is the only case where `0 * Infinity` could make a NaN,
  // and seedZero handles it.
  const lossCase = outputs.length === 1 && outputs[0].node.shape.length === 0;
  const seeds = outputs.map((o) => (lossCase ? graph.constant(1) : graph.input(o.name, "seed", o.node.shape)));
  const guarded = outputs.length > 1;
  let grads = differentiate(graph, outputs.map((o, k) => ({ output: o.node, seed: seeds[k], guarded })), params);
  let roots = [...outputs.map((o) => o.node), ...grads];
  // Loops pay when there is tensor work for them; a long program of scalar statements
  // stays straight-line (split into parts when long).
  const estimate = emit === "auto" ? estimateOperations(graph, roots) : undefined;
  const loops = emit === "loops" || program.dims.length > 0 || needsLoopCode(graph, roots) || (estimate !== undefined && estimate.total > UNROLL_LIMIT && estimate.tensor > UNROLL_LIMIT / 2);
  if (loops && lossCase) {
    grads = differentiate(graph, [{ output: outputs[0].node, seed: graph.input(outputs[0].name, "seed", []), guarded }], params);
    roots = [outputs[0].node, ...grads];
  }
  const why = program.dims.length ? "loops: run-time sizes (dim) are loop bounds" : formReason(emit, estimate, loops);
  const where = (line: number) => `${commentSafe(sourceName)}:${line}`;
  const lineOf = (offset: number) => locate(source, offset).line;
  // Comments before the stores: which output, which param's gradient, from which line.
  const outputNote = (o: Output) => `// output ${commentSafe(o.name)} (${where(lineOf(o.span.start))})`;
  const gradNote = (p: Argument) => `// gradient of ${commentSafe(p.name)} (param at ${where(p.node.line ?? 1)})`;
  if (loops) {
    const lowered = lowerToLoops(program, sourceName, checks, grads, where, outputNote, gradNote, why);
    const prologue = checks ? indexChecks(graph, roots, args, sourceName) : [];
    // The checks read the dims' locals, so they go after the lines that set them.
    const head = lowered.module.sizes ? sizeLocals(lowered.module.sizes).length : 0;
    const withChecks = (body: string[]) => [...body.slice(0, head), ...prologue, ...body.slice(head)];
    const module = { ...lowered.module, forward: withChecks(lowered.module.forward), backward: withChecks(lowered.module.backward) };
    return { ...lowered, module };
  }

  const scalar = scalarize(graph, [...outputs.map((o) => o.node), ...grads]);
  const localOf = inputLocals(program);
  const leafName = (n: Node): string | undefined => {
    const input = n.op === "input" ? n : n.op === "gather" && n.args[0].op === "input" ? n.args[0] : undefined;
    if (!input) return undefined;
    return n === input ? localOf(input) : `${localOf(input)}[${n.map!.offset}]`;
  };

  const tensorOutputs = outputs.map((o, k) => (o.node.shape.length ? `const o${k} = outputs[${key(o.name)}];` : "")).filter(Boolean);
  const outSinks: Sink[] = outputs.flatMap((o, k) =>
      scalar.elements(o.node).map((e, j) => ({
        node: e,
        store: (x: string) => (o.node.shape.length ? `o${k}[${j}] = ${x};` : `outputs[${key(o.name)}] = ${x};`),
      })),
  );
  const paramArgs = args.filter((a) => a.role === "param");
  // The loss case's seed, in each gradient's store (see above); an exact zero stays one.
  const seeded = (x: string) => (!lossCase || x === "0" ? x : /^[\w.[\]]+$/.test(x) ? `${x} * s0` : `(${x}) * s0`);
  const gradSinks: Sink[] = paramArgs.flatMap((p, k) =>
    scalar.elements(grads[k]).map((e, j) => ({
      node: e,
      store: (x: string) => (p.shape.length ? `g${k}[${j}] = ${seeded(x)};` : `grad[${key(p.name)}] = ${seeded(x)};`),
    })),
  );

  const outputSizes = outputs.map((o) => knownSize(o.node.size));
  const outputNotes = outputs.map(outputNote);
  // The output of each sink of outSinks.
  const outputOf = outputSizes.flatMap((n, k) => Array.from({ length: n }, () => k));
  // Very long scalar programs become a tape (emit/tape.ts) instead of straight-line code.
  const allSinks = [...outSinks, ...gradSinks];
  const scalarCount = emit === "auto" ? scalarOperations(scalar.graph, allSinks.map((s) => s.node)) : 0;
  const tape = emit === "tape" || (emit === "auto" && scalarCount > TAPE_LIMIT);
  const reason = emit === "auto" && tape ? `tape: ${count(scalarCount)} scalar operations > TAPE_LIMIT ${count(TAPE_LIMIT)}` : why;
  const tapeLeaf = (input: Node): TapeLeaf => ({ local: localOf(input), size: knownSize(input.size), scalar: input.shape.length === 0 });
  // The forward's stores where their values are ready (emit/straight.ts), unless the body is
  // long enough to be split into parts (splitLongBodies), which keep the stores at the end.
  const outputNoteLines = outputNotes.map((note) => [note]);
  const forwardStraight = () => {
    const noted = outSinks.map((s, k) => ({ ...s, note: outputNoteLines[outputOf[k]] }));
    const early = printStraightLine(scalar.graph, noted, leafName, where, "t", undefined, true);
    return tensorOutputs.length + early.statements.length <= SPLIT_LINES ? early : printStraightLine(scalar.graph, outSinks, leafName, where);
  };
  // backward's gradient stores too, each param's array read from `grad` before its first
  // store; the optional outputs together under their one `if`, where the last is ready.
  const paramOf = paramArgs.flatMap((p, k) => Array.from({ length: knownSize(p.node.size) }, () => k));
  const gradNoteLines = paramArgs.map((p, k) => (p.shape.length ? [gradNote(p), `const g${k} = grad[${key(p.name)}];`] : [gradNote(p)]));
  const backwardStraight = () => {
    const guard = { open: ["if (outputs !== undefined) {", ...tensorOutputs.map((s) => "  " + s)], close: "}" };
    const noted = [
      ...outSinks.map((s, k) => ({ ...s, note: outputNoteLines[outputOf[k]], guard })),
      ...gradSinks.map((s, k) => ({ ...s, note: gradNoteLines[paramOf[k]] })),
    ];
    const early = printStraightLine(scalar.graph, noted, leafName, where, "t", undefined, true);
    return early.statements.length + 1 <= SPLIT_LINES ? { ...early, early: true } : { ...printStraightLine(scalar.graph, allSinks, leafName, where), early: false };
  };
  const tapes = () => {
    const printed = printTapes(scalar.graph, outSinks, allSinks, tapeLeaf);
    return { ...printed, bwd: { ...printed.bwd, early: false } };
  };
  const { fwd, bwd, declarations, parts } = tape ? tapes() : { fwd: forwardStraight(), bwd: backwardStraight(), declarations: [], parts: [] };
  // Stores grouped per output and per param, each under its comment.
  const group = (stores: string[], sizes: number[], notes: string[]) => {
    const out: string[] = [];
    let at = 0;
    sizes.forEach((n, k) => {
      out.push(notes[k], ...stores.slice(at, at + n));
      at += n;
    });
    return out;
  };
  const outputStores = group(bwd.stores.slice(0, outSinks.length), outputSizes, outputNotes);
  const gradStores = group(bwd.stores.slice(outSinks.length), paramArgs.map((p) => knownSize(p.node.size)), paramArgs.map(gradNote));
  const tensorGrads = paramArgs.map((p, k) => (p.shape.length ? `const g${k} = grad[${key(p.name)}];` : "")).filter(Boolean);
  // With early stores (backwardStraight), bwd.statements holds them all.
  const backwardStores = bwd.early
    ? []
    : ["if (outputs !== undefined) {", ...tensorOutputs.map((s) => "  " + s), ...outputStores.map((s) => "  " + s), "}", ...tensorGrads, ...gradStores];

  const module: ModuleParts = {
    sourceName,
    version: VERSION,
    ...moduleShape(program),
    forward: [...tensorOutputs, ...fwd.statements, ...(fwd.stores.length ? group(fwd.stores, outputSizes, outputNotes) : [])],
    backward: [
      ...bwd.statements,
      ...backwardStores,
      ...(lossCase ? seedZero(paramArgs).call : []),
    ],
    declarations,
    parts: [...(lossCase ? seedZero(paramArgs).parts : []), ...parts],
    helpers: new Set([...fwd.helpers, ...bwd.helpers]),
    checks,
  };
  const emitted = tape ? ("tape" as const) : ("unrolled" as const);
  return { module: tape ? module : splitLongBodies(module), forwardOperations: fwd.operations, backwardOperations: bwd.operations, emitted, reason };
}

/**
 * Whether `roots` need an operation only loop code has: an element picked by an index read
 * from an integer input, or a factorization (solve, inv, det), whose pivots are chosen when
 * the module runs.
 */
function needsLoopCode(graph: Graph, roots: readonly Node[]): boolean {
  const needed = reachable(graph, roots);
  return graph.nodes.some((n) => needed[n.id] && (n.op === "checkindex" || n.op === "solve" || n.op === "det"));
}

const count = (n: number) => n.toLocaleString("en-US");

/** Why `lower` chose the form it did, in numbers (for `--stats`); a tape is decided later. */
function formReason(emit: CompileOptions["emit"], estimate: { total: number; tensor: number } | undefined, loops: boolean): string {
  if (emit !== "auto" && emit !== undefined) return `${emit}: asked for (emit "${emit}")`;
  const { total, tensor } = estimate!;
  if (!loops)
    return total <= UNROLL_LIMIT
      ? `unrolled: ${count(total)} operations <= UNROLL_LIMIT ${UNROLL_LIMIT}`
      : `unrolled: ${count(tensor)} of ${count(total)} operations on tensors <= ${UNROLL_LIMIT / 2}`;
  if (total > UNROLL_LIMIT && tensor > UNROLL_LIMIT / 2)
    return `loops: ${count(total)} operations > UNROLL_LIMIT ${UNROLL_LIMIT}, ${count(tensor)} of them on tensors > ${UNROLL_LIMIT / 2}`;
  return "loops: an operation only loop code has (an index read from an integer input, or a factorization)";
}

/** Scalar operations (elementwise nodes) that `roots` need in a scalar graph. */
function scalarOperations(graph: Graph, roots: readonly Node[]): number {
  const needed = reachable(graph, roots);
  let count = 0;
  for (const n of graph.nodes) if (needed[n.id] && isElementwise(n.op)) count++;
  return count;
}

/**
 * Bodies too long for V8 to optimize (or even to enter) become part functions; the
 * stores at the end, from the first output comment or the outputs block on, stay.
 */
function splitLongBodies(module: ModuleParts): ModuleParts {
  const context = [...module.args.map((_, i) => `a${i}`), ...module.outputs.map((_, k) => `s${k}`), "grad", "outputs"];
  const split = (body: string[], name: string) => {
    let tail = body.findIndex((l) => l === "if (outputs !== undefined) {" || l.startsWith("// output "));
    if (tail === -1) tail = body.length;
    return splitBody(body, body.length - tail, name, context);
  };
  const forward = split(module.forward, "forward");
  const backward = split(module.backward, "backward");
  return {
    ...module,
    forward: forward?.body ?? module.forward,
    backward: backward?.body ?? module.backward,
    declarations: [...module.declarations, ...(forward?.declarations ?? []), ...(backward?.declarations ?? [])],
    parts: [...module.parts, ...(forward?.parts ?? []), ...(backward?.parts ?? [])],
  };
}

/**
 * Scalar operations the nodes that `roots` need would take, unrolled: in all, and in
 * operations on tensors larger than SMALL_TENSOR (the work a loop can take over).
 */
function estimateOperations(graph: Graph, roots: readonly Node[]): { total: number; tensor: number } {
  const needed = reachable(graph, roots);
  let total = 0;
  let tensor = 0;
  const count = estimateSize;
  for (const n of graph.nodes) {
    if (!needed[n.id]) continue;
    let cost = 0;
    const size = Math.max(count(n.size), n.args.length ? count(n.args[0].size) : 1);
    if (n.op === "matmul") cost = 2 * count(n.args[0].size) * (n.args[1].shape.length === 2 ? count(n.args[1].shape[1]) : 1);
    // A scatter places its parts (a gradient's slices); where they cover less than its size, the rest is zeros.
    else if (n.op === "scatter") cost = Math.min(size, n.args.reduce((sum, part) => sum + count(part.size), 0));
    else if (n.op !== "const" && n.op !== "input" && n.op !== "gather" && n.op !== "pack" && n.op !== "gate") cost = size;
    total += cost;
    if (size > SMALL_TENSOR) tensor += cost;
  }
  return { total, tensor };
}

/** Each derivative operator's method, and the operations its result needs beyond its y (and v or u). */
function derivativeStats(graph: Graph): DerivativeStats[] {
  return derivativesOf(graph).map((r) => {
    const given = r.direction ? [r.y, r.direction] : [r.y];
    // With run-time sizes the count is a polynomial in them: left out.
    const needed = reachable(graph, [r.result, ...given]);
    const runtime = graph.nodes.some((n) => needed[n.id] && !isKnown(n.size));
    const operations = runtime ? undefined : estimateOperations(graph, [r.result, ...given]).total - estimateOperations(graph, given).total;
    // A def's parameter is a placeholder named #def.k while the def is built.
    const name = r.x.name ?? "x";
    const x = name.startsWith("#") ? `a parameter of ${name.slice(1, name.lastIndexOf("."))}` : name;
    return { kind: r.kind, line: r.line, x, shape: r.result.shape.map(sizeEntry), method: r.method, operations };
  });
}

/**
 * The loss case with its seed left out (`{}`) or 0: every gradient is 0, as for an output
 * left out of the seed when there are several (modules.md), not the NaN that `0 * Infinity`
 * makes where a local derivative is infinite.
 */
function seedZero(params: readonly Argument[]): { call: string[]; parts: Part[] } {
  if (params.length === 0) return { call: [], parts: [] };
  // A function of its own keeps backwardInto small enough for V8 to inline it into a
  // training loop.
  const lines = params.map((p) => (p.shape.length ? `for (let k = 0, g = grad[${key(p.name)}]; k < ${moduleSize(p.node.size)}; k++) g[k] = 0;` : `grad[${key(p.name)}] = 0;`));
  return { call: ["if (s0 === 0) zeroGradients(grad);"], parts: [{ name: "zeroGradients", params: ["grad"], lines }] };
}

/** The local of the generated functions that holds an input node: `a<i>` for argument i, `s<k>` for output k's seed. */
function inputLocals({ args, outputs }: CheckedProgram): (input: Node) => string {
  const argIndex = new Map(args.map((a, i) => [`${a.role}:${a.name}`, i]));
  const seedIndex = new Map(outputs.map((o, k) => [o.name, k]));
  return (input) => (input.role === "seed" ? `s${seedIndex.get(input.name!)}` : `a${argIndex.get(`${input.role}:${input.name}`)}`);
}

function moduleShape(program: CheckedProgram) {
  return {
    args: program.args.map((a) => ({ name: a.name, role: a.role, shape: a.shape, size: a.node.size, ...(a.integer ? { integer: true } : {}) })),
    outputs: program.outputs.map((o) => ({ name: o.name, shape: o.node.shape, size: o.node.size })),
  };
}

/** Loop code: tensors stay tensors, in module-level buffers. */
function lowerToLoops(
  program: CheckedProgram,
  sourceName: string,
  checks: boolean,
  grads: Node[],
  where: (line: number) => string,
  outputNote: (o: Output) => string,
  gradNote: (p: Argument) => string,
  reason: string,
) {
  const { graph, args, outputs } = program;
  const localOf = inputLocals(program);
  const leafName = (n: Node): string | undefined => (n.op === "input" ? (n.role === "dim" ? `$${n.name}` : localOf(n)) : undefined);
  const outputSinks = outputs.map((o) =>
    o.node.shape.length ? { node: o.node, tensor: `outputs[${key(o.name)}]` } : { node: o.node, scalar: `outputs[${key(o.name)}]` },
  );
  const paramArgs = args.filter((a) => a.role === "param");
  const gradSinks = paramArgs.map((p, k) =>
    p.shape.length ? { node: grads[k], tensor: `grad[${key(p.name)}]`, direct: true } : { node: grads[k], scalar: `grad[${key(p.name)}]` },
  );
  // Long bodies become part functions that take these locals of forwardInto and backwardInto.
  const context = [...args.map((_, i) => `a${i}`), ...outputs.map((_, k) => `s${k}`), "grad", "outputs", ...program.dims.map((d) => `$${d.name}`)];
  const fwd = printLoops(graph, outputSinks, leafName, where, { name: "forward", context });
  const bwd = printLoops(graph, [...outputSinks, ...gradSinks], leafName, where, { name: "backward", context });
  const noted = (stores: string[][], notes: string[]) => stores.flatMap((s, k) => (s.length ? [notes[k], ...s] : []));
  const outputNotes = outputs.map(outputNote);
  const buffers = new Map([...fwd.buffers, ...bwd.buffers]);
  // buf14 and its one-row form buf14row (loops/passes/contract.ts) sort by the node id.
  const order = (name: string) => (name.startsWith("buf") ? Number(name.slice(3, name.endsWith("row") ? -3 : undefined)) : Infinity);
  const sizes: SizeParts | undefined = program.dims.length
    ? { dims: program.dims.map((d) => d.name), requirements: program.requirements, resized: [...new Map([...fwd.resized, ...bwd.resized])].sort((a, b) => order(a[0]) - order(b[0])).map(([source, size]) => ({ source, size })) }
    : undefined;
  const prologue = sizes ? sizeLocals(sizes) : [];
  const module: ModuleParts = {
    sourceName,
    version: VERSION,
    ...moduleShape(program),
    forward: [...prologue, ...fwd.statements, ...noted(fwd.stores, outputNotes)],
    backward: [
      ...prologue,
      ...bwd.statements,
      "if (outputs !== undefined) {",
      ...noted(bwd.stores.slice(0, outputSinks.length), outputNotes).map((s) => "  " + s),
      "}",
      ...noted(bwd.stores.slice(outputSinks.length), paramArgs.map(gradNote)),
      ...(outputs.length === 1 && outputs[0].node.shape.length === 0 ? seedZero(paramArgs).call : []),
    ],
    // Scratch buffers by node id, then the register files of split bodies.
    declarations: [...buffers.keys()].sort((a, b) => order(a) - order(b) || (a < b ? -1 : 1)).map((b) => buffers.get(b)!),
    parts: [...(outputs.length === 1 && outputs[0].node.shape.length === 0 ? seedZero(paramArgs).parts : []), ...fwd.parts, ...bwd.parts],
    helpers: new Set([...fwd.helpers, ...bwd.helpers]),
    checks,
    ...(sizes ? { sizes } : {}),
  };
  return { module, forwardOperations: fwd.operations, backwardOperations: bwd.operations, emitted: "loops" as const, reason };
}
