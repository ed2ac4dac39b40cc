// `gradc check`: the numeric gradient check of CS231n. The program is compiled in memory
// and loaded; at seeded random points (or the values of --at) every param element is moved
// by steps scaled to the element and the five-point central difference is compared with
// backward (diff/numeric.ts chooses the step where two consecutive ones agree, so short
// length scales pass). Where an element's steps cross a kink (relu, abs, max), the point
// is moved a little and the element checked there; only elements still at a kink after a
// few moves are skipped, and counted. Then every derivative operator in the program
// (gradient, jacobian, hessian, jvp, vjp) is compared with central differences of what it
// differentiates, by the reference interpreter. A param of more than SAMPLED_ELEMENTS elements
// is checked at that many elements drawn at random per point, as the course's sparse gradient
// check does: every element of a 50,000-element model costs minutes of forward passes.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { analyze, compile, type ModuleInterface } from "../compile.js";
import { readFailure, readSource } from "./files.js";
import { mulberry32 } from "../random.js";
import type { CliTools } from "./main.js";
import { centralDifference, checkDerivatives, elementScale, relativeError, typicalSize, type DerivativeCheck, type Estimate } from "../diff/numeric.js";
import { carryDerivatives, derivativesOf } from "../diff/operators.js";
import { knownSize, type Node } from "../ir/graph.js";
import { dimsFromLengths, specialize } from "../ir/specialize.js";
import { checkAt, integerProblem } from "./graph.js";
import { inputKey, type Value } from "../ir/interpret.js";
import { integerRanges, type CheckedProgram } from "../check/checker.js";

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
    // As a second -o is: the later value would win without a word.
    if (at.has(v.slice(0, eq))) throw usage(`--at ${v.slice(0, eq)} given more than once`);
    at.set(v.slice(0, eq), numbers);
  }
  return at;
}

export interface CheckRow {
  param: string;
  size: number;
  maxError: number;
  worst?: { index: number; analytic: number; numeric: number };
  /** Elements still not smooth within the steps after the point was moved MOVES times. */
  skipped?: number;
  /** Elements checked at a point moved off a kink. */
  moved?: number;
  /** Elements compared with their differences, over all points: 0 when every one was skipped. */
  checked?: number;
  /** Elements drawn, over all points, when the param has more than SAMPLED_ELEMENTS. */
  sampled?: number;
}

/** How many times the point is moved for one element before it is given up as skipped. */
const MOVES = 5;

/** Elements of one param checked per point; a larger param is sampled (CS231n's grad_check_sparse). */
export const SAMPLED_ELEMENTS = 1000;

/** Distinct indices below n, in order: all of them, or `count` drawn at random. */
function elementsToCheck(n: number, count: number, random: () => number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  const picked = new Set<number>();
  while (picked.size < count) picked.add(Math.floor(random() * n));
  return [...picked].sort((a, b) => a - b);
}

