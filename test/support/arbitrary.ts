// Random well-typed `.expr` programs for differential fuzzing (the "Robustness" issue).
//
// A program is generated as a structured value (`FuzzProgram`: dims, defs, bindings and
// outputs, each expression a tree tagged with its shape) and printed to source text only
// when it is run, so fast-check shrinks the tree and every shrunk tree still prints to a
// well-typed program. Shapes are symbols (`s` scalar, vectors `n` `m` `L`, matrices `mn`
// `nm` `nn` `Ln`) whose sizes come from `dims`, so shrinking the dims or the tree never
// breaks typing: array literals print exactly as many elements as their shape needs
// (cycling through the generated ones), constant indices are taken modulo the dimension,
// and loop ranges are chosen at print time so that affine reads (`x[i+1]`, `M[i, 2*i]`,
// `x[3-i]`) stay in range; a read that cannot fit is printed wrapped, `x[(i+1) % 20]`; a
// generator inside another loop may start at the outer variable (`for j in i + 1..20`).
//
// Values stay in domains where gradients exist: `log(1 + e*e)`, `sqrt(1 + e*e)`,
// `asin(0.5*tanh(e))`, `e / (1 + d*d)`, `(1 + e*e) ^ tanh(d)`, `norm(1 + e*e)`,
// `floor(2*tanh(e))` (a few steps, never a dense staircase that looks like a slope), and
// `where(e > 0, sqrt(e), d)` (the guarded branch: NaN on the side not taken must not
// leak). Kinks and jumps (relu, abs, max, min, floor, sign, comparisons, where) are kept:
// `checkProgram` skips an element where two central-difference steps disagree, or where the
// one-sided differences do (a jump at the point itself).
//
// `checkProgram` compiles a program with emit "unrolled", "loops" and "tape" (each must
// succeed), runs them at random points, compares outputs and gradients (1e-12 relative
// between straight-line and loop code; the tape must equal the straight-line code), compares
// the allocation-free forms, and compares backward with central finite differences.

import fc from "fast-check";
import { compile } from "../../src/compile.js";
import { mulberry32 } from "../../src/random.js";

// ---- shapes -----------------------------------------------------------------------------

export type Shape = "s" | "n" | "m" | "L" | "mn" | "nm" | "nn" | "Ln";
export type VectorShape = "n" | "m" | "L";
export type MatrixShape = "mn" | "nm" | "nn" | "Ln";
export interface Dims {
  n: number;
  m: number;
  /** The long axis: at least 17, so comprehensions over it take the vectorized path. */
  L: number;
}

export const SHAPES: readonly Shape[] = ["s", "n", "m", "L", "mn", "nm", "nn", "Ln"];
const VECTORS: readonly VectorShape[] = ["n", "m", "L"];
const MATRICES: readonly MatrixShape[] = ["mn", "nm", "nn", "Ln"];
const TENSORS: readonly Shape[] = [...VECTORS, ...MATRICES];
/** [rows, columns] of a matrix, as vector shapes. */
const AXES: Record<MatrixShape, [VectorShape, VectorShape]> = { mn: ["m", "n"], nm: ["n", "m"], nn: ["n", "n"], Ln: ["L", "n"] };
const isVector = (s: Shape): s is VectorShape => s === "n" || s === "m" || s === "L";
const isMatrix = (s: Shape): s is MatrixShape => s.length === 2;

/** The concrete dimensions of a shape symbol. */
export function dimsOf(shape: Shape, d: Dims): number[] {
  if (shape === "s") return [];
  if (isVector(shape)) return [d[shape]];
  return AXES[shape].map((a) => d[a]);
}

/**
 * `@` in its four forms, by result shape: [m,n]@[n] -> [m], [m,n]@[n,p] -> [m,p],
 * [n]@[n,p] -> [p], [n]@[n] -> scalar.
 */
const MATMULS: Record<Shape, [Shape, Shape][]> = {
  s: [["n", "n"], ["m", "m"], ["L", "L"]],
  n: [["nm", "m"], ["nn", "n"], ["m", "mn"], ["n", "nn"], ["L", "Ln"]],
  m: [["mn", "n"], ["n", "nm"]],
  L: [["Ln", "n"]],
  mn: [["mn", "nn"]],
  nm: [["nn", "nm"]],
  nn: [["nm", "mn"], ["nn", "nn"]],
  Ln: [["Ln", "nn"]],
};
/** transpose(X) giving each matrix shape. */
const TRANSPOSES: Partial<Record<Shape, Shape>> = { mn: "nm", nm: "mn", nn: "nn" };

// ---- names ------------------------------------------------------------------------------

/** Argument names by shape: params first, then inputs. `sum` is a value name on purpose. */
export const ARGUMENTS: Record<Shape, { params: string[]; inputs: string[] }> = {
  s: { params: ["a", "b", "sum"], inputs: ["c"] },
  n: { params: ["u", "v"], inputs: ["d"] },
  m: { params: ["q"], inputs: ["r"] },
  L: { params: ["x", "y"], inputs: ["z"] },
  mn: { params: ["A"], inputs: ["G"] },
  nm: { params: ["B"], inputs: [] },
  nn: { params: ["C"], inputs: [] },
  Ln: { params: ["D"], inputs: ["E"] },
};
const CONST_NAMES: Record<VectorShape, string> = { n: "N", m: "M", L: "K" };

// ---- the program tree -------------------------------------------------------------------

/** An index: a constant (`loop` = -1), or `a*i + b` of the loop variable `loop` levels out. */
export interface Idx {
  loop: number;
  a: 1 | 2 | -1;
  b: number;
}

export type UnaryForm = (typeof UNARY_FORMS)[number];
export type BinaryForm = (typeof BINARY_FORMS)[number];
export type Reducer = (typeof REDUCERS)[number];

