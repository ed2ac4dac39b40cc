// Short axes written out: a loop of at most SMALL_EXTENT steps becomes that many copies of
// its body with the variable replaced by a literal, so that small tensors kept in locals
// (`t7_0`, `t7_1`) can be named and a [3, 100] tensor is one loop of three statements, not
// three loops. Locals declared inside a copy get the step as a suffix, so copies of a dot
// product's accumulator stay apart. Writing out multiplies: a nest of short axes is written
// out from the inside only while the product of the extents written out stays within
// WRITTEN_OUT_PRODUCT, and the outer short axes stay loops, so a tensor of many size-2 axes
// gives code of bounded size. A loop whose variable indexes a small tensor kept in locals is
// written out whatever the product, since a local cannot be named at a variable index; such a
// tensor has at most SMALL_TENSOR elements, so this multiplies a nest's copies by at most
// that. A tensor's rank is the user's to choose, so nests are walked with a stack of their
// own, not by recursion.

import { SMALL_EXTENT } from "../lower.js";
import { lit, ownExprs, renameLocals, substituteStmts, visitExpr, type Affine, type Stmt } from "../ir.js";
import { isKnown } from "../../ir/size.js";

/**
 * The most copies of one statement that writing out a nest of short loops may make. 64 holds
 * every short nest of rank three ([4, 4, 4]) and of rank six in size 2, past anything an
 * example or a CS231n layer writes out, while keeping a nest's code within a few kilobytes
 * per statement of its body (far from V8's bytecode limit for one function).
 */
export const WRITTEN_OUT_PRODUCT = 64;

type Loop = Extract<Stmt, { k: "loop" }>;
type Block = Extract<Stmt, { k: "block" }>;

interface Frame {
  readonly items: readonly Stmt[];
  next: number;
  readonly out: Stmt[];
  /** The loop or block whose body this is (none for the list the pass was given). */
  readonly owner?: Loop | Block;
  /** The largest product of extents written out over any statement of `out`. */
  written: number;
  /** A short loop inside stayed a loop, so short loops around it stay loops too. */
  kept: boolean;
  /** Loop variables that index a small tensor kept in locals somewhere in `out`. */
  readonly indexLocals: Set<string>;
}

const isShort = (s: Loop): boolean => isKnown(s.extent) && s.extent <= SMALL_EXTENT && s.step === 1;

/** Adds to `into` the loop variables that index a local tensor in `s` itself (not its nested statements). */
function localIndexVariables(s: Stmt, into: Set<string>): void {
  const add = (index: Affine) => {
    for (const [v] of index.terms) into.add(v);
  };
  if (s.k === "store" && s.buffer.kind === "local") add(s.index);
  for (const e of ownExprs(s)) visitExpr(e, (x) => x.k === "load" && x.buffer.kind === "local" && add(x.index));
}

export function unrollShortLoops(body: readonly Stmt[]): Stmt[] {
  const stack: Frame[] = [{ items: body, next: 0, out: [], written: 1, kept: false, indexLocals: new Set() }];
  for (;;) {
    const top = stack[stack.length - 1];
    if (top.next < top.items.length) {
      const s = top.items[top.next++];
      if (s.k === "loop" || s.k === "block") stack.push({ items: s.body, next: 0, out: [], owner: s, written: 1, kept: false, indexLocals: new Set() });
      else {
        top.out.push(s);
        localIndexVariables(s, top.indexLocals);
      }
      continue;
    }
    stack.pop();
    const owner = top.owner;
    if (!owner) return top.out;
    const parent = stack[stack.length - 1];
    if (owner.k === "block") {
      localIndexVariables(owner, top.indexLocals);
      if (owner.bind && top.indexLocals.has(owner.bind.v)) for (const [v] of owner.bind.value.terms) top.indexLocals.add(v);
      for (const v of top.indexLocals) parent.indexLocals.add(v);
      parent.out.push({ ...owner, body: top.out });
      parent.written = Math.max(parent.written, top.written);
      parent.kept ||= top.kept;
      continue;
    }
    const loop: Loop = { ...owner, body: top.out };
    const short = isShort(owner);
    const indexesLocals = top.indexLocals.delete(owner.v);
    for (const v of top.indexLocals) parent.indexLocals.add(v);
    if (short && (indexesLocals || (!top.kept && (owner.extent as number) * top.written <= WRITTEN_OUT_PRODUCT))) {
      for (const copy of writeOut(loop)) parent.out.push(copy);
      parent.written = Math.max(parent.written, (owner.extent as number) * top.written);
      parent.kept ||= top.kept;
      continue;
    }
    parent.out.push(loop);
    parent.written = Math.max(parent.written, top.written);
    parent.kept ||= top.kept || short;
  }
}

/** The steps of a loop (step 1) as copies of its body, locals declared in it renamed per step. */
export function writeOut(s: Loop): Stmt[] {
  const out: Stmt[] = [];
  if (!isKnown(s.extent)) return [s];
  const declared = new Set(s.body.filter((x) => x.k === "let").map((x) => (x as { name: string }).name));
  for (let step = 0; step < s.extent; step++) {
    const copy = substituteStmts(s.body, s.v, lit(s.from + step));
    for (const x of declared.size ? renameLocals(copy, (n) => (declared.has(n) ? `${n}_${step}` : n)) : copy) out.push(x);
  }
  return out;
}
