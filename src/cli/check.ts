// `gradc check`: the numeric gradient check of CS231n. The program is compiled in memory
// and loaded; at seeded random points (or the values of --at) every param element is moved
// by a step chosen for its magnitude, and the five-point central difference
// (-f(x+2h) + 8f(x+h) - 8f(x-h) + f(x-2h)) / 12h is compared with backward. Its error is
// O(h^4), so a correct gradient shows relative errors near 1e-10, far below the 1e-7 line.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { compile, type ModuleInterface } from "../compile.js";
import { readFailure, readSource } from "./files.js";
import { mulberry32 } from "../random.js";
import type { CliTools } from "./main.js";

type Module = {
  forward(args: Record<string, unknown>): Record<string, number | Float64Array>;
  backward(args: Record<string, unknown>, seed?: Record<string, unknown>): { outputs: Record<string, number | Float64Array>; grad: Record<string, number | Float64Array> };
};


export function parseAt(values: string[], usage: (m: string) => Error): Map<string, number[]> {
  const at = new Map<string, number[]>();
  for (const v of values) {
    const eq = v.indexOf("=");
    if (eq <= 0) throw usage(`--at takes name=value or name=v1,v2,..., got '${v}'`);
    const parts = v.slice(eq + 1).split(",").map((x) => x.trim());
    const numbers = parts.map(Number);
    if (parts.some((x, i) => x === "" || Number.isNaN(numbers[i]))) throw usage(`--at ${v.slice(0, eq)}: values must be numbers, got '${v.slice(eq + 1)}'`);
    at.set(v.slice(0, eq), numbers);
  }
  return at;
}

export interface CheckRow {
  param: string;
  size: number;
  maxError: number;
  worst?: { index: number; analytic: number; numeric: number };
  /** Elements left out at some point because the function is not smooth there. */
  skipped?: number;
}

/**
 * Relative error of the check: |a - n| / max(|a|, |n|). The denominator has a floor of
 * 1e-4 max(1, |f|): finite differences carry rounding noise near 1e-12 |f|, so gradients
 * smaller than the floor are in effect compared in absolute terms.
 */
function relativeError(a: number, n: number, scale: number): number {
  const denominator = Math.max(Math.abs(a), Math.abs(n), 1e-4 * scale);
  if (a === n) return 0;
  return Math.abs(a - n) / denominator;
}