export type Ex =
  | { k: "leaf"; sh: Shape; w: number }
  | { k: "num"; sh: "s"; text: string }
  | { k: "loopvar"; sh: "s"; d: number }
  | { k: "un"; sh: Shape; f: UnaryForm; x: Ex }
  | { k: "bin"; sh: Shape; f: BinaryForm; x: Ex; y: Ex }
  | { k: "cmp"; sh: Shape; op: string; x: Ex; y: Ex }
  | { k: "where"; sh: Shape; c: Ex; x: Ex; y: Ex }
  | { k: "guard"; sh: Shape; f: "sqrt" | "log"; x: Ex; y: Ex }
  | { k: "call"; sh: Shape; def: number; args: Ex[] }
  | { k: "rcall"; sh: "s"; def: number; x: Ex }
  | { k: "index"; sh: Shape; base: Ex; idx: Idx[]; chain: boolean }
  | { k: "matmul"; sh: Shape; x: Ex; y: Ex }
  | { k: "transpose"; sh: Shape; x: Ex }
  | { k: "softmax"; sh: Shape; log: boolean; x: Ex }
  | { k: "red"; sh: "s"; f: Reducer; x: Ex }
  | { k: "dot"; sh: "s"; x: Ex; y: Ex }
  | { k: "array"; sh: Shape; elems: Ex[]; trailing: boolean; lines: boolean }
  | { k: "comp"; sh: Shape; body: Ex; lo: number }
  | { k: "gen"; sh: "s"; f: Reducer; body: Ex; lo: number; len: number };

/** A gate from a fixed catalogue (correct grad lines), or a plain def generated here. */
export type DefSpec =
  | { kind: "gate"; g: number; spaced: boolean }
  | { kind: "plain"; arity: 1 | 2; shadow: boolean; op: "+" | "*"; body: Ex };

export interface FuzzProgram {
  dims: Dims;
  /** Declare `const N, M, K` and use them in shapes, ranges and `%`. */
  consts: boolean;
  /** Statement separator and comments: `;` and `#` are part of the language too. */
  semicolons: boolean;
  comments: boolean;
  /** Loop variables named `a`, `b`... (shadowing the params of those names) instead of `i`, `j`. */
  shadowLoops: boolean;
  defs: DefSpec[];
  lets: Ex[];
  outputs: Ex[];
  /** Also `output <let>` for the let of this index (mod count), when there are lets. */
  exportLet: number | null;
}

// Gates with their analytic local gradients. `elementwise` gates take any shape (a scalar
// argument beside a tensor one gets the summed gradient); `reduce` gates take a tensor and
// give a scalar.
export const GATES: { name: string; params: string[]; body: string; grads: string[]; kind: "elementwise" | "reduce" }[] = [
  { name: "sig", params: ["z"], body: "1 / (1 + exp(-z))", grads: ["out * (1 - out)"], kind: "elementwise" },
  { name: "sq", params: ["p", "q"], body: "p * p * q", grads: ["2 * p * q", "p * p"], kind: "elementwise" },
  { name: "cube", params: ["x"], body: "x * x * x", grads: ["3 * x * x"], kind: "elementwise" },
  { name: "lse2", params: ["p", "q"], body: "log(exp(p) + exp(q))", grads: ["exp(p - out)", "exp(q - out)"], kind: "elementwise" },
  { name: "hyp", params: ["a", "b"], body: "sqrt(a*a + b*b + 1)", grads: ["a / out", "b / out"], kind: "elementwise" },
  { name: "sinx", params: ["z"], body: "sin(z) * z", grads: ["cos(z) * z + sin(z)"], kind: "elementwise" },
  { name: "twice", params: ["z"], body: "2 * z", grads: ["2"], kind: "elementwise" },
  { name: "sabs", params: ["z"], body: "abs(z) + z", grads: ["sign(z) + 1"], kind: "elementwise" },
  { name: "ss", params: ["v"], body: "sum(v * v)", grads: ["2 * v"], kind: "reduce" },
  { name: "nrm1", params: ["w"], body: "sqrt(1 + sum(w * w))", grads: ["w / out"], kind: "reduce" },
];

export const UNARY_FORMS = [
  "exp", "expsq", "log", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh",
  "sigmoid", "relu", "softplus", "abs", "sign", "floor", "ceil", "log1p", "expm1", "neg", "pos", "negneg",
] as const;
export const BINARY_FORMS = ["add", "sub", "mul", "div", "sq", "cube", "powf", "pow2", "powi", "max", "min", "atan2"] as const;
export const REDUCERS = ["sum", "mean", "prod", "max", "min", "norm", "logsumexp"] as const;
const COMPARISONS = ["<", "<=", ">", ">=", "==", "!="] as const;
const NUMBERS = ["0", "1", "2", "3", "0.5", ".5", "1.", "1.5", "0.25", "1e-3", "2.5E+1", "10", "0.1", "3.75"];

// ---- arbitraries ------------------------------------------------------------------------

type Mode = "top" | "def";
const memo = new Map<string, fc.Arbitrary<Ex>>();

const idxArb = (loops: number): fc.Arbitrary<Idx> =>
  loops === 0
    ? fc.nat(30).map((b) => ({ loop: -1, a: 1 as const, b }))
    : fc.oneof(
        { arbitrary: fc.record({ loop: fc.integer({ min: 0, max: loops - 1 }), a: fc.constantFrom<1 | 2 | -1>(1, 1, 1, 2, -1), b: fc.integer({ min: -2, max: 3 }) }), weight: 3 },
        { arbitrary: fc.nat(30).map((b) => ({ loop: -1, a: 1 as const, b })), weight: 1 },
      );

