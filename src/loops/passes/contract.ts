// Row buffers: a scratch buffer that one top-level loop over `v` touches only in the block of
// its own iteration (`b[100 * i + j]`, j < 100), writing every element of the block before it
// reads it, carries nothing from one iteration to the next; one block is enough, reused by
// every iteration (`b[j]`). The batched net's backward keeps each row's hidden layer until
// its gradient has been taken: 100 elements instead of 100 * N. With a dim N the buffer is
// then a fixed-size constant of the module instead of one remade when N changes (a `let`,
// which V8 optimizes less well than a `const` typed array: see bench/RESULTS.md), and with a
// fixed N it stays in the cache.

import { accesses, allStmts, mapStmts, mapExpr, type Affine, type Buffer, type Stmt } from "../ir.js";
import { nestedBlockOf } from "./blocks.js";
import { isKnown } from "../../ir/size.js";

type Loop = Extract<Stmt, { k: "loop" }>;

/**
 * `body` with its row buffers contracted to one block; `contracted`: the new buffers (by old
 * name), each with its own module-level name (`buf14row`), since the other function of the
 * module may keep the whole buffer under the old one.
 */
export function contractRowBuffers(body: readonly Stmt[], stores: readonly Stmt[]): { body: Stmt[]; contracted: Map<string, Buffer> } {
  const contracted = new Map<string, Buffer>();
  // Where each scratch buffer is touched: the top-level statement, or -1 for several or the stores.
  const owner = new Map<string, number>();
  body.forEach((s, k) => {
    for (const p of accesses([s]).buffers) if (p.buffer.kind === "scratch") owner.set(p.buffer.name, owner.has(p.buffer.name) && owner.get(p.buffer.name) !== k ? -1 : k);
  });
  for (const p of accesses(stores).buffers) owner.set(p.buffer.name, -1);
  const out = [...body];
  body.forEach((s, k) => {
    if (s.k !== "loop" || s.from !== 0 || s.step !== 1 || s.resume) return;
    const names = [...owner].filter(([, at]) => at === k).map(([name]) => name);
    if (names.length === 0) return;
    const { ranges, bound } = rangesIn(s.body);
    const rows = new Map<string, Buffer>();
    for (const name of names) {
      const stride = rowStride(s, name, ranges, bound);
      if (stride === undefined || !writtenFirst(s, name, stride)) continue;
      const old = accesses([s]).buffers.find((p) => p.buffer.name === name)!.buffer;
      // A block of the buffer's whole size saves nothing.
      if (old.size === stride) continue;
      rows.set(name, { ...old, size: stride, source: `${old.source}row` });
    }
    if (rows.size === 0) return;
    const drop = (x: Affine): Affine => ({ c: x.c, terms: x.terms.filter(([u]) => u !== s.v) });
    const contract = mapStmts(
      s.body,
      (e) => mapExpr(e, (x) => (x.k === "load" && rows.has(x.buffer.name) ? { ...x, buffer: rows.get(x.buffer.name)!, index: drop(x.index) } : x)),
      (x) => (x.k === "store" && rows.has(x.buffer.name) ? { ...x, buffer: rows.get(x.buffer.name)!, index: drop(x.index) } : x),
    );
    out[k] = { ...s, body: contract };
    for (const [name, b] of rows) contracted.set(name, b);
  });
  return { body: out, contracted };
}

/**
 * The values each loop variable bound in `body` takes (over every loop that binds it: the
 * forward and backward walks of a row's hidden units are both loops over j), and every name
 * bound there. A loop of run-time or unknown length, or a name a step binds, has no range.
 */
function rangesIn(body: readonly Stmt[]): { ranges: Map<string, [number, number]>; bound: Set<string> } {
  const ranges = new Map<string, [number, number]>();
  const bound = new Set<string>();
  const unknown = new Set<string>();
  for (const x of allStmts(body)) {
    if (x.k === "block" && x.bind) {
      bound.add(x.bind.v);
      unknown.add(x.bind.v);
    }
    if (x.k !== "loop") continue;
    bound.add(x.v);
    if (!isKnown(x.extent) || x.extent < 1 || x.step !== 1) {
      unknown.add(x.v);
      continue;
    }
    const r = ranges.get(x.v);
    const [lo, hi] = [x.from, x.from + x.extent - 1];
    ranges.set(x.v, r ? [Math.min(r[0], lo), Math.max(r[1], hi)] : [lo, hi]);
  }
  for (const v of unknown) ranges.delete(v);
  return { ranges, bound };
}

/** The stride s when every access of `name` in the loop is `s * v + offset`, offset in [0, s) for all values of the nested variables. */
function rowStride(loop: Loop, name: string, ranges: Map<string, [number, number]>, bound: Set<string>): number | undefined {
  let stride: number | undefined;
  for (const p of accesses(loop.body).buffers) {
    if (p.buffer.name !== name) continue;
    const block = p.index && nestedBlockOf(p.index, loop.v, ranges, bound);
    if (!block || block.outer !== "" || (stride !== undefined && block.stride !== stride)) return undefined;
    stride = block.stride;
  }
  return stride;
}

/**
 * Whether each iteration writes the elements of its block before reading them: its own
 * statements write single elements with `=`, or a nested loop over the whole block writes
 * `b[s * v + w] = ...` first and reads nothing else of it; once the block is all written,
 * anything goes.
 */
function writtenFirst(loop: Loop, name: string, stride: number): boolean {
  const written = new Set<number>();
  const offsetOf = (x: Affine): number | undefined =>
    x.terms.length === 1 && x.terms[0][0] === loop.v && x.terms[0][1] === stride && isKnown(x.c) ? x.c : undefined;
  for (const x of loop.body) {
    if (written.size === stride) return true;
    const touches = accesses([x]).buffers.filter((p) => p.buffer.name === name);
    if (touches.length === 0) continue;
    if (x.k === "loop") {
      if (!wholeBlockWriter(x, loop.v, name, stride)) return false;
      for (let c = 0; c < stride; c++) written.add(c);
      continue;
    }
    if (x.k !== "store" && x.k !== "let" && x.k !== "assign" && x.k !== "result") return false;
    // The value is read before the store writes.
    for (const p of touches) {
      if (p.write) continue;
      const c = p.index && offsetOf(p.index);
      if (c === undefined || !written.has(c)) return false;
    }
    if (x.k === "store" && x.buffer.name === name) {
      const c = x.dynamic ? undefined : offsetOf(x.index);
      if (c === undefined || (x.op !== "=" && !written.has(c))) return false;
      written.add(c);
    }
  }
  return true;
}

/** A loop over w in [0, stride) whose own statements first store `b[s * v + w] = ...` and touch no other element; nothing nested in it touches b. */
function wholeBlockWriter(w: Loop, v: string, name: string, stride: number): boolean {
  if (w.from !== 0 || w.step !== 1 || w.resume || w.extent !== stride) return false;
  const here = (x: Affine) => x.c === 0 && x.terms.length === 2 && x.terms.some(([u, c]) => u === v && c === stride) && x.terms.some(([u, c]) => u === w.v && c === 1);
  let stored = false;
  for (const x of w.body) {
    const touches = accesses([x]).buffers.filter((p) => p.buffer.name === name);
    if (touches.length === 0) continue;
    if (x.k === "loop" || x.k === "block") return false;
    for (const p of touches) if (!p.write && (!stored || !p.index || !here(p.index))) return false;
    if (x.k === "store" && x.buffer.name === name) {
      if (x.dynamic || !here(x.index) || (x.op !== "=" && !stored)) return false;
      stored = true;
    }
  }
  return stored;
}
