// Loop merging. Consecutive top-level loops over the same range are joined when every
// buffer one of them writes is touched by the others only at the loop index itself (`b[i]`),
// or only accumulated into (scatters add in any order): the backward pass of a layer then
// walks its hidden units once, as hand-written code does. A loop one step longer joins too,
// its last step peeled off after the loop (x[i+1] - x[i] runs over n - 1 steps beside sums
// over n). Zero fills of buffers a loop accumulates into move up with it; fresh accumulators
// (`let t = 0;`) move to the top first, so that no loop is kept from moving by the
// declaration of its own accumulator, and constants between two loops move up before them. A loop looks back at most MERGE_WINDOW items.
// Nests merge too: an access inside nested loops is in the block of its outer iteration when
// the nested variables' ranges keep its offset below the stride (`p[48r + 3c + k]`, c < 15,
// in a loop over r), and the loops nested in a merged loop are merged in turn, so a cloth
// written with rows runs its springs in one nest as hand-written code does. A loop one step
// shorter joins as well, the longer side's last step peeled.

import { accesses, allStmts, bufferKey, hasNested, lit, substituteStmts, variable, type Expr, type Stmt } from "../ir.js";
import { carryShiftedSums } from "./carry.js";
import { combineAccumulations } from "./combine.js";
import { writeOut } from "./unroll-short.js";
import { isSection, nestedBlockOf } from "./blocks.js";
import { addSize, isKnown, type Size } from "../../ir/size.js";

/** How many statements back a loop looks for an earlier loop to join. */
export const MERGE_WINDOW = 64;

/**
 * A loop whose body nests loops over short axes (a row of 11 camera parameters gathered or
 * scattered) joins others with those written out, when they are at most MERGE_UNROLL steps
 * and the body stays within MERGE_UNROLL_STATEMENTS statements; left alone, it keeps them.
 * Longer nested loops (a cloth's 15 springs in a row) stay loops, and nests merge as nests.
 */
export const MERGE_UNROLL = 12;
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
/** `names`: what an item touches; `writes`: what it writes (items that only read the same buffers commute). */
type Item = ({ group: Group } | { stmt: Stmt }) & { names?: Set<string>; writes?: Set<string> };

const mergeable = (s: Stmt): s is Loop => s.k === "loop" && s.from === 0 && s.step === 1 && !s.resume;

/** What independence needs to know of a loop body; merged in time linear in the smaller side. */
interface Summary {
  /** Locals assigned after their declaration (running values), and all locals mentioned. */
  assigned: Set<string>;
  mentioned: Set<string>;
  /**
   * Per buffer: written at all, only accumulated into, and the block of every access: its
   * stride (0: not in blocks) and the key of its outer terms (nested loops: `p[48r + 3c + k]`
   * inside a loop over c is in blocks of 3 from 48r), and whether some are sections
   * (blocks.ts), which count as stride 1.
   */
  buffers: Map<string, { written: boolean; onlyAccumulated: boolean; stride: number; outer: string; sections: boolean }>;
  /** Steps of the loop: sections keep to their iteration only among loops of as many. */
  extent: Size;
}

/** Variables bound inside `body`: loop variables with the values they take, and bound steps. */
function boundIn(body: readonly Stmt[]): { ranges: Map<string, [number, number]>; bound: Set<string> } {
  const ranges = new Map<string, [number, number]>();
  const bound = new Set<string>();
  for (const s of allStmts(body)) {
    if (s.k === "block" && s.bind) bound.add(s.bind.v);
    if (s.k !== "loop") continue;
    bound.add(s.v);
    // A loop over a run-time size has no range known here: accesses through its variable are not in blocks.
    if (!isKnown(s.extent) || s.extent < 1) continue;
    // The values the variable takes: `q += 4` below 100 stops at 96.
    const last = Math.floor((s.extent - 1) / Math.abs(s.step)) * s.step;
    const [lo, hi] = s.step > 0 ? [s.from, s.from + last] : [s.from + last, s.from];
    const r = ranges.get(s.v);
    ranges.set(s.v, r ? [Math.min(r[0], lo), Math.max(r[1], hi)] : [lo, hi]);
  }
  // A name bound both by a loop and by a step has no range that covers both.
  for (const s of allStmts(body)) if (s.k === "block" && s.bind) ranges.delete(s.bind.v);
  return { ranges, bound };
}