/** An expression of shape `sh`, at most `depth` levels deep, inside `loops` loops. */
export function exprArb(sh: Shape, depth: number, loops = 0, mode: Mode = "top"): fc.Arbitrary<Ex> {
  const key = `${sh}|${depth}|${loops}|${mode}`;
  const cached = memo.get(key);
  if (cached) return cached;
  const leaf = fc.nat(7).map((w): Ex => ({ k: "leaf", sh, w }));
  const options: fc.WeightedArbitrary<Ex>[] = [{ arbitrary: leaf, weight: 4 }];
  if (sh === "s") {
    options.push({ arbitrary: fc.constantFrom(...NUMBERS).map((text): Ex => ({ k: "num", sh: "s", text })), weight: 2 });
    if (loops > 0) options.push({ arbitrary: fc.integer({ min: 0, max: loops - 1 }).map((d): Ex => ({ k: "loopvar", sh: "s", d })), weight: 1 });
  }
  if (loops > 0 && mode === "top") {
    // Reads of a named tensor at the loop variables, even at depth 0: the bodies that the
    // checker vectorizes (`x[i+1] - x[i]`, `M[i, 2*i]`, a row `M[i]`).
    const loopIdx = fc.record({ loop: fc.integer({ min: 0, max: loops - 1 }), a: fc.constantFrom<1 | 2 | -1>(1, 1, 1, 1, 2, -1), b: fc.integer({ min: -2, max: 3 }) });
    const bases = sh === "s" ? TENSORS : isVector(sh) ? MATRICES.filter((t) => AXES[t][1] === sh) : [];
    for (const t of bases) {
      const rank = sh === "s" && isMatrix(t) ? 2 : 1;
      options.push({
        arbitrary: fc
          .record({ w: fc.nat(7), idx: fc.array(fc.oneof({ arbitrary: loopIdx, weight: 3 }, idxArb(loops)), { minLength: rank, maxLength: rank }), chain: fc.boolean() })
          .map(({ w, idx, chain }): Ex => ({ k: "index", sh, base: { k: "leaf", sh: t, w }, idx, chain })),
        weight: t === "L" || t === "Ln" ? 3 : 1,
      });
    }
  }
  if (depth > 0) {
    const sub = (s: Shape) => exprArb(s, depth - 1, loops, mode);
    const subLeafy = (s: Shape) => fc.oneof({ arbitrary: exprArb(s, 0, loops, mode), weight: 2 }, { arbitrary: sub(s), weight: 1 });
    /** Operands of an elementwise operation giving `sh`: both `sh`, or one a broadcast scalar. */
    const pair = sh === "s" ? fc.tuple(sub("s"), sub("s")) : fc.oneof({ arbitrary: fc.tuple(sub(sh), sub(sh)), weight: 3 }, fc.tuple(sub(sh), sub("s")), fc.tuple(sub("s"), sub(sh)));
    const either = sh === "s" ? sub("s") : fc.oneof({ arbitrary: sub(sh), weight: 2 }, sub("s"));
    const cmpOf = (s: Shape) => fc.record({ op: fc.constantFrom(...COMPARISONS), xy: s === "s" ? fc.tuple(sub("s"), sub("s")) : fc.tuple(sub(s), either) }).map(({ op, xy }): Ex => ({ k: "cmp", sh: s, op, x: xy[0], y: xy[1] }));
    options.push(
      { arbitrary: fc.record({ f: fc.constantFrom(...UNARY_FORMS), x: sub(sh) }).map(({ f, x }): Ex => ({ k: "un", sh, f, x })), weight: 4 },
      { arbitrary: fc.record({ f: fc.constantFrom(...BINARY_FORMS), xy: pair }).map(({ f, xy }): Ex => ({ k: "bin", sh, f, x: xy[0], y: xy[1] })), weight: 5 },
      { arbitrary: cmpOf(sh), weight: 1 },
      { arbitrary: fc.record({ c: sh === "s" ? cmpOf("s") : fc.oneof(cmpOf(sh), cmpOf("s")), x: sub(sh), y: either }).map(({ c, x, y }): Ex => ({ k: "where", sh, c, x, y })), weight: 1 },
      { arbitrary: fc.record({ f: fc.constantFrom<"sqrt" | "log">("sqrt", "log"), x: sub(sh), y: either }).map(({ f, x, y }): Ex => ({ k: "guard", sh, f, x, y })), weight: 1 },
      { arbitrary: fc.record({ def: fc.nat(5), args: fc.tuple(sub(sh), either) }).map(({ def, args }): Ex => ({ k: "call", sh, def, args })), weight: 2 },
    );
    if (mode === "top") {
      // Indexing: an element of any tensor, or a row of a matrix.
      if (sh === "s") {
        for (const t of TENSORS) {
          const rank = isMatrix(t) ? 2 : 1;
          options.push({
            arbitrary: fc
              .record({ base: subLeafy(t), idx: fc.array(idxArb(loops), { minLength: rank, maxLength: rank }), chain: fc.boolean() })
              .map(({ base, idx, chain }): Ex => ({ k: "index", sh, base, idx, chain })),
            weight: t === "L" || t === "Ln" ? 2 : 1,
          });
        }
      } else if (isVector(sh)) {
        for (const t of MATRICES.filter((t) => AXES[t][1] === sh))
          options.push({ arbitrary: fc.record({ base: subLeafy(t), i: idxArb(loops) }).map(({ base, i }): Ex => ({ k: "index", sh, base, idx: [i], chain: false })), weight: 1 });
      }
      for (const [l, r] of MATMULS[sh]) options.push({ arbitrary: fc.tuple(sub(l), sub(r)).map(([x, y]): Ex => ({ k: "matmul", sh, x, y })), weight: 1 });
      const t = TRANSPOSES[sh];
      if (t) options.push({ arbitrary: sub(t).map((x): Ex => ({ k: "transpose", sh, x })), weight: 1 });
      if (isVector(sh)) options.push({ arbitrary: fc.record({ log: fc.boolean(), x: sub(sh) }).map(({ log, x }): Ex => ({ k: "softmax", sh, log, x })), weight: 1 });
      if (sh !== "s") {
        const element: Shape = isVector(sh) ? "s" : AXES[sh][1];
        options.push({
          arbitrary: fc
            .record({ elems: fc.array(sub(element), { minLength: 1, maxLength: 4 }), trailing: fc.boolean(), lines: fc.boolean() })
            .map(({ elems, trailing, lines }): Ex => ({ k: "array", sh, elems, trailing, lines })),
          weight: 1,
        });
        if (loops < 2)
          options.push({
            arbitrary: fc.record({ body: exprArb(element, depth - 1, loops + 1, mode), lo: fc.integer({ min: -2, max: 2 }) }).map(({ body, lo }): Ex => ({ k: "comp", sh, body, lo })),
            weight: sh === "L" ? 3 : 2,
          });
      }
      if (sh === "s") {
        const tensor = fc.oneof(...TENSORS.map((t) => sub(t)));
        options.push(
          { arbitrary: fc.record({ f: fc.constantFrom(...REDUCERS), x: tensor }).map(({ f, x }): Ex => ({ k: "red", sh: "s", f, x })), weight: 3 },
          { arbitrary: fc.oneof(...TENSORS.map((t) => fc.tuple(sub(t), sub(t)))).map(([x, y]): Ex => ({ k: "dot", sh: "s", x, y })), weight: 1 },
          { arbitrary: fc.record({ def: fc.nat(5), x: tensor }).map(({ def, x }): Ex => ({ k: "rcall", sh: "s", def, x })), weight: 1 },
        );
        if (loops < 2)
          options.push({
            arbitrary: fc
              .record({
                f: fc.constantFrom(...REDUCERS),
                body: fc.oneof({ arbitrary: exprArb("s", depth - 1, loops + 1, mode), weight: 4 }, exprArb("n", depth - 1, loops + 1, mode)),
                lo: fc.integer({ min: -2, max: 3 }),
                len: fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 16, max: 24 })),
              })
              .map(({ f, body, lo, len }): Ex => ({ k: "gen", sh: "s", f, body, lo, len })),
            weight: 3,
          });
      }
    }
  }
  const arb = fc.oneof({ withCrossShrink: true, maxDepth: depth + 1 }, ...options);
  memo.set(key, arb);
  return arb;
}

