// No work for the units relu switched off. In the backward pass of `relu(X @ W1 + b1)`, the
// loop over hidden units adds into the weight gradients terms that all carry the unit's
// output or its mask: `gW2[j] += h * d`, `gb1[j] += (h > 0 ? dh : 0)`. Where the unit's
// output `h` is zero (about half the units of a trained net), every one of those additions
// adds zero; the body after `h`'s read is put in a block that runs only where `h` is not zero,
// as hand-written code does with `if (h > 0)`.
//
// The pass applies to an innermost loop whose body reads an element `h` and tests it as
// relu's mask (`reluGrad(g, h)`: the loop is a relu's backward, so zeros are expected), when
// every statement after the read is a local or an addition (`+=`, `-=`) of a term that is
// zero where `h` is: a product with a factor that is, relu's mask or relu of such a term, a
// sum of such terms. The skipped terms are products with an exact zero: the result differs
// only where the other factor is infinite or NaN (the unguarded code would add NaN there),
// and a loss whose backward carries such values is not finite anyway.
//
// The masked steps of a loop's hull get the same treatment. A loop whose bounds read an outer
// loop variable (`for j in i+1..n`) runs over the hull of every step's range with a mask
// `m = j >= i + 1 ? 1 : 0` (check/checker.ts, maskedReduction); its backward adds
// `where(m, e, 0)` and masked-zero products, zero at the masked steps, and without a guard
// computes `e` (an exp, say) at every one of them: twice the work of the triangle. A mask
// read from loop indices and values fixed for the loop alone is tested first and the rest of
// the body runs only where it holds: as predictable a branch as a loop bound (it changes
// value once or twice along the loop), so the masked steps cost a compare.

import { hasNested, local, mapExpr, visitExpr, type Expr, type Stmt } from "../ir.js";

export function guardZeroUnits(body: readonly Stmt[]): Stmt[] {
  // Loop nests are as deep as a tensor's rank: the recursion is bounded.
  return body.map((s) => {
    if (s.k === "block") return { ...s, body: guardZeroUnits(s.body) };
    if (s.k !== "loop") return s;
    if (hasNested(s.body)) return { ...s, body: guardZeroUnits(s.body) };
    return { ...s, body: guardBody(s.body) };
  });
}

/** `body` with the statements after the read of a relu output guarded, when they can be; else its masked steps. */
function guardBody(body: readonly Stmt[]): Stmt[] {
  return guardReluUnits(body) ?? guardMaskedSteps(body) ?? [...body];
}

/**
 * The body with its statements but one in a block that runs where the mask `m` holds: `m`
 * a 0/1 local computed from loop indices and locals the body does not define, the condition
 * of a `where` or `mask`, and every other statement a local or an addition of a term that is
 * zero where `m` is.
 */
function guardMaskedSteps(body: readonly Stmt[]): Stmt[] | undefined {
  const defined = new Set<string>();
  const conditions = new Set<string>();
  for (const s of body) {
    if (s.k === "loop" || s.k === "block" || s.k === "call" || s.k === "kernel") return undefined;
    if (s.k === "let" || s.k === "assign") defined.add(s.name);
    for (const e of exprsOf(s)) visitExpr(e, (x) => x.k === "op" && (x.op === "where" || x.op === "mask") && x.args[0].k === "local" && conditions.add(x.args[0].name));
  }
  const at = body.findIndex((s) => s.k === "let" && !s.mutable && conditions.has(s.name) && isIndexMask(s.value, defined));
  if (at === -1) return undefined;
  const m = (body[at] as Extract<Stmt, { k: "let" }>).name;
  if (!onlyVanishingAdditions(body.filter((s) => s !== body[at]), m)) return undefined;
  // Inside the block the mask holds: its selects are their first branch.
  const taken = (e: Expr) => mapExpr(e, (x) => (x.k === "op" && (x.op === "where" || x.op === "mask") && x.args[0].k === "local" && x.args[0].name === m ? x.args[1] : x));
  const rest = body.filter((s) => s !== body[at]).map((s) => (s.k === "let" || s.k === "assign" || s.k === "store" ? { ...s, value: taken(s.value) } : s));
  return [body[at], { k: "block", when: local(m), body: rest }];
}

