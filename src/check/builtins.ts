// The built-in functions of the language, mapped onto IR operations. Composite functions
// lower to primitives in numerically stable forms: `softmax(v)` is `exp(v - logsumexp(v))`,
// `log_softmax(v)` is `v - logsumexp(v)`, `mean` divides a sum, `norm` is `sqrt(sum(x*x))`.

import { formatShape, sameShape, type Graph, type Node } from "../ir/graph.js";
import type { ElementwiseName, ReductionName } from "../ir/ops.js";

/** Applied per element, any shape. */
export const UNARY: Record<string, ElementwiseName> = {
  exp: "exp", log: "log", sqrt: "sqrt", sin: "sin", cos: "cos", tan: "tan", asin: "asin", acos: "acos",
  atan: "atan", sinh: "sinh", cosh: "cosh", tanh: "tanh", sigmoid: "sigmoid", relu: "relu",
  softplus: "softplus", abs: "abs", sign: "sign", floor: "floor", ceil: "ceil", log1p: "log1p", expm1: "expm1",
};

/** Elementwise with two or three operands (equal shapes, or scalars among tensors). */
export const ELEMENTWISE_N: Record<string, ElementwiseName> = {
  pow: "pow", atan2: "atan2", where: "where", max: "max", min: "min",
};

/** Reduce every element of a vector or matrix to a scalar; also take a generator. */
export const REDUCERS = ["sum", "mean", "prod", "max", "min", "norm", "logsumexp"] as const;

/** The other built-ins, with their own shape rules. */
export const OTHERS = ["dot", "softmax", "log_softmax", "transpose"] as const;

export const BUILTIN_NAMES: ReadonlySet<string> = new Set([
  ...Object.keys(UNARY), ...Object.keys(ELEMENTWISE_N), ...REDUCERS, ...OTHERS,
]);

export function reduceAll(graph: Graph, name: (typeof REDUCERS)[number], x: Node): Node {
  const kind: Record<string, ReductionName> = { sum: "sum", prod: "prod", max: "rmax", min: "rmin", logsumexp: "logsumexp" };
  switch (name) {
    case "mean":
      return graph.elementwise("div", [graph.reduce("sum", x), graph.constant(x.size)]);
    case "norm": {
      // max|x| * sqrt(sum((x / max|x|)^2)): the squares neither overflow (3e300) nor
      // underflow (3e-300); a zero vector has norm 0. The scale passes no gradient itself.
      if (x.shape.length === 0) return graph.elementwise("abs", [x]);
      const scale = graph.elementwise("stop", [graph.reduce("rmax", graph.elementwise("abs", [x]))]);
      const scaled = graph.elementwise("div", [x, scale]);
      const norm = graph.elementwise("mul", [scale, graph.elementwise("sqrt", [graph.reduce("sum", graph.elementwise("mul", [scaled, scaled]))])]);
      return graph.elementwise("where", [graph.elementwise("gt", [scale, graph.constant(0)]), norm, graph.constant(0)]);
    }
    default:
      return graph.reduce(kind[name], x);
  }
}

/** dot, softmax, log_softmax, transpose: the node, or a message in the user's terms. */
export function applyOther(graph: Graph, name: (typeof OTHERS)[number], args: Node[]): Node | string {
  const want = name === "dot" ? 2 : 1;
  if (args.length !== want) return `'${name}' takes ${want} argument${want > 1 ? "s" : ""}, got ${args.length}`;
  const [x] = args;
  switch (name) {
    case "dot": {
      const [a, b] = args;
      if (!sameShape(a.shape, b.shape)) return `'dot' needs equal shapes, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`;
      return graph.reduce("sum", graph.elementwise("mul", [a, b]));
    }
    case "softmax":
    case "log_softmax": {
      if (x.shape.length !== 1) return `'${name}' takes a vector, got ${x.shape.length === 0 ? "a scalar" : `a matrix ${formatShape(x.shape)}`}`;
      // Shifted by the maximum, through which no gradient flows: exp(x - m) / sum and
      // (x - m) - log(sum) stay exact where x - logsumexp(x) would round away log(sum).
      const shifted = graph.elementwise("sub", [x, graph.elementwise("stop", [graph.reduce("rmax", x)])]);
      const e = graph.elementwise("exp", [shifted]);
      const total = graph.reduce("sum", e);
      return name === "softmax" ? graph.elementwise("div", [e, total]) : graph.elementwise("sub", [shifted, graph.elementwise("log", [total])]);
    }
    case "transpose": {
      if (x.shape.length !== 2) return `'transpose' takes a matrix, got ${x.shape.length === 0 ? "a scalar" : `a vector ${formatShape(x.shape)}`}`;
      const [rows, cols] = x.shape;
      return graph.gather(x, [cols, rows], { offset: 0, strides: [1, cols] });
    }
  }
}