export const defArb: fc.Arbitrary<DefSpec> = fc.oneof(
  fc.record({ kind: fc.constant("gate" as const), g: fc.nat(GATES.length - 1), spaced: fc.boolean() }),
  fc.record({
    kind: fc.constant("plain" as const),
    arity: fc.constantFrom<1 | 2>(1, 2),
    shadow: fc.boolean(),
    op: fc.constantFrom<"+" | "*">("+", "*"),
    body: exprArb("s", 2, 0, "def"),
  }),
);

export interface ProgramOptions {
  /** Expression depth of bindings and outputs (default 3). */
  depth?: number;
  /** Largest `n` (default 5) and `m` (default 4); `L` is always 17..22. */
  maxN?: number;
  maxM?: number;
}

/** Random programs: dims, defs, bindings and one to three outputs. */
export function programArb(options: ProgramOptions = {}): fc.Arbitrary<FuzzProgram> {
  const depth = options.depth ?? 3;
  const anyShape = (weights: Record<Shape, number>) => fc.oneof(...SHAPES.map((sh) => ({ arbitrary: exprArb(sh, depth), weight: weights[sh] })));
  const letWeights = { s: 3, n: 2, m: 1, L: 2, mn: 1, nm: 1, nn: 1, Ln: 1 };
  const outWeights = { s: 6, n: 1, m: 1, L: 1, mn: 1, nm: 1, nn: 1, Ln: 1 };
  return fc.record({
    dims: fc.record({ n: fc.integer({ min: 1, max: options.maxN ?? 5 }), m: fc.integer({ min: 1, max: options.maxM ?? 4 }), L: fc.integer({ min: 17, max: 22 }) }),
    consts: fc.boolean(),
    semicolons: fc.boolean(),
    comments: fc.boolean(),
    shadowLoops: fc.constantFrom(false, false, false, true),
    defs: fc.array(defArb, { maxLength: 3 }),
    lets: fc.array(anyShape(letWeights), { maxLength: 3 }),
    outputs: fc.array(anyShape(outWeights), { minLength: 1, maxLength: 3 }),
    exportLet: fc.option(fc.nat(3), { nil: null }),
  });
}

// ---- printing -----------------------------------------------------------------------------

/** Printed text and its precedence: 1 comparison, 2 `+ -`, 3 `* / @`, 4 unary, 5 `^`, 6 postfix, 7 primary. */
interface P {
  t: string;
  p: number;
}

interface Ctx {
  prog: FuzzProgram;
  lets: { name: string; sh: Shape }[];
  /** Inside a plain def body: its parameter names. */
  defParams?: string[];
  defs: { name: string; kind: "elementwise" | "reduce"; arity: number }[];
  loops: { name: string; lo: number; hi: number }[];
  used: Set<string>;
}

const wrap = (x: P, min: number): string => (x.p >= min ? x.t : `(${x.t})`);
const fn = (name: string, ...args: string[]): P => ({ t: `${name}(${args.join(", ")})`, p: 6 });
const sq = (x: P) => `${wrap(x, 4)}*${wrap(x, 4)}`;
const mod = (a: number, n: number) => ((a % n) + n) % n;

function dimText(ctx: Ctx, axis: VectorShape): string {
  return ctx.prog.consts ? CONST_NAMES[axis] : String(ctx.prog.dims[axis]);
}

/** `a..b`, with a const where a bound is a dimension (or one off it) and consts are on. */
function rangeText(ctx: Ctx, lo: number, hi: number): string {
  let hiText = String(hi);
  if (ctx.prog.consts) {
    for (const axis of VECTORS) {
      const d = ctx.prog.dims[axis];
      if (hi === d) hiText = CONST_NAMES[axis];
      else if (hi === d - 1) hiText = `${CONST_NAMES[axis]}-1`;
      else if (hi === d + 1) hiText = `${CONST_NAMES[axis]} + 1`;
      else continue;
      break;
    }
  }
  return `${lo}..${hiText}`;
}

/** The offset `c` of an index `a*i + c` into an axis of length `dim`. */
const offsetOf = (ix: Idx, dim: number) => (ix.a === -1 ? dim - 1 - ix.b : ix.b);

/** Values of the loop variable for which `a*i + c` stays in 0..dim-1. */
function validInterval(a: number, c: number, dim: number): [number, number] {
  if (a === 1) return [-c, dim - 1 - c];
  if (a === 2) return [Math.ceil(-c / 2), Math.floor((dim - 1 - c) / 2)];
  return [c - (dim - 1), c];
}

/** The axes (as vector shapes) that the indices of an index node read. */
function indexAxes(e: Extract<Ex, { k: "index" }>): VectorShape[] {
  const b = e.base.sh;
  if (isVector(b)) return [b];
  return AXES[b as MatrixShape].slice(0, e.idx.length);
}

/** Reads of the loop `level` loops out from `e`, as constraints on its variable. */
function loopReads(e: Ex, level: number, dims: Dims, out: [number, number][]): [number, number][] {
  switch (e.k) {
    case "leaf":
    case "num":
    case "loopvar":
      break;
    case "index":
      indexAxes(e).forEach((axis, k) => {
        const ix = e.idx[k];
        if (ix.loop === level) out.push(validInterval(ix.a, offsetOf(ix, dims[axis]), dims[axis]));
      });
      loopReads(e.base, level, dims, out);
      break;
    case "comp":
    case "gen":
      loopReads(e.body, level + 1, dims, out);
      break;
    default:
      for (const child of children(e)) loopReads(child, level, dims, out);
  }
  return out;
}

function children(e: Ex): Ex[] {
  switch (e.k) {
    case "leaf":
    case "num":
    case "loopvar":
      return [];
    case "un":
    case "transpose":
    case "softmax":
    case "red":
    case "rcall":
      return [e.x];
    case "bin":
    case "cmp":
    case "matmul":
    case "dot":
    case "guard":
      return [e.x, e.y];
    case "where":
      return [e.c, e.x, e.y];
    case "call":
      return e.args;
    case "index":
      return [e.base];
    case "array":
      return e.elems;
    case "comp":
    case "gen":
      return [e.body];
  }
}

