// Hoisting of invariant reads. Generated loops write typed arrays that V8 cannot prove
// distinct from the arrays they read, so it reloads an element at every use; a read that
// does not change in a loop is made once, outside it:
//   - an argument element at a constant index (`a0[3]`) is read once per call, into a local
//     at the top of the function (`a0_3`);
//   - in a nest of loops, a read that does not depend on the innermost loop is made once per
//     iteration of the loop it does depend on (`const r0 = b4[i];` at the top of that loop's
//     body), provided nothing in the nest writes that buffer.

import { accesses, affineKey, isLiteral, load, local, mapExpr, mapStmts, uses, type Expr, type Stmt } from "../ir.js";
import { bufferKey, sizeName } from "../ir.js";

/** Argument reads at constant indices become locals declared in `prelude`, in first-use order. */
export function hoistArgumentReads(lists: readonly (readonly Stmt[])[]): { prelude: Stmt[]; lists: Stmt[][] } {
  const prelude: Stmt[] = [];
  const named = new Set<string>();
  const f = (e: Expr): Expr => {
    if (e.k !== "load" || e.buffer.kind !== "argument" || !isLiteral(e.index) || e.dynamic) return e;
    const name = `${e.buffer.name}_${sizeName(e.index.c)}`;
    if (!named.has(name)) {
      named.add(name);
      prelude.push({ k: "let", name, value: load(e.buffer, e.index) });
    }
    return local(name);
  };
  return { prelude, lists: lists.map((body) => mapStmts(body, (e) => mapExpr(e, f))) };
}

let counter = 0;

/** Nest-invariant reads of `body` (a function body or a list of stores) hoisted; `first` numbers the locals. */
export function hoistNestReads(body: readonly Stmt[], first = 0): { body: Stmt[]; next: number } {
  counter = first;
  const out = body.map((s) => (s.k === "loop" && s.body.some((x) => x.k === "loop") ? hoistNest(s) : s.k === "block" ? { ...s, body: hoistNestReads(s.body, counter).body } : s));
  return { body: out, next: counter };
}

type Loop = Extract<Stmt, { k: "loop" }>;

function hoistNest(top: Loop): Stmt {
  const written = new Set(accesses([top]).buffers.filter((a) => a.write).map((a) => bufferKey(a.buffer)));
  /** Hoisted reads per level of the chain: key -> local, and the declarations. */
  type Level = { loop: Loop; reads: Map<string, string>; prelude: Stmt[] };
  const visit = (loop: Loop, chain: Level[]): Loop => {
    const level: Level = { loop, reads: new Map(), prelude: [] };
    const levels = [...chain, level];
    const innermost = !loop.body.some((s) => s.k === "loop");
    let body: Stmt[];
    if (innermost && levels.length >= 2) {
      const vars = levels.map((l) => l.loop.v);
      const hoist = (e: Expr): Expr => {
        if (e.k !== "load" || e.dynamic || e.buffer.kind === "local" || written.has(bufferKey(e.buffer))) return e;
        if (e.buffer.kind === "argument" && isLiteral(e.index)) return e;
        const used = e.index.terms.map(([v]) => vars.indexOf(v));
        if (used.includes(-1) || uses(e.index, loop.v)) return e;
        const target = levels[Math.max(0, ...used)];
        const key = `${bufferKey(e.buffer)}${affineKey(e.index)}`;
        let name = target.reads.get(key);
        if (!name) {
          name = `r${counter++}`;
          target.reads.set(key, name);
          target.prelude.push({ k: "let", name, value: e });
        }
        return local(name);
      };
      body = mapStmts(loop.body, (e) => mapExpr(e, hoist));
    } else body = loop.body.map((s) => (s.k === "loop" ? visit(s, levels) : s));
    return { ...loop, body: [...level.prelude, ...body] };
  };
  return visit(top, []);
}
