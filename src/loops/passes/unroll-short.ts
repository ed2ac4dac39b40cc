// Short axes written out: a loop of at most SMALL_EXTENT steps becomes that many copies of
// its body with the variable replaced by a literal, so that small tensors kept in locals
// (`t7_0`, `t7_1`) can be named and a [3, 100] tensor is one loop of three statements, not
// three loops. Locals declared inside a copy get the step as a suffix, so copies of a dot
// product's accumulator stay apart. Loops nest as deep as a tensor's rank: the recursion is
// bounded.

import { SMALL_EXTENT } from "../lower.js";
import { lit, renameLocals, substituteStmts, type Stmt } from "../ir.js";
import { isKnown } from "../../ir/size.js";

export function unrollShortLoops(body: readonly Stmt[]): Stmt[] {
  const out: Stmt[] = [];
  for (const s of body) {
    if (s.k === "block") {
      out.push({ ...s, body: unrollShortLoops(s.body) });
      continue;
    }
    if (s.k !== "loop") {
      out.push(s);
      continue;
    }
    const inner = unrollShortLoops(s.body);
    if (!isKnown(s.extent) || s.extent > SMALL_EXTENT || s.step !== 1) {
      out.push({ ...s, body: inner });
      continue;
    }
    out.push(...writeOut({ ...s, body: inner }));
  }
  return out;
}

/** The steps of a loop (step 1) as copies of its body, locals declared in it renamed per step. */
export function writeOut(s: Extract<Stmt, { k: "loop" }>): Stmt[] {
  const out: Stmt[] = [];
  if (!isKnown(s.extent)) return [s];
  const declared = new Set(s.body.filter((x) => x.k === "let").map((x) => (x as { name: string }).name));
  for (let step = 0; step < s.extent; step++) {
    const copy = substituteStmts(s.body, s.v, lit(s.from + step));
    out.push(...(declared.size ? renameLocals(copy, (n) => (declared.has(n) ? `${n}_${step}` : n)) : copy));
  }
  return out;
}