/** The range of a loop of `len` steps: in bounds for every affine read when possible. */
function chooseRange(e: Extract<Ex, { k: "comp" | "gen" }>, len: number, ctx: Ctx, fixedLength: boolean): [number, number] {
  const reads = loopReads(e.body, 0, ctx.prog.dims, []);
  if (reads.length === 0) return [e.lo, e.lo + len];
  const lo = Math.max(...reads.map((r) => r[0]));
  const hi = Math.max(lo - 1, Math.min(...reads.map((r) => r[1])));
  const width = hi - lo + 1;
  if (width <= 0 || (fixedLength && width < len)) return [e.lo, e.lo + len];
  const n = fixedLength ? len : Math.min(len, width);
  const start = Math.min(Math.max(e.lo, lo), hi - n + 1);
  return [start, start + n];
}

function loopVariableName(ctx: Ctx): string {
  const names = ctx.prog.shadowLoops ? ["a", "sum", "b"] : ["i", "j", "k"];
  return names[ctx.loops.length] ?? `i${ctx.loops.length}`;
}

function indexText(ctx: Ctx, ix: Idx, axis: VectorShape): string {
  const dim = ctx.prog.dims[axis];
  if (ix.loop < 0 || ix.loop >= ctx.loops.length) return String(mod(ix.b, dim));
  const loop = ctx.loops[ctx.loops.length - 1 - ix.loop];
  const c = offsetOf(ix, dim);
  const v = loop.name;
  const text = ix.a === 1 ? (c === 0 ? v : c > 0 ? `${v} + ${c}` : `${v} - ${-c}`) : ix.a === 2 ? (c === 0 ? `2*${v}` : c > 0 ? `2*${v} + ${c}` : `2*${v} - ${-c}`) : `${c} - ${v}`;
  const [first, last] = [ix.a * loop.lo + c, ix.a * (loop.hi - 1) + c];
  if (Math.min(first, last) >= 0 && Math.max(first, last) < dim) return text;
  return `(${text}) % ${dimText(ctx, axis)}`;
}

function leafText(ctx: Ctx, sh: Shape, w: number): P {
  if (ctx.defParams) {
    const names = [...ctx.defParams, "a", "b"];
    const name = names[w % names.length];
    if (!ctx.defParams.includes(name)) ctx.used.add(name);
    return { t: name, p: 7 };
  }
  const args = [...ARGUMENTS[sh].params, ...ARGUMENTS[sh].inputs];
  const lets = ctx.lets.filter((l) => l.sh === sh).map((l) => l.name);
  const names = [...args, ...lets];
  const name = names[w % names.length];
  if (w % names.length < args.length) ctx.used.add(name);
  return { t: name, p: 7 };
}

function printEx(e: Ex, ctx: Ctx): P {
  const pr = (x: Ex) => printEx(x, ctx);
  switch (e.k) {
    case "leaf":
      return leafText(ctx, e.sh, e.w);
    case "num":
      return { t: e.text, p: 7 };
    case "loopvar": {
      const loop = ctx.loops[ctx.loops.length - 1 - e.d];
      return loop ? { t: loop.name, p: 7 } : { t: "1", p: 7 };
    }
    case "un": {
      const x = pr(e.x);
      switch (e.f) {
        case "exp":
          return fn("exp", fn("tanh", x.t).t);
        case "expsq":
          return fn("exp", `-${wrap(x, 6)}^2`);
        case "log":
        case "sqrt":
          return fn(e.f, `1 + ${sq(x)}`);
        case "tan":
        case "asin":
        case "acos":
          return fn(e.f, `0.5*tanh(${x.t})`);
        case "sinh":
        case "cosh":
        case "expm1":
          return fn(e.f, fn("tanh", x.t).t);
        case "log1p":
          return fn(e.f, sq(x));
        case "floor":
        case "ceil":
          // A few steps in all: a staircase of many steps within one finite-difference
          // step (floor of a value moving by thousands) looks smooth, with slope != 0.
          return fn(e.f, `2*tanh(${x.t})`);
        case "neg":
          return { t: `-${wrap(x, 4)}`, p: 4 };
        case "pos":
          return { t: `+${wrap(x, 4)}`, p: 4 };
        case "negneg":
          return { t: `--${wrap(x, 4)}`, p: 4 };
        default:
          return fn(e.f, x.t);
      }
    }
    case "bin": {
      const [x, y] = [pr(e.x), pr(e.y)];
      // Forms that use one operand use the one of the result's shape.
      const main = e.x.sh === e.sh ? x : y;
      switch (e.f) {
        case "add":
          return { t: `${wrap(x, 2)} + ${wrap(y, 3)}`, p: 2 };
        case "sub":
          return { t: `${wrap(x, 2)} - ${wrap(y, 3)}`, p: 2 };
        case "mul":
          return { t: `${wrap(x, 3)} * ${wrap(y, 4)}`, p: 3 };
        case "div":
          return { t: `${wrap(x, 3)} / (1 + ${sq(y)})`, p: 3 };
        case "sq":
          return { t: `${wrap(main, 6)} ^ 2`, p: 5 };
        case "cube":
          return { t: `${wrap(main, 6)} ^ 3`, p: 5 };
        case "powf":
          return { t: `(1 + ${sq(x)}) ^ tanh(${y.t})`, p: 5 };
        case "pow2":
          return fn("pow", `1 + ${sq(x)}`, fn("tanh", y.t).t);
        case "powi": {
          const loop = ctx.loops[ctx.loops.length - 1];
          return loop ? { t: `(1 + ${sq(main)}) ^ ${loop.name}`, p: 5 } : { t: `2 ^ -tanh(${main.t})`, p: 5 };
        }
        case "max":
        case "min":
          return fn(e.f, x.t, y.t);
        case "atan2":
          return fn("atan2", x.t, `1.5 + sin(${y.t})`);
      }
    }
    default:
      return printMore(e, ctx);
  }
}

