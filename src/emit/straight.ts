// Straight-line code for a scalar graph: one `const` per shared or deep subexpression, in
// topological order, and single-use subexpressions inlined into their user (up to a depth,
// so V8's parser never meets a thousand nested parentheses). Every temporary is named
// `t<n>`, and names from the source never become identifiers, so the two cannot collide.
// What only one side of a costly `where` needs is computed inside an `if` on its condition
// (emit/branches.ts).

import { reachable, type Graph, type Node } from "../ir/graph.js";
import { ELEMENTWISE, extremumOfConstant, type ElementwiseOp } from "../ir/ops.js";
import { constantTables, scheduleBranches, type Block, type Item } from "./branches.js";

export interface Sink {
  node: Node;
  /** The statement that stores the value, given its expression. */
  store: (expr: string) => string;
  /**
   * With early stores: lines printed before the first store of the sinks sharing this array
   * (the comment naming the output or gradient, the local holding its array).
   */
  note?: readonly string[];
  /**
   * With early stores: the sinks sharing this guard are printed together, between its lines,
   * where the last of them is ready (backward's optional outputs, under one `if`).
   */
  guard?: { open: readonly string[]; close: string };
  /** With early stores: kept for the end, in `stores` (valueAndGradFlat's return). */
  late?: boolean;
}

export interface Printed {
  /**
   * The computation; with `early` stores (see printStraightLine), the stores too, each where
   * its value is ready, except the `late` sinks'.
   */
  statements: string[];
  /** One store per sink (per `late` sink with early stores), in sink order, to follow the statements. */
  stores: string[];
  helpers: Set<string>;
  /** Scalar operations computed (constants and argument reads excluded). */
  operations: number;
}

const MAX_INLINE_DEPTH = 12;

/** A JavaScript numeric literal for any double, parenthesised when negative. */
export function literal(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "Infinity";
  if (v === -Infinity) return "(-Infinity)";
  if (Object.is(v, -0)) return "(-0)";
  return v < 0 ? `(${String(v)})` : String(v);
}

/**
 * `leaf` names argument reads (`a0`, `a0[3]`, `s1`) and returns undefined for other nodes;
 * `prefix` keeps temporaries of several functions in one module apart. An array element read
 * at least `readsToName(read)` times is read once into a temporary (see below).
 *
 * `early`: each store is printed as soon as its value is computed (after the top-level line or
 * branch that completes it), once every argument element has been read, instead of all at the
 * end. A value waiting for its store at the end is a value V8 keeps in a register or spills
 * across everything that follows; a Jacobian whose entries are ready at different times (the
 * bundle adjustment's focal-length and distortion columns long before its rotation columns)
 * held dozens of them: its forward 0.87-0.90x the time with the stores placed early. The
 * reads come first because an output array may be an argument's (forwardInto(args, outputs)
 * with the same array in both): no store may precede a read, as at the end. A store whose
 * value is an element read goes right after the last read, where the stores before it are
 * the ones before it at the end too (the sink order). backward places its gradient stores so
 * (a grad array may be an argument's too), its optional outputs as one `guard`.
 */
