// The bundler plugin: `import * as model from "./model.expr"` in an app built with Vite,
// Rollup, Rolldown, esbuild or webpack. Built on unplugin, so one `load` hook serves every
// bundler: it reads the `.expr` file, compiles it with `compile(source, { format: "js" })`
// and hands the bundler the generated ES module. Errors go through the bundler's own error
// channel (`this.error`) with the file, line and column, so they show in Vite's overlay and
// fail `vite build` / esbuild like any syntax error in a `.js` file.
//
// Optional `dts: true` writes `model.expr.d.ts` beside each source: the exact declaration
// of the generated module, found by TypeScript (moduleResolution "bundler") for
// `import ... from "./model.expr"`. Without it, `gradc/client` declares every `*.expr`
// module with generic types (src/plugin/expr-module.d.ts).

import { readFileSync, writeFileSync } from "node:fs";
import { isAbsolute, relative, sep } from "node:path";
import { createUnplugin, type UnpluginBuildContext, type UnpluginContext, type UnpluginContextMeta, type UnpluginInstance } from "unplugin";
import { readSource } from "../cli/files.js";
import { compile, type CompileOptions, type DiagnosticRecord } from "../compile.js";
import { locate, renderDiagnostic } from "../diagnostics.js";

export interface GradcPluginOptions {
  /** Argument checks in the generated functions (default true), as `gradc compile --no-checks`. */
  checks?: boolean;
  /** Code form, as the library's `emit` option (default `auto`). */
  emit?: CompileOptions["emit"];
  /**
   * Write the exact declaration of each compiled module beside its source, and rewrite it
   * only when it changes. `true` or `"expr.d.ts"`: `model.expr.d.ts`, which TypeScript finds
   * under `moduleResolution: "bundler"` (Vite's default). `"d.expr.ts"`: `model.d.expr.ts`,
   * the name TypeScript's `allowArbitraryExtensions` looks for (any module resolution).
   * Default false.
   */
  dts?: boolean | "expr.d.ts" | "d.expr.ts";
  /**
   * Folder that file names in diagnostics and generated comments are relative to
   * (default `process.cwd()`), so built output does not depend on where the project lives.
   */
  root?: string;
}

/** Module ids the plugin compiles: a path ending in `.expr`, no query (`?raw` stays raw). */
export const EXPR_ID = /\.expr$/;

type HookContext = UnpluginBuildContext & UnpluginContext;
type Framework = UnpluginContextMeta["framework"];

function factory(options: GradcPluginOptions | undefined, meta: UnpluginContextMeta) {
  const opts = options ?? {};
  const framework: Framework = meta.framework;
  return {
    name: "gradc",
    enforce: "pre" as const,
    load: {
      filter: { id: EXPR_ID },
      handler(this: HookContext, id: string) {
        if (id.startsWith("\0") || !EXPR_ID.test(id)) return null;
        return loadExpr(this, id, opts, framework);
      },
    },
    // esbuild calls onLoad for every path matching this filter: only .expr files, and the
    // code handed back is JavaScript whatever the file's extension.
    esbuild: { onLoadFilter: EXPR_ID, loader: "js" as const },
  };
}

function loadExpr(ctx: HookContext, file: string, opts: GradcPluginOptions, framework: Framework) {
  ctx.addWatchFile(file);
  const name = displayName(file, opts.root ?? process.cwd());
  const read = readSource(file);
  if (!read.ok) {
    if (read.offset === undefined || read.text === undefined) return fail(ctx, file, framework, `${name}: error: ${read.message}`);
    const text = read.text;
    const span = { start: read.offset, end: read.offset + 1 };
    const rendered = renderDiagnostic(name, text, { code: "E0100", message: read.message, span });
    const { line, column } = locate(text, read.offset);
    return fail(ctx, file, framework, rendered, text, [{ code: "E0100", message: read.message, file: name, line, column, text: rendered }]);
  }
  const result = compile(read.text, { filename: name, format: "js", checks: opts.checks, emit: opts.emit });
  if (!result.ok) return fail(ctx, file, framework, result.diagnostics.map((d) => d.text).join("\n"), read.text, result.diagnostics);
  if (opts.dts && result.declaration !== undefined) writeDeclaration(ctx, file, opts.dts === "d.expr.ts" ? file.replace(/\.expr$/, ".d.expr.ts") : file + ".d.ts", result.declaration);
  return { code: result.code, map: null };
}

/**
 * Reports the diagnostics through the bundler. Rollup, Rolldown and Vite throw from
 * `this.error`, with the first diagnostic's location and all of them in the message;
 * esbuild collects errors, so each diagnostic becomes its own located message. Should a
 * bundler carry on anyway, the module it gets throws the same text when imported.
 */
function fail(ctx: HookContext, file: string, framework: Framework, message: string, source?: string, diagnostics: DiagnosticRecord[] = []) {
  const count = diagnostics.length;
  const heading = count > 1 ? `gradc: ${count} errors\n` : "";
  if (framework === "esbuild" && count > 0 && source !== undefined) {
    for (const d of diagnostics) ctx.error({ message: d.text, id: file, loc: { file, line: d.line, column: bundlerColumn(source, d, "utf8") } });
  } else {
    const first = diagnostics[0];
    const loc = first && source !== undefined ? { file, line: first.line, column: bundlerColumn(source, first, "utf16") } : undefined;
    ctx.error({ message: heading + message, id: file, loc });
  }
  return { code: `throw new Error(${JSON.stringify(heading + message)});\n`, map: null };
}

/**
 * Bundlers count columns from 0 (Rollup and Vite in UTF-16 code units, esbuild in UTF-8
 * bytes); gradc counts Unicode code points from 1. The same position, in their units.
 */
function bundlerColumn(source: string, d: DiagnosticRecord, unit: "utf8" | "utf16"): number {
  let lineText = source.split("\n")[d.line - 1] ?? "";
  if (d.line === 1 && lineText.charCodeAt(0) === 0xfeff) lineText = lineText.slice(1);
  const before = Array.from(lineText).slice(0, Math.max(0, d.column - 1)).join("");
  return unit === "utf8" ? Buffer.byteLength(before, "utf8") : before.length;
}

/** The file as diagnostics and generated comments name it: relative to root, with `/`. */
function displayName(file: string, root: string): string {
  const rel = relative(root, file);
  const name = rel === "" || isAbsolute(rel) ? file : rel;
  return name.split(sep).join("/");
}

/** Writes the declaration only when its text changed, so watchers do not loop. */
function writeDeclaration(ctx: HookContext, source: string, path: string, text: string): void {
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
    ctx.warn({ message: `gradc: cannot write ${path}: ${(e as Error).message}`, id: source });
  }
}

/** The plugin for every bundler unplugin supports: `unplugin.vite(options)`, `unplugin.webpack(options)`... */
export const unplugin: UnpluginInstance<GradcPluginOptions | undefined, false> = createUnplugin(factory);

/** Vite plugin: `plugins: [vite()]`. */
export const vite = unplugin.vite;
/** Rollup plugin: `plugins: [rollup()]`. */
export const rollup = unplugin.rollup;
/** Rolldown plugin: `plugins: [rolldown()]`. */
export const rolldown = unplugin.rolldown;
/** esbuild plugin: `plugins: [esbuild()]`. */
export const esbuild = unplugin.esbuild;
/** webpack plugin: `plugins: [webpack()]`. */
export const webpack = unplugin.webpack;
/** Rspack plugin: `plugins: [rspack()]`. */
export const rspack = unplugin.rspack;

export default unplugin;