function summarize(body: readonly Stmt[], v: string, extent: Size): Summary {
  const a = accesses(body);
  const { ranges, bound } = boundIn(body);
  const buffers: Summary["buffers"] = new Map();
  for (const p of a.buffers) {
    const key = bufferKey(p.buffer);
    const entry = buffers.get(key) ?? { written: false, onlyAccumulated: true, stride: -1, outer: "", sections: false };
    entry.written ||= p.write;
    entry.onlyAccumulated &&= p.write && (p.op === "+=" || p.op === "-=") && p.index !== undefined;
    const section = isSection(p.index, v, extent);
    entry.sections ||= section;
    const block = section ? { stride: 1, outer: "" } : nestedBlockOf(p.index, v, ranges, bound);
    const first = entry.stride === -1;
    entry.stride = !block || (!first && (entry.stride !== block.stride || entry.outer !== block.outer)) ? 0 : block.stride;
    if (block && first) entry.outer = block.outer;
    buffers.set(key, entry);
  }
  // A store reading its own buffer is not a plain accumulation.
  for (const s of body)
    if (s.k === "store" && accesses([{ k: "result", target: "", value: s.value }]).buffers.some((p) => p.buffer.name === s.buffer.name)) buffers.get(bufferKey(s.buffer))!.onlyAccumulated = false;
  return { assigned: a.assignedLocals, mentioned: new Set([...a.readLocals, ...a.writtenLocals]), buffers, extent };
}

function independentSummaries(x: Summary, y: Summary): boolean {
  // A running value (a reduction in the loop) is complete only after the loop.
  for (const t of x.assigned) if (y.mentioned.has(t)) return false;
  for (const t of y.assigned) if (x.mentioned.has(t)) return false;
  const [small, large] = x.buffers.size <= y.buffers.size ? [x.buffers, y.buffers] : [y.buffers, x.buffers];
  for (const [key, p] of small) {
    const q = large.get(key);
    if (!q || (!p.written && !q.written)) continue;
    // Each iteration keeps to its own block of the buffer on both sides, or both only add.
    if (!((p.onlyAccumulated && q.onlyAccumulated) || (p.stride > 0 && p.stride === q.stride && p.outer === q.outer && (!(p.sections || q.sections) || x.extent === y.extent)))) return false;
  }
  return true;
}

