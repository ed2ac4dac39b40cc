// Scalar replacement: elements that live in locals instead of memory.
//   - A scratch buffer that one top-level loop writes at `[i]` (once, before any read) and
//     reads only at `[i]` (or the same for each element of its block `[2 * i + c]`), and that nothing else touches except its element n (one past the
//     loop, the last element of a carried sum) written once right after the loop, becomes a
//     local of the loop body (`b11_i`, `b11_last`), and its module buffer goes. So does a
//     buffer zero-filled for the loop whose iterations add into their own elements. Loops
//     with nested loops qualify for the buffers their own statements alone touch (the
//     batched net's per-row sum of the loss gradient, `b98[i] += ...`, which had a module
//     buffer of N elements).
//   - In a loop body, an element written once with `=` and read further down is read from the
//     local its value went into; an element only read, several times, is loaded once. Every
//     store is to a typed array V8 cannot prove distinct from the others, so it would load
//     the element again at each use. (The spiral net's backward loop reads the hidden
//     layer's element four times, and its bias gradient twice after writing it.)

import { blockOf, isSection, nestedBlockOf } from "./blocks.js";
import { isKnown, type Size } from "../../ir/size.js";
import { accesses, affineKey, bufferKey, hasNested, sizeName, load, local, mapExpr, visitExpr, type Affine, type Buffer, type Expr, type Stmt } from "../ir.js";

type Loop = Extract<Stmt, { k: "loop" }>;

