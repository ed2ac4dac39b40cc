// The bundler plugin: `import * as model from "./model.expr"` in an app built with Vite,
// Rollup, Rolldown, esbuild or webpack. Built on unplugin: a `load` hook filtered to `.expr`
// reads the file, compiles it with `compile(source, { format: "js" })` and hands the bundler
// the generated ES module (it imports nothing, so there is nothing more to resolve).
//
// Errors go through each bundler's own error channel with file, line and column: Vite,
// Rollup and Rolldown get `this.error({ message, id, loc })` (Vite's overlay shows it);
// esbuild gets one located message per diagnostic, with the source line, from a native
// `onLoad` (unplugin's esbuild adapter would drop the line text). Bundlers count columns
// from 0 in `loc`; the message text is gradc's own, as the CLI prints it, columns from 1.
//
// Option `dts: true` writes `model.expr.d.ts` beside each source: the exact declaration of
// the generated module, which TypeScript uses for `import ... from "./model.expr"` under
// moduleResolution "bundler". Without it, `gradc/client` (src/plugin/expr-module.d.ts)
// declares every `*.expr` module with generic types.

import { readFileSync, writeFileSync } from "node:fs";
import { isAbsolute, relative, sep } from "node:path";
import type { OnLoadResult, PartialMessage, PluginBuild } from "esbuild";
import { createUnplugin, type UnpluginBuildContext, type UnpluginContext, type UnpluginContextMeta, type UnpluginInstance, type UnpluginOptions } from "unplugin";
import { readSource } from "../cli/files.js";
import { compile, type CompileOptions } from "../compile.js";
import { locate, renderDiagnostic } from "../diagnostics.js";

export interface GradcPluginOptions {
  /** Argument checks in the generated functions (default true), as `gradc compile --no-checks`. */
  checks?: boolean;
  /** Code form, as the library's `emit` option (default `auto`). */
  emit?: CompileOptions["emit"];
  /**
   * The scalar output of each module's flat form (valueFlat, valueAndGradFlat), as
   * `gradc compile --objective`: a name for every module, or a function of the module's path
   * giving a name or undefined (the default: the only scalar output).
   */
  objective?: string | ((file: string) => string | undefined);
  /**
   * Write the exact declaration of each compiled module beside its source, rewritten only
   * when it changes. `true` or `"expr.d.ts"`: `model.expr.d.ts`, which TypeScript finds under
   * `moduleResolution: "bundler"` (Vite's default). `"d.expr.ts"`: `model.d.expr.ts`, the name
   * TypeScript looks for with `allowArbitraryExtensions` (any module resolution). Default false.
   */
  dts?: boolean | "expr.d.ts" | "d.expr.ts";
  /**
   * Folder that file names in messages and generated comments are relative to (default
   * `process.cwd()`), so the built code does not depend on where the project lives.
   */
  root?: string;
}

/** Module ids the plugin compiles: a path ending in `.expr` and no query (`?raw` stays raw text). */
export const EXPR_ID = /\.expr$/;

/** One diagnostic, located for bundlers. */
interface Problem {
  /** gradc's message alone (`unknown function 'sigmoidd'...`). */
  message: string;
  /** `file:line:col: error: message`, the source line and a caret: the CLI's text. */
  text: string;
  line: number;
  /** From 1, in Unicode code points (gradc's convention). */
  column: number;
  lineText: string;
  /** Code points the caret underlines. */
  width: number;
}

type Compiled = { ok: true; code: string; declaration?: string } | { ok: false; problems: Problem[]; message: string };

/** Reads, compiles and (with `dts`) writes the declaration; `warn` reports notes and a write failure. */
function compileFile(file: string, opts: GradcPluginOptions, warn: (message: string) => void): Compiled {
  const name = displayName(file, opts.root ?? process.cwd());
  const read = readSource(file);
  if (!read.ok) {
    if (read.offset === undefined || read.text === undefined) return { ok: false, problems: [], message: `${name}: error: ${read.message}` };
    const text = renderDiagnostic(name, read.text, { code: "E0100", message: read.message, span: { start: read.offset, end: read.offset + 1 } });
    const loc = locate(read.text, read.offset);
    return failure([{ message: read.message, text, line: loc.line, column: loc.column, lineText: loc.lineText, width: 1 }]);
  }
  const source = read.text;
  const result = compile(source, { filename: name, format: "js", checks: opts.checks, emit: opts.emit, objective: typeof opts.objective === "function" ? opts.objective(name) : opts.objective });
  if (!result.ok) {
    return failure(
      result.diagnostics.map((d) => ({
        message: d.message,
        text: d.text,
        line: d.line,
        column: d.column,
        lineText: lineOf(source, d.line),
        width: (d.text.split("\n")[2]?.match(/\^+/)?.[0] ?? "^").length,
      })),
    );
  }
  // What the compiler left out (a flat form a program with dims cannot have) reaches the
  // bundler's warnings, as it reaches stderr from the CLI.
  for (const note of result.notes) warn(note);
  if (opts.dts && result.declaration !== undefined) {
    const path = opts.dts === "d.expr.ts" ? file.replace(EXPR_ID, ".d.expr.ts") : file + ".d.ts";
    writeIfChanged(path, result.declaration, warn);
  }
  return { ok: true, code: result.code, declaration: result.declaration };
}

