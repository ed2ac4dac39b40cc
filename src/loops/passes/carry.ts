// Carried shifted sums. A zero-filled buffer (or one filled with a value the loop does not change) of n + 1 elements (or rows) that a loop over n
// only accumulates into at `[i]` and `[i + 1]` (the adjoint of reading x[i] and x[i+1], as in
// Rosenbrock or a chain of springs) is written once per element instead: what iteration i
// adds to element i + 1 is carried to the next iteration in a local, and the zero fill goes.

import { accesses, apply, lit, local, visitExpr, type Buffer, type Stmt } from "../ir.js";
import { shiftedBlock } from "./blocks.js";
import { addSize, isKnown, mulSize, type Size } from "../../ir/size.js";

export interface Carried {
  /** The statements before the loop, with each carried fill replaced by its carry's declaration. */
  before: Stmt[];
  body: Stmt[];
  /** The last element of each carried sum, stored after the loop. */
  after: Stmt[];
}

/** How many times statement `s` names buffer `b` (its store target and its loads). */
function mentions(s: Stmt, b: Buffer): number {
  let count = s.k === "store" && s.buffer.name === b.name ? 1 : 0;
  if (s.k === "store" || s.k === "let" || s.k === "assign" || s.k === "fill" || s.k === "result")
    visitExpr(s.value, (e) => {
      if (e.k === "load" && e.buffer.name === b.name) count++;
    });
  if (s.k === "store" && s.dynamic)
    visitExpr(s.dynamic.at, (e) => {
      if (e.k === "load" && e.buffer.name === b.name) count++;
    });
  if (s.k === "fill" && s.buffer.name === b.name) count++;
  if (s.k === "copy" && (s.to.name === b.name || s.from.name === b.name)) count++;
  if (s.k === "loop" || s.k === "block") for (const x of s.body) count += mentions(x, b);
  return count;
}

/**
 * The whole number of elements per block of a buffer of `size` elements split into `n + 1`
 * blocks, or undefined. Over run-time sizes the blocks are rows of a few elements
 * (`[N, 2]` over a loop of N - 1 steps): tried up to MAX_RUNTIME_BLOCK.
 */
function blockSize(size: Size, n: Size): number | undefined {
  const blocks = addSize(n, 1);
  if (isKnown(size) && isKnown(blocks)) return size % blocks === 0 ? size / blocks : undefined;
  for (let s = 1; s <= MAX_RUNTIME_BLOCK; s++) if (mulSize(s, blocks) === size) return s;
  return undefined;
}
const MAX_RUNTIME_BLOCK = 8;

/**
 * `hoisted`: statements just before a loop over `v` from 0 to `n`, whose body is `body`. A
 * buffer in blocks of `s` elements (rows: `x[s*i + c]`) is carried a block at a time: the
 * elements `s*i + s .. s*i + 2s - 1` go to the next iteration in `s` locals.
 */
export function carryShiftedSums(hoisted: readonly Stmt[], v: string, extent: Size, body: readonly Stmt[]): Carried {
  const before = [...hoisted];
  const after: Stmt[] = [];
  let out = [...body];
  for (const fill of hoisted) {
    if (fill.k !== "fill" || fill.buffer.kind === "local") continue;
    // The fill's value starts each carry: a number, or a local the loop does not change (a gradient's own term, `mg`).
    const start = fill.value;
    if (start.k !== "num" && !(start.k === "local" && !accesses(out).writtenLocals.has(start.name))) continue;
    const zero = start.k === "num" && start.value === 0;
    const x = fill.buffer;
    const n = extent;
    const stride = blockSize(x.size, n);
    if (stride === undefined) continue;
    const using = out.map((s, k) => [k, mentions(s, x)] as const).filter(([, m]) => m > 0);
    if (using.length !== 2 * stride || using.some(([, m]) => m > 1)) continue;
    // Each statement that names x adds into one element of this block or the next, each once.
    const at = new Map<number, number>();
    for (const [k] of using) {
      const s = out[k];
      if (s.k !== "store" || s.buffer.name !== x.name || s.dynamic || (s.op !== "+=" && s.op !== "-=")) break;
      const c = shiftedBlock(s.index, v, stride);
      if (c === undefined || c < 0 || c >= 2 * stride || at.has(c)) break;
      at.set(c, k);
    }
    if (at.size !== 2 * stride) continue;
    const carries = Array.from({ length: stride }, (_, c) => (stride === 1 ? `${x.name}carry` : `${x.name}carry${c}`));
    before.splice(before.indexOf(fill), 1, ...carries.map((name): Stmt => ({ k: "let", name, value: start, mutable: true })));
    const replaced = new Map<number, Stmt[]>();
    for (let c = 0; c < stride; c++) {
      const here = at.get(c)!;
      const next = at.get(c + stride)!;
      const own = out[here] as Extract<Stmt, { k: "store" }>;
      const shifted = out[next] as Extract<Stmt, { k: "store" }>;
      const share = shifted.op === "-=" ? apply("neg", shifted.value) : shifted.value;
      // Element i + 1 is the fill's value, then this share, then its own part: in that order.
      const carried = zero ? share : apply("add", start, share);
      const store: Stmt = { ...own, op: "=", value: apply(own.op === "-=" ? "sub" : "add", local(carries[c]), own.value) };
      if (here < next) {
        replaced.set(here, [store]);
        replaced.set(next, [{ k: "assign", name: carries[c], op: "=", value: carried }]);
      } else {
        // The carry is read (here) after the next block's share is known: that share waits in a local.
        const waiting = `${carries[c]}next`;
        replaced.set(next, [{ k: "let", name: waiting, value: carried }]);
        replaced.set(here, [store, { k: "assign", name: carries[c], op: "=", value: local(waiting) }]);
      }
      after.push({ k: "store", buffer: x, index: lit(addSize(mulSize(stride, n), c)), value: local(carries[c]), op: "=" });
    }
    out = out.flatMap((s, k) => replaced.get(k) ?? [s]);
  }
  return { before, body: out, after };
}
