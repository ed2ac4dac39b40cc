// Numeric derivatives, the reference that `gradc check` compares analytic ones with.
//
// The five-point central difference (-f(2h) + 8f(h) - 8f(-h) + f(-2h)) / 12h has error
// O(h^4 f^(5)) + O(eps f / h): a step that suits one length scale fails on a shorter one (a
// cloth with springs of length 0.035 at h = 1e-3), and too small a step drowns in
// rounding. So each element gets a sequence of steps, its scale times 1e-3, 1e-4, 1e-5,
// 1e-6, and the estimate is taken where two consecutive steps agree: truncation error
// shrinks 10^4-fold from one step to the next and rounding grows 10-fold, so agreement
// means both are small. When the coarsest pair does not agree, a kink of relu, abs, max...
// lies within 2h (or a much shorter length scale): the caller moves the point, since the
// finer steps that would pass the kink carry more rounding noise (a gradient element of a
// ReLU net over 300 samples, checked at 5e-6, is off by 1e-7), and uses a finer pair only
// where moving did not help; where no pair agrees the element is skipped.
//
// checkDerivatives compares each derivative operator's result (diff/operators.ts records
// them) with differences of what it differentiates, by the reference interpreter.

import { knownSize, type Graph, type Node } from "../ir/graph.js";
import { evaluateGraph, inputKey, type Value } from "../ir/interpret.js";
import { cone, rebuild } from "../ir/rebuild.js";
import type { DerivativeRecord } from "./operators.js";

export const STEP_FACTORS = [1e-3, 1e-4, 1e-5, 1e-6];
/** Estimates closer than this (relative) are converged: no finer step is tried. */
const CONVERGED = 3e-8;
/** Above this, two estimates disagree: the steps cross a kink (or a much shorter scale). */
export const SMOOTH = 1e-6;

export interface Estimate {
  /** The derivative of each component of f, from the coarser step of the pair chosen. */
  value: Float64Array;
  step: number;
  /** Relative difference of the pair chosen: an estimate of the error of `value`. */
  disagreement: number;
  smooth: boolean;
  /**
   * Converged with a step of at least 1e-4 of the scale. Otherwise a kink lies within the
   * steps (or a length scale far shorter than the element's), and a finer step only is left,
   * with more rounding noise: the caller moves the point instead, when it can.
   */
  early: boolean;
}

/**
 * The derivative at 0 of `f(d)` (a vector of values) by five-point central differences,
 * the step chosen as described above among `scale` times STEP_FACTORS: the coarser step of
 * the first pair of consecutive steps that agree within CONVERGED, else of the pair that
 * agrees best (rounding noise grows as steps shrink, so coarse steps are preferred).
 * Differences are relative to max(|a|, |b|, floor): below `floor` they count in absolute terms.
 */
export function centralDifference(f: (d: number) => ArrayLike<number>, scale: number, floor: number): Estimate {
  const stencil = (h: number) => {
    const [a, b, c, e] = [f(2 * h), f(h), f(-h), f(-2 * h)];
    return Float64Array.from({ length: a.length }, (_, i) => (-a[i] + 8 * b[i] - 8 * c[i] + e[i]) / (12 * h));
  };
  let previous = stencil(STEP_FACTORS[0] * scale);
  let best: Estimate | undefined;
  for (let k = 1; k < STEP_FACTORS.length; k++) {
    const current = stencil(STEP_FACTORS[k] * scale);
    let disagreement = 0;
    for (let i = 0; i < current.length; i++) {
      const [a, b] = [previous[i], current[i]];
      const d = a === b ? 0 : Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), floor);
      disagreement = Math.max(disagreement, Number.isNaN(d) ? Infinity : d);
    }
    const estimate = { value: previous, step: STEP_FACTORS[k - 1] * scale, disagreement, smooth: disagreement <= SMOOTH, early: k === 1 && disagreement <= CONVERGED };
    if (disagreement <= CONVERGED) return estimate;
    if (!best || disagreement < best.disagreement) best = estimate;
    previous = current;
  }
  return best!;
}

/**
 * Relative error |a - n| / max(|a|, |n|) with a floor of 1e-4 `scale`: finite differences
 * carry rounding noise near 1e-12 of the function's size, so derivatives smaller than the
 * floor are in effect compared in absolute terms.
 */
export function relativeError(a: number, n: number, scale: number): number {
  if (a === n) return 0;
  return Math.abs(a - n) / Math.max(Math.abs(a), Math.abs(n), 1e-4 * scale);
}

/** The mean magnitude of a tensor's elements: the scale of a step at an element near 0. */
export function typicalSize(x: ArrayLike<number>): number {
  let sum = 0;
  for (let k = 0; k < x.length; k++) sum += Math.abs(x[k]);
  return sum / Math.max(1, x.length);
}

/** The scale of an element's steps: its size, or its tensor's typical size when smaller (1 for zeros). */
export function elementScale(value: number, typical: number): number {
  return Math.max(Math.abs(value), typical) || 1;
}

