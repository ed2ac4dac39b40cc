// The loop-nest IR: what the loop form of a program computes, as data. Tensor operations
// are lowered to it (lower.ts), every optimization is a pass that takes statements and
// returns statements (passes/), and print.ts alone turns it into JavaScript. Passes decide
// what may move or merge from each statement's read and write sets (`accesses`), never
// from text.
//
// A function body is a list of statements: loops, stores of buffer elements through affine
// indices, and scalar locals (accumulators, carried sums, loaded elements). Expressions are
// trees of loads, constants, locals and elementwise operations named as in ir/ops.ts, so
// printing an operation is `ELEMENTWISE[op].print`. Expression trees are as deep as fusion
// lets them grow (a bounded depth), so walking one recursively is safe; statement lists are
// walked with explicit stacks.

import type { ElementwiseName } from "../ir/ops.js";
import { addSize, isKnown, mulSize, type Size } from "../ir/size.js";

/**
 * `c + sum(coef * var)`, terms in the order they were built (that is how they print). The
 * constant and the coefficients are sizes: numbers, or polynomials in the dims (`i * N`),
 * which print as the locals `$N` of the function.
 */
export interface Affine {
  readonly c: Size;
  readonly terms: readonly (readonly [string, Size])[];
}

export type BufferKind =
  /** A module-level Float64Array, reached through a local alias. */
  | "scratch"
  /** An argument array (read only). */
  | "argument"
  /** A gradient or output holder given by the caller, or the register file of split bodies. */
  | "holder"
  /** A small tensor kept in locals `name_k`; only ever indexed by constants. */
  | "local";

export interface Buffer {
  /** The name code uses for it (`b12`, `h40`, `a3`, `t7`, `out`). */
  readonly name: string;
  readonly kind: BufferKind;
  /** Elements: a number, or a size in the dims for scratch buffers made when the sizes change. */
  readonly size: Size;
  /** What the alias is bound to: `buf12` for scratch, `grad["W"]` for a holder. */
  readonly source?: string;
  /** A constant tensor's elements (a scratch buffer filled once, when the module loads). */
  readonly values?: readonly number[];
}

/** An index known only when the code runs: `stride * at` added to the affine part (take, put). */
export interface Dynamic {
  readonly stride: Size;
  readonly at: Expr;
}

export type Expr =
  | { readonly k: "num"; readonly value: number }
  | { readonly k: "local"; readonly name: string }
  | { readonly k: "load"; readonly buffer: Buffer; readonly index: Affine; readonly dynamic?: Dynamic }
  /** The value of an affine index itself (a batched loop variable). */
  | { readonly k: "index"; readonly index: Affine }
  | { readonly k: "op"; readonly op: ElementwiseName; readonly args: readonly Expr[] }
  /** A sum of products printed as one flat sum (a short dot product). */
  | { readonly k: "dot"; readonly terms: readonly (readonly [Expr, Expr])[] };

export type StoreOp = "=" | "+=" | "-=" | "*=";