export function printStraightLine(
  graph: Graph,
  sinks: readonly Sink[],
  leaf: (n: Node) => string | undefined,
  where: (line: number) => string = (line) => `line ${line}`,
  prefix = "t",
  readsToName: (read: string) => number = () => 3,
  early = false,
): Printed {
  const needed = reachable(graph, sinks.map((s) => s.node));
  const names: (string | undefined)[] = graph.nodes.map((n) => (needed[n.id] ? leaf(n) : undefined));
  // Uses by computed nodes: an argument read is printed by name, not from its operands.
  const uses = new Uint32Array(graph.nodes.length);
  for (const n of graph.nodes) if (needed[n.id] && names[n.id] === undefined) for (const a of n.args) uses[a.id]++;
  // chainmul reads its upstream twice (g === 0 ? 0 : g * l): named, it is printed inline,
  // where a call of the helper would stay a call once V8's inlining budget is spent.
  for (const n of graph.nodes) if (needed[n.id] && n.op === "chainmul") uses[n.args[0].id]++;
  // So does max/min of a constant (`t <= 0 ? 0 : t`, ir/ops.ts): its other operand is named.
  for (const n of graph.nodes) {
    if (!needed[n.id] || (n.op !== "max" && n.op !== "min") || !extremumOfConstant(n.args[0], n.args[1])) continue;
    uses[(n.args[0].op === "const" ? n.args[1] : n.args[0]).id]++;
  }
  // pick's rare value is computed on every path (ir/ops.ts): named, never inlined into its side.
  for (const n of graph.nodes) if (needed[n.id] && n.op === "pick") uses[n.args[2].id]++;
  const stored = new Uint32Array(graph.nodes.length);
  for (const s of sinks) stored[s.node.id]++;
  // A table of constants printed on its own line (r < 1e-100 ? (r < 1e-300 ? a : b) : ...,
  // emit/branches.ts) has the tests of its inner selections computed before it: V8 compiles
  // an operation that has never run as a deoptimization exit, and a test that only a rare
  // side makes would be one (a caller's loop is then not peeled and its result boxed: the
  // angle's flat kernel with its scale's rare tests inline took 1.3-1.6x the hand-written
  // time). A comparison that such a table tests and that only selections test is a boolean
  // (`const t = r < 1e-300;`, tested as `t ? a : b`), which needs no feedback of its own,
  // and V8 computes it where a branch needs it. Inlined tables keep their tests (the
  // point-segment distance's clamp tie tables named this way took 1.06x its kernel's time).
  const table = constantTables(graph, needed);
  const inNamedTable = new Uint8Array(graph.nodes.length);
  const forced = new Uint8Array(graph.nodes.length);
  const tested = new Uint8Array(graph.nodes.length);
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    if (!table[i]) continue;
    if (uses[i] + stored[i] >= 2) inNamedTable[i] = 1;
    if (!inNamedTable[i]) continue;
    const n = graph.nodes[i];
    tested[n.args[0].id] = 1;
    for (const side of [n.args[1], n.args[2]]) {
      if (!table[side.id] || uses[side.id] !== 1 || stored[side.id] !== 0) continue;
      inNamedTable[side.id] = 1;
      if (testOf(side.args[0].op) !== undefined && names[side.args[0].id] === undefined) forced[side.args[0].id] = 1;
    }
  }
  // So is a comparison that picks test (atan2's range, tested by both partials).
  for (const n of graph.nodes) if (needed[n.id] && n.op === "pick") tested[n.args[0].id] = 1;
  const conditionUses = new Uint32Array(graph.nodes.length);
  for (const n of graph.nodes) if (needed[n.id] && names[n.id] === undefined && (n.op === "where" || n.op === "mask" || n.op === "pick")) conditionUses[n.args[0].id]++;
  const boolean = (n: Node) => tested[n.id] === 1 && testOf(n.op) !== undefined && conditionUses[n.id] === uses[n.id] && stored[n.id] === 0;
  const schedule = scheduleBranches(
    graph,
    needed,
    sinks.map((s) => s.node),
    (n) => n.op !== "const" && names[n.id] === undefined,
  );

  const text: string[] = new Array(graph.nodes.length);
  const depth = new Uint8Array(graph.nodes.length);
  // Whether an inlined expression reads an argument's element: the stores come after every statement
  // and may write into an array the arguments alias, so such an expression is named first.
  const readsArgument = new Uint8Array(graph.nodes.length);
  // `a > b` of an inlined comparison, for the `where` that tests it (`a > b ? x : y`, not
  // `(a > b ? 1 : 0) !== 0 ? x : y`).
  const test: (string | undefined)[] = new Array(graph.nodes.length);
  // The named values an expression reads, and the list (the top level or a side of a
  // branch) that declares each name: a value named inside one branch and read outside it
  // (a later branch on the same condition, or an inlined expression printed there) is
  // declared at the top with `let` instead.
  const refs: number[][] = new Array(graph.nodes.length);
  const declaredIn = new Int32Array(graph.nodes.length).fill(-1);
  const hoisted = new Uint8Array(graph.nodes.length);
  const listParent = [-1];
  const listDepth = [0];
  const visible = (declared: number, list: number) => {
    while (listDepth[list] > listDepth[declared]) list = listParent[list];
    return list === declared;
  };
  const check = (ids: readonly number[], list: number) => {
    for (const r of ids) if (!visible(declaredIn[r], list)) hoisted[r] = 1;
  };
  const helpers = new Set<string>();
  let operations = 0;
  let temporaries = 0;
  let lastLine: number | undefined;

  const top: Entry[] = [];
  // The lists being printed, innermost last, with the list number of each.
  const open: { entries: Entry[]; list: number }[] = [{ entries: top, list: 0 }];
  const emit = (e: Entry) => open[open.length - 1].entries.push(e);
  // For early stores: the top-level entry (a line, or the branch holding it) after which each
  // named value is set, and the last one that reads an argument element.
  const readyAt = new Int32Array(graph.nodes.length).fill(-1);
  let lastRead = -1;
  const name = (n: Node) => {
    const t = `${prefix}${temporaries++}`;
    text[n.id] = t;
    refs[n.id] = [n.id];
    declaredIn[n.id] = open[open.length - 1].list;
    return t;
  };
  const setAt = (id: number, reads: boolean) => {
    readyAt[id] = top.length - 1;
    if (reads) lastRead = top.length - 1;
  };

  const printNode = (n: Node) => {
    if (n.op === "const") {
      text[n.id] = literal(n.value!);
      refs[n.id] = [];
      return;
    }
    const argument = names[n.id];
    if (argument !== undefined) {
      // An array element read several times is read once into a temporary: V8 does not
      // reuse a loaded typed-array element for the next read of it, so each read is a load
      // and a bounds check again (Rosenbrock's x[0], read four times: the flat kernel took
      // 1.13x the hand-written function's time, 0.98x with one read; the triangle's area,
      // each element read twice: 1.17x, 1.10x). Named, it is read before any store, so a
      // store into an aliasing array cannot change it. The flat kernels name elements of x
      // read twice; other reads are named from three on: an unrolled program reads each
      // element of a long input for the value and again for the gradient, and its module
      // would grow by a line per element.
      if (argument.endsWith("]") && uses[n.id] + stored[n.id] >= readsToName(argument)) {
        emit({ kind: "const", id: n.id, name: name(n), expr: argument });
        setAt(n.id, true);
      } else {
        text[n.id] = argument;
        refs[n.id] = [];
        // A scalar argument is a local holding a number, which no store can change.
        readsArgument[n.id] = argument.endsWith("]") ? 1 : 0;
      }
      return;
    }
    const op = ELEMENTWISE[n.op as keyof typeof ELEMENTWISE] as ElementwiseOp | undefined;
    if (!op || n.size !== 1) throw new Error(`internal: '${n.op}' in straight-line code`);
    for (const h of op.helpers ?? []) helpers.add(h);
    operations++;
    const args = n.args.map((a) => text[a.id]);
    const condition = n.op === "where" || n.op === "pick" || (n.op === "mask" && boolean(n.args[0])) ? test[n.args[0].id] : undefined;
    const expr = condition !== undefined && op.choose ? op.choose(condition, args[1], args[2]) : op.print(...args);
    const d = 1 + Math.max(0, ...n.args.map((a) => depth[a.id]));
    const reads = n.args.some((a) => readsArgument[a.id]);
    const read = n.args.flatMap((a) => refs[a.id]);
    // Used once, by one other expression or (reading no argument) by one store: inlined. A
    // store's value is named otherwise, and named values cost V8 a register each; a kernel
    // with fewer registers and instructions stays under V8's inlining limit longer.
    const once = stored[n.id] === 0 ? uses[n.id] === 1 : stored[n.id] === 1 && uses[n.id] === 0 && !reads;
    if (once && !forced[n.id] && d < MAX_INLINE_DEPTH && expr.length < 200) {
      text[n.id] = expr;
      refs[n.id] = [...new Set(read)];
      depth[n.id] = d;
      readsArgument[n.id] = reads ? 1 : 0;
      if (testOf(n.op) !== undefined) test[n.id] = comparison(n.op, n.args[0].op === "const" && n.args[1].op !== "const", args[0], args[1]);
    } else {
      // A comment where the source line changes, so a profile or stack trace leads back.
      if (n.line !== undefined && n.line !== lastLine) emit({ kind: "line", text: `// ${where(n.line)}` });
      lastLine = n.line ?? lastLine;
      check(read, open[open.length - 1].list);
      if (boolean(n)) {
        const t = name(n);
        emit({ kind: "const", id: n.id, name: t, expr: comparison(n.op, n.args[0].op === "const" && n.args[1].op !== "const", args[0], args[1]), boolean: true });
        test[n.id] = t;
      } else emit({ kind: "const", id: n.id, name: name(n), expr: stripOuter(expr) });
      setAt(n.id, reads);
    }
  };

  // The schedule, walked with an explicit stack: a block is entered, its true side printed,
  // its selections assigned, then the same for its false side, and left.
  type Frame = { items: Item[]; at: number; block?: Block; side?: 0 | 1 };
  const stack: Frame[] = [{ items: schedule, at: 0 }];
  while (stack.length) {
    const frame = stack[stack.length - 1];
    if (frame.at < frame.items.length) {
      const item = frame.items[frame.at++];
      if (item.kind === "node") {
        printNode(item.node);
        continue;
      }
      // The selections are named where the `if` is; each side assigns them.
      const c = item.cond;
      const parent = open[open.length - 1];
      check(refs[c.id], parent.list);
      for (const s of item.selects) {
        operations++;
        emit({ kind: "let", id: s.id, name: name(s) });
      }
      const entry: Entry = { kind: "if", test: test[c.id] ?? `${text[c.id]} !== 0`, sides: [[], []] };
      emit(entry);
      if (readsArgument[c.id]) lastRead = top.length - 1;
      stack.push({ items: item.sides[0], at: 0, block: item, side: 0 });
      listParent.push(parent.list);
      listDepth.push(listDepth[parent.list] + 1);
      open.push({ entries: entry.sides[0], list: listParent.length - 1 });
      continue;
    }
    // The end of a side: assign the selections, then the false side or leave the block.
    stack.pop();
    const { block, side } = frame;
    if (!block) break;
    const list = open[open.length - 1].list;
    for (const s of block.selects) {
      const value = s.args[1 + side!];
      check(refs[value.id], list);
      emit({ kind: "assign", name: text[s.id], expr: stripOuter(text[value.id]) });
      setAt(s.id, readsArgument[value.id] === 1);
    }
    open.pop();
    if (side === 0) {
      const entries = open[open.length - 1].entries;
      const entry = entries[entries.length - 1] as Extract<Entry, { kind: "if" }>;
      const parentList = open[open.length - 1].list;
      stack.push({ items: block.sides[1], at: 0, block, side: 1 });
      listParent.push(parentList);
      listDepth.push(listDepth[parentList] + 1);
      open.push({ entries: entry.sides[1], list: listParent.length - 1 });
    }
  }

  const stores = sinks.map((s) => {
    check(refs[s.node.id], 0);
    return s.store(stripOuter(text[s.node.id]));
  });
  const statements: string[] = [];
  const lets: string[] = [];
  if (!early) {
    render(top, "", hoisted, statements, lets);
    return { statements: [...lets, ...statements], stores, helpers, operations };
  }
  // Each store after the entry that completes the last value it reads, and after every read.
  const after: number[][] = Array.from({ length: top.length + 1 }, () => []);
  const readyOf = sinks.map((s) => {
    let at = lastRead;
    for (const r of refs[s.node.id]) at = Math.max(at, readyAt[r]);
    return at;
  });
  // A guard's sinks all wait for the last of them.
  const guardReady = new Map<object, number>();
  sinks.forEach((s, k) => s.guard && guardReady.set(s.guard, Math.max(guardReady.get(s.guard) ?? -1, readyOf[k])));
  sinks.forEach((s, k) => s.late || after[(s.guard ? guardReady.get(s.guard)! : readyOf[k]) + 1].push(k));
  const noted = new Set<readonly string[]>();
  const merged: Entry[] = [];
  const place = (k: number, indent: string) => {
    const note = sinks[k].note;
    if (note !== undefined && !noted.has(note)) {
      noted.add(note);
      for (const text of note) merged.push({ kind: "line", text: indent + text });
    }
    merged.push({ kind: "line", text: indent + stores[k] });
  };
  for (let i = 0; i <= top.length; i++) {
    const guards = new Set<object>();
    for (const k of after[i]) {
      const guard = sinks[k].guard;
      if (!guard) place(k, "");
      else if (!guards.has(guard)) {
        guards.add(guard);
        for (const text of guard.open) merged.push({ kind: "line", text });
        for (const j of after[i]) if (sinks[j].guard === guard) place(j, "  ");
        merged.push({ kind: "line", text: guard.close });
      }
    }
    if (i < top.length) merged.push(top[i]);
  }
  render(merged, "", hoisted, statements, lets);
  return { statements: [...lets, ...statements], stores: stores.filter((_, k) => sinks[k].late), helpers, operations };
}

