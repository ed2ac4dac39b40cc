// Test support: compile `.expr` source to an ES module and import it, plus the numeric
// tools every gradient test uses (a seeded random generator, central finite differences
// and closeness checks). Modules are written as `.mjs` files into one temporary folder per
// import (the folder is removed right after) and cached by source text and options, so a
// table of fifty cases that share a program compiles it once.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { mulberry32 } from "../../src/random.js";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { compile, type CompileOptions, type ModuleInterface } from "../../src/compile.js";

export type Value = number | Float64Array;
export type Values = Record<string, Value>;

/** What a generated module exports (modules.md, "The generated module"). */
export interface GeneratedModule {
  forward(args: unknown): Values;
  backward(args: unknown, seed?: unknown): { outputs: Values; grad: Values };
  createOutputs(): Values;
  createGrad(): Values;
  forwardInto(args: unknown, outputs: Values): Values;
  backwardInto(args: unknown, seed: unknown, grad: Values, outputs?: Values): Values;
}

export interface Loaded {
  module: GeneratedModule;
  interface: ModuleInterface;
  code: string;
  declaration: string;
}

let counter = 0;
const cache = new Map<string, Promise<Loaded>>();

/**
 * Import module text: written to a fresh temporary folder, imported, and the folder removed
 * at once (an imported module stays loaded), so no test run leaves files behind.
 */
async function importText(code: string): Promise<GeneratedModule> {
  const dir = mkdtempSync(join(tmpdir(), "gradc-test-"));
  try {
    const file = join(dir, `m${counter++}.mjs`);
    writeFileSync(file, code);
    return (await import(pathToFileURL(file).href)) as GeneratedModule;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Compile with format "js" or throw an Error carrying the diagnostics' text. */
export function compileJs(source: string, options: Omit<CompileOptions, "format"> = {}) {
  const result = compile(source, { filename: "test.expr", ...options, format: "js" });
  if (!result.ok) throw new Error("compile failed:\n" + result.diagnostics.map((d) => d.text).join("\n"));
  return result as typeof result & { declaration: string };
}

/** Compile `source` (format "js") and import the module. Cached by source and options. */
export function load(source: string, options: Omit<CompileOptions, "format"> = {}): Promise<Loaded> {
  const cacheKey = JSON.stringify([source, options.filename ?? "test.expr", options.checks ?? true, options.emit ?? "auto", options.objective ?? null]);
  let entry = cache.get(cacheKey);
  if (!entry) {
    entry = (async () => {
      const result = compileJs(source, options);
      const module = await importText(result.code);
      return { module, interface: result.interface, code: result.code, declaration: result.declaration };
    })();
    cache.set(cacheKey, entry);
  }
  return entry;
}

/** Import an existing module file (a committed generated module, a CLI output). */
export async function importFile(path: string): Promise<GeneratedModule> {
  return (await import(pathToFileURL(path).href + `?t=${counter++}`)) as GeneratedModule;
}

// ---- numbers ----------------------------------------------------------------------------

/** mulberry32: a small seeded generator, so every "random point" is reproducible. */
export const rng = mulberry32;

/** Uniform in [lo, hi). */
export function uniform(random: () => number, lo: number, hi: number): number {
  return lo + (hi - lo) * random();
}

/** Uniform magnitude in [lo, hi) with a random sign: keeps points away from 0. */
export function awayFromZero(random: () => number, lo: number, hi: number): number {
  const m = uniform(random, lo, hi);
  return random() < 0.5 ? -m : m;
}

/**
 * Central finite difference of `f` at `x`: (f(x + h) - f(x - h)) / 2h, with h scaled to
 * the magnitude of x. Its error is O(h^2) plus rounding O(eps f / h): about 1e-9 relative
 * for smooth functions of moderate size.
 */
export function centralDifference(f: (x: number) => number, x: number, step = 1e-5): number {
  const h = step * Math.max(1, Math.abs(x));
  return (f(x + h) - f(x - h)) / (2 * h);
}

/**
 * The numeric gradient of a scalar function of named arguments with respect to `name`:
 * each element moved in turn by a central difference. Arguments are copied, never changed.
 */
export function numericGradient(
  f: (args: Record<string, number | number[]>) => number,
  args: Record<string, number | number[]>,
  name: string,
  step = 1e-5,
): number | number[] {
  const base = args[name];
  const at = (i: number, value: number) => {
    const copy: Record<string, number | number[]> = { ...args };
    if (typeof base === "number") copy[name] = value;
    else {
      const v = base.slice();
      v[i] = value;
      copy[name] = v;
    }
    return f(copy);
  };
  if (typeof base === "number") return centralDifference((x) => at(0, x), base, step);
  return base.map((x, i) => centralDifference((y) => at(i, y), x, step));
}

/** |a - b| <= tol * max(1, |a|, |b|): relative for large values, absolute near zero. */
export function close(a: number, b: number, tol: number): boolean {
  if (a === b) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= tol * Math.max(1, Math.abs(a), Math.abs(b));
}

/** Throws an assertion message naming the first element that differs. */
export function assertClose(actual: Value | ArrayLike<number> | undefined, expected: number | ArrayLike<number>, tol: number, what = "value"): void {
  if (actual === undefined) throw new Error(`${what}: missing (expected ${format(expected)})`);
  if (typeof expected === "number") {
    if (typeof actual !== "number") throw new Error(`${what}: expected a number ${expected}, got ${format(actual)}`);
    if (!close(actual, expected, tol)) throw new Error(`${what}: expected ${expected}, got ${actual} (difference ${actual - expected}, tolerance ${tol})`);
    return;
  }
  if (typeof actual === "number") throw new Error(`${what}: expected an array ${format(expected)}, got the number ${actual}`);
  if (actual.length !== expected.length) throw new Error(`${what}: expected length ${expected.length}, got ${actual.length}`);
  for (let i = 0; i < expected.length; i++) {
    if (!close(actual[i], expected[i], tol))
      throw new Error(`${what}[${i}]: expected ${expected[i]}, got ${actual[i]} (tolerance ${tol}); whole: expected ${format(expected)}, got ${format(actual)}`);
  }
}

function format(v: number | ArrayLike<number>): string {
  return typeof v === "number" ? String(v) : `[${Array.from(v).join(", ")}]`;
}

/** Flat row-major values of a value (a number is one element). */
export function flat(v: Value | number[]): number[] {
  return typeof v === "number" ? [v] : Array.from(v);
}
