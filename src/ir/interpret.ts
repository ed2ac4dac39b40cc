// The reference interpreter of the tensor IR: evaluates nodes of a `Graph` on concrete
// argument values, one flat row-major Float64Array per node. It walks `graph.nodes` in id
// order (a topological order), never recursively, and computes every operation as the
// generated code does (same summation orders, stable logsumexp, prodexcept without
// division): on finite values the results agree bit for bit; only the scalar-level
// simplifications of the emitter (`0 * x -> 0` across elements) can differ on NaN or
// Infinity. Compiled modules are tested against it, and tools (`gradc graph`) use it to show
// values and gradients without compiling.

import { knownNode, mapIndex, reachable, type Graph, type KnownNode, type Node } from "./graph.js";
import { ELEMENTWISE, isElementwise, reduceValues, type ElementwiseOp, type ReductionName } from "./ops.js";
import { differentiate } from "../diff/reverse.js";
import { factor, linalg } from "./linalg.js";
import type { CheckedProgram } from "../check/checker.js";

/** An argument's value: a number for a scalar, a flat row-major array for a tensor. */
export type Value = number | ArrayLike<number>;

/** The key of an input node in the values map: `"param:w"`, `"input:x"`, `"seed:f"`. */
export const inputKey = (node: Node): string => `${node.role}:${node.name}`;

/**
 * The value of each of `nodes`, evaluated from the input values (keyed by `inputKey`).
 * Only the nodes that `nodes` depend on are evaluated; a gate's value is its forward
 * operand, so its local gradients are evaluated only when something else needs them.
 * Throws when a needed input is missing or has the wrong number of elements.
 */
export function evaluateGraph(graph: Graph, values: ReadonlyMap<string, Value>, nodes: readonly Node[]): Float64Array[] {
  const all = evaluateAll(graph, values, nodes);
  return nodes.map((n) => all[n.id]!);
}

/** Like evaluateGraph, but returns every evaluated node's value, indexed by node id. */
export function evaluateAll(graph: Graph, values: ReadonlyMap<string, Value>, roots: readonly Node[]): (Float64Array | undefined)[] {
  const needed = reachable(graph, roots);
  const out: (Float64Array | undefined)[] = new Array(graph.nodes.length);
  for (const n of graph.nodes) {
    if (needed[n.id]) out[n.id] = evaluateNode(n, n.args.map((a) => out[a.id]!), values);
  }
  return out;
}


function evaluateNode(node: Node, a: Float64Array[], values: ReadonlyMap<string, Value>): Float64Array {
  const n = knownNode(node);
  switch (n.op) {
    case "const":
      return Float64Array.of(n.value!);
    case "input":
      return readInput(n, values);
    case "matmul":
      return matmul(n, a[0], a[1]);
    case "sum":
    case "prod":
    case "rmax":
    case "rmin":
    case "logsumexp": {
      // Each kept element reduces its own contiguous group of the operand.
      const group = n.args[0].size / Math.max(1, n.size);
      const r = new Float64Array(n.size);
      for (let k = 0; k < n.size; k++) r[k] = reduceValues(n.op as ReductionName, a[0].subarray(k * group, (k + 1) * group));
      return r;
    }
    case "prodexcept": {
      const keptSize = n.shape.slice(0, n.keep ?? 0).reduce((x, y) => x * y, 1);
      const group = n.size / keptSize;
      const r = new Float64Array(n.size);
      for (let k = 0; k < keptSize; k++) r.set(prodExcept(a[0].subarray(k * group, (k + 1) * group)), k * group);
      return r;
    }
    case "tensor":
      return Float64Array.from(n.values!);
    case "solve": {
      const [A, B] = n.args;
      const m = A.shape[A.shape.length - 1];
      const count = A.size / (m * m);
      const { lu, piv } = factor(a[0], count, m);
      const x = new Float64Array(n.size);
      linalg.luSolve(lu, piv, a[1], x, count, m, B.shape[B.shape.length - 1], n.transposed === true);
      return x;
    }
    case "det": {
      const A = n.args[0];
      const m = A.shape[A.shape.length - 1];
      const count = A.size / (m * m);
      const { lu, sign } = factor(a[0], count, m);
      const d = new Float64Array(count);
      linalg.luDet(lu, sign, d, count, m);
      return d;
    }
    case "checkindex":
      for (const v of a[0])
        if (!(v >= 0 && v < n.bound!)) throw new RangeError(`integer input '${n.name}' has ${v}, out of range 0..${n.bound! - 1} for the axis it indexes`);
      return a[0];
    case "iota":
      return Float64Array.from({ length: n.size }, (_, k) => n.value! + k);
    case "loopvar":
      throw new Error("internal: a loop variable outside its comprehension");
    case "take":
    case "put": {
      // Both walk the elements of the taken tensor: outer axes, then the index, then inner axes.
      const [source, index] = n.args;
      const full = n.op === "take" ? source.shape : n.shape;
      const outer = full.slice(0, n.axis!).reduce((x, y) => x * y, 1);
      const along = full[n.axis!];
      const inner = full.slice(n.axis! + 1).reduce((x, y) => x * y, 1);
      const r = new Float64Array(n.size);
      const idx = a[1];
      for (let o = 0; o < outer; o++)
        for (let q = 0; q < index.size; q++) {
          const at = idx[q];
          if (!(at >= 0 && at < along && Number.isInteger(at))) throw new RangeError(`index ${at} out of range for an axis of ${along}`);
          for (let i = 0; i < inner; i++) {
            const whole = (o * along + at) * inner + i;
            const picked = (o * index.size + q) * inner + i;
            if (n.op === "take") r[picked] = a[0][whole];
            else r[whole] += a[0][picked];
          }
        }
      return r;
    }
    case "gather": {
      const r = new Float64Array(n.size);
      for (let k = 0; k < n.size; k++) r[k] = a[0][mapIndex(n.map!, n.shape, k)];
      return r;
    }
    case "scatter": {
      // The first contribution to an element is stored as is (the generated code's
      // `0 + v` folds to `v`), later ones are added in operand order.
      const r = new Float64Array(n.size);
      const written = new Uint8Array(n.size);
      n.args.forEach((part, p) => {
        for (let k = 0; k < part.size; k++) {
          const at = mapIndex(n.maps![p], part.shape, k);
          r[at] = written[at] ? r[at] + a[p][k] : a[p][k];
          written[at] = 1;
        }
      });
      return r;
    }
    case "pack": {
      const r = new Float64Array(n.size);
      let at = 0;
      for (const part of a) {
        r.set(part, at);
        at += part.length;
      }
      return r;
    }
    case "gate":
      return a[0];
    default: {
      if (!isElementwise(n.op)) throw new Error(`internal: the interpreter has no rule for '${n.op}'`);
      const evaluate = (ELEMENTWISE[n.op] as ElementwiseOp).evaluate;
      const r = new Float64Array(n.size);
      // Scalars broadcast: a scalar operand (shape []) gives its one element everywhere.
      const step = n.args.map((arg) => (arg.shape.length === 0 ? 0 : 1));
      if (a.length === 1) for (let k = 0; k < n.size; k++) r[k] = evaluate(a[0][k]);
      else if (a.length === 2) for (let k = 0; k < n.size; k++) r[k] = evaluate(a[0][k * step[0]], a[1][k * step[1]]);
      else for (let k = 0; k < n.size; k++) r[k] = evaluate(a[0][k * step[0]], a[1][k * step[1]], a[2][k * step[2]]);
      return r;
    }
  }
}

