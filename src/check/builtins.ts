// The built-in functions of the language, one entry each: how many positional arguments it
// takes, which named ones, and how it builds IR from checked arguments. Composite functions
// lower to primitives in numerically stable forms: `softmax` is `exp(x - max) / sum`,
// `log_softmax` is `(x - max) - log(sum)`, `mean` divides a sum, `norm` scales by the
// largest magnitude first. Shape functions are views (gathers); `einsum` is one product
// over the iteration space of all its letters, summed over the letters the output lacks.
//
// Adding a built-in: an entry here (its shape rule and lowering), a derivative rule in
// diff/rules.ts only if it needs a new IR op, and a line in grammar/reference.md.

import { broadcastShapes, findUpstream, formatShape, rowMajor, sameShape, sizeOf, type Graph, type Node, type Shape } from "../ir/graph.js";
import { addSize, divideSize, formatSize, isKnown, mulSize, provablyAtLeast, type Size } from "../ir/size.js";
import { identities } from "../diff/rules.js";
import type { ElementwiseName, ReductionName } from "../ir/ops.js";
import { alongLastAxis, broadcastOperands, integerSource, normalizeAxes, normalizeAxis, permute, reduceAxes, reducedCount, ShapeError } from "./tensor.js";

/** A positional argument as the checker found it. */
export interface BuiltinArg {
  /** The value (an array literal's elements stacked, when they can be). */
  node?: Node;
  /** A string literal (`einsum`'s subscripts). */
  text?: string;
  /** An array literal's elements, each checked (`concat` joins parts of different lengths). */
  list?: Node[];
}

/** A named argument: a value, or `true`/`false`. */
export interface NamedArg {
  node?: Node;
  flag?: boolean;
}

export interface BuiltinCall {
  graph: Graph;
  name: string;
  args: BuiltinArg[];
  named: ReadonlyMap<string, NamedArg>;
}

interface Builtin {
  /** Positional arguments: fewest and most. */
  arity: [number, number];
  named?: readonly string[];
  apply: (call: BuiltinCall) => Node;
}

/** Applied per element, any shape. */
export const UNARY: Record<string, ElementwiseName> = {
  exp: "exp", log: "log", sqrt: "sqrt", sin: "sin", cos: "cos", tan: "tan", asin: "asin", acos: "acos",
  atan: "atan", sinh: "sinh", cosh: "cosh", tanh: "tanh", sigmoid: "sigmoid", relu: "relu",
  softplus: "softplus", abs: "abs", sign: "sign", floor: "floor", ceil: "ceil", log1p: "log1p", expm1: "expm1",
};

/** Elementwise with two or three operands, broadcasting as NumPy does. */
export const ELEMENTWISE_N: Record<string, ElementwiseName> = {
  pow: "pow", atan2: "atan2", where: "where", max: "max", min: "min",
};

/** Reductions: all elements to a scalar, or along `axis=`; each also takes a generator. */
export const REDUCERS = ["sum", "mean", "prod", "max", "min", "norm", "logsumexp"] as const;
export type Reducer = (typeof REDUCERS)[number];

/** Derivatives as values: the checker builds them (their `x` must name a variable). */
export const DERIVATIVES = ["gradient", "jacobian", "hessian", "jvp", "vjp"] as const;

// ---- argument readers ----

function tensor(call: BuiltinCall, k: number): Node {
  const a = call.args[k];
  if (a.text !== undefined) throw new ShapeError(`'${call.name}' takes a tensor here, not a string`, k);
  if (!a.node) throw new ShapeError(`the elements of this array must all have the same shape`, k, "E0251");
  return a.node;
}

/** Compile-time numbers: a number, or an array of numbers (`[0, 2]`). */
function numbers(node: Node | undefined, what: string, at: number | string): number[] {
  const values = constantValues(node);
  if (!values) throw new ShapeError(`${what} must be known at compile time`, at, "E0212");
  return values;
}

