// Random version 2 programs for differential fuzzing, at sizes from 1 to 10,000 rows: the
// shapes test/support/arbitrary.ts does not make. A program works on a batch X[N, F] and is
// built from
//   - comprehensions and generators over rows (`[e for i in 0..N]`, `sum(e for i in 0..N)`)
//     whose bodies reduce inside (`sum(r)`, `max(r)`, `logsumexp(r)`, `r @ w`, `dot`), call a
//     def or a gate, read rows through affine and non-affine index maps (`X[i]`, `X[N - 1 - i]`,
//     `X[(i + 1) % N]`, `X[(i * i) % N]`), or ignore the variable (`[w for i in 0..N]`);
//   - generators whose bounds read the outer variable (`for j in i+1..N`, `0..i+1`, `i..N`,
//     reading `v[j - i]`), and reductions of slices whose length changes with `i`
//     (`sum(X[0:i+1, :] * w)`), masked over the hull of their steps: N^2 steps, so N <= 300;
//   - whole-tensor operations: broadcasting a row or a column (`X * w`, `X * reshape(v, [N, 1])`),
//     axis reductions with and without keepdims, softmax along an axis, slices of neighbours
//     (`T[1:] - T[:-1]`, `T[:, 1:]`, `T[::2]`).
// A program is a function of a few numbers (seed, N, F, depth), so fast-check shrinks the size
// and the depth and the printed program stays well typed. `checkSourceV2` compiles it with emit
// "loops" and "auto" (and "unrolled" and "tape" where small enough), compares them with each other
// and with the reference interpreter (where small enough), and backward with central differences
// on a sample of elements (every element when small).

import fc from "fast-check";
import { analyze, compile } from "../../src/compile.js";
import { interpretProgram } from "../../src/ir/interpret.js";
import { mulberry32 } from "../../src/random.js";
import { FuzzFailure, agree, instantiate, type CheckStats, type FuzzModule } from "./arbitrary.js";

export interface FuzzProgramV2 {
  seed: number;
  n: number;
  f: number;
  depth: number;
}

export interface V2Options {
  /** Largest number of rows N (default 12). */
  maxN?: number;
  /** Largest expression depth (default 3). */
  depth?: number;
}

export function programArbV2(options: V2Options = {}): fc.Arbitrary<FuzzProgramV2> {
  const maxN = options.maxN ?? 12;
  // sizes spread over orders of magnitude: small ones often, the largest sometimes
  const n = maxN <= 16 ? fc.integer({ min: 1, max: maxN }) : fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: maxN }), fc.constant(maxN));
  return fc.record({ seed: fc.integer({ min: 0, max: 0x7fffffff }), n, f: fc.integer({ min: 1, max: 4 }), depth: fc.integer({ min: 0, max: options.depth ?? 3 }) });
}

const DEFS = [
  "def score(u) = sum(u * w) / (1 + u @ u)",
  "def sig(z) = 1 / (1 + exp(-z))\ngrad z = out * (1 - out)",
  "def soft(u) = log(1 + exp(u))",
];

