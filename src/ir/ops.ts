// The elementwise operations of the IR, one row each: arity, whether operands commute
// (hash-consing sorts them), how to evaluate one element (constant folding and the
// reference interpreter use this), and how to print one element as JavaScript.
// Derivative rules live in ../diff/rules.ts, keyed by the same names.
//
// Adding an elementwise built-in: a row here, a rule in diff/rules.ts, a line in
// check/builtins.ts mapping the source name to the op, and a line in the reference.

import { LINALG_SOURCE } from "./linalg.js";

export interface ElementwiseOp {
  arity: 1 | 2 | 3;
  commutative?: boolean;
  /** Value of one element, with JavaScript's IEEE semantics. */
  evaluate: (...x: number[]) => number;
  /** JavaScript for one element; operands are already-printed expressions. */
  print: (...x: string[]) => string;
  /** Module-level helper functions the printed form calls. */
  helpers?: string[];
  /** A comparison's JavaScript operator, for a selection that tests it (`a <= b ? x : y`). */
  test?: string;
  /** A selection's JavaScript given its test as a boolean expression (`where`, `mask`). */
  choose?: (test: string, a: string, b: string) => string;
}

const call = (f: string) => (...x: string[]) => `${f}(${x.join(", ")})`;
const infix = (op: string) => (a: string, b: string) => `(${a} ${op} ${b})`;
/**
 * `(a + b)` of a commutative operator, a lone name first: V8 computes the other operand into
 * its accumulator and combines the name's register with it, where a name second costs saving
 * that value to a register and loading the name (4 bytes of bytecode more, counted against V8's
 * inlining limit). Exact: + and * commute in IEEE arithmetic.
 */
const NAME = /^[A-Za-z_$][\w$]*$/;
const commuting = (op: string) => (a: string, b: string) => (NAME.test(b) && !NAME.test(a) ? `(${b} ${op} ${a})` : `(${a} ${op} ${b})`);

/** The value of an operand printed as a numeric literal (`2`, `(-0.5)`, `Infinity`), else undefined; NaN too. */
function literalValue(text: string): number | undefined {
  const inner = text.startsWith("(-") && text.endsWith(")") ? text.slice(1, -1) : text;
  if (!/^-?(?:\d[\d.e+-]*|Infinity)$/.test(inner)) return undefined;
  const v = Number(inner);
  return Number.isNaN(v) ? undefined : v;
}

/**
 * max and min of a constant and a name: `(t <= 0 ? 0 : t)` for max(0, t), a test and a choice
 * where Math.max is a call, fewer bytes of bytecode (a clamp's two calls took the point-segment
 * distance's kernel past V8's inlining limit) and faster inlined (the same kernel, inlined
 * either way: 1.91x the hand-written function with the calls, 1.81x with the choices). Exact:
 * a NaN fails the test and is returned, and of two zeros the constant is returned only when it
 * has the sign Math.max (+0) or Math.min (-0) returns. Anything but a name, which the choice
 * would print twice, keeps the call; straight-line code names such an operand (emit/straight.ts).
 */
function extremum(kind: "max" | "min") {
  return (a: string, b: string): string => {
    const [c, x] = literalValue(a) !== undefined ? [a, b] : [b, a];
    const v = literalValue(c);
    if (v === undefined || literalValue(x) !== undefined || !/^[\w$]+$/.test(x)) return `Math.${kind}(${a}, ${b})`;
    const test = kind === "max" ? (Object.is(v, -0) ? "<" : "<=") : Object.is(v, 0) ? ">" : ">=";
    return `(${x} ${test} ${c} ? ${c} : ${x})`;
  };
}

/** Whether max/min of these operands prints as a choice (extremum): one non-NaN constant. */
export function extremumOfConstant(a: { op: string; value?: number }, b: { op: string; value?: number }): boolean {
  const constant = (n: { op: string; value?: number }) => n.op === "const" && !Number.isNaN(n.value);
  return constant(a) !== constant(b);
}

// Stable forms used by the evaluator and emitted as helpers into generated modules.
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}
export function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/** JavaScript text of the helpers, by name; written into a module only when used. */
export const HELPER_SOURCE: Record<string, string> = {
  ...LINALG_SOURCE,
  sigmoid:
    "function sigmoid(x) {\n  if (x >= 0) return 1 / (1 + Math.exp(-x));\n  const e = Math.exp(x);\n  return e / (1 + e);\n}",
  MASKED_ZERO: "const MASKED_ZERO = new Float64Array(1);",
  chainMul: "function chainMul(g, local) {\n  return g === 0 ? 0 : g * local;\n}",
  // Math.max(x, 0), NaN and -0 included, without the cost of Math.max's general case in V8
  // (the spiral net's forward pass: 0.8x the time).
  relu: "function relu(x) {\n  return x <= 0 ? 0 : x;\n}",
  lseFinish: "function lseFinish(m, s) {\n  return m === Infinity || m === -Infinity || m !== m ? m : m + Math.log(s);\n}",
  mod: "function mod(a, b) {\n  return a - b * Math.floor(a / b);\n}",
  softplus: "function softplus(x) {\n  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));\n}",
};