export type Stmt =
  /**
   * `for (let v = from; v < from + extent; v += step)`; with `resume`, `v` is a local declared
   * before (a `let` in the same block) and the loop goes on from where an earlier loop over it
   * stopped: how a loop over a run-time size is split into steps of 4 and the rest.
   */
  | { readonly k: "loop"; readonly v: string; readonly from: number; readonly extent: Size; readonly step: number; readonly body: Stmt[]; readonly resume?: boolean }
  | { readonly k: "store"; readonly buffer: Buffer; readonly index: Affine; readonly value: Expr; readonly op: StoreOp; readonly dynamic?: Dynamic }
  /** A local: `const` unless `mutable`. */
  | { readonly k: "let"; readonly name: string; readonly value: Expr; readonly mutable?: boolean; readonly reassociate?: boolean }
  | { readonly k: "assign"; readonly name: string; readonly value: Expr; readonly op: StoreOp }
  /** Every element of a buffer set to one value (zero fills; a holder of one element). */
  | { readonly k: "fill"; readonly buffer: Buffer; readonly value: Expr }
  /** `to.set(from)`: a whole buffer copied into a holder. */
  | { readonly k: "copy"; readonly to: Buffer; readonly from: Buffer }
  /** A scalar result for the caller, `target` an l-value the caller named (`outputs["f"]`). */
  | { readonly k: "result"; readonly target: string; readonly value: Expr }
  /**
   * A braced block; `bind` declares a loop variable at a fixed offset of another (unrolled
   * steps); with `when`, the block runs only where that value is not zero (passes/zero-guard.ts).
   */
  | { readonly k: "block"; readonly body: Stmt[]; readonly bind?: { readonly v: string; readonly value: Affine }; readonly aliases?: readonly Buffer[]; readonly when?: Expr }
  | { readonly k: "comment"; readonly text: string }
  /** A call of a part function of a split body, with the caller's locals it takes. */
  | { readonly k: "call"; readonly name: string; readonly args: readonly string[] }
  /**
   * A helper of the module that works on whole buffers (the LU factorization and solves of
   * ir/linalg.ts): it reads every element of `reads` and writes every element of `writes`.
   */
  | { readonly k: "kernel"; readonly name: string; readonly args: readonly (Buffer | Size | boolean)[]; readonly reads: readonly Buffer[]; readonly writes: readonly Buffer[] };

// ---------------------------------------------------------------------------------------
// Affine indices

/** A constant index: a number, or a size in the dims (`N - 1`). */
export const lit = (c: Size): Affine => ({ c, terms: [] });
export const variable = (v: string): Affine => ({ c: 0, terms: [[v, 1]] });
export const isLiteral = (x: Affine): boolean => x.terms.length === 0;

/** `a + k * b`, terms folded in first-seen order. */
export function affineAdd(a: Affine, b: Affine, k: Size = 1): Affine {
  if (b.terms.length === 0 && a.terms.length === 0) return lit(addSize(a.c, mulSize(k, b.c)));
  const terms = new Map<string, Size>(a.terms);
  for (const [v, c] of b.terms) terms.set(v, addSize(terms.get(v) ?? 0, mulSize(k, c)));
  return { c: addSize(a.c, mulSize(k, b.c)), terms: [...terms].filter(([, c]) => c !== 0) };
}

/** `x` with `v` replaced by `by`. */
export function substitute(x: Affine, v: string, by: Affine): Affine {
  const at = x.terms.findIndex(([n]) => n === v);
  if (at === -1) return x;
  const coef = x.terms[at][1];
  const rest: Affine = { c: x.c, terms: x.terms.filter((_, k) => k !== at) };
  // Keep the replaced variable's place among the terms, so `i * 2 + 1` stays in that order.
  if (by.terms.length === 0) return { c: addSize(rest.c, mulSize(coef, by.c)), terms: rest.terms };
  const terms = new Map<string, Size>();
  x.terms.forEach(([n, c], k) => {
    if (k === at) for (const [m, d] of by.terms) terms.set(m, addSize(terms.get(m) ?? 0, mulSize(coef, d)));
    else terms.set(n, addSize(terms.get(n) ?? 0, c));
  });
  return { c: addSize(x.c, mulSize(coef, by.c)), terms: [...terms].filter(([, c]) => c !== 0) };
}

/** A size as part of a local's name: `3`, `m1` for -1, `dNm1` for N - 1. */
export const sizeName = (c: Size): string =>
  isKnown(c) ? (c < 0 ? `m${-c}` : String(c)) : "d" + c.key.replace(/\*/g, "x").replace(/\+/g, "p").replace(/-/g, "m");

export const uses = (x: Affine, v: string): boolean => x.terms.some(([n]) => n === v);
export const affineKey = (x: Affine): string => `${String(x.c)}|${x.terms.map(([v, c]) => `${v}*${String(c)}`).join(",")}`;
export const sameAffine = (a: Affine, b: Affine): boolean => affineKey(a) === affineKey(b);
/** `i` itself. */
export const isVariable = (x: Affine, v: string): boolean => x.c === 0 && x.terms.length === 1 && x.terms[0][0] === v && x.terms[0][1] === 1;