/** Scratch buffers of `body` that can become loop locals; `stores` run after it and keep what they read. */
export function replaceBuffers(body: readonly Stmt[], stores: readonly Stmt[]): { body: Stmt[]; replaced: Set<string> } {
  // Where each scratch buffer is accessed: top-level statement positions.
  const at = new Map<string, number[]>();
  body.forEach((s, k) => {
    for (const p of accesses([s]).buffers) {
      if (p.buffer.kind !== "scratch") continue;
      const list = at.get(p.buffer.name) ?? [];
      if (list[list.length - 1] !== k) list.push(k);
      at.set(p.buffer.name, list);
    }
  });
  const inStores = new Set(accesses(stores).buffers.map((p) => p.buffer.name));
  const out = [...body];
  const replaced = new Set<string>();
  body.forEach((s, k) => {
    if (s.k !== "loop" || s.from !== 0 || s.step !== 1) return;
    const loop = s as Loop;
    const last = loop.extent;
    // In a loop with nested loops (a batched net's rows), only buffers its own statements
    // alone touch are candidates: the rewrite below does not reach into nested statements.
    const deep = new Set<string>();
    if (hasNested(loop.body)) for (const x of loop.body) if (x.k === "loop" || x.k === "block") for (const p of accesses([x]).buffers) deep.add(p.buffer.name);
    // One walk over the body: per scratch buffer, its accesses there, per element of its block.
    type Element = { first: number; writes: number; firstCount: number };
    // Elements by offset in the block; a section's offset k * n is a size when n is a dim (sizes are interned).
    const inside = new Map<string, { stride: number; sections: boolean; elements: Map<Size, Element> }>();
    loop.body.forEach((x, j) => {
      for (const p of accesses([x]).buffers) {
        if (p.buffer.kind !== "scratch") continue;
        let e = inside.get(p.buffer.name);
        if (!e) inside.set(p.buffer.name, (e = { stride: -1, sections: false, elements: new Map() }));
        // A section's element is keyed by its offset k * n, as a block's by its own.
        const section = isSection(p.index, loop.v, loop.extent);
        e.sections ||= section;
        const block: { stride: number; offset: Size } | undefined = section ? { stride: 1, offset: p.index!.c } : blockOf(p.index, loop.v);
        e.stride = !block || (e.stride !== -1 && e.stride !== block.stride) ? 0 : block.stride;
        if (!block) continue;
        let el = e.elements.get(block.offset);
        if (!el) e.elements.set(block.offset, (el = { first: j, writes: 0, firstCount: 0 }));
        if (p.write) el.writes++;
        if (el.first === j) el.firstCount++;
      }
    });
    const chosen = new Set<string>();
    const tails = new Map<number, Set<string>>();
    for (const [name, e] of inside) {
      if (inStores.has(name) || e.stride <= 0 || deep.has(name)) continue;
      const positions = at.get(name)!;
      if (positions.some((p) => p < k)) continue;
      // Inside: each element of the block written once, with `=`, before any other access.
      const defined = [...e.elements.values()].every((el) => {
        const def = loop.body[el.first];
        return def.k === "store" && def.buffer.name === name && def.op === "=" && el.firstCount === 1 && el.writes === 1;
      });
      if (!defined) continue;
      // (Element n after the loop is a section's element too: no tail then.)
      if ((e.stride !== 1 || e.sections) && positions.some((p) => p > k)) continue;
      // Outside: after the loop, element `last` only, first written at top level.
      const later = positions.filter((p) => p > k);
      const outside = later.flatMap((p) => accesses([body[p]]).buffers.filter((x) => x.buffer.name === name));
      if (!outside.every((p) => p.index && p.index.terms.length === 0 && p.index.c === last)) continue;
      if (later.length) {
        const head = body[later[0]];
        if (head.k !== "store" || head.buffer.name !== name || head.op !== "=" || accesses([head]).buffers.filter((x) => x.buffer.name === name).length !== 1) continue;
      }
      replaced.add(name);
      chosen.add(name);
      for (const p of later) (tails.get(p) ?? tails.set(p, new Set()).get(p)!).add(name);
    }
    // Accumulators: a buffer zero-filled (or filled with a constant) just for this loop, whose
    // iterations each add into their own elements and read them: a mutable local per element
    // of the block, starting at the fill's value, and the fill and the buffer go.
    const accumulated = new Map<string, { fill: number; offsets: Size[] }>();
    for (const [name, e] of inside) {
      if (chosen.has(name) || inStores.has(name) || e.stride <= 0 || deep.has(name)) continue;
      const positions = at.get(name)!;
      if (positions.length !== 2 || positions[1] !== k) continue;
      const fill = body[positions[0]];
      if (fill.k !== "fill" || fill.buffer.name !== name || fill.value.k !== "num") continue;
      // Numbers in order, then sections of run-time offsets as first met.
      const order = (a: Size, b: Size) => (isKnown(a) && isKnown(b) ? a - b : isKnown(a) ? -1 : isKnown(b) ? 1 : 0);
      accumulated.set(name, { fill: positions[0], offsets: [...e.elements.keys()].sort(order) });
      replaced.add(name);
    }
    if (chosen.size === 0 && accumulated.size === 0) return;
    // One rewrite of the loop body, and one of each later statement, for all chosen buffers.
    // `b11_i` for the element of stride 1 (and `b11_last` after the loop), `b24_ix2p1` in blocks.
    const localOf = (b: Buffer, x: Affine, suffix: string) => (suffix === "last" ? `${b.name}_last` : x.terms[0][1] === 1 && x.c === 0 ? `${b.name}_${suffix}` : elementLocal(b, x));
    const names = new Set([...chosen, ...accumulated.keys()]);
    const rewrite = (x: Stmt, names: Set<string>, suffix: string): Stmt[] => {
      const mapped = mapStmtsShallow(x, (e) => mapExpr(e, (y) => (y.k === "load" && names.has(y.buffer.name) ? local(localOf(y.buffer, y.index, suffix)) : y)));
      if (mapped.k === "store" && accumulated.has(mapped.buffer.name)) return [{ k: "assign", name: localOf(mapped.buffer, mapped.index, suffix), op: mapped.op, value: mapped.value }];
      if (mapped.k === "store" && names.has(mapped.buffer.name)) return [{ k: "let", name: localOf(mapped.buffer, mapped.index, suffix), value: mapped.value }];
      return [mapped];
    };
    const current = out[k] as Loop;
    const starts: Stmt[] = [];
    for (const [name, a] of accumulated) {
      const fill = body[a.fill] as Extract<Stmt, { k: "fill" }>;
      const stride = inside.get(name)!.stride;
      for (const offset of a.offsets) {
        const index: Affine = { terms: [[loop.v, stride]], c: offset };
        starts.push({ k: "let", name: localOf(fill.buffer, index, loop.v), value: fill.value, mutable: true });
      }
      out[a.fill] = { k: "block", body: [] };
    }
    out[k] = { ...current, body: [...starts, ...current.body.flatMap((x) => rewrite(x, names, loop.v))] };
    for (const [p, names] of tails) out[p] = rewriteDeep(out[p], (x) => rewrite(x, names, "last"));
  });
  // Fills of accumulators that became locals left empty blocks.
  return { body: out.filter((s) => !(s.k === "block" && s.body.length === 0 && !s.bind)), replaced };
}

