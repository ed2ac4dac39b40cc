// Combined accumulations. After loops merge, one iteration often adds into the same element
// several times (a chain's gradient: `g[2i + 1] += mg`, then `g[2i + 1] -= f`), each a load
// and a store V8 cannot fold, since every typed-array store may alias the others. Two
// accumulations into one element with nothing between them reading that buffer (or changing
// what the first one adds) become one, at the place of the second: `g[2i + 1] += (mg - f)`.
// Carried sums (carry.ts) then see one accumulation per element and shift. One walk over
// each straight-line list; what a pending accumulation reads is indexed by name, so a write
// drops exactly the pending accumulations it affects.

import { accesses, apply, bufferKey, type Affine, type Expr, type Stmt } from "../ir.js";

const elementKey = (x: Affine): string => `${x.c}|${x.terms.map(([v, c]) => `${v}*${c}`).sort().join(",")}`;

/** The value of the two accumulations `first` then `second` into one element, as one. */
function combined(first: Extract<Stmt, { k: "store" }>, second: Extract<Stmt, { k: "store" }>): Stmt {
  const sum = (a: Expr, b: Expr) => apply("add", a, b);
  const diff = (a: Expr, b: Expr) => apply("sub", a, b);
  if (first.op === second.op) return { ...second, value: sum(first.value, second.value) };
  return first.op === "+=" ? { ...second, op: "+=", value: diff(first.value, second.value) } : { ...second, op: "+=", value: diff(second.value, first.value) };
}

/** `body` (straight-line statements, loops and blocks left as they are) with accumulations into one element combined. */
export function combineAccumulations(body: readonly Stmt[]): Stmt[] {
  const out: (Stmt | undefined)[] = [];
  /** Pending accumulation per buffer and element: its position in `out`. */
  const pending = new Map<string, number>();
  /** Per name (buffer key or local): the pending accumulations whose value reads it, and per buffer those into it. */
  const readers = new Map<string, Set<string>>();
  const into = new Map<string, Set<string>>();
  const drop = (names: Iterable<string>, index: Map<string, Set<string>>) => {
    for (const n of names) {
      const keys = index.get(n);
      if (!keys) continue;
      for (const k of keys) pending.delete(k);
      index.delete(n);
    }
  };
  for (const s of body) {
    const a = accesses([s]);
    const written = [...a.writtenLocals, ...a.buffers.filter((p) => p.write).map((p) => bufferKey(p.buffer))];
    const read = [...a.readLocals, ...a.buffers.filter((p) => !p.write).map((p) => bufferKey(p.buffer))];
    const accumulation = s.k === "store" && !s.dynamic && (s.op === "+=" || s.op === "-=") ? s : undefined;
    const key = accumulation && `${bufferKey(accumulation.buffer)}${elementKey(accumulation.index)}`;
    const earlier = key !== undefined ? pending.get(key) : undefined;
    // What this statement writes changes what pending accumulations would add; what it reads of a buffer, that buffer's pending sums.
    drop(written, readers);
    drop(read.filter((n) => n.startsWith("[")), into);
    if (accumulation && earlier !== undefined && pending.get(key!) === earlier) {
      const first = out[earlier] as Extract<Stmt, { k: "store" }>;
      out[earlier] = undefined;
      out.push(combined(first, accumulation));
    } else out.push(s);
    // Writes into a buffer other than one accumulation each keep its pending sums apart.
    if (!accumulation) drop(a.buffers.filter((p) => p.write).map((p) => bufferKey(p.buffer)), into);
    if (accumulation && !read.includes(bufferKey(accumulation.buffer))) {
      const position = out.length - 1;
      pending.set(key!, position);
      for (const n of accesses([{ k: "result", target: "", value: (out[position] as Extract<Stmt, { k: "store" }>).value }]).readLocals) (readers.get(n) ?? readers.set(n, new Set()).get(n)!).add(key!);
      for (const p of accesses([{ k: "result", target: "", value: (out[position] as Extract<Stmt, { k: "store" }>).value }]).buffers) (readers.get(bufferKey(p.buffer)) ?? readers.set(bufferKey(p.buffer), new Set()).get(bufferKey(p.buffer))!).add(key!);
      const b = bufferKey(accumulation.buffer);
      (into.get(b) ?? into.set(b, new Set()).get(b)!).add(key!);
    }
  }
  return out.filter((s): s is Stmt => s !== undefined);
}