function mergeSummary(into: Summary, from: Summary): void {
  for (const t of from.assigned) into.assigned.add(t);
  for (const t of from.mentioned) into.mentioned.add(t);
  for (const [key, p] of from.buffers) {
    const q = into.buffers.get(key);
    if (!q) into.buffers.set(key, { ...p });
    else {
      q.written ||= p.written;
      q.onlyAccumulated &&= p.onlyAccumulated;
      q.stride = q.stride === p.stride && q.outer === p.outer ? q.stride : 0;
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
  const writesOf = (stmts: readonly Stmt[]) => {
    const a = accesses(stmts);
    const names = new Set<string>(a.writtenLocals);
    for (const p of a.buffers) if (p.write) names.add(bufferKey(p.buffer));
    return names;
  };
  const itemStmts = (item: Item) => ("stmt" in item ? [item.stmt] : [...item.group.hoisted, ...item.group.body, ...item.group.after, ...item.group.peeled]);
  const itemWrites = (item: Item) => (item.writes ??= writesOf(itemStmts(item)));
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
    // Nested short loops are written out when they can be; longer ones stay, as a nest.
    const s = mergeable(written) && hasNested(written.body) ? (writtenOut(written) ?? written) : written;
    if (!mergeable(s) || allStmts(s.body).some((x) => x.k === "block" || x.k === "call" || x.k === "kernel")) {
      items.push({ stmt: written });
      continue;
    }
    let merged = false;
    for (let j = items.length - 1; j >= Math.max(0, items.length - MERGE_WINDOW); j--) {
      const item = items[j];
      if (!("group" in item)) continue;
      const g = item.group;
      const longer = s.extent === addSize(g.extent, 1);
      // One step shorter: the group's last step is peeled off instead (the cloth's springs
      // across, 16 rows, then its springs down, 15).
      const shorter = s.extent === addSize(g.extent, -1) && g.peeled.length === 0 && g.after.length === 0;
      if (s.extent !== g.extent && !longer && !shorter) continue;
      // Renaming the loop's variable to the group's must not capture a nested loop's: that one is renamed first.
      const free = s.v === g.v ? s.body : renameNestedLoops(s.body, g.v, [...g.body, ...s.body]);
      const own = s.v === g.v ? s.body : substituteStmts(free, s.v, variable(g.v));
      const summary = summarize(own, g.v, s.extent);
      if (!independentSummaries(g.summary, summary)) {
        if (shorter || !carryEarly(g, summary)) continue;
        item.names = item.writes = undefined;
        g.original = undefined;
      }
      const ownNames = namesOf(own);
      const ownWrites = writesOf(own);
      const between = items.slice(j + 1);
      // Zero fills of buffers this loop accumulates into may move up with it.
      // Constants the loop reads (`const r8 = a0[i * 2]`, hoisted reads), and fills of buffers
      // it adds into, move up with it when what they read is written neither by the group nor
      // by anything they would pass (a fill's value may be a local: `h.fill(t20)`).
      const passed = new Set<string>(itemWrites(item));
      for (const x of between) for (const n of itemWrites(x)) passed.add(n);
      const readsPassed = (x: Item, own: string) => [...itemNames(x)].some((n) => n !== own && passed.has(n));
      const zeroFills = between.filter((x) => "stmt" in x && x.stmt.k === "fill" && x.stmt.buffer.kind !== "local" && ownNames.has(bufferKey(x.stmt.buffer)) && !readsPassed(x, bufferKey(x.stmt.buffer)));
      const constants = between.filter((x) => {
        if (!("stmt" in x) || x.stmt.k !== "let" || x.stmt.mutable || !ownNames.has(x.stmt.name)) return false;
        return !readsPassed(x, x.stmt.name);
      });
      const fills = [...zeroFills, ...constants];
      // Other constants between the two (`const t = a2 * s0;`, made after the first loop because
      // their nodes came later) move up before the group when they read nothing it or the items
      // staying between write, so that a loop needing them still joins. Only writes hold one
      // back: a constant read by an item that stays (t12 in `t19 = t12 * t18`) is read as well
      // by one that moves (`t42 = t12 * s0`), and a chain of them (`t45 = 2 * t42`) moves whole.
      const stay = new Set<string>(itemWrites(item));
      const lifted = between.filter((x) => {
        const liftable = !fills.includes(x) && "stmt" in x && x.stmt.k === "let" && !x.stmt.mutable && ![...itemNames(x)].some((n) => stay.has(n));
        if (!liftable) for (const n of itemWrites(x)) stay.add(n);
        return liftable;
      });
      const blocked = between.some((x) => !fills.includes(x) && !lifted.includes(x) && [...itemNames(x)].some((n) => ownNames.has(n) && (ownWrites.has(n) || itemWrites(x).has(n))));
      const fillsFree = zeroFills.every((f) => {
        const key = bufferKey((f as { stmt: Extract<Stmt, { k: "fill" }> }).stmt.buffer);
        return !itemNames(item).has(key) && between.every((x) => x === f || !itemNames(x).has(key));
      });
      if (!blocked && fillsFree) {
        g.hoisted.push(...fills.map((f) => (f as { stmt: Stmt }).stmt));
        for (const f of fills) items.splice(items.indexOf(f), 1);
        for (const x of lifted) items.splice(items.indexOf(x), 1);
        items.splice(j, 0, ...lifted);
        if (longer) g.peeled.push(...substituteStmts(own, g.v, lit(g.extent)));
        if (shorter) {
          g.extent = addSize(g.extent, -1);
          g.peeled.push(...substituteStmts(g.body, g.v, lit(g.extent)));
        }
        g.body.push(...own);
        g.original = undefined;
        mergeSummary(g.summary, summary);
        const names = itemNames(item);
        for (const n of ownNames) names.add(n);
        for (const f of fills) for (const n of itemNames(f)) names.add(n);
        const writes = itemWrites(item);
        for (const n of ownWrites) writes.add(n);
        for (const f of fills) for (const n of itemWrites(f)) writes.add(n);
        merged = true;
      }
      break;
    }
    if (!merged) {
      // A fill right before the loop of a buffer it adds into is the group's (a carried sum may replace it).
      const last = items[items.length - 1];
      const fill = last && "stmt" in last && last.stmt.k === "fill" && last.stmt.buffer.kind !== "local" && namesOf([s]).has(bufferKey(last.stmt.buffer)) ? last.stmt : undefined;
      if (fill) items.pop();
      const original = s === written ? undefined : (written as Loop);
      items.push({ group: { v: s.v, extent: s.extent, hoisted: fill ? [fill] : [], body: [...s.body], after: [], peeled: [], summary: summarize(s.body, s.v, s.extent), original } });
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
    const carried = carryShiftedSums(g.hoisted, g.v, g.extent, combineAccumulations(g.body));
    // Loops nested in merged loops over the same range merge in turn (recursion as deep as the nest).
    const inner = (b: Stmt[]) => (b.some((x) => x.k === "loop") ? mergeLoops(b) : b);
    out.push(...carried.before, { k: "loop", v: g.v, from: 0, extent: g.extent, step: 1, body: inner(carried.body) }, ...carried.after, ...g.after);
    if (g.peeled.length) out.push({ k: "block", body: inner(g.peeled) });
  }
  return out;
}

/** `body` with nested loops over `v` renamed to a variable that neither `body` nor `near` binds (`i` -> `i1`). */
function renameNestedLoops(body: readonly Stmt[], v: string, near: readonly Stmt[]): readonly Stmt[] {
  const inner = allStmts(body).filter((x) => x.k === "loop" && x.v === v);
  if (inner.length === 0) return body;
  const bound = new Set<string>();
  for (const x of allStmts(near)) if (x.k === "loop") bound.add(x.v);
  let k = 1;
  while (bound.has(`${v}${k}`)) k++;
  const to = `${v}${k}`;
  // Nests are as deep as a tensor's rank: the recursion is bounded.
  const rename = (list: readonly Stmt[]): Stmt[] =>
    list.map((x) => (x.k === "loop" && x.v === v ? { ...x, v: to, body: substituteStmts(x.body, v, variable(to)) } : x.k === "loop" || x.k === "block" ? { ...x, body: rename(x.body) } : x));
  return rename(body);
}