export async function gradientCheck(code: string, iface: ModuleInterface, options: { at: Map<string, number[]>; points: number; seed: number }): Promise<CheckRow[]> {
  const dir = mkdtempSync(join(tmpdir(), "gradc-check-"));
  let m: Module;
  try {
    const file = join(dir, "module.mjs");
    writeFileSync(file, code);
    m = (await import(pathToFileURL(file).href)) as Module;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const random = mulberry32(options.seed);
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const lossCase = iface.outputs.length === 1 && iface.outputs[0].shape.length === 0;
  const params = iface.args.filter((a) => a.role === "param");
  const rows: CheckRow[] = params.map((p) => ({ param: p.name, size: size(p.shape), maxError: 0 }));

  for (let point = 0; point < options.points; point++) {
    const values = new Map<string, Float64Array>();
    for (const a of iface.args) {
      const given = options.at.get(a.name);
      const v = new Float64Array(size(a.shape));
      for (let i = 0; i < v.length; i++) v[i] = given ? given[given.length === 1 ? 0 : i] : random() * 2 - 1;
      values.set(a.name, v);
    }
    const seeds = new Map<string, Float64Array>();
    for (const o of iface.outputs) {
      const s = new Float64Array(size(o.shape));
      for (let i = 0; i < s.length; i++) s[i] = lossCase ? 1 : random() * 2 - 1;
      seeds.set(o.name, s);
    }
    const argsOf = () => {
      const args: Record<string, unknown> = {};
      for (const a of iface.args) {
        const v = values.get(a.name)!;
        Object.defineProperty(args, a.name, { value: a.shape.length ? v.slice() : v[0], enumerable: true });
      }
      return args;
    };
    const seedObject: Record<string, unknown> = {};
    for (const o of iface.outputs) Object.defineProperty(seedObject, o.name, { value: o.shape.length ? seeds.get(o.name) : seeds.get(o.name)![0], enumerable: true });
    // The checked scalar: the seed-weighted sum of the outputs.
    const objective = () => {
      const outputs = m.forward(argsOf());
      let f = 0;
      for (const o of iface.outputs) {
        const s = seeds.get(o.name)!;
        const v = outputs[o.name];
        if (typeof v === "number") f += s[0] * v;
        else for (let i = 0; i < v.length; i++) f += s[i] * v[i];
      }
      return f;
    };
    const f0 = objective();
    const { grad } = m.backward(argsOf(), lossCase ? undefined : seedObject);
    params.forEach((p, k) => {
      const x = values.get(p.name)!;
      const g = grad[p.name];
      for (let i = 0; i < x.length; i++) {
        const original = x[i];
        const h = 1e-3 * Math.max(1, Math.abs(original));
        const at = (d: number) => {
          x[i] = original + d;
          return objective();
        };
        const stencil = (s: number) => (-at(2 * s) + 8 * at(s) - 8 * at(-s) + at(-2 * s)) / (12 * s);
        const numeric = stencil(h);
        // Near a kink (relu, max, abs) the difference quotient crosses it and means nothing:
        // a smooth function gives the same estimate at a quarter of the step.
        const finer = stencil(h / 4);
        x[i] = original;
        // (The floor covers rounding noise, about 1e-16 |f| / h, in both estimates.)
        if (Math.abs(numeric - finer) > 1e-6 * Math.max(Math.abs(numeric), Math.abs(finer), 1e-3 * Math.max(1, Math.abs(f0)))) {
          rows[k].skipped = (rows[k].skipped ?? 0) + 1;
          continue;
        }
        const analytic = typeof g === "number" ? g : g[i];
        const e = relativeError(analytic, numeric, Math.max(1, Math.abs(f0)));
        if (Number.isNaN(e) || e > rows[k].maxError || (Number.isNaN(e) && !Number.isNaN(rows[k].maxError))) {
          rows[k].maxError = Number.isNaN(e) ? NaN : e;
          rows[k].worst = { index: i, analytic, numeric };
        }
      }
    });
  }
  return rows;
}

export async function checkCommand(argv: string[], tools: CliTools): Promise<number> {
  const p = tools.parseArgs(argv, new Set(["--at", "--points", "--seed", "--threshold"]), new Set());
  if (p.positional.length !== 1) throw new tools.UsageError("check takes one .expr file");
  const usage = (m: string) => new tools.UsageError(m);
  const number = (name: string, fallback: number) => {
    const v = tools.one(p, name);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw usage(`${name} must be a non-negative number, got '${v}'`);
    return n;
  };
  const at = parseAt(p.flags.get("--at") ?? [], usage);
  const points = Math.max(1, Math.floor(number("--points", 3)));
  const seed = number("--seed", 1);
  const threshold = number("--threshold", 1e-7);
  const input = p.positional[0];
  const source = readSource(input);
  if (!source.ok) {
    process.stderr.write(readFailure(input, source) + "\n");
    return 1;
  }
  const result = compile(source.text, { filename: input, format: "js" });
  if (!result.ok) {
    tools.printDiagnostics(result.diagnostics);
    return 1;
  }
  for (const name of at.keys())
    if (!result.interface.args.some((a) => a.name === name)) throw usage(`--at ${name}: the program has no input or param '${name}'`);
  const rows = await gradientCheck(result.code, result.interface, { at, points: at.size ? 1 : points, seed });
  const width = Math.max(5, ...rows.map((r) => r.param.length));
  process.stdout.write(`gradc check ${input}: ${at.size ? 1 : points} point(s), five-point central differences, threshold ${threshold}\n`);
  process.stdout.write(`${"param".padEnd(width)}  ${"size".padStart(6)}  max relative error\n`);
  let bad = 0;
  for (const r of rows) {
    const ok = r.maxError <= threshold;
    if (!ok) bad++;
    const note = r.skipped ? `  (${r.skipped} element${r.skipped === 1 ? "" : "s"} skipped at a kink)` : "";
    process.stdout.write(`${r.param.padEnd(width)}  ${String(r.size).padStart(6)}  ${r.maxError.toExponential(2).padStart(9)}  ${ok ? "ok" : "FAIL"}${note}\n`);
  }
  if (rows.length === 0) process.stdout.write("(no params: nothing to check)\n");
  for (const r of rows) {
    if (r.maxError <= threshold || !r.worst) continue;
    process.stderr.write(`gradc: the gradient of '${r.param}' looks wrong: at element ${r.worst.index} backward gives ${r.worst.analytic}, finite differences ${r.worst.numeric}\n`);
  }
  return bad ? 1 : 0;
}
