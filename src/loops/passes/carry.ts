// Carried shifted sums. A zero-filled buffer of n + 1 elements that a loop over n only
// accumulates into at `[i]` and `[i + 1]` (the adjoint of reading x[i] and x[i+1], as in
// Rosenbrock or a chain of springs) is written once per element instead: what iteration i
// adds to element i + 1 is carried to the next iteration in a local, and the zero fill goes.

import { apply, isVariable, lit, local, num, visitExpr, type Buffer, type Stmt } from "../ir.js";

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

/** `hoisted`: statements just before a loop over `v` from 0 to `n`, whose body is `body`. */
export function carryShiftedSums(hoisted: readonly Stmt[], v: string, n: number, body: readonly Stmt[]): Carried {
  const before = [...hoisted];
  const after: Stmt[] = [];
  let out = [...body];
  for (const fill of hoisted) {
    if (fill.k !== "fill" || fill.buffer.kind === "local" || fill.buffer.size !== n + 1 || fill.value.k !== "num" || fill.value.value !== 0) continue;
    const x = fill.buffer;
    const using = out.map((s, k) => [k, mentions(s, x)] as const).filter(([, m]) => m > 0);
    if (using.length !== 2 || using.some(([, m]) => m > 1)) continue;
    const update = (k: number, shift: number) => {
      const s = out[k];
      if (s.k !== "store" || s.buffer.name !== x.name || s.dynamic || (s.op !== "+=" && s.op !== "-=")) return undefined;
      const ok = shift === 0 ? isVariable(s.index, v) : s.index.c === shift && s.index.terms.length === 1 && s.index.terms[0][0] === v && s.index.terms[0][1] === 1;
      return ok ? s : undefined;
    };
    const here = using.map(([k]) => k).find((k) => update(k, 0));
    const next = using.map(([k]) => k).find((k) => update(k, 1));
    if (here === undefined || next === undefined) continue;
    const carry = `${x.name}carry`;
    before.splice(before.indexOf(fill), 1, { k: "let", name: carry, value: num(0), mutable: true });
    const own = update(here, 0)!;
    const shifted = update(next, 1)!;
    out[here] = { ...own, op: "=", value: apply(own.op === "-=" ? "sub" : "add", local(carry), own.value) };
    out[next] = { k: "assign", name: carry, op: "=", value: shifted.op === "-=" ? apply("neg", shifted.value) : shifted.value };
    // The carry must be read before it is overwritten.
    if (next < here) [out[here], out[next]] = [out[next], out[here]];
    after.push({ k: "store", buffer: x, index: lit(n), value: local(carry), op: "=" });
    out = [...out];
  }
  return { before, body: out, after };
}
