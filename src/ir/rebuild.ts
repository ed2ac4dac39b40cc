// Rebuilding part of the DAG with some nodes replaced. Derivative operators need it twice:
// a `def` parameter that a derivative is taken with respect to is a placeholder input
// while the body is built, and is then replaced by the call's actual argument
// (`substitute`); and a derivative that will be differentiated again is rebuilt so that
// its graph reads only operations that have derivative rules (see diff/operators.ts).
//
// Nodes are hash-consed, so a rebuild never edits a node: it makes new ones (or finds
// existing equal ones) in id order, which is a topological order, with no recursion.

import { type Graph, type Node } from "./graph.js";
import { isElementwise } from "./ops.js";

/** The nodes `roots` depend on through every operand (a gate's local gradients too), in id order. */
export function cone(graph: Graph, roots: readonly Node[]): Node[] {
  const seen = new Uint8Array(graph.nodes.length);
  const stack = [...roots];
  const found: Node[] = [];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen[n.id]) continue;
    seen[n.id] = 1;
    found.push(n);
    for (const a of n.args) if (!seen[a.id]) stack.push(a);
  }
  return found.sort((a, b) => a.id - b.id);
}

/** `node`'s operation applied to new operands of the same shapes. */
export function remake(graph: Graph, node: Node, args: readonly Node[]): Node {
  if (args.length === node.args.length && args.every((a, k) => a === node.args[k])) return node;
  if (isElementwise(node.op)) return graph.elementwise(node.op, args);
  switch (node.op) {
    case "matmul":
      return graph.matmul(args[0], args[1]);
    case "sum":
    case "prod":
    case "rmax":
    case "rmin":
    case "logsumexp":
      return graph.reduce(node.op, args[0], node.keep ?? 0);
    case "prodexcept":
      return graph.prodExcept(args[0], node.keep ?? 0);
    case "gather":
      return graph.gather(args[0], node.shape, node.map!);
    case "take":
      return graph.take(args[0], args[1], node.axis!);
    case "put":
      return graph.put(args[0], args[1], node.axis!, node.shape);
    case "solve":
      return graph.solve(args[0], args[1], node.transposed === true);
    case "det":
      return graph.det(args[0]);
    case "checkindex":
      return graph.checkIndex(args[0], node.bound!, node.name!);
    case "scatter":
      return graph.scatter(args.map((values, k) => ({ values, map: node.maps![k] })), node.shape);
    case "pack":
      return graph.pack(args);
    case "gate": {
      const k = node.arity!;
      return graph.gate(node.name!, args[0], args.slice(1, 1 + k), args.slice(1 + k));
    }
  }
  throw new Error(`internal: cannot rebuild '${node.op}'`);
}

/**
 * `root` with the nodes of `replace` (by id) replaced, and everything between them and
 * `root` rebuilt; `rewrite`, when given, may build a node differently (from its already
 * rebuilt operands), or return undefined to rebuild it as it was.
 */
export function rebuild(
  graph: Graph,
  root: Node,
  replace: ReadonlyMap<number, Node>,
  rewrite?: (node: Node, args: readonly Node[]) => Node | undefined,
): Node {
  const done = new Map<number, Node>(replace);
  const saved = graph.line;
  for (const n of cone(graph, [root])) {
    if (done.has(n.id)) continue;
    const args = n.args.map((a) => done.get(a.id) ?? a);
    graph.line = n.line;
    const made = rewrite?.(n, args) ?? remake(graph, n, args);
    if (made !== n) done.set(n.id, made);
  }
  graph.line = saved;
  return done.get(root.id) ?? root;
}

/**
 * `root` with `placeholder` replaced by `actual` (same shape): a `def` body built over a
 * placeholder input, evaluated at the call's argument.
 */
export function substitute(graph: Graph, root: Node, placeholder: Node, actual: Node): Node {
  if (placeholder === actual) return root;
  if (placeholder.shape.join() !== actual.shape.join()) throw new Error(`internal: substituting a node of another shape`);
  return rebuild(graph, root, new Map([[placeholder.id, actual]]));
}
