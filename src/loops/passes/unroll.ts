// Innermost loops run four steps per iteration: `for (let i0 = 0; i0 < 996; i0 += 4)` around
// four copies of the body, each in a block that binds `i` to its step, then the remaining
// steps. V8 checks each typed array again at every access after a store, and checks for
// interrupts once per iteration; four steps share that work. Measured on the benchmark
// models' backward passes: 11% (the chain) to 35% (the softmax classifier's outer product)
// less time. The steps run in their original order, so every value is the same, bit for bit.
//
// Four copies make the function longer, and V8 runs a function in its interpreter until
// the optimizing compile of all of it is done, which takes longer the longer it is. A loop
// that runs fewer than 1/COLD_FRACTION of the steps of the function's busiest loop (the
// batched net's L2 term, 100 steps, beside its 30,000 steps over rows and hidden units)
// earns nothing measurable from unrolling, so it stays rolled.

import { affineAdd, allStmts, lit, num, variable, type Stmt } from "../ir.js";
import { isKnown, subSize } from "../../ir/size.js";

/** Innermost loops at least this long are unrolled by UNROLL_BY. */
export const UNROLL_MIN_EXTENT = 8;
export const UNROLL_BY = 4;
/** Loop bodies longer than this (in statements) stay rolled: four copies would bloat the function. */
export const UNROLL_MAX_BODY = 32;

/** A loop with fewer than 1/COLD_FRACTION of the steps of the busiest one stays rolled: unrolling gains 10-35% of a loop's time, so under 5% of the function's there. */
export const COLD_FRACTION = 8;

export function unrollInnermost(body: readonly Stmt[]): Stmt[] {
  const busiest = busiestSteps(body);
  return unrollIn(body, 1, busiest === undefined ? 0 : busiest / COLD_FRACTION);
}

/** Steps per call of the busiest innermost loop (nested extents multiplied), undefined when a run-time size makes them unknown. */
function busiestSteps(body: readonly Stmt[]): number | undefined {
  let most = 0;
  const stack: [readonly Stmt[], number][] = [[body, 1]];
  while (stack.length) {
    const [list, outer] = stack.pop()!;
    for (const s of list) {
      if (s.k === "block") stack.push([s.body, outer]);
      if (s.k !== "loop") continue;
      if (!isKnown(s.extent)) return undefined;
      const steps = outer * Math.ceil(s.extent / Math.abs(s.step));
      most = Math.max(most, steps);
      stack.push([s.body, steps]);
    }
  }
  return most;
}

/** `outer`: steps of the loops around `body`; loops of fewer than `cold` steps stay rolled. */
function unrollIn(body: readonly Stmt[], outer: number, cold: number): Stmt[] {
  const out: Stmt[] = [];
  for (const s of body) {
    if (s.k === "block") {
      out.push({ ...s, body: unrollIn(s.body, outer, cold) });
      continue;
    }
    if (s.k !== "loop") {
      out.push(s);
      continue;
    }
    // A guarded block (zero-guard.ts) is part of the step, not a nest.
    if (s.body.some((x) => x.k === "loop" || (x.k === "block" && !x.when))) {
      out.push({ ...s, body: unrollIn(s.body, isKnown(s.extent) ? outer * s.extent : outer, cold) });
      continue;
    }
    if (isKnown(s.extent) && outer * s.extent < cold) {
      out.push(s);
      continue;
    }
    if (s.from !== 0 || s.step !== 1 || s.resume || (isKnown(s.extent) && s.extent < UNROLL_MIN_EXTENT) || allStmts(s.body).length > UNROLL_MAX_BODY) {
      out.push(s);
      continue;
    }
    const v0 = `${s.v}0`;
    const steps = Array.from({ length: UNROLL_BY }, (_, k): Stmt => ({ k: "block", bind: { v: s.v, value: affineAdd(variable(v0), lit(k)) }, body: s.body }));
    if (!isKnown(s.extent)) {
      // A run-time length: steps of UNROLL_BY while that many remain, then the rest, one variable for both.
      out.push({
        k: "block",
        body: [
          { k: "let", name: v0, value: num(0), mutable: true },
          { k: "loop", v: v0, from: 0, extent: subSize(s.extent, UNROLL_BY - 1), step: UNROLL_BY, resume: true, body: steps },
          { k: "loop", v: v0, from: 0, extent: s.extent, step: 1, resume: true, body: [{ k: "block", bind: { v: s.v, value: variable(v0) }, body: s.body }] },
        ],
      });
      continue;
    }
    const whole = s.extent - (s.extent % UNROLL_BY);
    out.push({ k: "loop", v: v0, from: 0, extent: whole, step: UNROLL_BY, body: steps });
    if (whole < s.extent) out.push({ ...s, from: whole, extent: s.extent - whole });
  }
  return out;
}
