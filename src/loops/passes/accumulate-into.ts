// Accumulating into the result. A gradient with a term of its own and scattered parts (the
// cloth's z: `mg` plus what every spring adds) is lowered as a zero-filled scratch buffer
// the scatters add into, then a nest that stores `h[k] = e + b[k]` into the holder. That
// final nest must wait for every scatter, so it keeps the loops apart; instead, when `e` is
// the same for every element, the holder is filled with `e` where the buffer was zero-filled
// and the scatters add into it directly: the final nest and the buffer go. Runs on the lowered body (whole nests, before short axes
// are written out); one walk to find each buffer's uses, one to rewrite.

import { isKnown, type Size } from "../../ir/size.js";
import { accesses, allStmts, affineKey, mapExpr, mapStmts, visitExpr, type Affine, type Buffer, type Expr, type Stmt } from "../ir.js";

type Loop = Extract<Stmt, { k: "loop" }>;
type Store = Extract<Stmt, { k: "store" }>;

/** The store at the bottom of a perfect nest of loops from 0 by 1, with the nest's variables and extents outermost first. */
function perfectNest(s: Stmt): { store: Store; loops: Loop[] } | undefined {
  const loops: Loop[] = [];
  let x = s;
  while (x.k === "loop") {
    if (x.from !== 0 || x.step !== 1 || x.body.length !== 1) return undefined;
    loops.push(x);
    x = x.body[0];
  }
  return x.k === "store" && loops.length > 0 ? { store: x, loops } : undefined;
}

/**
 * Whether `index` visits every element of a buffer of `size` once over the nest: row-major
 * over its extents. Only for sizes known here (a nest over run-time sizes is left alone).
 */
function coversRowMajor(index: Affine, loops: readonly Loop[], size: Size): boolean {
  if (!isKnown(size) || index.c !== 0 || index.terms.length !== loops.length) return false;
  let stride = 1;
  for (let k = loops.length - 1; k >= 0; k--) {
    const term = index.terms.find(([v]) => v === loops[k].v);
    const extent = loops[k].extent;
    if (!term || term[1] !== stride || !isKnown(extent)) return false;
    stride *= extent;
  }
  return stride === size;
}

/** `body` with such buffers folded into their holders, and the names of the buffers that went. */
export function accumulateIntoResults(body: readonly Stmt[], stores: readonly Stmt[]): { body: Stmt[]; replaced: Set<string> } {
  const replaced = new Set<string>();
  // What the stores after the body touch stays as it is.
  const inStores = new Set(accesses(stores).buffers.map((p) => p.buffer.name));
  // Per scratch buffer: the top-level positions of its zero fill, of the statements that only
  // add into it, and of the statements that read it.
  type Uses = { fill?: number; adds: Set<number>; reads: Set<number>; other: boolean };
  const uses = new Map<string, Uses>();
  const holderUses = new Map<string, Set<number>>();
  const entry = (b: Buffer) => uses.get(b.name) ?? uses.set(b.name, { adds: new Set(), reads: new Set(), other: false }).get(b.name)!;
  body.forEach((s, k) => {
    if (s.k === "fill" && s.buffer.kind === "scratch" && s.value.k === "num" && s.value.value === 0) {
      const u = entry(s.buffer);
      if (u.fill !== undefined) u.other = true;
      u.fill = k;
      return;
    }
    for (const p of accesses([s]).buffers) {
      if (p.buffer.kind === "holder") (holderUses.get(p.buffer.name) ?? holderUses.set(p.buffer.name, new Set()).get(p.buffer.name)!).add(k);
      if (p.buffer.kind !== "scratch") continue;
      const u = entry(p.buffer);
      if (!p.write) u.reads.add(k);
      else if (p.op === "+=" || p.op === "-=") u.adds.add(k);
      else u.other = true;
    }
  });
  const out: (Stmt | undefined)[] = [...body];
  const retarget = new Map<string, Buffer>();
  for (const [name, u] of uses) {
    if (u.other || u.fill === undefined || u.reads.size !== 1 || inStores.has(name)) continue;
    const final = [...u.reads][0];
    if (final < u.fill || [...u.adds].some((k) => k < u.fill! || k >= final)) continue;
    const nest = perfectNest(body[final]);
    if (!nest || nest.store.op !== "=" || nest.store.dynamic || nest.store.buffer.kind !== "holder") continue;
    const { store, loops } = nest;
    const holder = store.buffer;
    const scratch = (body[u.fill] as Extract<Stmt, { k: "fill" }>).buffer;
    if (holder.size !== scratch.size || inStores.has(holder.name) || !coversRowMajor(store.index, loops, holder.size)) continue;
    if ([...(holderUses.get(holder.name) ?? [])].some((k) => k !== final)) continue;
    // `h[k] = e + b[k]`, b read there only, e computable where the buffer was filled.
    const value = store.value;
    if (value.k !== "op" || value.op !== "add") continue;
    const isOwnRead = (e: Expr) => e.k === "load" && e.buffer.name === name && !e.dynamic && affineKey(e.index) === affineKey(store.index);
    const rest = isOwnRead(value.args[1]) ? value.args[0] : isOwnRead(value.args[0]) ? value.args[1] : undefined;
    if (!rest) continue;
    // `e` the same for every element (a fill, which moves with the loops that add into it;
    // an element-wise first value would be a store those loops must wait for).
    const needs = accesses([{ k: "result", target: "", value: rest }]);
    const nestVars = new Set(loops.map((l) => l.v));
    let invariant = true;
    visitExpr(rest, (x) => {
      if ((x.k === "load" || x.k === "index") && x.index.terms.some(([v]) => nestVars.has(v))) invariant = false;
      if (x.k === "load" && x.dynamic) invariant = false;
    });
    if (!invariant || needs.buffers.some((p) => p.buffer.name === name)) continue;
    const between = accesses(body.slice(u.fill, final));
    const written = new Set([...between.writtenLocals, ...between.buffers.filter((p) => p.write).map((p) => p.buffer.name)]);
    const declaredBefore = new Set(accesses(body.slice(0, u.fill)).writtenLocals);
    if ([...needs.readLocals].some((n) => written.has(n) || (!declaredBefore.has(n) && isDeclaredIn(body, n)))) continue;
    if (needs.buffers.some((p) => written.has(p.buffer.name))) continue;
    // The holder set to `e` where the buffer was zero-filled; the final nest goes.
    out[u.fill] = { k: "fill", buffer: holder, value: rest };
    out[final] = undefined;
    retarget.set(name, holder);
    replaced.add(name);
  }
  if (retarget.size === 0) return { body: [...body], replaced };
  const swap = (b: Buffer) => retarget.get(b.name) ?? b;
  const rewritten = mapStmts(
    out.filter((s): s is Stmt => s !== undefined),
    (e) => mapExpr(e, (x) => (x.k === "load" && retarget.has(x.buffer.name) ? { ...x, buffer: swap(x.buffer) } : x)),
    (s) => (s.k === "store" && retarget.has(s.buffer.name) ? { ...s, buffer: swap(s.buffer) } : s),
  );
  return { body: rewritten, replaced };
}

/** Whether `name` is a local some statement of `body` declares (loop variables are not). */
function isDeclaredIn(body: readonly Stmt[], name: string): boolean {
  return allStmts(body).some((s) => s.k === "let" && s.name === name);
}