/** The values of a compile-time tensor or number, or undefined. */
export function constantValues(node: Node | undefined): number[] | undefined {
  if (!node) return undefined;
  if (node.op === "const") return [node.value!];
  if (node.op === "tensor") return [...node.values!];
  if (node.op === "pack" && node.args.every((a) => a.op === "const")) return node.args.map((a) => a.value!);
  if (node.op === "gather" && node.args[0].op === "const" && node.map!.strides.every((s) => s === 0) && isKnown(node.size)) return new Array(node.size).fill(node.args[0].value!);
  return undefined;
}

function integers(node: Node | undefined, what: string, at: number | string): number[] {
  const values = numbers(node, what, at);
  for (const v of values) if (!Number.isInteger(v)) throw new ShapeError(`${what} must be whole numbers, got ${v}`, at, "E0214");
  return values;
}

function axisArg(call: BuiltinCall, rank: number): number[] | undefined {
  const a = call.named.get("axis");
  if (!a) return undefined;
  if (a.flag !== undefined) throw new ShapeError(`axis must be a number or a list of numbers, not ${a.flag}`, "axis", "E0260");
  return normalizeAxes(integers(a.node, "axis", "axis"), rank, "axis");
}

function singleAxis(call: BuiltinCall, rank: number, fallback: number): number {
  const a = call.named.get("axis");
  if (!a) return normalizeAxis(fallback, rank);
  const values = a.flag === undefined ? integers(a.node, "axis", "axis") : [];
  if (values.length !== 1) throw new ShapeError(`'${call.name}' takes one axis`, "axis", "E0260");
  return normalizeAxis(values[0], rank, "axis");
}

function flagArg(call: BuiltinCall, name: string): boolean {
  const a = call.named.get(name);
  if (!a) return false;
  if (a.flag === undefined) throw new ShapeError(`${name} must be true or false`, name, "E0261");
  return a.flag;
}

/** The elements of a list argument: an array literal's parts, or the rows of a tensor. */
/** The length of a matrix's diagonal: its shorter axis (a run-time size only when both are the same). */
function shorterAxis(x: Node): Size {
  const [m, n] = x.shape;
  if (m === n) return m;
  if (isKnown(m) && isKnown(n)) return Math.min(m, n);
  throw new ShapeError(`the diagonal of ${formatShape(x.shape)} has a length only known at run time; use a square matrix`, 0);
}

function parts(call: BuiltinCall, k: number): Node[] {
  const a = call.args[k];
  if (a.list) return a.list;
  const x = tensor(call, k);
  if (x.shape.length === 0) throw new ShapeError(`'${call.name}' takes a list of tensors, as in ${call.name}([a, b])`, k);
  const rest = x.shape.slice(1);
  const size = sizeOf(rest);
  const count = x.shape[0];
  if (!isKnown(count)) throw new ShapeError(`'${call.name}' takes a list of tensors; this one has a run-time number of rows, ${formatSize(count)}`, k);
  return Array.from({ length: count }, (_, i) => call.graph.gather(x, rest, { offset: mulSize(i, size), strides: rowMajor(rest) }));
}

// ---- the built-ins ----

function reduction(name: Reducer): Builtin {
  return {
    arity: [1, 1],
    named: ["axis", "keepdims"],
    apply: (call) => {
      const x = tensor(call, 0);
      const axes = axisArg(call, x.shape.length);
      return reduce(call.graph, name, x, axes, flagArg(call, "keepdims"));
    },
  };
}

