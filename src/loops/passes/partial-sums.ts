// Long dot products keep four running sums: a single sum is bound by the latency of one
// addition per step, four in flight are not (as in hand-tuned code). Only accumulators that
// lowering marked `reassociate` (dot products of matmuls) qualify: other reductions keep
// their order, so their values stay those of the straight-line form.
//
// It runs after loop merging: a dot product whose loop joined others (the hidden layer and
// the three class scores of a row, in one walk over the hidden units) already has several
// sums in flight, and only a loop left holding the sum alone is split. Merging moves the
// accumulator's declaration to the top of its body, so it is found anywhere earlier in the
// same list, provided nothing between mentions it and nothing after the loop adds to it.

import { accesses, affineAdd, apply, lit, local, num, substituteExpr, variable, type Stmt } from "../ir.js";
import { isKnown, subSize } from "../../ir/size.js";

/** Dot products at least this long keep four partial sums. */
export const LONG_DOT = 32;

export function partialSums(body: readonly Stmt[]): Stmt[] {
  // Per reassociable accumulator declared here: where, the first statement after that
  // mentions it, and the last that assigns it (one pass each way: linear).
  const declared = new Map<string, number>();
  const firstUse = new Map<string, number>();
  const lastAssign = new Map<string, number>();
  body.forEach((s, k) => {
    if (s.k === "let" && s.reassociate && s.mutable && s.value.k === "num" && s.value.value === 0) {
      declared.set(s.name, k);
      return;
    }
    if (declared.size === 0) return;
    const a = accesses([s]);
    for (const n of [...a.readLocals, ...a.writtenLocals]) if (declared.has(n) && !firstUse.has(n)) firstUse.set(n, k);
    for (const n of a.writtenLocals) if (declared.has(n)) lastAssign.set(n, k);
  });
  const candidate = (s: Stmt, k: number): string | undefined => {
    if (s.k !== "loop" || (isKnown(s.extent) && s.extent < LONG_DOT) || s.from !== 0 || s.step !== 1 || s.resume) return undefined;
    const only = s.body.length === 1 ? s.body[0] : undefined;
    if (only?.k !== "assign" || only.op !== "+=" || !declared.has(only.name)) return undefined;
    return firstUse.get(only.name) === k && lastAssign.get(only.name) === k ? only.name : undefined;
  };
  const split = new Set<string>();
  body.forEach((s, k) => {
    const name = candidate(s, k);
    if (name) split.add(name);
  });

  const out: Stmt[] = [];
  for (const s of body) {
    if (s.k === "let" && split.has(s.name)) continue;
    if (s.k === "block") {
      out.push({ ...s, body: partialSums(s.body) });
      continue;
    }
    if (s.k !== "loop") {
      out.push(s);
      continue;
    }
    const only = s.body[0];
    if (s.body.length !== 1 || only.k !== "assign" || !split.has(only.name)) {
      out.push({ ...s, body: partialSums(s.body) });
      continue;
    }
    out.push(...fourSums(s, only.name, only.value));
  }
  return out;
}

type Loop = Extract<Stmt, { k: "loop" }>;

/** The loop `name += term` over `loop.v` as four running sums, then `const name` their total. */
function fourSums(loop: Loop, name: string, term: Extract<Stmt, { k: "assign" }>["value"]): Stmt[] {
  const out: Stmt[] = [];
  const sums = [0, 1, 2, 3].map((j) => `${name}${j}`);
  const total: Stmt = { k: "let", name, value: apply("add", apply("add", local(sums[0]), local(sums[1])), apply("add", local(sums[2]), local(sums[3]))) };
  const q = variable(loop.v);
  const quads = sums.map((s, j): Stmt => ({ k: "assign", name: s, op: "+=", value: substituteExpr(term, loop.v, affineAdd(q, lit(j))) }));
  out.push(...sums.map((s): Stmt => ({ k: "let", name: s, value: num(0), mutable: true })));
  if (!isKnown(loop.extent)) {
    // A run-time length: steps of 4 while four remain, then the rest, one variable for both.
    out.push({
      k: "block",
      body: [
        { k: "let", name: loop.v, value: num(0), mutable: true },
        { k: "loop", v: loop.v, from: 0, extent: subSize(loop.extent, 3), step: 4, resume: true, body: quads },
        { k: "loop", v: loop.v, from: 0, extent: loop.extent, step: 1, resume: true, body: [{ k: "assign", name: sums[0], op: "+=", value: term }] },
      ],
    });
  } else {
    const whole = loop.extent - (loop.extent % 4);
    out.push({ k: "loop", v: loop.v, from: 0, extent: whole, step: 4, body: quads });
    if (whole < loop.extent) out.push({ k: "loop", v: loop.v, from: whole, extent: loop.extent - whole, step: 1, body: [{ k: "assign", name: sums[0], op: "+=", value: term }] });
  }
  out.push(total);
  return out;
}