function printMore(e: Ex, ctx: Ctx): P {
  const pr = (x: Ex) => printEx(x, ctx);
  switch (e.k) {
    case "cmp": {
      const [x, y] = [pr(e.x), pr(e.y)];
      return { t: `${wrap(x, 2)} ${e.op} ${wrap(y, 2)}`, p: 1 };
    }
    case "where":
      return fn("where", pr(e.c).t, pr(e.x).t, pr(e.y).t);
    case "guard": {
      const x = pr(e.x);
      return fn("where", `${wrap(x, 2)} > 0`, fn(e.f, x.t).t, pr(e.y).t);
    }
    case "call": {
      const defs = ctx.defs.filter((d) => d.kind === "elementwise");
      if (defs.length === 0) return pr(e.args[0]);
      const d = defs[e.def % defs.length];
      return fn(d.name, ...e.args.slice(0, d.arity).map((a) => pr(a).t));
    }
    case "rcall": {
      const defs = ctx.defs.filter((d) => d.kind === "reduce");
      return fn(defs.length ? defs[e.def % defs.length].name : "sum", pr(e.x).t);
    }
    case "index": {
      const base = wrap(pr(e.base), 6);
      const ix = indexAxes(e).map((axis, k) => indexText(ctx, e.idx[k], axis));
      return { t: ix.length === 2 && !e.chain ? `${base}[${ix[0]}, ${ix[1]}]` : `${base}${ix.map((i) => `[${i}]`).join("")}`, p: 6 };
    }
    case "matmul":
      return { t: `${wrap(pr(e.x), 3)} @ ${wrap(pr(e.y), 4)}`, p: 3 };
    case "transpose":
      return fn("transpose", pr(e.x).t);
    case "softmax":
      return fn(e.log ? "log_softmax" : "softmax", pr(e.x).t);
    case "red":
      return e.f === "norm" ? fn("norm", `1 + ${sq(pr(e.x))}`) : fn(e.f, pr(e.x).t);
    case "dot":
      return fn("dot", pr(e.x).t, pr(e.y).t);
    case "array": {
      const count = isVector(e.sh) ? ctx.prog.dims[e.sh] : ctx.prog.dims[AXES[e.sh as MatrixShape][0]];
      const items = Array.from({ length: count }, (_, k) => pr(e.elems[k % e.elems.length]).t);
      const sep = e.lines ? ",\n    " : ", ";
      return { t: `[${items.join(sep)}${e.trailing ? "," : ""}]`, p: 7 };
    }
    case "comp": {
      const count = isVector(e.sh) ? ctx.prog.dims[e.sh] : ctx.prog.dims[AXES[e.sh as MatrixShape][0]];
      const [lo, hi] = chooseRange(e, count, ctx, true);
      const name = loopVariableName(ctx);
      ctx.loops.push({ name, lo, hi });
      const body = pr(e.body).t;
      ctx.loops.pop();
      return { t: `[${body} for ${name} in ${rangeText(ctx, lo, hi)}]`, p: 7 };
    }
    case "gen": {
      const [lo, hi] = chooseRange(e, e.len, ctx, false);
      const name = loopVariableName(ctx);
      ctx.loops.push({ name, lo, hi });
      const body = pr(e.body);
      ctx.loops.pop();
      const element = e.f === "norm" ? `1 + ${sq(body)}` : body.t;
      // Inside another loop, a generator whose range is no shorter starts where the outer
      // variable is (`for j in i + c..hi`: a triangular range, masked, never empty).
      const outer = ctx.loops[ctx.loops.length - 1];
      if (outer && outer.hi - outer.lo <= hi - lo) {
        const c = lo - outer.lo;
        const from = c === 0 ? outer.name : c > 0 ? `${outer.name} + ${c}` : `${outer.name} - ${-c}`;
        return fn(e.f, `${element} for ${name} in ${from}..${rangeText(ctx, lo, hi).split("..").pop()}`);
      }
      return fn(e.f, `${element} for ${name} in ${rangeText(ctx, lo, hi)}`);
    }
    default:
      throw new Error(`printMore: unexpected node ${e.k}`);
  }
}

/** The source text of a program. */
export function printProgram(prog: FuzzProgram): string {
  const ctx: Ctx = { prog, lets: [], defs: [], loops: [], used: new Set() };
  const statements: string[] = [];
  prog.defs.forEach((d, k) => {
    if (d.kind === "gate") {
      const g = GATES[d.g];
      const name = `${g.name}${k}`;
      const lines = [`def ${name}(${g.params.join(", ")}) = ${g.body}`];
      g.params.forEach((p, j) => {
        if (d.spaced && j === 0 && !prog.semicolons) lines.push("", "# the local gradient");
        lines.push(`grad ${p} = ${g.grads[j]}`);
      });
      statements.push(lines.join(prog.semicolons ? "; " : "\n"));
      ctx.defs.push({ name, kind: g.kind, arity: g.params.length });
    } else {
      const params = (d.shadow ? ["x", "a"] : ["p", "q"]).slice(0, d.arity);
      const name = `fn${k}`;
      const inner: Ctx = { ...ctx, defParams: params, defs: [...ctx.defs], loops: [] };
      const body = printEx(d.body, inner);
      // The body starts from the first parameter, which calls pass the result's shape:
      // so the result has that shape whatever the rest reads.
      statements.push(`def ${name}(${params.join(", ")}) = ${params[0]} ${d.op} ${wrap(body, d.op === "+" ? 3 : 4)}`);
      ctx.defs.push({ name, kind: "elementwise", arity: d.arity });
    }
  });
  prog.lets.forEach((e, k) => {
    statements.push(`t${k} = ${printEx(e, ctx).t}`);
    ctx.lets.push({ name: `t${k}`, sh: e.sh });
  });
  const outputNames = ["f", "g", "h"];
  prog.outputs.forEach((e, k) => statements.push(`output ${outputNames[k] ?? `f${k}`} = ${printEx(e, ctx).t}`));
  if (prog.exportLet !== null && prog.lets.length) statements.push(`output t${prog.exportLet % prog.lets.length}`);

  const head: string[] = [];
  if (prog.consts) head.push(`const N = ${prog.dims.n}`, `const M = ${prog.dims.m}`, `const K = ${prog.dims.L}`);
  for (const role of ["input", "param"] as const) {
    const items: string[] = [];
    for (const sh of SHAPES) {
      for (const name of ARGUMENTS[sh][role === "param" ? "params" : "inputs"]) {
        if (!ctx.used.has(name)) continue;
        const dims = isVector(sh) ? [sh] : isMatrix(sh) ? AXES[sh] : [];
        items.push(dims.length ? `${name}[${dims.map((a) => dimText(ctx, a)).join(", ")}]` : name);
      }
    }
    if (items.length) head.push(`${role} ${items.join(", ")}`);
  }
  const all = [...head, ...statements];
  if (prog.semicolons) return all.join("; ") + (prog.comments ? "; # the end\n" : ";\n");
  return all.map((s, k) => (prog.comments ? `${s}  # statement ${k}` : s)).join("\n") + "\n";
}

