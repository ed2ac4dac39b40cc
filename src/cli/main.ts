#!/usr/bin/env node
// The `gradc` command line: compile, check and graph. Exit status 0 on success, 1 when a
// program has errors, 2 for a wrong command line. Diagnostics go to stderr as
// `file:line:col: error: message` with the source line and a caret; never a stack trace.

import { basename, dirname, extname, join } from "node:path";
import { statSync } from "node:fs";
import { compile, type DiagnosticRecord } from "../compile.js";
import { VERSION } from "../version.js";
import { deferInterrupts, readSource, writeAll } from "./files.js";
import { checkCommand } from "./check.js";
import { renderDiagnostic } from "../diagnostics.js";

const HELP = `gradc ${VERSION}: compile .expr math programs into standalone forward/backward modules

Usage:
  gradc compile <file.expr>... [-o <path>] [--format ts|js] [--no-checks] [--stats]
      One input and -o a file, or several inputs and -o a directory. The output format
      follows the extension: .ts gives TypeScript; .js or .mjs an ES module plus its
      declaration file (.d.ts, or .d.mts for .mjs). Without -o, writes <name>.ts beside
      each input. --no-checks leaves argument checks out of the generated functions;
      --stats prints the operation counts of forward and backward.
  gradc check <file.expr> [--at name=v1,v2,...]... [--points N] [--seed N] [--threshold T]
      Compares backward with central finite differences at random points (or --at) and
      prints the largest relative error per param; exit 1 past the threshold (1e-7).
  gradc graph <file.expr> [--at name=v1,v2,...]... -o graph.svg|graph.dot
      The computational graph, as in the CS231n figures: each operation with its value
      and, with --at, its gradient.
  gradc --help | --version

Exit status: 0 success, 1 errors in a program, 2 wrong command line.
`;

class UsageError extends Error {}

interface Parsed {
  positional: string[];
  flags: Map<string, string[]>;
}

/** A small getopt: `-o x`, `--format=ts`, `--format ts`, repeated `--at`, boolean flags. */
function parseArgs(argv: string[], valued: Set<string>, booleans: Set<string>): Parsed {
  const positional: string[] = [];
  const flags = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith("-") || a === "-") {
      positional.push(a);
      continue;
    }
    let [name, value] = a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    if (booleans.has(name)) {
      if (value !== undefined) throw new UsageError(`option '${name}' takes no value`);
      flags.set(name, ["true"]);
      continue;
    }
    if (!valued.has(name)) throw new UsageError(`unknown option '${name}'`);
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`option '${name}' needs a value`);
      value = argv[++i];
    }
    flags.set(name, [...(flags.get(name) ?? []), value]);
  }
  return { positional, flags };
}

function one(p: Parsed, name: string): string | undefined {
  const v = p.flags.get(name);
  if (v && v.length > 1) throw new UsageError(`option '${name}' given more than once`);
  return v?.[0];
}

function printDiagnostics(ds: DiagnosticRecord[]) {
  for (const d of ds) process.stderr.write(d.text + "\n");
  const n = ds.length;
  if (n > 1) process.stderr.write(`${n} errors\n`);
}

function compileCommand(argv: string[]): number {
  const p = parseArgs(argv, new Set(["-o", "--output", "--format"]), new Set(["--no-checks", "--stats"]));
  if (p.positional.length === 0) throw new UsageError("compile needs at least one .expr file");
  const output = one(p, "-o") ?? one(p, "--output");
  const format = one(p, "--format");
  if (format !== undefined && format !== "ts" && format !== "js") throw new UsageError(`--format must be 'ts' or 'js', got '${format}'`);
  const inputs = [...new Set(p.positional)];
  let toDirectory = false;
  if (inputs.length > 1) {
    if (output === undefined) toDirectory = false;
    else if (/\.(ts|js|mjs)$/.test(output) && !isDirectory(output)) throw new UsageError(`several inputs need -o to be a directory, got the file '${output}'`);
    else toDirectory = true;
  } else if (output !== undefined && (isDirectory(output) || output.endsWith("/"))) toDirectory = true;

  const files: { path: string; text: string }[] = [];
  let failed = false;
  for (const input of inputs) {
    const name = basename(input, extname(input));
    const target = output === undefined ? join(dirname(input), `${name}.${format === "js" ? "mjs" : "ts"}`) : toDirectory ? join(output, `${name}.${format === "js" ? "mjs" : "ts"}`) : output;
    const ext = extname(target);
    const fmt = (format ?? (ext === ".js" || ext === ".mjs" ? "js" : ext === ".ts" ? "ts" : undefined)) as "ts" | "js" | undefined;
    if (!fmt) throw new UsageError(`cannot tell the output format from '${target}': use a .ts, .js or .mjs name, or --format`);
    const source = readSource(input);
    if (!source.ok) {
      failed = true;
      if (source.offset !== undefined && source.text !== undefined)
        process.stderr.write(renderDiagnostic(input, source.text, { code: "E0100", message: source.message, span: { start: source.offset, end: source.offset + 1 } }) + "\n");
      else process.stderr.write(`gradc: error: ${source.message}\n`);
      continue;
    }
    const result = compile(source.text, { filename: basename(input), format: fmt, checks: !p.flags.has("--no-checks") });
    if (!result.ok) {
      failed = true;
      printDiagnostics(result.diagnostics);
      continue;
    }
    files.push({ path: target, text: result.code });
    if (result.declaration !== undefined) files.push({ path: target.replace(/\.mjs$/, ".d.mts").replace(/\.js$/, ".d.ts").replace(/\.ts$/, ".d.ts"), text: result.declaration });
    if (p.flags.has("--stats")) {
      const { forwardOperations: f, backwardOperations: b } = result.stats;
      process.stdout.write(`${input}: forward ${f} operations, backward ${b} operations (backward/forward ${(b / Math.max(1, f)).toFixed(2)})\n`);
    }
  }
  if (failed) {
    if (files.length) process.stderr.write("gradc: nothing was written because of the errors above\n");
    return 1;
  }
  writeAll(files);
  return 0;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    process.stdout.write(HELP);
    return command === undefined ? 2 : 0;
  }
  if (command === "--version" || command === "-v" || command === "-V") {
    process.stdout.write(`gradc ${VERSION}\n`);
    return 0;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    process.stdout.write(HELP);
    return 0;
  }
  switch (command) {
    case "compile":
      return compileCommand(rest);
    case "check":
      return checkCommand(rest, { parseArgs: (a, v, b) => parseArgs(a, v, b), one, UsageError, printDiagnostics });
    case "graph": {
      const { graphMain } = await import("./graph-main.js");
      return graphMain(rest, { parseArgs: (a, v, b) => parseArgs(a, v, b), one, UsageError, printDiagnostics });
    }
    default:
      throw new UsageError(`unknown command '${command}' (commands: compile, check, graph)`);
  }
}

export type CliTools = {
  parseArgs: (argv: string[], valued: Set<string>, booleans: Set<string>) => Parsed;
  one: (p: Parsed, name: string) => string | undefined;
  UsageError: typeof UsageError;
  printDiagnostics: (ds: DiagnosticRecord[]) => void;
};

deferInterrupts();
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`gradc: ${e.message}\nRun 'gradc --help' for usage.\n`);
      process.exitCode = 2;
    } else {
      // A bug in gradc, not in the user's program: say so in one line, no stack trace.
      process.stderr.write(`gradc: internal error: ${e instanceof Error ? e.message : String(e)}\nPlease report this with the input that caused it.\n`);
      process.exitCode = 70;
    }
  },
);