/** The program's source text: deterministic in the record. */
export function printProgramV2(p: FuzzProgramV2): string {
  const random = mulberry32(p.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  const chance = (q: number) => random() < q;
  const { n: N, f: F } = p;
  const lines = [`const N = ${N}`, `const F = ${F}`, "param X[N, F], w[F], v[N], c", "input M[N, F]", ...DEFS];

  // Row index maps: affine, reversed, wrapped, non-affine, and none (the body ignores i).
  const rowIndex = () => pick(["i", "i", "N - 1 - i", "(i + 1) % N", "(i * i) % N", "(3 * i + 1) % N"]);
  const row = (d: number): string => {
    if (d <= 0 || chance(0.25)) return pick([`X[${rowIndex()}]`, `X[${rowIndex()}]`, `M[${rowIndex()}]`, "w"]);
    const a = row(d - 1);
    switch (Math.floor(random() * 10)) {
      case 0: return `tanh(${a})`;
      case 1: return `sig(${a})`;
      case 2: return `relu(${a})`;
      case 3: return `(${a}) * ${scalar(d - 1)}`;
      case 4: return `(${a}) + ${row(d - 1)}`;
      case 5: return `(${a}) * ${row(d - 1)}`;
      case 6: return `softmax(${a})`;
      case 7: return `max(${a}, ${row(d - 1)})`;
      case 8: return `soft(${a})`;
      default: return `sin(${a}) - w`;
    }
  };
  const scalar = (d: number): string => {
    if (d <= 0 || chance(0.2)) return pick([`v[${rowIndex()}]`, "c", "0.5", "0.01 * i", `X[${rowIndex()}, ${F - 1}]`]);
    const r = row(d - 1);
    switch (Math.floor(random() * 10)) {
      case 0: return `sum(${r})`;
      case 1: return `max(${r})`;
      case 2: return `logsumexp(${r})`;
      case 3: return `((${r}) @ w)`;
      case 4: return `dot(${r}, ${row(d - 1)})`;
      case 5: return `score(${r})`;
      case 6: return `sig(${scalar(d - 1)}) * ${scalar(d - 1)}`;
      case 7: return `where(${scalar(d - 1)} > 0, ${scalar(d - 1)}, 0.5 * c)`;
      case 8: return `mean(${r})`;
      default: return `sum(${row(d - 1)} * w for j in 0..2)`;
    }
  };
  // Matrices [N, F]: X, comprehensions over rows, broadcasting and axis operations.
  const matrix = (d: number): string => {
    if (d <= 0 || chance(0.2)) return pick(["X", "M", `[${row(0)} for i in 0..N]`]);
    const a = matrix(d - 1);
    switch (Math.floor(random() * 10)) {
      case 0: return `[${row(d - 1)} for i in 0..N]`;
      case 1: return `(${a}) * w`;
      case 2: return `(${a}) * reshape(v, [N, 1])`;
      case 3: return `(${a}) - mean(${a}, axis=1, keepdims=true)`;
      case 4: return `(${a}) - max(${matrix(d - 1)}, axis=0, keepdims=true)`;
      case 5: return `softmax(${a}, axis=${pick(["0", "1", "-1"])})`;
      case 6: return `tanh(${a}) + ${matrix(d - 1)}`;
      case 7: return `[w for i in 0..N] * ${a}`;
      case 8: return `(${a}) * transpose([v for j in 0..F])`;
      default: return `sig(${a})`;
    }
  };
  // Scalars of the whole batch.
  const total = (d: number): string => {
    const m = matrix(d);
    // The inner reduction of a triangular loop: its body reads both variables.
    const inner = () => pick(["sum", "max", "min", "mean", "logsumexp", "prod"]);
    switch (Math.floor(random() * 11)) {
      case 9:
        if (N < 2 || N > 300) return `sum(${m})`;
        return pick([
          `sum(${inner()}(${scalar(d)} * v[j] for j in i+1..N) for i in 0..N-1)`,
          `sum(${inner()}(v[j] * X[j, 0] + ${scalar(d)} for j in 0..i+1) ^ 2 for i in 0..N)`,
        ]);
      case 10:
        if (N > 300) return `sum(${m})`;
        return pick([
          `sum(sum(v[j - i] * X[j, ${F - 1}] for j in i..N) * ${scalar(d)} for i in 0..N)`,
          // Slices whose length changes with i, reduced whole: row by row over a masked loop.
          `sum(${inner()}(tanh(X[0:i+1, :] * w)) * ${scalar(d)} for i in 0..N)`,
          `sum([${inner()}(v[i:] * X[i:, 0] + ${scalar(d)}) for i in 0..N])`,
        ]);
      case 0: return `sum(${scalar(d)} for i in 0..N)`;
      case 1: return `sum([${scalar(d)} for i in 0..N] * v)`;
      case 2: return `sum(${m})`;
      case 3: return `sum(logsumexp(${m}, axis=1) * v)`;
      case 4: return N >= 2 ? `sum(((${m})[1:] - (${m})[:-1]) ^ 2)` : `sum(${m})`;
      case 5: return F >= 2 ? `sum((${m})[:, 1:] * (${m})[:, :-1])` : `sum(${m} * ${m})`;
      case 6: return `sum(sum(${m}, axis=0) * w)`;
      case 7: return `sum((${m})[::2]) + max(${m})`;
      default: return `mean(${scalar(d)} for i in 0..N)`;
    }
  };
  lines.push(`output loss = ${total(p.depth)}`);
  if (chance(0.4)) lines.push(`output rows = [${scalar(Math.min(1, p.depth))} for i in 0..N]`);
  if (chance(0.3)) lines.push(`output T = ${matrix(Math.min(1, p.depth))}`);
  return lines.join("\n") + "\n";
}

type Rec = Record<string, number | Float64Array>;
const flat = (v: number | Float64Array | undefined): number[] => (v === undefined ? [] : typeof v === "number" ? [v] : Array.from(v));

function compareV2(what: string, a: Rec, b: Rec, tol: number, source: string) {
  for (const key of Object.keys(a)) {
    const x = flat(a[key]), y = flat(b[key]);
    if (x.length !== y.length) throw new FuzzFailure("forms", source, `${what}: ${key} has ${x.length} elements against ${y.length}`);
    for (let i = 0; i < x.length; i++) if (!agree(x[i], y[i], tol)) throw new FuzzFailure("forms", source, `${what}: ${key}[${i}] is ${x[i]} against ${y[i]}`);
  }
}

/** Elements small enough for the straight-line and tape forms and for the interpreter. */
const SMALL = 200;

/** The differential and gradient check of one version 2 program (see the file header). */
export function checkSourceV2(source: string, stats?: CheckStats): void {
  const started = performance.now();
  const analyzed = analyze(source, "fuzz.expr");
  if (!analyzed.program) throw new FuzzFailure("compile", source, `rejected a well-typed program:\n${analyzed.diagnostics.map((d) => d.text).join("\n")}`);
  const program = analyzed.program;
  const elements = Math.max(...program.args.map((a) => a.node.size));
  const emits = elements <= SMALL ? (["loops", "auto", "unrolled", "tape"] as const) : (["loops", "auto"] as const);
  const modules = new Map<string, FuzzModule>();
  for (const emit of emits) {
    let r: ReturnType<typeof compile>;
    try {
      r = compile(source, { filename: "fuzz.expr", format: "js", emit });
    } catch (e) {
      throw new FuzzFailure("throw", source, `compile (emit "${emit}") threw: ${e instanceof Error ? e.stack : String(e)}`);
    }
    if (!r.ok) throw new FuzzFailure("compile", source, `emit "${emit}" rejected a well-typed program:\n${r.diagnostics.map((d) => d.text).join("\n")}`);
    try {
      modules.set(emit, instantiate(r.code));
    } catch (e) {
      throw new FuzzFailure("throw", source, `the module (emit "${emit}") does not load: ${String(e)}`);
    }
  }
  if (stats) stats.compileMs += performance.now() - started;

  const random = mulberry32(source.length * 2654435761);
  const args: Rec = {};
  for (const a of program.args) args[a.name] = a.shape.length ? Float64Array.from({ length: a.node.size }, () => random() * 2 - 1) : random() * 2 - 1;
  const call = <T>(what: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      throw new FuzzFailure("throw", source, `${what} threw: ${e instanceof Error ? e.message : String(e)}`);
    }
  };
  const seed: Rec = {};
  for (const o of program.outputs) seed[o.name] = o.node.shape.length ? Float64Array.from({ length: o.node.size }, () => random() * 2 - 1) : 1;
  const loops = modules.get("loops")!;
  const reference = call("backward (loops)", () => loops.backward(args, seed));
  for (const [emit, m] of modules) {
    if (emit === "loops") continue;
    const r = call(`backward (${emit})`, () => m.backward(args, seed));
    compareV2(`outputs loops/${emit}`, reference.outputs, r.outputs, 1e-9, source);
    compareV2(`grad loops/${emit}`, reference.grad, r.grad, 1e-9, source);
  }
  compareV2("forward/backward outputs (loops)", call("forward (loops)", () => loops.forward(args)), reference.outputs, 1e-12, source);
  if (elements <= SMALL) {
    const interpreted = call("the interpreter", () => interpretProgram(program, args, seed));
    compareV2("outputs loops/interpreter", reference.outputs, interpreted.outputs, 1e-9, source);
    compareV2("grad loops/interpreter", reference.grad, interpreted.grad, 1e-9, source);
  }

  // Central differences of F = sum of seed . output, on every element when small, else a sample.
  const F = (at: Rec) => {
    const out = loops.forward(at);
    let s = 0;
    for (const o of program.outputs) {
      const v = flat(out[o.name]), w = flat(seed[o.name]);
      for (let i = 0; i < v.length; i++) s += w[i] * v[i];
    }
    return s;
  };
  const F0 = F(args);
  if (!Number.isFinite(F0) || Math.abs(F0) > 1e9) return;
  for (const a of program.args) {
    if (a.role !== "param") continue;
    const g = flat(reference.grad[a.name]);
    const indices = g.length <= 24 ? [...g.keys()] : Array.from({ length: 8 }, () => Math.floor(random() * g.length));
    for (const i of indices) {
      const base = args[a.name];
      const x0 = typeof base === "number" ? base : base[i];
      const at = (x: number) => {
        const copy = { ...args };
        if (typeof base === "number") copy[a.name] = x;
        else {
          const v = base.slice();
          v[i] = x;
          copy[a.name] = v;
        }
        return F(copy);
      };
      const h1 = 1e-5, h2 = h1 / 4;
      const fd1 = (at(x0 + h1) - at(x0 - h1)) / (2 * h1);
      const fd2 = (at(x0 + h2) - at(x0 - h2)) / (2 * h2);
      const scale = Math.max(1, Math.abs(fd1), Math.abs(fd2));
      const noise = (1e-15 * Math.max(1, Math.abs(F0))) / h2;
      if (!Number.isFinite(fd2) || Math.abs(fd1 - fd2) > 1e-6 * scale + 10 * noise) {
        if (stats) stats.skipped++;
        continue; // a kink (relu, max, where) within a step
      }
      if (stats) stats.compared++;
      if (!(Math.abs(g[i] - fd2) <= 1e-5 * scale + 100 * noise))
        throw new FuzzFailure("gradient", source, `d/d ${a.name}[${i}]: backward gives ${g[i]}, central differences ${fd1} and ${fd2}`);
    }
  }
}

export function checkProgramV2(p: FuzzProgramV2, stats?: CheckStats): void {
  checkSourceV2(printProgramV2(p), stats);
}