// ---- running and checking -----------------------------------------------------------------

type Num = number | Float64Array;
type Record_ = Record<string, Num>;

/** What a generated module exports. */
export interface FuzzModule {
  forward(args: unknown): Record_;
  backward(args: unknown, seed?: unknown): { outputs: Record_; grad: Record_ };
  createOutputs(): Record_;
  createGrad(): Record_;
  forwardInto(args: unknown, outputs: Record_): Record_;
  backwardInto(args: unknown, seed: unknown, grad: Record_, outputs?: Record_): Record_;
}

/**
 * A generated ES module as an object, without the file system: the module imports nothing
 * and its only exports are `export function` declarations (and the flat form's `export
 * const paramSize`), so dropping `export` and returning the functions gives the same code to run.
 */
export function instantiate(code: string): FuzzModule {
  const body = code.replace(/^export (function|const) /gm, "$1 ");
  if (/^export\b/m.test(body)) throw new Error("the generated module has an export that is not a function declaration");
  return new Function(`"use strict";\n${body}\nreturn { forward, backward, createOutputs, createGrad, forwardInto, backwardInto };`)() as FuzzModule;
}

/** A failed check: which kind, the program and what differed. */
export class FuzzFailure extends Error {
  constructor(
    readonly kind: "compile" | "throw" | "forms" | "gradient",
    readonly source: string,
    detail: string,
  ) {
    super(`${kind}: ${detail}\n--- program ---\n${source}---------------`);
  }
}

/** mulberry32, the project's one seeded generator (src/random.ts). */
export { mulberry32 };

/** FNV-1a of a string: points are a function of the program, so shrinking is repeatable. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Equal as doubles, both NaN, or within `tol` relative to max(1, |a|, |b|). */
export function agree(a: number, b: number, tol: number): boolean {
  if (a === b || (a !== a && b !== b)) return true;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return false;
  return Math.abs(a - b) <= tol * Math.max(1, Math.abs(a), Math.abs(b));
}

const flatten = (v: Num | undefined): number[] => (v === undefined ? [] : typeof v === "number" ? [v] : Array.from(v));

/** A mismatch that `compareRecords` may accept after all (see `roundingOnly` in checkSource). */
type Tolerate = (key: string, i: number, x: number, y: number) => boolean;

function compareRecords(what: string, a: Record_, b: Record_, tol: number, source: string, tolerate?: Tolerate) {
  const kind = "forms";
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.join(",") !== kb.join(",")) throw new FuzzFailure(kind, source, `${what}: keys differ: [${ka}] and [${kb}]`);
  for (const k of ka) {
    const [x, y] = [flatten(a[k]), flatten(b[k])];
    if (typeof a[k] !== typeof b[k] || x.length !== y.length) throw new FuzzFailure(kind, source, `${what}.${k}: kinds differ: ${String(a[k])} and ${String(b[k])}`);
    x.forEach((v, i) => {
      if (!agree(v, y[i], tol) && !tolerate?.(k, i, v, y[i])) throw new FuzzFailure(kind, source, `${what}.${k}[${i}]: ${v} and ${y[i]} (relative tolerance ${tol})`);
    });
  }
}

export interface CheckStats {
  /** Gradient elements compared with finite differences, and skipped (near a kink or jump). */
  compared: number;
  skipped: number;
  /** Milliseconds in compile (every form). */
  compileMs: number;
  /** Differences between the forms past 1e-12 accepted as rounding (ill-conditioned values). */
  rounding?: number;
}

export interface CheckOptions {
  /** Random points per program (default 2). */
  points?: number;
  stats?: CheckStats;
}

/** Compile with every emitter (straight-line, loops, tape); each must succeed. */
export function compileBoth(source: string) {
  return (["unrolled", "loops", "tape"] as const).map((emit) => {
    let r: ReturnType<typeof compile>;
    try {
      r = compile(source, { filename: "fuzz.expr", format: "js", emit });
    } catch (e) {
      throw new FuzzFailure("throw", source, `compile (emit "${emit}") threw: ${e instanceof Error ? e.stack : String(e)}`);
    }
    if (!r.ok) throw new FuzzFailure("compile", source, `emit "${emit}" rejected a well-typed program:\n${r.diagnostics.map((d) => d.text).join("\n")}`);
    return r;
  });
}

/**
 * The differential and gradient check of one program's source (see the file header).
 * Throws a FuzzFailure; returns nothing when every check passes.
 */