export const ELEMENTWISE = {
  neg: { arity: 1, evaluate: (a) => -a, print: (a) => `(-${a})` },
  exp: { arity: 1, evaluate: Math.exp, print: call("Math.exp") },
  log: { arity: 1, evaluate: Math.log, print: call("Math.log") },
  sqrt: { arity: 1, evaluate: Math.sqrt, print: call("Math.sqrt") },
  sin: { arity: 1, evaluate: Math.sin, print: call("Math.sin") },
  cos: { arity: 1, evaluate: Math.cos, print: call("Math.cos") },
  tan: { arity: 1, evaluate: Math.tan, print: call("Math.tan") },
  asin: { arity: 1, evaluate: Math.asin, print: call("Math.asin") },
  acos: { arity: 1, evaluate: Math.acos, print: call("Math.acos") },
  atan: { arity: 1, evaluate: Math.atan, print: call("Math.atan") },
  sinh: { arity: 1, evaluate: Math.sinh, print: call("Math.sinh") },
  cosh: { arity: 1, evaluate: Math.cosh, print: call("Math.cosh") },
  tanh: { arity: 1, evaluate: Math.tanh, print: call("Math.tanh") },
  sigmoid: { arity: 1, evaluate: sigmoid, print: call("sigmoid"), helpers: ["sigmoid"] },
  softplus: { arity: 1, evaluate: softplus, print: call("softplus"), helpers: ["softplus"] },
  // A variable or array read is cheap to name twice; anything else goes through the helper.
  // Math.max keeps NaN a NaN (and turns -0 into 0); V8 compiles it to one instruction.
  relu: { arity: 1, evaluate: (a) => Math.max(a, 0), print: call("relu"), helpers: ["relu"] },
  abs: { arity: 1, evaluate: Math.abs, print: call("Math.abs") },
  sign: { arity: 1, evaluate: Math.sign, print: call("Math.sign") },
  floor: { arity: 1, evaluate: Math.floor, print: call("Math.floor") },
  ceil: { arity: 1, evaluate: Math.ceil, print: call("Math.ceil") },
  log1p: { arity: 1, evaluate: Math.log1p, print: call("Math.log1p") },
  expm1: { arity: 1, evaluate: Math.expm1, print: call("Math.expm1") },

  add: { arity: 2, commutative: true, evaluate: (a, b) => a + b, print: commuting("+") },
  sub: { arity: 2, evaluate: (a, b) => a - b, print: infix("-") },
  mul: { arity: 2, commutative: true, evaluate: (a, b) => a * b, print: commuting("*") },
  div: { arity: 2, evaluate: (a, b) => a / b, print: infix("/") },
  pow: { arity: 2, evaluate: Math.pow, print: call("Math.pow") },
  max: { arity: 2, commutative: true, evaluate: (a, b) => Math.max(a, b), print: extremum("max") },
  min: { arity: 2, commutative: true, evaluate: (a, b) => Math.min(a, b), print: extremum("min") },
  atan2: { arity: 2, evaluate: Math.atan2, print: call("Math.atan2") },
  /** `%` of the language, on loop variables (index arithmetic): the mathematical modulo. */
  mod: { arity: 2, evaluate: (a, b) => a - b * Math.floor(a / b), print: call("mod"), helpers: ["mod"] },
  lt: { arity: 2, evaluate: (a, b) => +(a < b), print: (a, b) => `(${a} < ${b} ? 1 : 0)`, test: "<" },
  le: { arity: 2, evaluate: (a, b) => +(a <= b), print: (a, b) => `(${a} <= ${b} ? 1 : 0)`, test: "<=" },
  gt: { arity: 2, evaluate: (a, b) => +(a > b), print: (a, b) => `(${a} > ${b} ? 1 : 0)`, test: ">" },
  ge: { arity: 2, evaluate: (a, b) => +(a >= b), print: (a, b) => `(${a} >= ${b} ? 1 : 0)`, test: ">=" },
  eq: { arity: 2, commutative: true, evaluate: (a, b) => +(a === b), print: (a, b) => `(${a} === ${b} ? 1 : 0)`, test: "===" },
  ne: { arity: 2, commutative: true, evaluate: (a, b) => +(a !== b), print: (a, b) => `(${a} !== ${b} ? 1 : 0)`, test: "!==" },
  /** `where(c, a, b)`: a where c is non-zero, else b. */
  where: { arity: 3, evaluate: (c, a, b) => (c !== 0 ? a : b), print: (c, a, b) => `(${c} !== 0 ? ${a} : ${b})`, choose: (t, a, b) => `(${t} ? ${a} : ${b})` },
  /**
   * Backward only: `where(c, a, b)` whose two values are computed on every path, before the
   * choice, and never put in a branch of their own (emit/branches.ts): for a rare side that a
   * stable derivative needs (atan2's, past magnitudes of 1e150). V8 compiles code that has
   * never run as a deoptimization exit, after which it does not peel a caller's loop and
   * boxes the returned number (the angle's flat kernel: 1.35x the hand-written time with the
   * rare side in a branch); computed on every path, its arithmetic has run, and TurboFan moves
   * it to the side that uses it.
   */
  pick: { arity: 3, evaluate: (c, a, b) => (c !== 0 ? a : b), print: (c, a, b) => `(${c} !== 0 ? ${a} : ${b})`, choose: (t, a, b) => `(${t} ? ${a} : ${b})` },
  /**
   * Backward only: `where(c, a, b)` as the derivative rules make it, a branch that is 0
   * standing for "no gradient here" (the branch `where` did not select, a tie's loser): a
   * masked zero. Its own op so that the graph can tell such zeros from computed ones, which
   * chain-rule products need not guard (Graph.mayHoldMaskedZeros), through every rebuild.
   */
  // A zero branch is printed as a read of a zero held in memory, not the literal 0: when a
  // value several masks read is used only in their selected branches, V8 (TurboFan's node
  // splitting) copies its whole computation into each of them, unless a branch loads; the
  // BA Jacobian took 1.6-1.9x the time with literal zeros.
  mask: {
    arity: 3,
    evaluate: (c, a, b) => (c !== 0 ? a : b),
    print: (c, a, b) => `(${c} !== 0 ? ${a === "0" ? "MASKED_ZERO[0]" : a} : ${b === "0" ? "MASKED_ZERO[0]" : b})`,
    choose: (t, a, b) => `(${t} ? ${a === "0" ? "MASKED_ZERO[0]" : a} : ${b === "0" ? "MASKED_ZERO[0]" : b})`,
    helpers: ["MASKED_ZERO"],
  },
  /**
   * Scalar form of logsumexp's last step: `m + log(s)`, `m` the maximum and `s` the sum of
   * `exp(x - m)`; an infinite or NaN maximum is the answer itself. Made by scalarize only.
   */
  lseFinish: {
    arity: 2,
    evaluate: (m, s) => (m === Infinity || m === -Infinity || m !== m ? m : m + Math.log(s)),
    print: call("lseFinish"),
    helpers: ["lseFinish"],
  },
  /** Its operand's value, through which no gradient flows (the shift of stable softmax). */
  stop: { arity: 1, evaluate: (a) => a, print: (a) => a },
  /**
   * Backward only: relu's chain rule, `g` where `x > 0` and exactly 0 elsewhere (even for
   * an infinite or NaN `g`, as PyTorch's threshold_backward). A select, so the upstream
   * gradient of an inactive unit is never computed.
   */
  reluGrad: { arity: 2, evaluate: (g, x) => (x > 0 ? g : 0), print: (g, x) => `(${x} > 0 ? ${g} : 0)` },
  /**
   * Backward only: the chain-rule product `upstream * local` when the upstream may be a
   * masked zero (from `where`, or an output left out of the seed). A zero upstream
   * contributes exactly zero, even when the local gradient is infinite or NaN.
   */
  // Written out when the upstream is a name or an element (read twice at no cost; an index
  // without brackets or calls in it, so the text cannot grow with nesting): a Jacobian's
  // sweeps hold hundreds of these, and V8 stops inlining calls past a budget per function
  // (the BA Jacobian: 1.15x the time with calls).
  chainmul: {
    arity: 2,
    evaluate: (g, l) => (g === 0 ? 0 : g * l),
    print: (g, l) => (/^[\w$]+(\[[^[\]()]*\])?!?$/.test(g) ? `(${g} === 0 ? 0 : ${g} * ${l})` : `chainMul(${g}, ${l})`),
    helpers: ["chainMul"],
  },
} satisfies Record<string, ElementwiseOp>;

