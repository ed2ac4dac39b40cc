// `gradc check` in the page: the CLI's method (src/cli/check.ts), five-point central
// differences against backward at seeded random points, with the same step, kink rule,
// relative-error floor and threshold, so the table reads as the CLI's does. The CLI loads
// the compiled module from a temporary file; the page has no file system, so this runs on
// a module the worker has already loaded from memory.

import type { ModuleInterface } from "../../src/compile.js";
import { mulberry32 } from "../../src/random.js";
import type { CheckRow } from "./protocol.js";

export type Values = Record<string, number | Float64Array>;
export interface LoadedModule {
  forward(args: Record<string, unknown>): Values;
  backward(args: Record<string, unknown>, seed?: Record<string, unknown>): { outputs: Values; grad: Values };
}

export const THRESHOLD = 1e-7;

/** |a - n| / max(|a|, |n|), with the CLI's floor of 1e-4 max(1, |f|) on the denominator. */
function relativeError(a: number, n: number, scale: number): number {
  if (a === n) return 0;
  return Math.abs(a - n) / Math.max(Math.abs(a), Math.abs(n), 1e-4 * scale);
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function gradientCheck(m: LoadedModule, iface: ModuleInterface, points: number, seed = 1): CheckRow[] {
  const random = mulberry32(seed);
  const lossCase = iface.outputs.length === 1 && iface.outputs[0].shape.length === 0;
  const params = iface.args.filter((a) => a.role === "param");
  const rows: CheckRow[] = params.map((p) => ({ param: p.name, size: sizeOf(p.shape), maxError: 0 }));
  for (let point = 0; point < points; point++) {
    const values = new Map<string, Float64Array>();
    for (const a of iface.args) values.set(a.name, Float64Array.from({ length: sizeOf(a.shape) }, () => random() * 2 - 1));
    const seeds = new Map<string, Float64Array>();
    for (const o of iface.outputs) seeds.set(o.name, Float64Array.from({ length: sizeOf(o.shape) }, () => (lossCase ? 1 : random() * 2 - 1)));
    // Names are property keys as spelled, `__proto__` included, hence defineProperty.
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
        // At a kink (relu, max, abs) the quotient crosses it: a smooth function gives the
        // same estimate at a quarter of the step, a kink does not, and is skipped.
        const finer = stencil(h / 4);
        x[i] = original;
        if (Math.abs(numeric - finer) > 1e-6 * Math.max(Math.abs(numeric), Math.abs(finer), 1e-3 * Math.max(1, Math.abs(f0)))) {
          rows[k].skipped = (rows[k].skipped ?? 0) + 1;
          continue;
        }
        const analytic = typeof g === "number" ? g : g[i];
        const e = relativeError(analytic, numeric, Math.max(1, Math.abs(f0)));
        if (Number.isNaN(e) || e > rows[k].maxError) {
          if (!Number.isNaN(rows[k].maxError)) {
            rows[k].maxError = e;
            rows[k].worst = { index: i, analytic, numeric };
          }
        }
      }
    });
  }
  return rows;
}

/** The CLI's table: `param size max relative error ok|FAIL (n elements skipped at a kink)`. */
export function checkTable(rows: CheckRow[], points: number, threshold = THRESHOLD): string {
  const width = Math.max(5, ...rows.map((r) => r.param.length));
  const lines = [`${points} point(s), five-point central differences, threshold ${threshold}`, `${"param".padEnd(width)}  ${"size".padStart(6)}  max relative error`];
  for (const r of rows) {
    const ok = r.maxError <= threshold;
    const note = r.skipped ? `  (${r.skipped} element${r.skipped === 1 ? "" : "s"} skipped at a kink)` : "";
    lines.push(`${r.param.padEnd(width)}  ${String(r.size).padStart(6)}  ${r.maxError.toExponential(2).padStart(9)}  ${ok ? "ok" : "FAIL"}${note}`);
  }
  if (rows.length === 0) lines.push("(no params: nothing to check)");
  for (const r of rows)
    if (!(r.maxError <= threshold) && r.worst)
      lines.push(`the gradient of '${r.param}' looks wrong: at element ${r.worst.index} backward gives ${r.worst.analytic}, finite differences ${r.worst.numeric}`);
  return lines.join("\n");
}