export interface DerivativeCheck {
  record: DerivativeRecord;
  /** Elements compared (x elements times y elements, or fewer for gradient, vjp, jvp). */
  compared: number;
  maxError: number;
  worst?: { index: number; analytic: number; numeric: number };
  /** Directions that stayed non-smooth after moving x; why a derivative could not be checked. */
  skipped: number;
  moved: number;
  unchecked?: string;
}

const MOVES = 5;

/**
 * Each derivative of `records` at the argument values `values` (by inputKey; other inputs,
 * such as a def's placeholder parameters, get values from `random`, and loop variables their
 * first value), against central differences of what it differentiates.
 */
export function checkDerivatives(graph: Graph, records: readonly DerivativeRecord[], values: ReadonlyMap<string, Value>, random: () => number): DerivativeCheck[] {
  const seen = new Set<number>();
  const out: DerivativeCheck[] = [];
  for (const r of records) {
    if (seen.has(r.result.id)) continue;
    seen.add(r.result.id);
    try {
      out.push(checkOne(graph, r, values, random));
    } catch (e) {
      out.push({ record: r, compared: 0, maxError: 0, skipped: 0, moved: 0, unchecked: e instanceof Error ? e.message : String(e) });
    }
  }
  return out;
}

function checkOne(graph: Graph, r: DerivativeRecord, given: ReadonlyMap<string, Value>, random: () => number): DerivativeCheck {
  const check: DerivativeCheck = { record: r, compared: 0, maxError: 0, skipped: 0, moved: 0 };
  if (r.x.op !== "input") return { ...check, unchecked: "its variable is not an input" };
  // A derivative inside a comprehension is checked at the loop's first step.
  const roots = [r.result, r.kind === "hessian" ? r.of! : r.y, ...(r.direction ? [r.direction] : [])];
  const loops = new Map<number, Node>();
  const values = new Map(given);
  for (const n of cone(graph, roots)) {
    if (n.op === "loopvar") loops.set(n.id, graph.constant(n.loop!.from));
    if (n.op === "input" && !values.has(inputKey(n))) values.set(inputKey(n), Array.from({ length: knownSize(n.size) }, () => random() * 2 - 1));
  }
  const [result, f, direction] = roots.map((n) => (loops.size ? rebuild(graph, n, loops) : n));
  const key = inputKey(r.x);
  const n = knownSize(r.x.size);
  let x = Float64Array.from(toArray(values.get(key)!, n));
  const at = (v: Float64Array, nodes: Node[]) => {
    values.set(key, v);
    return evaluateGraph(graph, values, nodes);
  };
  for (let attempt = 0; ; attempt++) {
    const [analytic, f0, u] = at(x, direction ? [result, f, direction] : [result, f]);
    const typical = typicalSize(x);
    const scale = Math.max(1, ...Array.from(f0, Math.abs));
    const floor = 1e-4 * scale;
    const estimates: Estimate[] = [];
    const along = (dir: ArrayLike<number>, elementStep: number) =>
      centralDifference((d) => at(Float64Array.from(x, (a, k) => a + d * dir[k]), [f])[0], elementStep, floor);
    if (r.kind === "jvp") {
      const size = Math.max(...Array.from(u, Math.abs)) || 1;
      estimates.push(along(u, Math.max(...Array.from(x, (a) => elementScale(a, typical))) / size));
    } else for (let j = 0; j < n; j++) estimates.push(along(Array.from({ length: n }, (_, k) => (k === j ? 1 : 0)), elementScale(x[j], typical)));
    if (estimates.some((e) => !e.early) && attempt < MOVES) {
      // Move x off the kink: a relative step far larger than the differences' steps.
      x = Float64Array.from(x, (a) => a + 1e-2 * elementScale(a, typical) * (random() * 2 - 1));
      check.moved = attempt + 1;
      continue;
    }
    const compare = (index: number, a: number, numeric: number) => {
      check.compared++;
      const e = relativeError(a, numeric, scale);
      if (Number.isNaN(check.maxError)) return;
      if (Number.isNaN(e) || e > check.maxError || !check.worst) {
        check.maxError = e;
        check.worst = { index, analytic: a, numeric };
      }
    };
    const m = f0.length;
    estimates.forEach((est, j) => {
      if (!est.smooth) {
        check.skipped++;
        return;
      }
      if (r.kind === "jvp") for (let i = 0; i < m; i++) compare(i, analytic[i], est.value[i]);
      else if (r.kind === "gradient") compare(j, analytic[j], est.value[0]);
      else if (r.kind === "vjp") compare(j, analytic[j], est.value.reduce((s, c, i) => s + u[i] * c, 0));
      else for (let i = 0; i < m; i++) compare(i * n + j, analytic[i * n + j], est.value[i]);
    });
    return check;
  }
}

function toArray(v: Value, n: number): number[] {
  return typeof v === "number" ? Array.from({ length: n }, () => v) : Array.from(v);
}
