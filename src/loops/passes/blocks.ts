// Per-iteration blocks of a buffer. A loop over `v` that touches a buffer only at
// `s * v + c` with 0 <= c < s reaches, in iteration v, only the elements of block v: the
// rows of a [n, s] tensor (a chain of springs written with rows touches `p[2i]` and
// `p[2i + 1]`). Two loops that keep to the same blocks can run as one, and a block that one
// iteration writes before reading can live in locals. `v` itself is the block of stride 1.

import type { Affine } from "../ir.js";
import { isKnown, mulSize, type Size } from "../../ir/size.js";

export interface Block {
  stride: number;
  offset: number;
}

/** `x` as `stride * v + offset` with 0 <= offset < stride, or undefined. */
export function blockOf(x: Affine | undefined, v: string): Block | undefined {
  if (!x || x.terms.length !== 1 || x.terms[0][0] !== v) return undefined;
  const stride = x.terms[0][1];
  // Blocks of run-time size are left alone (the carried sums that use them need numbers).
  if (!isKnown(stride) || !isKnown(x.c) || stride < 1 || x.c < 0 || x.c >= stride) return undefined;
  return { stride, offset: x.c };
}

/** `x` as `stride * v + offset` for a given stride, any offset (shifted blocks), or undefined. */
export function shiftedBlock(x: Affine | undefined, v: string, stride: number): number | undefined {
  if (!x || x.terms.length !== 1 || x.terms[0][0] !== v || x.terms[0][1] !== stride || !isKnown(x.c)) return undefined;
  return x.c;
}

/**
 * Whether `x` is `v + k * extent` with k >= 1: a section (see the top of the file). With a
 * run-time extent the offset is a size too (`i + 2 * N` in a loop over N: the third column
 * of a [3, N] tensor), compared as interned sizes are.
 */
export function isSection(x: Affine | undefined, v: string, extent: Size): boolean {
  if (!x || x.terms.length !== 1 || x.terms[0][0] !== v || x.terms[0][1] !== 1) return false;
  if (isKnown(extent) || isKnown(x.c)) return isKnown(extent) && isKnown(x.c) && extent > 0 && x.c > 0 && x.c % extent === 0;
  // k from the leading terms, then checked on the whole polynomial.
  const [[of, c]] = x.c.terms;
  const [[per, e]] = extent.terms;
  const k = c / e;
  return of.join("*") === per.join("*") && Number.isInteger(k) && k >= 1 && mulSize(k, extent) === x.c;
}

/** The values a variable bound inside a loop body can take, lowest and highest. */
export type Ranges = ReadonlyMap<string, readonly [number, number]>;

export interface NestedBlock {
  stride: number;
  /** The terms of variables bound outside the loop (the same in every iteration), as a key. */
  outer: string;
}

/**
 * `x` as `stride * v + K + offset`, with K the part that reads only variables bound outside
 * the loop over `v` (and whole blocks of its constant) and offset in [0, stride) for every
 * value of the loop variables nested in it (`ranges`): in iteration v, x stays in block v of a buffer that starts at K. A variable
 * of the body without a range (a bound step) fails the test. blockOf is the case without
 * nested loops or outer variables.
 */
export function nestedBlockOf(x: Affine | undefined, v: string, ranges: Ranges, bound: ReadonlySet<string>): NestedBlock | undefined {
  if (!x) return undefined;
  let stride = 0;
  // A constant in the dims is part of K (the same in every iteration).
  let lo = isKnown(x.c) ? x.c : 0;
  let hi = lo;
  const outer: string[] = isKnown(x.c) ? [] : [String(x.c)];
  for (const [u, c] of x.terms) {
    if (u === v) {
      if (!isKnown(c)) return undefined;
      stride = c;
    } else if (ranges.has(u)) {
      if (!isKnown(c)) return undefined;
      const [a, b] = ranges.get(u)!;
      lo += Math.min(c * a, c * b);
      hi += Math.max(c * a, c * b);
    } else if (bound.has(u)) return undefined;
    else outer.push(`${u}*${String(c)}`);
  }
  if (stride < 1) return undefined;
  // A constant part of whole blocks joins K: after a step is peeled, p[48r + 3c + k] is
  // p[720 + 3c + k], block c + 240 of the buffer.
  const whole = Math.floor(lo / stride) * stride;
  if (hi - whole >= stride) return undefined;
  outer.sort();
  if (whole !== 0) outer.push(String(whole));
  return { stride, outer: outer.join(",") };
}