/** A reduction over `axes` (all when undefined), in the stable forms above. */
export function reduce(graph: Graph, name: Reducer, x: Node, axes: readonly number[] | undefined, keepdims = false): Node {
  const kinds: Record<string, ReductionName> = { sum: "sum", prod: "prod", max: "rmax", min: "rmin", logsumexp: "logsumexp" };
  if (name === "mean") return graph.elementwise("div", [reduceAxes(graph, "sum", x, axes, keepdims), graph.sizeValue(reducedCount(x, axes))]);
  if (name !== "norm") return reduceAxes(graph, kinds[name], x, axes, keepdims);
  // max|x| * sqrt(sum((x / max|x|)^2)): the squares neither overflow (3e300) nor
  // underflow (3e-300); a zero vector has norm 0. The scale passes no gradient itself.
  if (x.shape.length === 0) return graph.elementwise("abs", [x]);
  const e = (op: ElementwiseName, ...a: Node[]) => graph.elementwise(op, a);
  const reduced = axes ?? x.shape.map((_, d) => d);
  const kept = x.shape.map((_, d) => d).filter((d) => !reduced.includes(d));
  const moved = permute(graph, x, [...kept, ...reduced]);
  const keep = kept.length;
  const spread = (v: Node) => graph.expand(v, moved.shape);
  const scale = e("stop", graph.reduce("rmax", e("abs", moved), keep));
  const scaled = e("div", moved, spread(scale));
  const norm = e("mul", scale, e("sqrt", graph.reduce("sum", e("mul", scaled, scaled), keep)));
  const positive = e("gt", scale, graph.constant(0));
  let result = e("where", positive, norm, graph.constant(0));
  // A gate whose local gradient is x / |x| (0 at the zero vector): the quotient a program
  // dividing by its norm computes already (r / norm(r) of a rotation axis), where the body's
  // own chain rule went back through the scaled form, two divisions and a mask more.
  if (!isCompileTime(moved)) result = graph.gate("norm", result, [moved], [e("mask", spread(positive), e("div", moved, spread(result)), graph.constant(0))]);
  return keepdims ? graph.reshape(result, x.shape.map((d, k) => (reduced.includes(k) ? 1 : d))) : result;
}

function softmaxLike(log: boolean): Builtin {
  return {
    arity: [1, 1],
    named: ["axis"],
    apply: (call) => {
      const x = tensor(call, 0);
      if (x.shape.length === 0) throw new ShapeError(`'${call.name}' takes a tensor, got a scalar`, 0);
      const g = call.graph;
      const { moved, back } = alongLastAxis(g, x, singleAxis(call, x.shape.length, -1));
      const keep = moved.shape.length - 1;
      const spread = (v: Node) => g.expand(v, moved.shape);
      // Shifted by the maximum, through which no gradient flows: exp(x - m) / sum and
      // (x - m) - log(sum) stay exact where x - logsumexp(x) would round away log(sum).
      const shifted = g.elementwise("sub", [moved, spread(g.elementwise("stop", [g.reduce("rmax", moved, keep)]))]);
      const e = g.elementwise("exp", [shifted]);
      const total = g.reduce("sum", e, keep);
      return back(log ? g.elementwise("sub", [shifted, spread(g.elementwise("log", [total]))]) : g.elementwise("div", [e, spread(total)]));
    },
  };
}

const shapeList = (call: BuiltinCall, k: number, what: string): number[] => {
  const dims = integers(call.args[k].node ?? (call.args[k].list ? call.graph.pack(call.args[k].list!) : undefined), what, k);
  if (call.args[k].node && call.args[k].node!.shape.length > 1) throw new ShapeError(`${what} must be a list of sizes, as in [2, 3]`, k);
  return dims;
};

function checkedShape(dims: number[], at: number): number[] {
  for (const d of dims) if (!Number.isInteger(d) || d < 1) throw new ShapeError(`a size must be a positive integer, got ${d}`, at, "E0211");
  return dims;
}

