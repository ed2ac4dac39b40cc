// Loop merging. Consecutive top-level loops over the same range are joined when every
// buffer one of them writes is touched by the others only at the loop index itself (`b[i]`),
// or only accumulated into (scatters add in any order): the backward pass of a layer then
// walks its hidden units once, as hand-written code does. A loop one step longer joins too,
// its last step peeled off after the loop (x[i+1] - x[i] runs over n - 1 steps beside sums
// over n). Zero fills of buffers a loop accumulates into move up with it; fresh accumulators
// (`let t = 0;`) move to the top first, so that no loop is kept from moving by the
// declaration of its own accumulator, and constants between two loops move up before them. A loop looks back at most MERGE_WINDOW items.

import { accesses, bufferKey, hasNested, lit, substituteStmts, variable, type Expr, type Stmt } from "../ir.js";
import { carryShiftedSums } from "./carry.js";
import { writeOut } from "./unroll-short.js";
import { blockOf, isSection } from "./blocks.js";
import { addSize, isKnown, type Size } from "../../ir/size.js";

/** How many statements back a loop looks for an earlier loop to join. */
export const MERGE_WINDOW = 64;

/**
 * A loop whose body nests loops over short axes (a row of 11 camera parameters gathered or
 * scattered) joins others with those written out, when they are at most MERGE_UNROLL steps
 * and the body stays within MERGE_UNROLL_STATEMENTS statements; left alone, it keeps them.
 */
export const MERGE_UNROLL = 16;
export const MERGE_UNROLL_STATEMENTS = 64;

/** `s` with its nested short loops written out, or undefined when it has others. */
function writtenOut(s: Loop): Loop | undefined {
  const body: Stmt[] = [];
  for (const x of s.body) {
    if (x.k === "block") return undefined;
    if (x.k !== "loop") body.push(x);
    else if (x.from === 0 && x.step === 1 && isKnown(x.extent) && x.extent <= MERGE_UNROLL && !hasNested(x.body)) body.push(...writeOut(x));
    else return undefined;
    if (body.length > MERGE_UNROLL_STATEMENTS) return undefined;
  }
  return { ...s, body };
}

type Loop = Extract<Stmt, { k: "loop" }>;
interface Group {
  v: string;
  extent: Size;
  /** Statements that run just before the loop (zero fills, carries). */
  hoisted: Stmt[];
  body: Stmt[];
  summary: Summary;
  /** Statements right after the loop (the last element of a carried sum), then the peeled last steps. */
  after: Stmt[];
  peeled: Stmt[];
  /** The loop as written, with its nested short loops, while nothing has joined it (writtenOut). */
  original?: Loop;
}
type Item = ({ group: Group } | { stmt: Stmt }) & { names?: Set<string> };

const mergeable = (s: Stmt): s is Loop => s.k === "loop" && s.from === 0 && s.step === 1 && !s.resume;

/** What independence needs to know of a loop body; merged in time linear in the smaller side. */
interface Summary {
  nested: boolean;
  /** Locals assigned after their declaration (running values), and all locals mentioned. */
  assigned: Set<string>;
  mentioned: Set<string>;
  /**
   * Per buffer: written at all, only accumulated into, the block stride of every access (0:
   * not in blocks), and whether some are sections (blocks.ts), which count as stride 1.
   */
  buffers: Map<string, { written: boolean; onlyAccumulated: boolean; stride: number; sections: boolean }>;
  /** Steps of the loop: sections keep to their iteration only among loops of as many. */
  extent: Size;
}