export async function gradientCheck(
  code: string,
  iface: ModuleInterface,
  options: {
    at: Map<string, number[]>;
    points: number;
    seed: number;
    integers?: ReadonlyMap<string, number>;
    sizes?: ReadonlyMap<string, number>;
    /** Called after each element: for a progress line on long checks. */
    progress?: (done: number, total: number) => void;
  },
): Promise<CheckRow[]> {
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
  // A run-time size is checked at the value the caller chose for it (`sizes`).
  const dimValue = (d: string) => {
    const v = options.sizes?.get(d);
    if (v === undefined) throw new Error(`no size given for '${d}'`);
    return v;
  };
  const size = (shape: readonly (number | string)[]) => shape.reduce<number>((a, b) => a * (typeof b === "number" ? b : dimValue(b)), 1);
  const lossCase = iface.outputs.length === 1 && iface.outputs[0].shape.length === 0;
  const params = iface.args.filter((a) => a.role === "param");
  const rows: CheckRow[] = params.map((p) => ({ param: p.name, size: size(p.shape), maxError: 0 }));

  let done = 0;
  for (let point = 0; point < options.points; point++) {
    const values = new Map<string, Float64Array>();
    for (const a of iface.args) {
      const given = options.at.get(a.name);
      const v = new Float64Array(size(a.shape));
      const range = options.integers?.get(a.name);
      for (let i = 0; i < v.length; i++) v[i] = given ? given[given.length === 1 ? 0 : i] : range !== undefined ? Math.floor(random() * range) : random() * 2 - 1;
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
    let f0 = 0;
    let grad: Record<string, number | Float64Array> = {};
    const evaluate = () => {
      f0 = objective();
      grad = m.backward(argsOf(), lossCase ? undefined : seedObject).grad;
    };
    evaluate();
    const chosen = params.map((p) => elementsToCheck(values.get(p.name)!.length, SAMPLED_ELEMENTS, random));
    const total = options.points * chosen.reduce((sum, c) => sum + c.length, 0);
    params.forEach((p, k) => {
      const x = values.get(p.name)!;
      let typical = typicalSize(x);
      if (chosen[k].length < x.length) rows[k].sampled = (rows[k].sampled ?? 0) + chosen[k].length;
      for (const i of chosen[k]) {
        options.progress?.(++done, total);
        // The first estimate that converged with coarse steps, else the best one seen; with
        // the gradient at the same point.
        let found: { estimate: Estimate; analytic: number; moved: boolean } | undefined;
        for (let move = 0; ; move++) {
          const original = x[i];
          const estimate = centralDifference(
            (d) => {
              x[i] = original + d;
              return [objective()];
            },
            elementScale(x[i], typical),
            1e-4 * Math.max(1, Math.abs(f0)),
          );
          x[i] = original;
          const g = grad[p.name];
          const analytic = typeof g === "number" ? g : g[i];
          if (!found || estimate.disagreement < found.estimate.disagreement) found = { estimate, analytic, moved: move > 0 };
          if (estimate.early) {
            found = { estimate, analytic, moved: move > 0 };
            break;
          }
          if (move === MOVES) break;
          // A kink (relu, abs, max...) lies within the coarse steps: move every param a
          // little, far more than the steps, so that it is left well aside, and check there.
          for (const q of params) {
            const v = values.get(q.name)!;
            const t = typicalSize(v);
            for (let j = 0; j < v.length; j++) v[j] += 1e-2 * elementScale(v[j], t) * (random() * 2 - 1);
          }
          typical = typicalSize(x);
          evaluate();
        }
        if (!found.estimate.smooth) {
          rows[k].skipped = (rows[k].skipped ?? 0) + 1;
          continue;
        }
        if (found.moved) rows[k].moved = (rows[k].moved ?? 0) + 1;
        rows[k].checked = (rows[k].checked ?? 0) + 1;
        const { analytic } = found;
        const numeric = found.estimate.value[0];
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
  const points = number("--points", 3);
  if (!Number.isInteger(points) || points < 1) throw usage(`--points must be a whole number of at least 1, got '${tools.one(p, "--points")}'`);
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
  // The IR, for what the module does not say: which inputs are integers (drawn as whole
  // numbers below the axes they index) and the derivative operators to check.
  const { program } = analyze(source.text, input);
  // A value of the wrong length would be read as NaNs (and every element "at a kink").
  const wrong = program && checkAt(program, at);
  if (wrong) throw usage(wrong);
  // Index bounds may be dims: ranges are read from the program at each size checked.
  const integersAt = (sizes: ReadonlyMap<string, number> | undefined) =>
    program ? integerRanges(sizes ? specialize(program, Object.fromEntries(sizes)) : program) : new Map<string, number>();
  // With run-time sizes the gradients are checked at two sizes (every dim the same), past
  // what constant indices need; each param's row is the worse of the two.
  const dims = program?.dims.map((d) => d.name) ?? [];
  const least = Math.max(2, ...(program?.requirements ?? []).map((r) => r.atLeast));
  // Values given with --at fix the dims they are sized by: the check runs at those sizes only.
  const given = program && dims.length && at.size ? dimsFromLengths(program, new Map([...at].map(([name, v]) => [name, v.length])), 0) : {};
  const fixed = dims.some((d) => given[d] > 0) ? new Map(dims.map((d) => [d, given[d] || least])) : undefined;
  const sizeSets = dims.length ? (fixed ? [fixed] : [least, least + 3].map((n) => new Map(dims.map((d) => [d, n])))) : [undefined];
  // An integer input's values from --at: a value the module would refuse at a size checked is the user's.
  for (const sizes of program ? sizeSets : []) {
    const problem = integerProblem(sizes ? specialize(program!, Object.fromEntries(sizes)) : program!, at);
    if (problem) throw usage(problem);
  }
  // On a terminal, a line that says how far a long check has come, at most a few times a second.
  let shown = 0;
  const progress = process.stderr.isTTY
    ? (done: number, total: number) => {
        const now = Date.now();
        if (done === total) process.stderr.write("\r\x1b[K");
        else if (now - shown > 250) {
          shown = now;
          process.stderr.write(`\rgradc check: ${done} of ${total} elements`);
        }
      }
    : undefined;
  let rows: CheckRow[] = [];
  for (const sizes of sizeSets) {
    const integers = integersAt(sizes);
    const found = await gradientCheck(result.code, result.interface, { at, points: at.size ? 1 : points, seed, integers, ...(sizes ? { sizes } : {}), ...(progress ? { progress } : {}) });
    rows = rows.length ? rows.map((r, k) => (found[k].maxError > r.maxError || Number.isNaN(found[k].maxError) ? found[k] : r)) : found;
  }
  // Derivative operators are checked through the IR, which takes known sizes: the program is
  // rebuilt at each size, and each operator's row is the worse of the sizes.
  let derivatives: DerivativeCheck[] = [];
  for (const sizes of program ? sizeSets : []) {
    const checkedProgram = sizes ? specializeWithDerivatives(program!, Object.fromEntries(sizes)) : program!;
    const found = derivativeChecks(checkedProgram, at, seed, integersAt(sizes));
    derivatives = derivatives.length ? derivatives.map((d, k) => (found[k].maxError > d.maxError || Number.isNaN(found[k].maxError) ? found[k] : d)) : found;
  }
  const width = Math.max(5, ...rows.map((r) => r.param.length));
  process.stdout.write(`gradc check ${input}: ${at.size ? 1 : points} point(s), five-point central differences with steps per element, threshold ${threshold}\n`);
  if (dims.length) process.stdout.write(`run-time sizes: checked at ${sizeSets.map((m) => [...m!].map(([d, n]) => `${d} = ${n}`).join(", ")).join(" and ")}\n`);
  process.stdout.write(`${"param".padEnd(width)}  ${"size".padStart(6)}  max relative error\n`);
  let bad = 0;
  for (const r of rows) {
    // Every element skipped (outputs not finite, or not smooth, wherever tried): nothing was
    // checked, which must not read as a pass.
    const unchecked = r.size > 0 && !r.checked;
    const ok = !unchecked && r.maxError <= threshold;
    if (!ok) bad++;
    const notes = [
      r.moved ? `${r.moved} element${r.moved === 1 ? "" : "s"} checked at a moved point` : "",
      r.skipped ? `${r.skipped} element${r.skipped === 1 ? "" : "s"} skipped at a kink` : "",
      r.sampled ? `${SAMPLED_ELEMENTS} of ${r.size} elements drawn at each point` : "",
    ].filter(Boolean);
    const note = notes.length ? `  (${notes.join("; ")})` : "";
    if (unchecked) {
      process.stdout.write(`${r.param.padEnd(width)}  ${String(r.size).padStart(6)}  ${"-".padStart(9)}  NOT CHECKED  (every element skipped: the outputs are not finite or not smooth at the points tried; give one with --at)\n`);
      continue;
    }
    process.stdout.write(`${r.param.padEnd(width)}  ${String(r.size).padStart(6)}  ${r.maxError.toExponential(2).padStart(9)}  ${ok ? "ok" : "FAIL"}${note}\n`);
  }
  if (rows.length === 0) process.stdout.write("(no params: nothing to check)\n");
  if (derivatives.length) {
    const label = (d: DerivativeCheck) => `${d.record.kind} by ${d.record.x.name}${d.record.line ? ` (line ${d.record.line})` : ""}`;
    const w = Math.max(10, ...derivatives.map((d) => label(d).length));
    process.stdout.write(`${"derivative".padEnd(w)}  ${"size".padStart(6)}  max relative error\n`);
    for (const d of derivatives) {
      const ok = d.unchecked === undefined && d.maxError <= threshold;
      if (!ok && d.unchecked === undefined) bad++;
      const notes = [
        d.moved ? "checked at a moved point" : "",
        d.skipped ? `${d.skipped} direction${d.skipped === 1 ? "" : "s"} skipped at a kink` : "",
      ].filter(Boolean);
      const status = d.unchecked !== undefined ? `not checked: ${d.unchecked}` : `${d.maxError.toExponential(2).padStart(9)}  ${ok ? "ok" : "FAIL"}`;
      process.stdout.write(`${label(d).padEnd(w)}  ${String(d.record.result.size).padStart(6)}  ${status}${notes.length ? `  (${notes.join("; ")})` : ""}\n`);
    }
  }
  for (const r of rows) {
    if (r.maxError <= threshold || !r.worst) continue;
    process.stderr.write(`gradc: the gradient of '${r.param}' looks wrong: at element ${r.worst.index} backward gives ${r.worst.analytic}, finite differences ${r.worst.numeric}\n`);
  }
  for (const d of derivatives) {
    if (d.unchecked !== undefined || d.maxError <= threshold || !d.worst) continue;
    process.stderr.write(
      `gradc: the ${d.record.kind} by '${d.record.x.name}'${d.record.line ? ` on line ${d.record.line}` : ""} looks wrong: at element ${d.worst.index} it gives ${d.worst.analytic}, finite differences ${d.worst.numeric}\n`,
    );
  }
  return bad ? 1 : 0;
}

/**
 * The derivative operators of the program, each at one seeded random point (or --at),
 * against differences of what it differentiates.
 */
/** The program at these sizes, with its derivative operators' records carried over. */
function specializeWithDerivatives(program: CheckedProgram, dims: Record<string, number>): CheckedProgram {
  const nodeOf: Node[] = [];
  const specialized = specialize(program, dims, nodeOf);
  carryDerivatives(program.graph, specialized.graph, nodeOf);
  return specialized;
}

function derivativeChecks(program: CheckedProgram, at: Map<string, number[]>, seed: number, integers: ReadonlyMap<string, number>): DerivativeCheck[] {
  const records = derivativesOf(program.graph);
  if (!records.length) return [];
  const random = mulberry32(seed + 1);
  const values = new Map<string, Value>();
  for (const a of program.args) {
    const given = at.get(a.name);
    const range = integers.get(a.name);
    const n = knownSize(a.node.size);
    values.set(
      inputKey(a.node),
      Array.from({ length: n }, (_, i) => (given ? given[given.length === 1 ? 0 : i] : range !== undefined ? Math.floor(random() * range) : random() * 2 - 1)),
    );
  }
  return checkDerivatives(program.graph, records, values, random);
}