/** A statement with `f` applied to its own expressions (not nested statements). */
function mapStmtsShallow(s: Stmt, f: (e: Expr) => Expr): Stmt {
  switch (s.k) {
    case "store":
      // The element a scatter writes is read too: a replaced buffer may hold its index.
      return s.dynamic ? { ...s, value: f(s.value), dynamic: { ...s.dynamic, at: f(s.dynamic.at) } } : { ...s, value: f(s.value) };
    case "let":
    case "assign":
    case "fill":
    case "result":
      return { ...s, value: f(s.value) } as Stmt;
    default:
      return s;
  }
}

/** `s` with every statement in it (itself included) replaced by `f`'s statements. */
function rewriteDeep(s: Stmt, f: (s: Stmt) => Stmt[]): Stmt {
  if (s.k === "loop" || s.k === "block") return { ...s, body: s.body.flatMap((x) => (x.k === "loop" || x.k === "block" ? [rewriteDeep(x, f)] : f(x))) };
  const r = f(s);
  return r.length === 1 ? r[0] : { k: "block", body: r };
}

/** Local name of an element: `a2_ix2p1` for `a2[i * 2 + 1]`. */
export function elementLocal(b: Buffer, x: Affine): string {
  const n = sizeName;
  const parts = x.terms.map(([v, c]) => (c === 1 ? v : `${v}x${n(c)}`));
  if (x.c !== 0 || parts.length === 0) parts.push(n(x.c));
  return `${b.name}_${parts.join("p")}`;
}

const bindable = (b: Buffer) => b.kind === "argument" || b.kind === "scratch" || b.kind === "holder";
/** An element's key: terms in a fixed order, so `b[j + 100i]` and `b[100i + j]` are one element. */
const keyOf = (b: Buffer, x: Affine) => `${bufferKey(b)}${x.c}|${x.terms.map(([v, c]) => `${v}*${c}`).sort().join(",")}`;

/** Repeated element reads of each innermost loop body bound once (see the file's comment). */
export function bindElementReads(body: readonly Stmt[]): Stmt[] {
  // Nests are as deep as a tensor's rank: the recursion is bounded.
  return body.map((s) => (s.k === "loop" && !hasNested(s.body) ? { ...s, body: bindBody(s.body) } : s.k === "loop" || s.k === "block" ? { ...s, body: bindElementReads(s.body) } : s));
}

