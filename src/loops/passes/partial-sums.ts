// Long dot products keep four running sums: a single sum is bound by the latency of one
// addition per step, four in flight are not (as in hand-tuned code). Only accumulators that
// lowering marked `reassociate` (dot products of matmuls) qualify: other reductions keep
// their order, so their values stay those of the straight-line form.

import { affineAdd, apply, lit, local, num, substituteExpr, variable, type Stmt } from "../ir.js";
import { isKnown, subSize } from "../../ir/size.js";

/** Dot products at least this long keep four partial sums. */
export const LONG_DOT = 32;

export function partialSums(body: readonly Stmt[]): Stmt[] {
  const out: Stmt[] = [];
  for (let k = 0; k < body.length; k++) {
    const s = body[k];
    if (s.k === "loop" || s.k === "block") {
      out.push({ ...s, body: partialSums(s.body) });
      continue;
    }
    const next = body[k + 1];
    if (
      s.k !== "let" || !s.reassociate || next?.k !== "loop" || (isKnown(next.extent) && next.extent < LONG_DOT) || next.from !== 0 || next.step !== 1 ||
      next.body.length !== 1 || next.body[0].k !== "assign" || next.body[0].name !== s.name || next.body[0].op !== "+="
    ) {
      out.push(s);
      continue;
    }
    const term = next.body[0].value;
    const sums = [0, 1, 2, 3].map((j) => `${s.name}${j}`);
    const total: Stmt = { k: "let", name: s.name, value: apply("add", apply("add", local(sums[0]), local(sums[1])), apply("add", local(sums[2]), local(sums[3]))) };
    const quads = sums.map((name, j): Stmt => ({ k: "assign", name, op: "+=", value: substituteExpr(term, next.v, affineAdd(variable(next.v), lit(j))) }));
    if (!isKnown(next.extent)) {
      // A run-time length: steps of 4 while four remain, then the rest, one variable for both.
      out.push(...sums.map((name): Stmt => ({ k: "let", name, value: num(0), mutable: true })));
      out.push({
        k: "block",
        body: [
          { k: "let", name: next.v, value: num(0), mutable: true },
          { k: "loop", v: next.v, from: 0, extent: subSize(next.extent, 3), step: 4, resume: true, body: quads },
          { k: "loop", v: next.v, from: 0, extent: next.extent, step: 1, resume: true, body: [{ k: "assign", name: sums[0], op: "+=", value: term }] },
        ],
      });
      out.push(total);
      k++;
      continue;
    }
    const whole = next.extent - (next.extent % 4);
    const q = variable(next.v);
    out.push(...sums.map((name): Stmt => ({ k: "let", name, value: num(0), mutable: true })));
    out.push({
      k: "loop",
      v: next.v,
      from: 0,
      extent: whole,
      step: 4,
      body: sums.map((name, j): Stmt => ({ k: "assign", name, op: "+=", value: substituteExpr(term, next.v, affineAdd(q, lit(j))) })),
    });
    if (whole < next.extent) out.push({ k: "loop", v: next.v, from: whole, extent: next.extent - whole, step: 1, body: [{ k: "assign", name: sums[0], op: "+=", value: term }] });
    out.push({ k: "let", name: s.name, value: apply("add", apply("add", local(sums[0]), local(sums[1])), apply("add", local(sums[2]), local(sums[3]))) });
    k++;
  }
  return out;
}
