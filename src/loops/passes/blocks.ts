// Per-iteration blocks of a buffer. A loop over `v` that touches a buffer only at
// `s * v + c` with 0 <= c < s reaches, in iteration v, only the elements of block v: the
// rows of a [n, s] tensor (a chain of springs written with rows touches `p[2i]` and
// `p[2i + 1]`). Two loops that keep to the same blocks can run as one, and a block that one
// iteration writes before reading can live in locals. `v` itself is the block of stride 1.

import type { Affine } from "../ir.js";
import { isKnown } from "../../ir/size.js";

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

/** Whether `x` is `v + k * extent` with k >= 1: a section (see the top of the file). */
export function isSection(x: Affine | undefined, v: string, extent: number): boolean {
  return !!x && extent > 0 && x.terms.length === 1 && x.terms[0][0] === v && x.terms[0][1] === 1 && isKnown(x.c) && x.c > 0 && x.c % extent === 0;
}