/** A line of straight-line code, or a branch holding two lists of them. */
type Entry =
  | { kind: "line"; text: string }
  | { kind: "const"; id: number; name: string; expr: string; boolean?: true }
  | { kind: "let"; id: number; name: string }
  | { kind: "assign"; name: string; expr: string }
  | { kind: "if"; test: string; sides: [Entry[], Entry[]] };

/**
 * Lines of the entries, indented by nesting; a value read outside the branch that names it
 * (`hoisted`) is declared in `lets`, at the top, as `let t = 0` (a number from the start,
 * so that V8 keeps it a double in a register rather than a boxed value that may be undefined).
 */
function render(entries: readonly Entry[], indent: string, hoisted: Uint8Array, out: string[], lets: string[]): void {
  // Explicit stack of (entries, index, indent, closing text).
  const stack: { entries: readonly Entry[]; at: number; indent: string; close?: string; next?: { entries: readonly Entry[]; head: string } }[] = [
    { entries, at: 0, indent },
  ];
  while (stack.length) {
    const f = stack[stack.length - 1];
    if (f.at === f.entries.length) {
      stack.pop();
      if (f.next) {
        out.push(f.next.head);
        stack.push({ entries: f.next.entries, at: 0, indent: f.indent, close: f.close });
      } else if (f.close !== undefined) out.push(f.close);
      continue;
    }
    const e = f.entries[f.at++];
    switch (e.kind) {
      case "line":
        out.push(f.indent + e.text);
        break;
      case "const":
        if (hoisted[e.id]) {
          lets.push(`let ${e.name} = ${e.boolean ? "false" : "0"};`);
          out.push(`${f.indent}${e.name} = ${e.expr};`);
        } else out.push(`${f.indent}const ${e.name} = ${e.expr};`);
        break;
      case "let":
        if (hoisted[e.id]) lets.push(`let ${e.name} = 0;`);
        else out.push(`${f.indent}let ${e.name} = 0;`);
        break;
      case "assign":
        out.push(`${f.indent}${e.name} = ${e.expr};`);
        break;
      case "if": {
        const outer = f.indent;
        out.push(`${outer}if (${e.test}) {`);
        stack.push({ entries: e.sides[0], at: 0, indent: outer + "  ", close: `${outer}}`, next: { entries: e.sides[1], head: `${outer}} else {` } });
        break;
      }
    }
  }
}

