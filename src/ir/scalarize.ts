// Scalarization: express every tensor node as scalar nodes, one per element, for
// straight-line (unrolled) code. Indexing, rows, transposes and packs cost nothing here:
// they only pick elements. The element nodes are built in the same hash-consed graph, so
// equal element expressions are shared across tensor boundaries (CSE that crosses elements)
// and the zeros that scatters and broadcasts leave fold away; a scalar node whose operands
// are scalars is its own element, so a program of scalar statements is not copied.

import { Graph, knownNode, mapIndex, reachable, type Node } from "./graph.js";

export interface Scalarized {
  graph: Graph;
  /** Elements (row-major) of each tensor node of the source graph that was requested. */
  elements: (node: Node) => Node[];
}

/** Scalarize the nodes that `roots` need, in one forward walk over the nodes that exist now. */
export function scalarize(g: Graph, roots: readonly Node[]): Scalarized {
  const needed = reachable(g, roots);
  const top = g.nodes.length;
  const out: Node[][] = new Array(top);
  const zero = g.constant(0);
  const chain = (op: "add" | "mul" | "max" | "min", xs: Node[]) => xs.reduce((acc, x) => g.elementwise(op, [acc, x]));

  const reduceGroup = (op: string, xs: Node[]): Node => {
    switch (op) {
      case "sum":
        return chain("add", xs);
      case "prod":
        return chain("mul", xs);
      case "rmax":
        return chain("max", xs);
      case "rmin":
        return chain("min", xs);
      default: {
        const m = chain("max", xs);
        const s = chain("add", xs.map((x) => g.elementwise("exp", [g.elementwise("sub", [x, m])])));
        return g.elementwise("lseFinish", [m, s]);
      }
    }
  };
  // prefix[i] * suffix[i+1]: the product of all other elements without dividing.
  const productsOfOthers = (x: Node[]): Node[] => {
    const suffix: Node[] = new Array(x.length + 1);
    suffix[x.length] = g.constant(1);
    for (let i = x.length - 1; i >= 0; i--) suffix[i] = g.elementwise("mul", [x[i], suffix[i + 1]]);
    const e: Node[] = [];
    let prefix = g.constant(1);
    for (let i = 0; i < x.length; i++) {
      e.push(g.elementwise("mul", [prefix, suffix[i + 1]]));
      prefix = g.elementwise("mul", [prefix, x[i]]);
    }
    return e;
  };

  for (let id = 0; id < top; id++) {
    if (!needed[id]) continue;
    const n = knownNode(g.nodes[id]);
    if (n.shape.length === 0 && n.op !== "gate" && n.args.every((x) => x.shape.length === 0 && out[x.id]?.[0] === x)) {
      out[n.id] = [n];
      continue;
    }
    g.line = n.line;
    const a = n.args.map((x) => out[x.id]);
    let e: Node[];
    switch (n.op) {
      case "const":
        e = [n];
        break;
      case "input":
        e = n.shape.length === 0 ? [n] : Array.from({ length: n.size }, (_, k) => g.gather(n, [], { offset: k, strides: [] }));
        break;
      case "matmul": {
        const [A, B] = n.args;
        const [x, y] = a;
        const inner = A.shape[A.shape.length - 1];
        const rows = A.shape.length === 2 ? A.shape[0] : 1;
        const cols = B.shape.length === 2 ? B.shape[1] : 1;
        e = [];
        for (let i = 0; i < rows; i++)
          for (let j = 0; j < cols; j++) {
            const terms: Node[] = [];
            for (let k = 0; k < inner; k++) terms.push(g.elementwise("mul", [x[i * inner + k], y[k * cols + j]]));
            e.push(chain("add", terms));
          }
        break;
      }
      case "sum":
      case "prod":
      case "rmax":
      case "rmin":
      case "logsumexp": {
        // Each kept element reduces its own contiguous group of the operand's elements.
        const group = a[0].length / n.size;
        e = [];
        for (let k = 0; k < n.size; k++) e.push(reduceGroup(n.op, a[0].slice(k * group, (k + 1) * group)));
        break;
      }
      case "prodexcept": {
        const group = n.args[0].shape.slice(n.keep ?? 0).reduce((x, y) => x * y, 1);
        e = [];
        for (let k = 0; k < n.size; k += group) e.push(...productsOfOthers(a[0].slice(k, k + group)));
        break;
      }
      case "checkindex":
        e = a[0].map((x) => g.checkIndex(x, n.bound!, n.name!));
        break;
      case "tensor":
        e = n.values!.map((v) => g.constant(v));
        break;
      case "iota":
        e = Array.from({ length: n.size }, (_, k) => g.constant(n.value! + k));
        break;
      case "take":
      case "put": {
        // Only compile-time indices can be scalarized (run-time ones keep their loops).
        const index = a[1].map((x) => (x.op === "const" ? x.value! : NaN));
        if (index.some(Number.isNaN)) throw new Error("internal: a take by run-time indices in straight-line code");
        const full = n.op === "take" ? n.args[0].shape : n.shape;
        const outer = full.slice(0, n.axis!).reduce((x, y) => x * y, 1);
        const along = full[n.axis!];
        const inner = full.slice(n.axis! + 1).reduce((x, y) => x * y, 1);
        e = n.op === "take" ? [] : new Array(n.size).fill(zero);
        for (let o = 0; o < outer; o++)
          for (let q = 0; q < index.length; q++)
            for (let i = 0; i < inner; i++) {
              const whole = (o * along + index[q]) * inner + i;
              const picked = (o * index.length + q) * inner + i;
              if (n.op === "take") e.push(a[0][whole]);
              else e[whole] = g.elementwise("add", [e[whole], a[0][picked]]);
            }
        break;
      }
      case "gather":
        e = Array.from({ length: n.size }, (_, k) => a[0][mapIndex(n.map!, n.shape, k)]);
        break;
      case "scatter": {
        e = new Array(n.size).fill(zero);
        n.args.forEach((part, p) => {
          for (let k = 0; k < part.size; k++) {
            const at = mapIndex(n.maps![p], part.shape, k);
            e[at] = g.elementwise("add", [e[at], a[p][k]]);
          }
        });
        break;
      }
      case "pack":
        e = a.flat();
        break;
      case "gate":
        e = a[0];
        break;
      default: {
        // Elementwise: scalars broadcast.
        e = Array.from({ length: n.size }, (_, k) => g.elementwise(n.op as never, a.map((x) => (x.length === 1 ? x[0] : x[k]))));
      }
    }
    out[n.id] = e;
  }
  return {
    graph: g,
    elements: (node) => {
      const e = out[node.id];
      if (!e) throw new Error("internal: element of a node that was not scalarized");
      return e;
    },
  };
}