function bindBody(body: readonly Stmt[]): Stmt[] {
  const writes = new Map<string, number>();
  const count = new Map<string, number>();
  const order: { key: string; buffer: Buffer; index: Affine; write: boolean; stmt: number }[][] = [];
  body.forEach((s, k) => {
    const list: (typeof order)[number] = [];
    if (s.k === "store" && bindable(s.buffer)) writes.set(s.buffer.name, (writes.get(s.buffer.name) ?? 0) + 1);
    if (s.k === "store" && bindable(s.buffer) && !s.dynamic) {
      list.push({ key: keyOf(s.buffer, s.index), buffer: s.buffer, index: s.index, write: true, stmt: k });
    }
    if (s.k === "store" || s.k === "let" || s.k === "assign" || s.k === "fill" || s.k === "result")
      visitExpr(s.value, (e) => {
        if (e.k === "load" && bindable(e.buffer) && !e.dynamic) list.push({ key: keyOf(e.buffer, e.index), buffer: e.buffer, index: e.index, write: false, stmt: k });
      });
    for (const a of list) count.set(a.key, (count.get(a.key) ?? 0) + 1);
    order.push(list);
  });
  const bound = new Map<string, string>();
  const seen = new Set<string>();
  const out: Stmt[] = [];
  const bind = (e: Expr): Expr => (e.k === "load" && !e.dynamic ? (bound.has(keyOf(e.buffer, e.index)) ? local(bound.get(keyOf(e.buffer, e.index))!) : e) : e);
  body.forEach((s, k) => {
    let defined: { name: string } | undefined;
    const before: Stmt[] = [];
    order[k].forEach((a, position) => {
      if (seen.has(a.key)) return;
      seen.add(a.key);
      const name = elementLocal(a.buffer, a.index);
      if (a.write && position === 0) {
        // Written once with `=`, read further down: the value is at hand.
        if (writes.get(a.buffer.name) !== 1 || s.k !== "store" || s.op !== "=" || count.get(a.key)! < 2) return;
        defined = { name };
        return;
      }
      if (a.write || writes.has(a.buffer.name) || count.get(a.key)! < 2) return;
      // Only read, never written in the body, at least twice: read once.
      before.push({ k: "let", name, value: load(a.buffer, a.index) });
      bound.set(a.key, name);
    });
    out.push(...before);
    const value = (x: Expr) => mapExpr(x, bind);
    if (defined && s.k === "store") {
      out.push({ k: "let", name: defined.name, value: value(s.value) }, { ...s, value: local(defined.name) });
      bound.set(keyOf(s.buffer, s.index), defined.name);
    } else out.push(mapStmtsShallow(s, value));
  });
  return out;
}

/**
 * Scalar replacement in nests: a scratch buffer touched only by statements of loops (and
 * peeled steps), where each loop's own statements (not those of loops nested in it) write
 * every element they use (in the block of its own iteration, `b[45r + 3c + k]` in a loop over
 * c) once with `=` before reading it, carries no value from one iteration or loop to another:
 * each loop keeps its elements in locals, and the module buffer goes. (The rows form of a
 * cloth stores each spring's difference, length and stretch that way; a batched net, each
 * row's scores and softmax.)
 * One walk over the statements, then one rewrite of each loop that had a buffer replaced.
 */
export function replaceNestedBuffers(body: readonly Stmt[], stores: readonly Stmt[]): { body: Stmt[]; replaced: Set<string> } {
  const inStores = new Set(accesses(stores).buffers.map((p) => p.buffer.name));
  const refused = new Set<string>(inStores);
  /** Per loop (or peeled step), per scratch buffer its own statements touch: whether they keep to the rule. */
  const sites = new Map<Site, Map<string, boolean>>();
  const stack: Stmt[] = [...body].reverse();
  while (stack.length) {
    const s = stack.pop()!;
    if (s.k === "loop" || (s.k === "block" && !s.bind)) {
      sites.set(s, checkSite(s));
      for (let k = s.body.length - 1; k >= 0; k--) if (s.body[k].k === "loop" || s.body[k].k === "block") stack.push(s.body[k]);
      continue;
    }
    if (s.k === "block") {
      for (let k = s.body.length - 1; k >= 0; k--) stack.push(s.body[k]);
      continue;
    }
    // A statement outside loops: the buffers it touches stay.
    for (const p of accesses([s]).buffers) if (p.buffer.kind === "scratch") refused.add(p.buffer.name);
  }
  for (const m of sites.values()) for (const [name, ok] of m) if (!ok) refused.add(name);
  const replaced = new Set<string>();
  for (const m of sites.values()) for (const name of m.keys()) if (!refused.has(name)) replaced.add(name);
  if (replaced.size === 0) return { body: [...body], replaced };
  // Nests are as deep as a tensor's rank: the recursion is bounded.
  const rewrite = (list: readonly Stmt[]): Stmt[] =>
    list.map((s) => (s.k === "loop" || s.k === "block" ? (sites.has(s) ? rewriteSite(s) : { ...s, body: rewrite(s.body) }) : s));
  const rewriteSite = (site: Site): Stmt => {
    // The element a load or store names, as checkSite tells them apart; its local is named
    // after the store that defines it, which comes first.
    const names = new Map<string, string>();
    const body = site.body.map((x) => {
      if (x.k === "loop" || x.k === "block") return rewrite([x])[0];
      const mapped = mapStmtsShallow(x, (e) => mapExpr(e, (y) => (y.k === "load" && replaced.has(y.buffer.name) ? local(names.get(`${y.buffer.name}|${elementKey(site, y.index)}`)!) : y)));
      if (mapped.k !== "store" || !replaced.has(mapped.buffer.name)) return mapped;
      const name = elementLocal(mapped.buffer, mapped.index);
      names.set(`${mapped.buffer.name}|${elementKey(site, mapped.index)}`, name);
      return { k: "let", name, value: mapped.value } as Stmt;
    });
    return { ...site, body };
  };
  return { body: rewrite(body), replaced };
}