function readInput(n: KnownNode, values: ReadonlyMap<string, Value>): Float64Array {
  const v = values.get(inputKey(n));
  if (v === undefined) throw new Error(`no value for ${n.role} '${n.name}'`);
  if (typeof v === "number") {
    if (n.size !== 1) throw new RangeError(`${n.role} '${n.name}' needs ${n.size} values, got a number`);
    return Float64Array.of(v);
  }
  if (v.length !== n.size) throw new RangeError(`${n.role} '${n.name}' needs ${n.size} values, got ${v.length}`);
  return Float64Array.from(v);
}

/** [m,n]@[n,p], [m,n]@[n], [n]@[n,p], [n]@[n]: each element sums its terms from k = 0 up. */
function matmul(n: KnownNode, x: Float64Array, y: Float64Array): Float64Array {
  const [A, B] = n.args;
  const inner = A.shape[A.shape.length - 1];
  const rows = A.shape.length === 2 ? A.shape[0] : 1;
  const cols = B.shape.length === 2 ? B.shape[1] : 1;
  const r = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) {
      let s = x[i * inner] * y[j];
      for (let k = 1; k < inner; k++) s += x[i * inner + k] * y[k * cols + j];
      r[i * cols + j] = s;
    }
  return r;
}

/** The product of all other elements at each position: prefix[i] * suffix[i + 1], no division. */
function prodExcept(x: Float64Array): Float64Array {
  const suffix = new Float64Array(x.length + 1);
  suffix[x.length] = 1;
  for (let i = x.length - 1; i >= 0; i--) suffix[i] = x[i] * suffix[i + 1];
  const r = new Float64Array(x.length);
  let prefix = 1;
  for (let i = 0; i < x.length; i++) {
    r[i] = prefix * suffix[i + 1];
    prefix *= x[i];
  }
  return r;
}

/** A result shaped like the generated module's: a number for a scalar, else a Float64Array. */
const shaped = (node: Node, v: Float64Array): number | Float64Array => (node.shape.length === 0 ? v[0] : v);

/**
 * `forward` and `backward` of a checked program, by interpretation: the outputs and the
 * gradient of every param for the given seed (by output name; an output left out
 * contributes nothing; no seed at all means 1 for a single scalar output). Adds seed inputs
 * and adjoint nodes to the program's graph, as compiling does.
 */
export function interpretProgram(
  program: CheckedProgram,
  args: Readonly<Record<string, Value>>,
  seed?: Readonly<Record<string, Value>>,
): { outputs: Record<string, number | Float64Array>; grad: Record<string, number | Float64Array> } {
  const { graph, outputs } = program;
  const params = program.args.filter((a) => a.role === "param");
  const values = new Map<string, Value>();
  for (const a of program.args) {
    const v = args[a.name];
    if (v !== undefined) values.set(inputKey(a.node), v);
  }
  if (seed === undefined && outputs.length === 1 && outputs[0].node.shape.length === 0) seed = { [outputs[0].name]: 1 };
  const seeded = outputs.filter((o) => seed !== undefined && Object.prototype.hasOwnProperty.call(seed, o.name));
  const seeds = seeded.map((o) => graph.input(o.name, "seed", o.node.shape));
  seeded.forEach((o, k) => values.set(inputKey(seeds[k]), seed![o.name]));
  const grads = differentiate(
    graph,
    seeded.map((o, k) => ({ output: o.node, seed: seeds[k], guarded: outputs.length > 1 })),
    params.map((p) => p.node),
  );
  const roots = [...outputs.map((o) => o.node), ...grads];
  const all = evaluateAll(graph, values, roots);
  return {
    outputs: Object.fromEntries(outputs.map((o) => [o.name, shaped(o.node, all[o.node.id]!)])),
    grad: Object.fromEntries(params.map((p, k) => [p.name, shaped(p.node, all[grads[k].id]!)])),
  };
}