const BUILTINS: Record<string, Builtin> = {
  ...Object.fromEntries(
    Object.entries(UNARY).map(([name, op]) => [name, { arity: [1, 1], apply: (call: BuiltinCall) => call.graph.elementwise(op, [tensor(call, 0)]) } as Builtin]),
  ),
  pow: elementwise("pow", 2),
  atan2: elementwise("atan2", 2),
  where: elementwise("where", 3),
  // max(t) and min(t) reduce; max(a, b) and min(a, b) are elementwise.
  max: { arity: [1, 2], named: ["axis", "keepdims"], apply: (call) => (call.args.length === 2 ? elementwise("max", 2).apply(call) : reduction("max").apply(call)) },
  min: { arity: [1, 2], named: ["axis", "keepdims"], apply: (call) => (call.args.length === 2 ? elementwise("min", 2).apply(call) : reduction("min").apply(call)) },
  sum: reduction("sum"),
  mean: reduction("mean"),
  prod: reduction("prod"),
  norm: reduction("norm"),
  logsumexp: reduction("logsumexp"),
  dot: {
    arity: [2, 2],
    apply: (call) => {
      const [a, b] = [tensor(call, 0), tensor(call, 1)];
      if (!sameShape(a.shape, b.shape)) throw new ShapeError(`'dot' needs equal shapes, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
      return call.graph.reduce("sum", call.graph.elementwise("mul", [a, b]));
    },
  },
  softmax: softmaxLike(false),
  log_softmax: softmaxLike(true),
  transpose: {
    arity: [1, 2],
    apply: (call) => {
      const x = tensor(call, 0);
      const rank = x.shape.length;
      if (call.args.length === 1) return permute(call.graph, x, x.shape.map((_, d) => rank - 1 - d));
      const perm = integers(call.args[1].node ?? (call.args[1].list && call.graph.pack(call.args[1].list)), "a permutation", 1);
      const sorted = [...perm].map((p) => (p < 0 ? p + rank : p)).sort((a, b) => a - b);
      if (perm.length !== rank || sorted.some((p, k) => p !== k))
        throw new ShapeError(`a permutation of the axes of ${formatShape(x.shape)} lists each of 0..${rank - 1} once, got [${perm.join(", ")}]`, 1, "E0260");
      return permute(call.graph, x, perm.map((p) => (p < 0 ? p + rank : p)));
    },
  },
  reshape: {
    arity: [2, 2],
    apply: (call) => {
      const x = tensor(call, 0);
      const dims = shapeList(call, 1, "a shape");
      const unknown = dims.filter((d) => d === -1).length;
      if (unknown > 1) throw new ShapeError("only one size of a reshape may be -1", 1, "E0262");
      const known = dims.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
      for (const d of dims) if (d !== -1 && (!Number.isInteger(d) || d < 1)) throw new ShapeError(`a size must be a positive integer or -1, got ${d}`, 1, "E0262");
      const inferred = divideSize(x.size, known);
      const shape = dims.map((d) => (d === -1 ? inferred ?? NaN : d));
      if (sizeOf(shape) !== x.size || shape.some((d) => isKnown(d) && !Number.isInteger(d)))
        throw new ShapeError(`cannot reshape ${formatShape(x.shape)} (${x.size} elements) to [${dims.join(", ")}]`, 1, "E0262");
      return call.graph.reshape(x, shape);
    },
  },
  flatten: { arity: [1, 1], apply: (call) => call.graph.reshape(tensor(call, 0), [tensor(call, 0).size]) },
  stack: {
    arity: [1, 1],
    named: ["axis"],
    apply: (call) => {
      const xs = parts(call, 0);
      xs.forEach((x, i) => {
        if (!sameShape(x.shape, xs[0].shape)) throw new ShapeError(`'stack' needs parts of one shape: ${formatShape(xs[0].shape)} and ${formatShape(x.shape)} (part ${i})`, 0, "E0251");
      });
      const packed = call.graph.pack(xs);
      const axis = singleAxis(call, packed.shape.length, 0);
      const perm = packed.shape.map((_, d) => d).filter((d) => d !== 0);
      perm.splice(axis, 0, 0);
      return axis === 0 ? packed : permute(call.graph, packed, perm);
    },
  },
  concat: {
    arity: [1, 1],
    named: ["axis"],
    apply: (call) => {
      const xs = parts(call, 0);
      const rank = xs[0].shape.length;
      if (rank === 0) throw new ShapeError("'concat' joins tensors along an existing axis; scalars have none (use stack)", 0);
      const axis = singleAxis(call, rank, 0);
      for (const x of xs)
        if (x.shape.length !== rank || x.shape.some((d, k) => k !== axis && d !== xs[0].shape[k]))
          throw new ShapeError(`'concat' along axis ${axis} needs the other sizes equal: ${formatShape(xs[0].shape)} and ${formatShape(x.shape)}`, 0, "E0251");
      const shape = xs[0].shape.slice();
      shape[axis] = xs.reduce<Size>((n, x) => addSize(n, x.shape[axis]), 0);
      // Each part's elements land in their own place of a zero tensor: a scatter, whose
      // gradient is the matching view of the upstream.
      const strides = rowMajor(shape);
      let at: Size = 0;
      const placed = xs.map((x) => {
        const map = { offset: mulSize(at, strides[axis]), strides };
        at = addSize(at, x.shape[axis]);
        return { values: x, map };
      });
      return call.graph.scatter(placed, shape);
    },
  },
  outer: {
    arity: [2, 2],
    apply: (call) => {
      const [u, v] = [tensor(call, 0), tensor(call, 1)];
      const shape = [u.size, v.size];
      const g = call.graph;
      return g.elementwise("mul", [g.gather(u, shape, { offset: 0, strides: [1, 0] }), g.gather(v, shape, { offset: 0, strides: [0, 1] })]);
    },
  },
  cross: {
    arity: [2, 2],
    apply: (call) => {
      const [a, b] = [tensor(call, 0), tensor(call, 1)];
      for (const [x, k] of [[a, 0], [b, 1]] as const)
        if (x.shape[x.shape.length - 1] !== 3) throw new ShapeError(`'cross' takes vectors of 3 along the last axis, got ${formatShape(x.shape)}`, k);
      const g = call.graph;
      const component = (x: Node, c: number) => {
        const lead = x.shape.slice(0, -1);
        return g.gather(x, lead, { offset: c, strides: rowMajor(x.shape).slice(0, -1) });
      };
      const [a0, a1, a2] = [0, 1, 2].map((c) => component(a, c));
      const [b0, b1, b2] = [0, 1, 2].map((c) => component(b, c));
      const describe = (p: Shape, q: Shape) => `cannot broadcast shapes ${formatShape([...p, 3])} and ${formatShape([...q, 3])} in 'cross'`;
      const term = (p: Node, q: Node, r: Node, s: Node) => {
        const [pp, qq, rr, ss] = broadcastOperands(g, [p, q, r, s], describe);
        return g.elementwise("sub", [g.elementwise("mul", [pp, qq]), g.elementwise("mul", [rr, ss])]);
      };
      const c = [term(a1, b2, a2, b1), term(a2, b0, a0, b2), term(a0, b1, a1, b0)];
      const packed = g.pack(c);
      const rank = packed.shape.length;
      return rank === 1 ? packed : permute(g, packed, [...packed.shape.map((_, d) => d).slice(1), 0]);
    },
  },
  diag: {
    arity: [1, 1],
    apply: (call) => {
      const x = tensor(call, 0);
      const g = call.graph;
      if (x.shape.length === 1) {
        const n = x.shape[0];
        return g.scatter([{ values: x, map: { offset: 0, strides: [addSize(n, 1)] } }], [n, n]);
      }
      if (x.shape.length !== 2) throw new ShapeError(`'diag' takes a vector or a matrix, got ${formatShape(x.shape)}`, 0);
      return g.gather(x, [shorterAxis(x)], { offset: 0, strides: [addSize(x.shape[1], 1)] });
    },
  },
  trace: {
    arity: [1, 1],
    apply: (call) => {
      const x = tensor(call, 0);
      if (x.shape.length !== 2) throw new ShapeError(`'trace' takes a matrix, got ${formatShape(x.shape)}`, 0);
      return call.graph.reduce("sum", call.graph.gather(x, [shorterAxis(x)], { offset: 0, strides: [addSize(x.shape[1], 1)] }));
    },
  },
  einsum: { arity: [2, Infinity], apply: einsum },
  zeros: { arity: [1, 1], apply: (call) => call.graph.broadcast(call.graph.constant(0), checkedShape(shapeList(call, 0, "a shape"), 0)) },
  ones: { arity: [1, 1], apply: (call) => call.graph.broadcast(call.graph.constant(1), checkedShape(shapeList(call, 0, "a shape"), 0)) },
  eye: {
    arity: [1, 1],
    apply: (call) => {
      const [n] = checkedShape(integers(call.args[0].node, "the size of eye", 0), 0);
      const values = new Array<number>(n * n).fill(0);
      for (let i = 0; i < n; i++) values[i * n + i] = 1;
      return call.graph.tensor(values, [n, n]);
    },
  },
  take: {
    arity: [2, 2],
    named: ["axis"],
    apply: (call) => {
      const x = tensor(call, 0);
      const index = tensor(call, 1);
      const axis = singleAxis(call, x.shape.length, 0);
      const data = integerSource(index);
      if (data && !constantValues(index)) return call.graph.take(x, call.graph.checkIndex(index, x.shape[axis], data.name!), axis);
      const values = integers(index, "the indices of 'take'", 1);
      for (const v of values)
        if (v < 0 || !provablyAtLeast(x.shape[axis], v + 1)) throw new ShapeError(`index ${v} is out of range for axis ${axis} of ${formatShape(x.shape)}`, 1, "E0208");
      return call.graph.take(x, call.graph.tensor(values, index.shape), axis);
    },
  },
  det: { arity: [1, 1], apply: (call) => call.graph.det(squareMatrices(call, 0)) },
  inv: {
    arity: [1, 1],
    apply: (call) => {
      const a = squareMatrices(call, 0);
      return call.graph.solve(a, identities(call.graph, a.shape));
    },
  },
  solve: {
    arity: [2, 2],
    apply: (call) => {
      const a = squareMatrices(call, 0);
      const b = tensor(call, 1);
      const g = call.graph;
      const n = a.shape[a.shape.length - 1];
      const stackA = a.shape.slice(0, -2);
      // NumPy 2: b is one vector only when it has one axis; otherwise a stack of matrices of
      // right-hand sides, whose stack axes broadcast with A's.
      const vector = b.shape.length === 1;
      if (b.shape.length === 0) throw new ShapeError(`'solve' takes a vector or a matrix of right-hand sides, got a scalar`, 1);
      const rows = vector ? b.shape[0] : b.shape[b.shape.length - 2];
      if (rows !== n) throw new ShapeError(`'solve': A is ${formatShape(a.shape)} but b has ${rows} rows; it needs ${n}`, 1, "E0272");
      const k = vector ? 1 : b.shape[b.shape.length - 1];
      const stackB = vector ? [] : b.shape.slice(0, -2);
      const stack = broadcastShapes(stackA, stackB);
      if (!stack) throw new ShapeError(`'solve' cannot broadcast the stacks ${formatShape(stackA)} and ${formatShape(stackB)}`, 1, "E0203");
      const B = g.broadcastTo(vector ? g.reshape(b, [n, 1]) : b, [...stack, n, k]);
      const x = g.solve(g.broadcastTo(a, [...stack, n, n]), B);
      return vector ? g.reshape(x, [...stack, n]) : x;
    },
  },
};

/** A square matrix or a stack of them, `[..., n, n]`. */
function squareMatrices(call: BuiltinCall, k: number): Node {
  const a = tensor(call, k);
  const r = a.shape.length;
  if (r < 2 || a.shape[r - 1] !== a.shape[r - 2]) throw new ShapeError(`'${call.name}' takes a square matrix (or a stack of them), got ${formatShape(a.shape)}`, k, "E0272");
  return a;
}

function elementwise(op: ElementwiseName, arity: number): Builtin {
  return {
    arity: [arity, arity],
    apply: (call) => {
      const xs = call.args.map((_, k) => tensor(call, k));
      const operands = broadcastOperands(call.graph, xs, (a, b) => `'${call.name}' cannot broadcast shapes ${formatShape(a)} and ${formatShape(b)}`);
      return call.graph.elementwise(op, operands);
    },
  };
}

/** NumPy's einsum with an explicit output: one product over every letter, summed over the letters the output lacks. */
function einsum(call: BuiltinCall): Node {
  const spec = call.args[0].text;
  if (spec === undefined) throw new ShapeError(`'einsum' takes its subscripts first, as a string: einsum("ij,jk->ik", A, B)`, 0);
  const text = spec.replace(/\s+/g, "");
  const arrow = text.indexOf("->");
  if (arrow === -1) throw new ShapeError(`einsum: '->' is required, as in "ij,jk->ik"`, 0, "E0263");
  const inputs = text.slice(0, arrow).split(",");
  const output = text.slice(arrow + 2);
  const operands = call.args.slice(1).map((_, k) => tensor(call, k + 1));
  if (inputs.length !== operands.length)
    throw new ShapeError(`einsum: the subscripts name ${inputs.length} operand${inputs.length === 1 ? "" : "s"}, but ${operands.length} ${operands.length === 1 ? "is" : "are"} given`, 0, "E0263");
  const ordinal = (k: number) => ["first", "second", "third", "fourth", "fifth"][k] ?? `${k + 1}th`;
  const size = new Map<string, { size: Size; operand: number }>();
  inputs.forEach((letters, k) => {
    if (!/^[a-z]*$/.test(letters)) throw new ShapeError(`einsum: subscripts are lower-case letters, got '${letters}'`, 0, "E0263");
    const x = operands[k];
    if (letters.length !== x.shape.length)
      throw new ShapeError(`einsum: '${letters}' has ${letters.length} letter${letters.length === 1 ? "" : "s"} but the ${ordinal(k)} operand is ${formatShape(x.shape)}`, k + 1, "E0263");
    [...letters].forEach((c, d) => {
      if (letters.indexOf(c) !== d) throw new ShapeError(`einsum: '${c}' appears twice in '${letters}'`, 0, "E0263");
      const seen = size.get(c);
      if (seen && seen.size !== x.shape[d])
        throw new ShapeError(`einsum: '${c}' is ${seen.size} in the ${ordinal(seen.operand)} operand and ${x.shape[d]} in the ${ordinal(k)}`, k + 1, "E0263");
      if (!seen) size.set(c, { size: x.shape[d], operand: k });
    });
  });
  if (!/^[a-z]*$/.test(output)) throw new ShapeError(`einsum: subscripts are lower-case letters, got '${output}'`, 0, "E0263");
  [...output].forEach((c, d) => {
    if (output.indexOf(c) !== d) throw new ShapeError(`einsum: '${c}' appears twice in the output '${output}'`, 0, "E0263");
    if (!size.has(c)) throw new ShapeError(`einsum: the output letter '${c}' is in no operand`, 0, "E0263");
  });
  const summed = [...size.keys()].filter((c) => !output.includes(c));
  const letters = [...output, ...summed];
  const space = letters.map((c) => size.get(c)!.size);
  const g = call.graph;
  const views = operands.map((x, k) => {
    const own = rowMajor(x.shape);
    const strides = letters.map((c) => {
      const d = inputs[k].indexOf(c);
      return d === -1 ? 0 : own[d];
    });
    return g.gather(x, space, { offset: 0, strides });
  });
  const product = views.reduce((acc, v) => g.elementwise("mul", [acc, v]));
  return g.reduce("sum", product, output.length);
}

export const BUILTIN_NAMES: ReadonlySet<string> = new Set([...Object.keys(BUILTINS), ...DERIVATIVES]);

/** The built-in's entry, for the checker: arity and named arguments to check before `apply`. */
export function builtin(name: string): Builtin | undefined {
  return Object.prototype.hasOwnProperty.call(BUILTINS, name) ? BUILTINS[name] : undefined;
}

/** Whether no argument reaches `x` (nor a gate, which is built only over arguments). */
const isCompileTime = (x: Node): boolean => findUpstream(x, (n) => n.op === "input" || n.op === "gate") === undefined;