export type ElementwiseName = keyof typeof ELEMENTWISE;

export function isElementwise(op: string): op is ElementwiseName {
  return Object.prototype.hasOwnProperty.call(ELEMENTWISE, op);
}

/** Reductions over all trailing axes after the kept leading ones. */
export const REDUCTIONS = ["sum", "prod", "rmax", "rmin", "logsumexp"] as const;
export type ReductionName = (typeof REDUCTIONS)[number];

export function reduceValues(kind: ReductionName, xs: ArrayLike<number>): number {
  switch (kind) {
    case "sum": {
      let s = 0;
      for (let i = 0; i < xs.length; i++) s += xs[i];
      return s;
    }
    case "prod": {
      let p = 1;
      for (let i = 0; i < xs.length; i++) p *= xs[i];
      return p;
    }
    case "rmax": {
      let m = -Infinity;
      for (let i = 0; i < xs.length; i++) m = Math.max(m, xs[i]);
      return m;
    }
    case "rmin": {
      let m = Infinity;
      for (let i = 0; i < xs.length; i++) m = Math.min(m, xs[i]);
      return m;
    }
    case "logsumexp": {
      let m = -Infinity;
      for (let i = 0; i < xs.length; i++) m = Math.max(m, xs[i]);
      if (m === -Infinity || m === Infinity || m !== m) return m;
      let s = 0;
      for (let i = 0; i < xs.length; i++) s += Math.exp(xs[i] - m);
      return m + Math.log(s);
    }
  }
}

