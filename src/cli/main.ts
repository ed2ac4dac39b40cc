#!/usr/bin/env node
// The `gradc` command line: compile, check and graph. Exit status 0 on success, 1 when a
// program has errors, 2 for a wrong command line. Diagnostics go to stderr as
// `file:line:col: error: message` with the source line and a caret; never a stack trace.

import type { DiagnosticRecord } from "../compile.js";
import { VERSION } from "../version.js";
import { WriteError } from "./files.js";
import { checkCommand } from "./check.js";
import { compileCommand } from "./compile-command.js";

const HELP = `gradc ${VERSION}: compile .expr math programs into standalone forward/backward modules

Usage:
  gradc compile <file.expr | folder>... [-o <path>] [--format ts|js] [--no-checks]
                [--objective NAME] [--emit auto|unrolled|loops|tape] [--stats] [--check | --watch]
      One input and -o a file, or several inputs (or a folder) and -o a directory. The
      output format follows the extension: .ts gives TypeScript; .js or .mjs an ES module
      plus its declaration file (.d.ts, or .d.mts for .mjs). Without -o, writes
      <name>.ts beside each input. A folder is walked for .expr files, its tree mirrored
      under -o, with an index module exporting every model by name.
      --no-checks  leave argument checks out of the generated functions
      --objective NAME
                   the scalar output that the flat form (valueFlat, valueAndGradFlat)
                   minimizes; default: the only scalar output, when there is one
      --emit FORM  the form of forward and backward: straight-line code (unrolled),
                   loops over tensors (loops), a tape (tape), or chosen by size (auto,
                   the default)
      --stats      print the operation counts of forward and backward, each one's form
                   and why it was chosen, and one line per derivative operator: how it
                   is computed (forward or reverse passes, how many and why: one per
                   element, columns that share no row, a diagonal) and about how many
                   operations it adds to what it differentiates
      --check      compile in memory and exit 1 naming each output that is missing or
                   differs from what would be written (for CI); writes nothing
      --watch      recompile each source when it changes; keeps going after errors
  gradc check <file.expr> [--at name=v1,v2,...]... [--points N] [--seed N] [--threshold T]
      Compares backward with central finite differences at random points (or --at) and
      prints the largest relative error per param, then checks each derivative operator
      against differences of what it differentiates; exit 1 past the threshold (1e-7).
  gradc graph <file.expr> [--at name=v1,v2,...]... -o graph.svg|graph.dot
      The computational graph, as in the CS231n figures: each operation with its value
      and, with --at, its gradient.
  gradc --help | --version

Derivatives are values: gradient(y, x), jacobian(y, x), hessian(y, x), jvp(y, x, v) and
vjp(y, x, u) make outputs like any other, which forward computes: a jacobian shaped as
y then x ([m, n] for vectors, row-major), a hessian as x twice (exactly symmetric), jvp
as y, gradient and vjp as x. backward differentiates outputs built from them again.

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
  // As --help: after a command too (`gradc compile --version`), not an unknown option.
  if (rest.includes("--version")) {
    process.stdout.write(`gradc ${VERSION}\n`);
    return 0;
  }
  switch (command) {
    case "compile":
      return compileCommand(rest, tools);
    case "check":
      return checkCommand(rest, tools);
    case "graph": {
      // Graphviz (WebAssembly) loads only for this command.
      const { graphMain } = await import("./graph-main.js");
      return graphMain(rest, tools);
    }
    default:
      throw new UsageError(`unknown command '${command}' (commands: compile, check, graph)`);
  }
}

const tools: CliTools = { parseArgs, one, UsageError, printDiagnostics };

export type CliTools = {
  parseArgs: (argv: string[], valued: Set<string>, booleans: Set<string>) => Parsed;
  one: (p: Parsed, name: string) => string | undefined;
  UsageError: typeof UsageError;
  printDiagnostics: (ds: DiagnosticRecord[]) => void;
};

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    if (e instanceof UsageError) {
      process.stderr.write(`gradc: ${e.message}\nRun 'gradc --help' for usage.\n`);
      process.exitCode = 2;
    } else if (e instanceof WriteError) {
      process.stderr.write(`gradc: error: ${e.message}\n`);
      process.exitCode = 1;
    } else {
      // A bug in gradc, not in the user's program: say so in one line, no stack trace.
      process.stderr.write(`gradc: internal error: ${e instanceof Error ? e.message : String(e)}\nPlease report this with the input that caused it.\n`);
      process.exitCode = 70;
    }
  },
);