function failure(problems: Problem[]): Compiled {
  const heading = problems.length > 1 ? `gradc: ${problems.length} errors\n` : "";
  return { ok: false, problems, message: heading + problems.map((p) => p.text).join("\n") };
}

/** Line `n` (from 1) of the source, without its line break or a byte-order mark. */
function lineOf(source: string, n: number): string {
  const text = (source.split("\n")[n - 1] ?? "").replace(/\r$/, "");
  return n === 1 && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Code points of `text` from `from` (0-based), `count` of them, in UTF-16 units or UTF-8 bytes. */
function measure(text: string, from: number, count: number, unit: "utf16" | "utf8"): number {
  const part = Array.from(text).slice(from, from + count).join("");
  return unit === "utf8" ? Buffer.byteLength(part, "utf8") : part.length;
}

/** The file as messages and generated comments name it: relative to root, with `/`. */
function displayName(file: string, root: string): string {
  const rel = relative(root, file);
  return (rel === "" || isAbsolute(rel) ? file : rel).split(sep).join("/");
}

/** Writes `text` only when the file's content differs, so watchers do not loop. */
function writeIfChanged(path: string, text: string, warn: (message: string) => void): void {
  let old: string | undefined;
  try {
    old = readFileSync(path, "utf8");
  } catch {
    old = undefined;
  }
  if (old === text) return;
  try {
    writeFileSync(path, text);
  } catch (e) {
    warn(`gradc: cannot write ${path}: ${(e as Error).message}`);
  }
}

/** A module that throws the compile errors when imported, should a bundler carry on past them. */
function throwingModule(message: string): string {
  return `throw new Error(${JSON.stringify(message)});\n`;
}

/** Vite, Rollup, Rolldown, webpack, Rspack...: unplugin's `load` hook. */
function loadHook(opts: GradcPluginOptions) {
  return function (this: UnpluginBuildContext & UnpluginContext, id: string) {
    if (id.startsWith("\0") || !EXPR_ID.test(id)) return null;
    this.addWatchFile(id);
    const result = compileFile(id, opts, (message) => this.warn({ message, id }));
    if (result.ok) return { code: result.code, map: null };
    const first = result.problems[0];
    // Rollup, Rolldown and Vite throw here; webpack records the error and goes on.
    this.error({
      message: result.message,
      id,
      loc: first && { file: id, line: first.line, column: measure(first.lineText, 0, first.column - 1, "utf16") },
    });
    return { code: throwingModule(result.message), map: null };
  };
}

/** esbuild: a native `onLoad`, so each diagnostic keeps its source line and underline. */
function esbuildSetup(opts: GradcPluginOptions) {
  return (build: PluginBuild): void => {
    build.onLoad({ filter: EXPR_ID, namespace: "file" }, (args): OnLoadResult => {
      const warnings: PartialMessage[] = [];
      const result = compileFile(args.path, opts, (text) => warnings.push({ text }));
      if (result.ok) return { contents: result.code, loader: "js", watchFiles: [args.path], warnings };
      const errors = result.problems.length
        ? result.problems.map((p) => ({
            text: p.message,
            location: {
              file: args.path,
              line: p.line,
              column: measure(p.lineText, 0, p.column - 1, "utf8"),
              length: measure(p.lineText, p.column - 1, p.width, "utf8"),
              lineText: p.lineText,
            },
          }))
        : [{ text: result.message }];
      return { contents: throwingModule(result.message), loader: "js", errors, warnings, watchFiles: [args.path] };
    });
  };
}

function factory(options: GradcPluginOptions | undefined, meta: UnpluginContextMeta): UnpluginOptions {
  const opts = options ?? {};
  if (meta.framework === "esbuild") return { name: "gradc", esbuild: { setup: esbuildSetup(opts) } };
  return { name: "gradc", enforce: "pre", load: { filter: { id: EXPR_ID }, handler: loadHook(opts) } };
}

/** The plugin for every bundler unplugin supports. */
export type GradcUnplugin = UnpluginInstance<GradcPluginOptions | undefined, false>;

/** The plugin for every bundler unplugin supports: `unplugin.vite(options)`, `unplugin.webpack(options)`... */
export const unplugin: GradcUnplugin = createUnplugin(factory);

// Annotated through GradcUnplugin, so the declaration file names each bundler's plugin type
// through unplugin's own exports, whichever bundlers are installed.
/** Vite plugin: `plugins: [vite()]`. */
export const vite: GradcUnplugin["vite"] = unplugin.vite;
/** Rollup plugin: `plugins: [rollup()]`. */
export const rollup: GradcUnplugin["rollup"] = unplugin.rollup;
/** Rolldown plugin: `plugins: [rolldown()]`. */
export const rolldown: GradcUnplugin["rolldown"] = unplugin.rolldown;
/** esbuild plugin: `plugins: [esbuild()]`. */
export const esbuild: GradcUnplugin["esbuild"] = unplugin.esbuild;
/** webpack plugin: `plugins: [webpack()]`. */
export const webpack: GradcUnplugin["webpack"] = unplugin.webpack;
/** Rspack plugin: `plugins: [rspack()]`. */
export const rspack: GradcUnplugin["rspack"] = unplugin.rspack;

export default unplugin;
