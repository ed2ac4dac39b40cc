// `gradc compile`: plan which output each input gets, compile everything in memory, then
// write all outputs or none (or, with --check, compare them with what is on disk), and with
// --watch do it again whenever a source changes.
//
// Inputs are files or folders. A folder is walked for `.expr` files, its tree mirrored
// under -o, and an index module written there that exports every model by name.

import { existsSync, readdirSync, readFileSync, statSync, watch } from "node:fs";
import { basename, dirname, extname, join, relative, resolve, sep } from "node:path";
import { compile } from "../compile.js";
import { readFailure, readSource, writeAll } from "./files.js";
import type { CliTools } from "./main.js";

interface Planned {
  input: string;
  /** The module file; a declaration file goes beside it for JavaScript. */
  target: string;
  format: "ts" | "js";
  /** For inputs found in a folder: the export name in the index module. */
  exportName?: string;
}

interface Plan {
  units: Planned[];
  /** Index modules of folder inputs: path and the units they export. */
  indexes: { path: string; format: "ts" | "js"; units: Planned[]; folder: string }[];
}

interface Options {
  output?: string;
  format?: "ts" | "js";
  checks: boolean;
  stats: boolean;
  /** `--objective NAME`: the scalar output of the flat form. */
  objective?: string;
  /** `--emit unrolled|loops|tape|auto`: the form of the generated functions. */
  emit?: "auto" | "unrolled" | "loops" | "tape";
}

const FORMS = ["auto", "unrolled", "loops", "tape"] as const;

export async function compileCommand(argv: string[], tools: CliTools): Promise<number> {
  const p = tools.parseArgs(argv, new Set(["-o", "--output", "--format", "--objective", "--emit"]), new Set(["--no-checks", "--stats", "--check", "--watch"]));
  if (p.positional.length === 0) throw new tools.UsageError("compile needs at least one .expr file or folder");
  const format = tools.one(p, "--format");
  if (format !== undefined && format !== "ts" && format !== "js") throw new tools.UsageError(`--format must be 'ts' or 'js', got '${format}'`);
  const emit = tools.one(p, "--emit");
  if (emit !== undefined && !(FORMS as readonly string[]).includes(emit)) throw new tools.UsageError(`--emit must be one of ${FORMS.join(", ")}, got '${emit}'`);
  const options: Options = {
    output: tools.one(p, "-o") ?? tools.one(p, "--output"),
    format,
    checks: !p.flags.has("--no-checks"),
    stats: p.flags.has("--stats"),
    objective: tools.one(p, "--objective"),
    emit: emit as Options["emit"],
  };
  if (p.flags.has("--check") && p.flags.has("--watch")) throw new tools.UsageError("--check and --watch do not go together");
  const inputs = [...new Set(p.positional)];
  const plan = () => makePlan(inputs, options, tools);
  if (p.flags.has("--check")) return checkOutputs(plan(), options, tools);
  if (p.flags.has("--watch")) return watchInputs(inputs, plan, options, tools);
  const result = build(plan(), options, tools, undefined);
  return result.ok ? 0 : 1;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** `.expr` files under a folder, sorted, so output never depends on directory order. */
function walk(folder: string): string[] {
  const found: string[] = [];
  const stack = [folder];
  while (stack.length) {
    const dir = stack.pop()!;
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && !entry.name.startsWith(".") && entry.name !== "node_modules") stack.push(path);
      else if (entry.isFile() && entry.name.endsWith(".expr")) found.push(path);
    }
  }
  return found.sort();
}