// ---------------------------------------------------------------------------------------
// Expressions

export const num = (value: number): Expr => ({ k: "num", value });
export const local = (name: string): Expr => ({ k: "local", name });
export const load = (buffer: Buffer, index: Affine): Expr => ({ k: "load", buffer, index });
export const apply = (op: ElementwiseName, ...args: Expr[]): Expr => ({ k: "op", op, args });

/** `e` rebuilt bottom-up with `f` applied to every node (children first). */
export function mapExpr(e: Expr, f: (e: Expr) => Expr): Expr {
  switch (e.k) {
    case "op": {
      const args = e.args.map((a) => mapExpr(a, f));
      return f(args.every((a, i) => a === e.args[i]) ? e : { ...e, args });
    }
    case "dot": {
      const terms = e.terms.map(([a, b]) => [mapExpr(a, f), mapExpr(b, f)] as const);
      return f(terms.every((t, i) => t[0] === e.terms[i][0] && t[1] === e.terms[i][1]) ? e : { ...e, terms });
    }
    case "load": {
      if (!e.dynamic) return f(e);
      const at = mapExpr(e.dynamic.at, f);
      return f(at === e.dynamic.at ? e : { ...e, dynamic: { ...e.dynamic, at } });
    }
    default:
      return f(e);
  }
}

/** Visits the nodes of `e` in the order they print (left to right). */
export function visitExpr(e: Expr, f: (e: Expr) => void): void {
  f(e);
  if (e.k === "op") for (const a of e.args) visitExpr(a, f);
  else if (e.k === "load" && e.dynamic) visitExpr(e.dynamic.at, f);
  else if (e.k === "dot")
    for (const [a, b] of e.terms) {
      visitExpr(a, f);
      visitExpr(b, f);
    }
}

/** Every loop variable `v` in `e` replaced by `by`. */
export const substituteExpr = (e: Expr, v: string, by: Affine): Expr =>
  mapExpr(e, (x) => ((x.k === "load" || x.k === "index") && uses(x.index, v) ? { ...x, index: substitute(x.index, v, by) } : x));

// ---------------------------------------------------------------------------------------
// Statements

/** The expressions a statement evaluates itself (not its nested statements'). */
export function ownExprs(s: Stmt): Expr[] {
  switch (s.k) {
    case "store":
    case "let":
    case "assign":
    case "fill":
    case "result":
      return [s.value];
    case "block":
      return s.when ? [s.when] : [];
    default:
      return [];
  }
}

/** The same statement with `f` applied to its own expressions and, through loops and blocks, to nested ones. */
export function mapStmts(body: readonly Stmt[], f: (e: Expr) => Expr, g: (s: Stmt) => Stmt = (s) => s): Stmt[] {
  // Loop nests are as deep as a tensor's rank: recursion over nesting is bounded.
  return body.map((s) => {
    switch (s.k) {
      case "loop":
        return g({ ...s, body: mapStmts(s.body, f, g) });
      case "block":
        return g(s.when ? { ...s, when: f(s.when), body: mapStmts(s.body, f, g) } : { ...s, body: mapStmts(s.body, f, g) });
      case "store":
        return g(s.dynamic ? { ...s, value: f(s.value), dynamic: { ...s.dynamic, at: f(s.dynamic.at) } } : { ...s, value: f(s.value) });
      case "let":
      case "assign":
      case "fill":
      case "result":
        return g({ ...s, value: f(s.value) } as Stmt);
      default:
        return g(s);
    }
  });
}

/** Statements of a body and of every nested body, outer first; an explicit stack. */
export function allStmts(body: readonly Stmt[]): Stmt[] {
  const out: Stmt[] = [];
  const stack: Stmt[] = [...body].reverse();
  while (stack.length) {
    const s = stack.pop()!;
    out.push(s);
    if (s.k === "loop" || s.k === "block") for (let k = s.body.length - 1; k >= 0; k--) stack.push(s.body[k]);
  }
  return out;
}