function summarize(body: readonly Stmt[], v: string, extent: Size): Summary {
  const a = accesses(body);
  const buffers: Summary["buffers"] = new Map();
  for (const p of a.buffers) {
    const key = bufferKey(p.buffer);
    const entry = buffers.get(key) ?? { written: false, onlyAccumulated: true, stride: -1, sections: false };
    entry.written ||= p.write;
    entry.onlyAccumulated &&= p.write && (p.op === "+=" || p.op === "-=") && p.index !== undefined;
    // Sections over a run-time size are not recognized: their offsets would be symbolic.
    const section = isKnown(extent) && isSection(p.index, v, extent);
    entry.sections ||= section;
    const block = section ? { stride: 1 } : blockOf(p.index, v);
    entry.stride = !block || (entry.stride !== -1 && entry.stride !== block.stride) ? 0 : block.stride;
    buffers.set(key, entry);
  }
  // A store reading its own buffer is not a plain accumulation.
  for (const s of body)
    if (s.k === "store" && accesses([{ k: "result", target: "", value: s.value }]).buffers.some((p) => p.buffer.name === s.buffer.name)) buffers.get(bufferKey(s.buffer))!.onlyAccumulated = false;
  return { nested: a.nested || hasNested(body), assigned: a.assignedLocals, mentioned: new Set([...a.readLocals, ...a.writtenLocals]), buffers, extent };
}

function independentSummaries(x: Summary, y: Summary): boolean {
  if (x.nested || y.nested) return false;
  // A running value (a reduction in the loop) is complete only after the loop.
  for (const t of x.assigned) if (y.mentioned.has(t)) return false;
  for (const t of y.assigned) if (x.mentioned.has(t)) return false;
  const [small, large] = x.buffers.size <= y.buffers.size ? [x.buffers, y.buffers] : [y.buffers, x.buffers];
  for (const [key, p] of small) {
    const q = large.get(key);
    if (!q || (!p.written && !q.written)) continue;
    // Each iteration keeps to its own block of the buffer on both sides, or both only add.
    if (!((p.onlyAccumulated && q.onlyAccumulated) || (p.stride > 0 && p.stride === q.stride && (!(p.sections || q.sections) || x.extent === y.extent)))) return false;
  }
  return true;
}

function mergeSummary(into: Summary, from: Summary): void {
  into.nested ||= from.nested;
  for (const t of from.assigned) into.assigned.add(t);
  for (const t of from.mentioned) into.mentioned.add(t);
  for (const [key, p] of from.buffers) {
    const q = into.buffers.get(key);
    if (!q) into.buffers.set(key, { ...p });
    else {
      q.written ||= p.written;
      q.onlyAccumulated &&= p.onlyAccumulated;
      q.stride = q.stride === p.stride ? q.stride : 0;
      q.sections ||= p.sections;
    }
  }
}

/**
 * Buffers written by one side and used by the other are only ever indexed `[v]` on both
 * sides (or at `s * v + c`, 0 <= c < s: rows of the same block), or only accumulated into (`+=`, `-=`): additions commute, and nothing reads them
 * inside the loops.
 */
export function independent(a: readonly Stmt[], b: readonly Stmt[], v: string, extent: Size = 0): boolean {
  return independentSummaries(summarize(a, v, extent), summarize(b, v, extent));
}

/** Fresh accumulators with constant initial values. */
const fresh = (e: Expr) => e.k === "num" && [0, 1, -Infinity, Infinity].includes(e.value);
const freshAccumulator = (s: Stmt) => (s.k === "let" && s.mutable === true && fresh(s.value)) || (s.k === "fill" && s.buffer.kind === "local" && fresh(s.value));

/**
 * `body`: a function body's top-level statements; `readAfter`: what runs after them (the
 * stores), which must see every buffer. Locals that are only read (argument reads) never
 * keep loops apart.
 */