/** `cs231n/neuron-gate.expr` -> `cs231n_neuron_gate`: a JavaScript identifier for the index. */
function exportName(rel: string): string {
  const name = rel.replace(/\.expr$/, "").split(/[\\/]/).join("_").replace(/[^A-Za-z0-9_$]/g, "_");
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

const extensionOf = (format: "ts" | "js") => (format === "ts" ? ".ts" : ".mjs");

function makePlan(inputs: string[], options: Options, tools: CliTools): Plan {
  const { output } = options;
  const folders = inputs.filter(isDirectory);
  const many = inputs.length > 1 || folders.length > 0;
  if (many && output !== undefined && /\.(ts|js|mjs)$/.test(output) && !isDirectory(output))
    throw new tools.UsageError(`several inputs (or a folder) need -o to be a directory, got the file '${output}'`);
  const toDirectory = output !== undefined && (many || isDirectory(output) || output.endsWith("/") || output.endsWith(sep));
  const units: Planned[] = [];
  const indexes: Plan["indexes"] = [];
  for (const input of inputs) {
    if (isDirectory(input)) {
      const format = options.format ?? "ts";
      const root = output ?? input;
      const found = walk(input).map((file): Planned => {
        const rel = relative(input, file);
        return { input: file, target: join(root, rel.replace(/\.expr$/, extensionOf(format))), format, exportName: exportName(rel) };
      });
      if (found.length === 0) throw new tools.UsageError(`no .expr files in the folder '${input}'`);
      const names = new Map<string, string>();
      for (const u of found) {
        const other = names.get(u.exportName!);
        if (other) throw new tools.UsageError(`'${other}' and '${u.input}' would both be exported as '${u.exportName}' from the index`);
        names.set(u.exportName!, u.input);
      }
      units.push(...found);
      indexes.push({ path: join(root, `index${extensionOf(format)}`), format, units: found, folder: input });
      continue;
    }
    const name = basename(input, extname(input));
    let target: string;
    if (output === undefined) target = join(dirname(input), name + extensionOf(options.format ?? "ts"));
    else if (toDirectory) target = join(output, name + extensionOf(options.format ?? "ts"));
    else target = output;
    const ext = extname(target);
    const format = options.format ?? (ext === ".js" || ext === ".mjs" ? "js" : ext === ".ts" ? "ts" : undefined);
    if (!format) throw new tools.UsageError(`cannot tell the output format from '${target}': use a .ts, .js or .mjs name, or --format`);
    units.push({ input, target, format });
  }
  // An output never overwrites a source (`-o model.expr`, or a source named m.ts beside its default output).
  const sources = new Set(inputs.filter((i) => !isDirectory(i)).map((i) => resolve(i)));
  for (const u of units) sources.add(resolve(u.input));
  for (const u of units) {
    for (const out of [u.target, declarationPath(u.target)])
      if (sources.has(resolve(out))) throw new tools.UsageError(`the output '${out}' of '${u.input}' would overwrite a source file; choose another -o`);
  }
  const targets = new Map<string, string>();
  for (const u of units) {
    const other = targets.get(u.target);
    if (other && other !== u.input) throw new tools.UsageError(`'${other}' and '${u.input}' would both be written to '${u.target}'`);
    targets.set(u.target, u.input);
  }
  // The index module is an output too: a model named index.expr at a folder's top, or two
  // folders compiled into one -o, would have one file written over another.
  const indexOf = new Map<string, string>();
  for (const index of indexes) {
    const model = targets.get(index.path);
    if (model) throw new tools.UsageError(`'${model}' would be written to '${index.path}', the folder's index module; rename it or compile it on its own`);
    const other = indexOf.get(index.path);
    if (other) throw new tools.UsageError(`the folders '${other}' and '${index.folder}' would both write the index module '${index.path}'; give each its own -o`);
    indexOf.set(index.path, index.folder);
  }
  return { units, indexes };
}

function declarationPath(target: string): string {
  return target.endsWith(".mjs") ? target.replace(/\.mjs$/, ".d.mts") : target.replace(/\.(js|ts)$/, ".d.ts");
}

/** The index module of a folder: one namespace export per model. */
function indexModule(index: Plan["indexes"][number]): { path: string; text: string }[] {
  const from = (u: Planned) => {
    const rel = relative(dirname(index.path), u.target).split(sep).join("/");
    const spec = index.format === "ts" ? rel.replace(/\.ts$/, ".js") : rel;
    return JSON.stringify(spec.startsWith(".") ? spec : `./${spec}`);
  };
  const lines = ["// Generated by gradc: every model of this folder, by name. Do not edit.", ...index.units.map((u) => `export * as ${u.exportName} from ${from(u)};`), ""];
  const text = lines.join("\n");
  return index.format === "ts" ? [{ path: index.path, text }] : [{ path: index.path, text }, { path: declarationPath(index.path), text }];
}

interface Built {
  ok: boolean;
  files: { path: string; text: string }[];
}

/** Compile every unit in memory; report each failure; write all files or none. */
function build(plan: Plan, options: Options, tools: CliTools, only: Set<string> | undefined, write = true): Built {
  const files: { path: string; text: string }[] = [];
  let ok = true;
  for (const u of plan.units) {
    if (only && !only.has(u.input)) continue;
    const started = performance.now();
    const source = readSource(u.input);
    if (!source.ok) {
      ok = false;
      process.stderr.write(readFailure(u.input, source) + "\n");
      continue;
    }
    const result = compile(source.text, { filename: u.input, format: u.format, checks: options.checks, objective: options.objective, emit: options.emit });
    if (!result.ok) {
      ok = false;
      tools.printDiagnostics(result.diagnostics);
      continue;
    }
    for (const note of result.notes) process.stderr.write(note + "\n");
    files.push({ path: u.target, text: result.code });
    if (result.declaration !== undefined) files.push({ path: declarationPath(u.target), text: result.declaration });
    if (options.stats) {
      const { forwardOperations: f, backwardOperations: b, emitted } = result.stats;
      process.stdout.write(`${u.input}: forward ${f} operations, backward ${b} operations (backward/forward ${(b / Math.max(1, f)).toFixed(2)}), ${emitted === "loops" ? "loops over tensors" : emitted === "tape" ? "a tape (one instruction per scalar operation)" : "straight-line code"}\n`);
      // Each function's form and why it was chosen.
      for (const [name, s] of Object.entries(result.stats.functions)) process.stdout.write(`  ${name}: ${s.form}, ${s.operations} operations (${s.reason})\n`);
      // Each derivative operator: how it is computed, and about what it adds to its y.
      for (const d of result.stats.derivatives)
        process.stdout.write(`  ${d.kind} by ${d.x}${d.line ? ` (line ${d.line})` : ""}, [${d.shape.join(", ")}]: ${d.method}; ${d.operations === undefined ? "its operation count depends on run-time sizes" : `about ${d.operations} operations beyond its y`}\n`);
    }
    if (only) process.stdout.write(`compiled ${u.input} -> ${u.target} in ${(performance.now() - started).toFixed(0)} ms\n`);
  }
  for (const index of plan.indexes) files.push(...indexModule(index));
  if (!ok) {
    if (write && files.length) process.stderr.write("gradc: nothing was written because of the errors above\n");
    return { ok, files: [] };
  }
  if (write) writeAll(files);
  return { ok, files };
}

/** --check: compile in memory and name every output that is missing or differs. Writes nothing. */
function checkOutputs(plan: Plan, options: Options, tools: CliTools): number {
  const built = build(plan, options, tools, undefined, false);
  if (!built.ok) return 1;
  let stale = 0;
  for (const f of built.files) {
    if (!existsSync(f.path)) {
      process.stderr.write(`gradc: ${f.path} is missing\n`);
      stale++;
    } else if (readFileSync(f.path, "utf8") !== f.text) {
      process.stderr.write(`gradc: ${f.path} is out of date\n`);
      stale++;
    }
  }
  if (stale) {
    process.stderr.write(`gradc: ${stale} output${stale === 1 ? " is" : "s are"} stale; run the same command without --check to update\n`);
    return 1;
  }
  process.stdout.write(`gradc: ${built.files.length} output${built.files.length === 1 ? " is" : "s are"} up to date\n`);
  return 0;
}

/**
 * --watch: compile what is stale or missing, then recompile each source when it changes
 * (and re-plan when files appear in a watched folder). Errors are reported and watching
 * goes on; Ctrl-C stops.
 */
function watchInputs(inputs: string[], plan: () => Plan, options: Options, tools: CliTools): Promise<number> {
  let current = plan();
  const stale = current.units.filter((u) => !existsSync(u.target) || statSync(u.target).mtimeMs < statSync(u.input).mtimeMs);
  if (stale.length) build(current, options, tools, new Set(stale.map((u) => u.input)));
  process.stdout.write(`gradc: watching ${current.units.length} file${current.units.length === 1 ? "" : "s"} (Ctrl-C to stop)\n`);
  const pending = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    try {
      current = plan();
    } catch (e) {
      process.stderr.write(`gradc: ${(e as Error).message}\n`);
      return;
    }
    const known = new Set(current.units.map((u) => u.input));
    const changed = new Set([...pending].filter((f) => known.has(f)));
    for (const u of current.units) if (!existsSync(u.target)) changed.add(u.input);
    pending.clear();
    if (changed.size) build(current, options, tools, changed);
  };
  const touch = (file: string) => {
    pending.add(file);
    if (!timer) timer = setTimeout(flush, 50);
  };
  const watchers = inputs.map((input) =>
    isDirectory(input)
      ? watch(input, { recursive: true }, (_, name) => name && String(name).endsWith(".expr") && touch(join(input, String(name))))
      : watch(input, () => touch(input)),
  );
  return new Promise((resolve) => {
    const stop = () => {
      for (const w of watchers) w.close();
      resolve(0);
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