/** A comparison's JavaScript operator (ir/ops.ts `test`; on its own it prints as `(a > b ? 1 : 0)`), else undefined. */
const testOf = (op: string): string | undefined => (ELEMENTWISE as Record<string, ElementwiseOp>)[op]?.test;
const MIRRORED: Record<string, string> = { lt: "gt", le: "ge", gt: "lt", ge: "le", eq: "eq", ne: "ne" };

/**
 * `a op b`, or `b op' a` with the constant `a` moved right (`t > 0` for `0 < t`): V8 compares
 * with a constant in its accumulator, so that order is a few bytes shorter.
 */
function comparison(op: string, flip: boolean, a: string, b: string): string {
  return flip ? `${b} ${testOf(MIRRORED[op])} ${a}` : `${a} ${testOf(op)} ${b}`;
}

/** `(a + b)` -> `a + b` when the parentheses enclose the whole expression. */
export function stripOuter(expr: string): string {
  if (!expr.startsWith("(") || !expr.endsWith(")")) return expr;
  let level = 0;
  for (let i = 0; i < expr.length; i++) {
    if (expr[i] === "(") level++;
    else if (expr[i] === ")") level--;
    if (level === 0 && i < expr.length - 1) return expr;
  }
  return expr.slice(1, -1);
}