type Site = Extract<Stmt, { k: "loop" } | { k: "block" }>;

/**
 * Which element an index names: in a loop, where a buffer keeps to one block, its constant;
 * in a block (one step), its terms in a fixed order and its constant.
 */
const elementKey = (site: Site, x: Affine): string => (site.k === "loop" ? String(x.c) : `${x.terms.map(([v, c]) => `${v}*${c}`).sort().join(",")}|${x.c}`);

/** For each scratch buffer an innermost loop or a step touches: whether every element it uses is its iteration's own, written once with `=` before any read. */
function checkSite(site: Site): Map<string, boolean> {
  const result = new Map<string, boolean>();
  const block = new Map<string, string>();
  const written = new Map<string, Set<string>>();
  for (const s of site.body) {
    const reads: { buffer: Buffer; index?: Affine }[] = [];
    for (const e of ownExprsOf(s)) visitExpr(e, (x) => x.k === "load" && reads.push({ buffer: x.buffer, index: x.dynamic ? undefined : x.index }));
    const write = s.k === "store" ? { buffer: s.buffer, index: s.dynamic ? undefined : s.index } : s.k === "fill" || s.k === "copy" ? { buffer: s.k === "fill" ? s.buffer : s.to, index: undefined } : undefined;
    if (s.k === "copy") reads.push({ buffer: s.from });
    const element = (b: Buffer, x: Affine | undefined): string | undefined => {
      if (x && site.k === "block") return elementKey(site, x);
      const at = site.k === "loop" ? nestedBlockOf(x, site.v, new Map(), new Set()) : undefined;
      if (!at) return undefined;
      const key = `${at.stride}|${at.outer}`;
      if ((block.get(b.name) ?? key) !== key) return undefined;
      block.set(b.name, key);
      return elementKey(site, x!);
    };
    for (const r of reads) {
      if (r.buffer.kind !== "scratch") continue;
      const at = element(r.buffer, r.index);
      const ok = at !== undefined && (written.get(r.buffer.name)?.has(at) ?? false);
      result.set(r.buffer.name, (result.get(r.buffer.name) ?? true) && ok);
    }
    if (write && write.buffer.kind === "scratch") {
      const at = element(write.buffer, write.index);
      const seen = written.get(write.buffer.name) ?? new Set<string>();
      written.set(write.buffer.name, seen);
      const ok = at !== undefined && s.k === "store" && s.op === "=" && !seen.has(at);
      if (at !== undefined) seen.add(at);
      result.set(write.buffer.name, (result.get(write.buffer.name) ?? true) && ok);
    }
  }
  return result;
}

const ownExprsOf = (s: Stmt): Expr[] => (s.k === "store" ? (s.dynamic ? [s.value, s.dynamic.at] : [s.value]) : s.k === "let" || s.k === "assign" || s.k === "fill" || s.k === "result" ? [s.value] : []);