/** A comparison (or a product of comparisons) of loop indices and locals not in `defined`: no loads. */
function isIndexMask(e: Expr, defined: ReadonlySet<string>): boolean {
  if (e.k !== "op" || !["lt", "le", "gt", "ge", "eq", "ne", "mul"].includes(e.op)) return false;
  let fixed = true;
  visitExpr(e, (x) => {
    if (x.k === "load" || x.k === "dot" || (x.k === "local" && defined.has(x.name))) fixed = false;
  });
  return fixed;
}

function guardReluUnits(body: readonly Stmt[]): Stmt[] | undefined {
  const masks = new Set<string>();
  for (const s of body)
    if (s.k !== "loop" && s.k !== "block")
      for (const e of exprsOf(s)) visitExpr(e, (x) => x.k === "op" && x.op === "reluGrad" && x.args[1].k === "local" && masks.add(x.args[1].name));
  if (masks.size === 0) return undefined;
  const at = body.findIndex((s) => s.k === "let" && !s.mutable && s.value.k === "load" && masks.has(s.name));
  if (at === -1) return undefined;
  const h = (body[at] as Extract<Stmt, { k: "let" }>).name;
  const rest = body.slice(at + 1);
  if (!onlyVanishingAdditions(rest, h)) return undefined;
  return [...body.slice(0, at + 1), { k: "block", when: local(h), body: rest }];
}

/**
 * Whether `body` only defines locals and adds into stores, with at least one addition, and
 * every addition is exactly zero where the local `zeroLocal` is: then a block on `zero !== 0`
 * skips nothing that counts.
 */
function onlyVanishingAdditions(body: readonly Stmt[], zeroLocal: string): boolean {
  const zero = new Set<string>([zeroLocal]);
  let additions = 0;
  for (const s of body) {
    if (s.k === "comment") continue;
    if (s.k === "let" && !s.mutable) {
      if (zeroWhere(s.value, zero)) zero.add(s.name);
      continue;
    }
    if ((s.k === "store" || s.k === "assign") && (s.op === "+=" || s.op === "-=") && zeroWhere(s.value, zero)) {
      additions++;
      continue;
    }
    return false;
  }
  return additions > 0;
}

const exprsOf = (s: Stmt): Expr[] => (s.k === "store" || s.k === "let" || s.k === "assign" || s.k === "result" || s.k === "fill" ? [s.value] : []);

/** Whether `e` is exactly zero where every local of `zero` is (for finite other operands). */
export function zeroWhere(e: Expr, zero: ReadonlySet<string>): boolean {
  // Expression trees are as deep as fusion lets them grow: the recursion is bounded.
  switch (e.k) {
    case "local":
      return zero.has(e.name);
    case "num":
      return e.value === 0;
    case "dot":
      return e.terms.every(([a, b]) => zeroWhere(a, zero) || zeroWhere(b, zero));
    case "op":
      switch (e.op) {
        case "mul":
        case "chainmul":
          return e.args.some((a) => zeroWhere(a, zero));
        case "neg":
        case "relu":
          return zeroWhere(e.args[0], zero);
        case "reluGrad":
          return zeroWhere(e.args[0], zero) || zeroWhere(e.args[1], zero);
        case "add":
        case "sub":
          return e.args.every((a) => zeroWhere(a, zero));
        case "where":
        case "mask":
        case "pick":
          // Zero where both branches are, or where the condition is 0 and the other branch zero.
          return (zeroWhere(e.args[0], zero) || zeroWhere(e.args[1], zero)) && zeroWhere(e.args[2], zero);
        default:
          return false;
      }
    default:
      return false;
  }
}