export function mergeLoops(body: readonly Stmt[]): Stmt[] {
  const declarations = body.filter(freshAccumulator);
  const writtenLocals = accesses(body).writtenLocals;
  const namesOf = (stmts: readonly Stmt[]) => {
    const a = accesses(stmts);
    const names = new Set<string>();
    for (const n of [...a.readLocals, ...a.writtenLocals]) if (writtenLocals.has(n)) names.add(n);
    for (const p of a.buffers) if (p.buffer.kind !== "argument") names.add(bufferKey(p.buffer));
    return names;
  };
  const itemNames = (item: Item) => (item.names ??= namesOf("stmt" in item ? [item.stmt] : [...item.group.hoisted, ...item.group.body, ...item.group.after, ...item.group.peeled]));

  /** Carry the group's shifted sums now when `next` can join it then; whether it can. */
  const carryEarly = (group: Group, next: Summary): boolean => {
    const carried = carryShiftedSums(group.hoisted, group.v, group.extent, group.body);
    if (carried.after.length === 0) return false;
    const summary = summarize(carried.body, group.v, group.extent);
    if (!independentSummaries(summary, next)) return false;
    group.summary = summary;
    group.body = carried.body;
    group.hoisted = carried.before;
    group.after.push(...carried.after);
    return true;
  };

  const items: Item[] = [];
  for (const written of body) {
    if (freshAccumulator(written)) continue;
    const s = mergeable(written) && hasNested(written.body) ? writtenOut(written) : written;
    if (!s || !mergeable(s)) {
      items.push({ stmt: written });
      continue;
    }
    let merged = false;
    for (let j = items.length - 1; j >= Math.max(0, items.length - MERGE_WINDOW); j--) {
      const item = items[j];
      if (!("group" in item)) continue;
      const g = item.group;
      const longer = s.extent === addSize(g.extent, 1);
      if (s.extent !== g.extent && !longer) continue;
      const own = s.v === g.v ? s.body : substituteStmts(s.body, s.v, variable(g.v));
      const summary = summarize(own, g.v, s.extent);
      if (!independentSummaries(g.summary, summary)) {
        if (!carryEarly(g, summary)) continue;
        item.names = undefined;
        g.original = undefined;
      }
      const ownNames = namesOf(own);
      const between = items.slice(j + 1);
      // Zero fills of buffers this loop accumulates into may move up with it.
      const fills = between.filter((x) => "stmt" in x && x.stmt.k === "fill" && x.stmt.buffer.kind !== "local" && ownNames.has(bufferKey(x.stmt.buffer)));
      // Constants between the two (`const t = a2 * s0;`, made after the first loop because their
      // nodes came later) move up before the group when they read nothing it or the items
      // staying between write, so that a loop needing them still joins.
      const stay = new Set<string>(itemNames(item));
      const lifted = between.filter((x) => {
        const liftable = !fills.includes(x) && "stmt" in x && x.stmt.k === "let" && !x.stmt.mutable && ![...itemNames(x)].some((n) => stay.has(n));
        if (!liftable) for (const n of itemNames(x)) stay.add(n);
        return liftable;
      });
      const blocked = between.some((x) => !fills.includes(x) && !lifted.includes(x) && [...itemNames(x)].some((n) => ownNames.has(n)));
      const fillsFree = fills.every((f) => {
        const key = bufferKey((f as { stmt: Extract<Stmt, { k: "fill" }> }).stmt.buffer);
        return !itemNames(item).has(key) && between.every((x) => x === f || !itemNames(x).has(key));
      });
      if (!blocked && fillsFree) {
        g.hoisted.push(...fills.map((f) => (f as { stmt: Stmt }).stmt));
        for (const f of fills) items.splice(items.indexOf(f), 1);
        for (const x of lifted) items.splice(items.indexOf(x), 1);
        items.splice(j, 0, ...lifted);
        if (longer) g.peeled.push(...substituteStmts(own, g.v, lit(g.extent)));
        g.body.push(...own);
        g.original = undefined;
        mergeSummary(g.summary, summary);
        const names = itemNames(item);
        for (const n of ownNames) names.add(n);
        for (const f of fills) for (const n of itemNames(f)) names.add(n);
        merged = true;
      }
      break;
    }
    if (!merged) {
      const original = s === written ? undefined : (written as Loop);
      items.push({ group: { v: s.v, extent: s.extent, hoisted: [], body: [...s.body], after: [], peeled: [], summary: summarize(s.body, s.v, s.extent), original } });
    }
  }

  const out: Stmt[] = [...declarations];
  for (const item of items) {
    if ("stmt" in item) {
      out.push(item.stmt);
      continue;
    }
    const g = item.group;
    if (g.original) {
      out.push(...g.hoisted, g.original);
      continue;
    }
    const carried = carryShiftedSums(g.hoisted, g.v, g.extent, g.body);
    out.push(...carried.before, { k: "loop", v: g.v, from: 0, extent: g.extent, step: 1, body: carried.body }, ...carried.after, ...g.after);
    if (g.peeled.length) out.push({ k: "block", body: g.peeled });
  }
  return out;
}