export function checkSource(source: string, options: CheckOptions = {}): void {
  const stats = options.stats;
  const started = performance.now();
  const [unrolled, loops, tape] = compileBoth(source);
  if (stats) stats.compileMs += performance.now() - started;
  let mu: FuzzModule, ml: FuzzModule, mt: FuzzModule;
  try {
    [mu, ml, mt] = [instantiate(unrolled.code), instantiate(loops.code), instantiate(tape.code)];
  } catch (e) {
    throw new FuzzFailure("throw", source, `the generated module does not load: ${String(e)}`);
  }
  const iface = unrolled.interface;
  if (JSON.stringify(iface) !== JSON.stringify(loops.interface)) throw new FuzzFailure("forms", source, "the two forms have different interfaces");
  const random = mulberry32(hash(source));
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  const call = <T>(what: string, f: () => T): T => {
    try {
      return f();
    } catch (e) {
      // The first frame says where in the generated code (line:column of the module text).
      const frame = e instanceof Error ? (e.stack ?? "").split("\n").find((l) => /^\s+at /.test(l)) : undefined;
      throw new FuzzFailure("throw", source, `${what} threw: ${e instanceof Error ? e.message : String(e)}${frame ? `\n${frame.trim()}` : ""}`);
    }
  };

  for (let point = 0; point < (options.points ?? 2); point++) {
    const args: Record<string, number | Float64Array> = {};
    for (const a of iface.args) args[a.name] = a.shape.length ? Float64Array.from({ length: size(a.shape) }, () => random() * 4 - 2) : random() * 4 - 2;
    const lossCase = iface.outputs.length === 1 && iface.outputs[0].shape.length === 0;
    let seed: Record<string, number | Float64Array> | undefined;
    if (!(lossCase && random() < 0.5)) {
      seed = {};
      iface.outputs.forEach((o, k) => {
        if (k > 0 && random() < 0.25) return; // a missing seed contributes nothing
        seed![o.name] = o.shape.length ? Float64Array.from({ length: size(o.shape) }, () => random() * 2 - 1) : random() * 2 - 1;
      });
    }

    // The two forms agree, and each form's functions agree with each other, to 1e-12
    // relative. The forms may add and multiply in different orders; where a value is
    // ill-conditioned (sin of a product of fifteen numbers), that alone can move it past
    // 1e-12. Such a difference is accepted when rounding every argument differently (by
    // 2e-15 relative) moves the unrolled form's value by a tenth of it or more.
    const ru = call("backward (unrolled)", () => mu.backward(args, seed));
    const rl = call("backward (loops)", () => ml.backward(args, seed));
    const wobble = (part: "outputs" | "grad", key: string, i: number, x: number): number => {
      const r = mulberry32(hash(source) ^ 0x5bd1e995);
      const nudge = (v: number) => v * (1 + (r() * 2 - 1) * 2e-15);
      let most = 0;
      for (let t = 0; t < 4; t++) {
        const moved = Object.fromEntries(Object.entries(args).map(([k, v]) => [k, typeof v === "number" ? nudge(v) : v.map(nudge)]));
        const again = mu.backward(moved, seed)[part][key];
        most = Math.max(most, Math.abs((typeof again === "number" ? again : again[i]) - x));
      }
      return most;
    };
    const roundingOnly =
      (part: "outputs" | "grad"): Tolerate =>
      (key, i, x, y) => {
        const accepted = Number.isFinite(x) && Number.isFinite(y) && Math.abs(x - y) <= 10 * wobble(part, key, i, x);
        if (accepted && stats) stats.rounding = (stats.rounding ?? 0) + 1;
        return accepted;
      };
    // The tape runs the straight-line code's operations in its order: equal, bit for bit.
    const rt = call("backward (tape)", () => mt.backward(args, seed));
    compareRecords("outputs unrolled/tape", ru.outputs, rt.outputs, 0, source);
    compareRecords("grad unrolled/tape", ru.grad, rt.grad, 0, source);
    compareRecords("forward outputs unrolled/tape", call("forward (tape)", () => mt.forward(args)), ru.outputs, 0, source);
    compareRecords("outputs unrolled/loops", ru.outputs, rl.outputs, 1e-12, source, roundingOnly("outputs"));
    compareRecords("grad unrolled/loops", ru.grad, rl.grad, 1e-12, source, roundingOnly("grad"));
    compareRecords("forward/backward outputs (unrolled)", call("forward (unrolled)", () => mu.forward(args)), ru.outputs, 1e-12, source, roundingOnly("outputs"));
    compareRecords("forward/backward outputs (loops)", call("forward (loops)", () => ml.forward(args)), rl.outputs, 1e-12, source, roundingOnly("outputs"));

    // Backward against central finite differences of F = sum over seeded outputs of seed . output.
    const holder = mu.createOutputs();
    const weights = iface.outputs.map((o) => (seed === undefined ? [1] : flatten(seed[o.name])));
    const F = (at: Record<string, number | Float64Array>) => {
      mu.forwardInto(at, holder);
      let total = 0;
      iface.outputs.forEach((o, k) => {
        const w = weights[k];
        if (!w.length) return;
        const v = holder[o.name];
        if (typeof v === "number") total += w[0] * v;
        else for (let i = 0; i < w.length; i++) total += w[i] * v[i];
      });
      return total;
    };
    const F0 = F(args);
    for (const a of Number.isFinite(F0) && Math.abs(F0) <= 1e12 ? iface.args : []) {
      if (a.role !== "param") continue;
      const analytic = flatten(ru.grad[a.name]);
      for (let i = 0; i < analytic.length; i++) {
        const base = args[a.name];
        const x0 = typeof base === "number" ? base : base[i];
        const moved = (x: number) => {
          const copy = { ...args };
          if (typeof base === "number") copy[a.name] = x;
          else {
            const v = base.slice();
            v[i] = x;
            copy[a.name] = v;
          }
          return F(copy);
        };
        const h1 = 1e-5 * Math.max(1, Math.abs(x0));
        const h2 = h1 / 4;
        const [p1, m1, p2, m2] = [moved(x0 + h1), moved(x0 - h1), moved(x0 + h2), moved(x0 - h2)];
        const fd1 = (p1 - m1) / (2 * h1);
        const fd2 = (p2 - m2) / (2 * h2);
        const magnitude = Math.max(Math.abs(F0), Math.abs(p1), Math.abs(m1));
        const noise = (1e-15 * magnitude) / h2;
        const g = analytic[i];
        const scale = Math.max(1, Math.abs(fd1), Math.abs(fd2));
        // One-sided differences see a jump at the point itself (a comparison of two values
        // equal in exact arithmetic but rounded differently, `cube(t) < t^3`, flips from
        // point to point), which central differences step over.
        const bend = Math.abs((p2 - F0) / h2 - (F0 - m2) / h2);
        if (!Number.isFinite(fd1) || !Number.isFinite(fd2) || Math.abs(fd1 - fd2) > 1e-6 * scale + 10 * noise || bend > 1e-2 * scale + 100 * noise) {
          if (stats) stats.skipped++;
          continue;
        }
        if (stats) stats.compared++;
        if (!(Math.abs(g - fd2) <= 1e-5 * scale + 100 * noise))
          throw new FuzzFailure("gradient", source, `d/d ${a.name}[${i}] at ${JSON.stringify(Object.fromEntries(Object.entries(args).map(([k, v]) => [k, flatten(v)])))}${seed ? ` seed ${JSON.stringify(Object.fromEntries(Object.entries(seed).map(([k, v]) => [k, flatten(v)])))}` : ""}: backward gives ${g}, central differences ${fd1} (step ${h1}) and ${fd2} (step ${h2})`);
      }
    }

    // The allocation-free forms overwrite holders full of garbage with the same values.
    for (const [m, r, form] of [[mu, ru, "unrolled"], [ml, rl, "loops"]] as const) {
      const g = m.createGrad();
      const o = m.createOutputs();
      for (const h of [g, o]) for (const k of Object.keys(h)) typeof h[k] === "number" ? (h[k] = 12345) : (h[k] as Float64Array).fill(NaN);
      call(`backwardInto (${form})`, () => m.backwardInto(args, seed, g, o));
      compareRecords(`backwardInto/backward grad (${form})`, g, r.grad, 0, source);
      compareRecords(`backwardInto/backward outputs (${form})`, o, r.outputs, 0, source);
    }
  }
}

/** Print and check a generated program. */
export function checkProgram(prog: FuzzProgram, options: CheckOptions = {}): void {
  checkSource(printProgram(prog), options);
}