export interface Access {
  buffer: Buffer;
  /** undefined: the whole buffer (fill, copy), or an index known only at run time. */
  index?: Affine;
  write: boolean;
  /** The store's operation, for writes. */
  op?: StoreOp;
}

/** What statements read and write: buffer elements, and locals by name. */
export interface Accesses {
  buffers: Access[];
  readLocals: Set<string>;
  writtenLocals: Set<string>;
  /** Locals assigned to after their declaration (running sums, carries). */
  assignedLocals: Set<string>;
  /** Whether a loop is nested in them. */
  nested: boolean;
}

/** Read and write sets of `body`, nested statements included. */
export function accesses(body: readonly Stmt[]): Accesses {
  const result: Accesses = { buffers: [], readLocals: new Set(), writtenLocals: new Set(), assignedLocals: new Set(), nested: false };
  const reads = (e: Expr) =>
    visitExpr(e, (x) => {
      if (x.k === "load") result.buffers.push({ buffer: x.buffer, index: x.dynamic ? undefined : x.index, write: false });
      else if (x.k === "local") result.readLocals.add(x.name);
    });
  for (const s of allStmts(body)) {
    switch (s.k) {
      case "loop":
        result.nested = true;
        break;
      case "store":
        result.buffers.push({ buffer: s.buffer, index: s.dynamic ? undefined : s.index, write: true, op: s.op });
        reads(s.value);
        if (s.dynamic) reads(s.dynamic.at);
        break;
      case "let":
        result.writtenLocals.add(s.name);
        reads(s.value);
        break;
      case "assign":
        result.writtenLocals.add(s.name);
        result.assignedLocals.add(s.name);
        if (s.op !== "=") result.readLocals.add(s.name);
        reads(s.value);
        break;
      case "fill":
        result.buffers.push({ buffer: s.buffer, write: true });
        reads(s.value);
        break;
      case "copy":
        result.buffers.push({ buffer: s.to, write: true }, { buffer: s.from, write: false });
        break;
      case "kernel":
        for (const b of s.reads) result.buffers.push({ buffer: b, write: false });
        for (const b of s.writes) result.buffers.push({ buffer: b, write: true });
        break;
      case "result":
        reads(s.value);
        break;
      case "block":
        if (s.bind) result.writtenLocals.add(s.bind.v);
        if (s.when) reads(s.when);
        break;
    }
  }
  return result;
}

/** Names a statement list touches that something else could conflict with: locals, and buffers other than arguments. */
export function touchedNames(body: readonly Stmt[]): Set<string> {
  const a = accesses(body);
  const names = new Set<string>([...a.readLocals, ...a.writtenLocals]);
  for (const x of a.buffers) if (x.buffer.kind !== "argument") names.add(bufferKey(x.buffer));
  return names;
}

/** How buffers are told apart in name sets (locals and buffers never share a key). */
export const bufferKey = (b: Buffer): string => `[${b.name}]`;

/** `body` with loop variable `v` replaced by `by` in every index (loads, stores, bound variables). */
export function substituteStmts(body: readonly Stmt[], v: string, by: Affine): Stmt[] {
  return mapStmts(
    body,
    (e) => substituteExpr(e, v, by),
    (s) => (s.k === "store" && uses(s.index, v) ? { ...s, index: substitute(s.index, v, by) } : s.k === "block" && s.bind && uses(s.bind.value, v) ? { ...s, bind: { ...s.bind, value: substitute(s.bind.value, v, by) } } : s),
  );
}

/** `body` with locals renamed by `rename` (declarations, assignments and reads). */
export function renameLocals(body: readonly Stmt[], rename: (name: string) => string): Stmt[] {
  return mapStmts(
    body,
    (e) => mapExpr(e, (x) => (x.k === "local" ? { ...x, name: rename(x.name) } : x)),
    (s) => (s.k === "let" || s.k === "assign" ? { ...s, name: rename(s.name) } : s),
  );
}

/** Statements directly in `body` that nest others (loops, blocks). */
export const hasNested = (body: readonly Stmt[]): boolean => body.some((s) => s.k === "loop" || s.k === "block");
