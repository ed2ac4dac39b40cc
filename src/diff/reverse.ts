// Reverse-mode accumulation over the IR: one walk over the nodes in reverse topological
// order (descending ids), applying each node's rule from rules.ts to its summed adjoint and
// accumulating contributions into the operands that depend on a param. Gradient nodes are
// built in the same hash-consed graph, so they share every subexpression with the forward
// pass and with each other.

import { sameShape, type Graph, type IndexMap, type Node, type Shape } from "../ir/graph.js";
import type { ElementwiseName } from "../ir/ops.js";
import { RULES, type RuleContext } from "./rules.js";

const isPrefix = (short: Shape, long: Shape) => short.length < long.length && short.every((d, k) => d === long[k]);

/** An operand of `p` that stands for each value more than once: a scalar beside a tensor, or a gather spreading one along an axis. */
const repeated = (a: Node, p: Node) => (a.shape.length === 0 && p.shape.length > 0) || (a.op === "gather" && a.map!.strides.some((s, d) => s === 0 && a.shape[d] !== 1));

export interface Seeded {
  output: Node;
  seed: Node;
  /** The seed may be an exact zero standing for "left out": its terms must vanish, not become NaN. */
  guarded: boolean;
}

/**
 * The gradient of the seeded outputs with respect to each of `wanted` (params, or any
 * node: `gradc graph` asks for every node's adjoint), in the order given. `tiesFirst`: max and
 * min's weights test the tie first (rules.ts, winWeight), for the flat kernels.
 */
export function differentiate(graph: Graph, seeded: readonly Seeded[], wanted: readonly Node[], { tiesFirst = false } = {}): Node[] {
  const top = graph.nodes.length;
  // needsGrad[id]: the node depends on a param, so its operands may receive gradient.
  const needsGrad = new Uint8Array(top);
  for (const n of graph.nodes.slice(0, top)) {
    if (n.op === "input") needsGrad[n.id] = n.role === "param" ? 1 : 0;
    else if (n.op === "gate") needsGrad[n.id] = n.args.slice(1, 1 + n.arity!).some((a) => needsGrad[a.id]) ? 1 : 0;
    else needsGrad[n.id] = n.args.some((a) => needsGrad[a.id]) ? 1 : 0;
  }

  const dense = new Map<number, Node[]>();
  const scattered = new Map<number, { values: Node; map: IndexMap }[]>();
  const guarded = new Uint8Array(top);

  const add = (target: Node, c: Node | { values: Node; map: IndexMap }, isGuarded: boolean) => {
    if (!needsGrad[target.id]) return;
    if (isGuarded) guarded[target.id] = 1;
    if ("id" in c) {
      // Broadcast operands: a scalar beside tensors receives the sum over elements.
      // A batched gate's per-row scalar argument beside its row tensors receives the sum over each row.
      if (!sameShape(c.shape, target.shape)) c = isPrefix(target.shape, c.shape) ? graph.reduce("sum", c, target.shape.length) : graph.broadcast(c, target.shape);
      const list = dense.get(target.id);
      if (list) list.push(c);
      else dense.set(target.id, [c]);
    } else {
      const list = scattered.get(target.id);
      if (list) list.push(c);
      else scattered.set(target.id, [c]);
    }
  };

  // k (g l) with g repeated along the elements (a scalar upstream spread over a tensor: the
  // adjoint of sum(x * x), of dot(p, p)) is (k g) l: the scaling is done once instead of once
  // per element. Exact for a power of two, which commutes with rounding (barring overflow).
  const scaled = (p: Node, k: number): Node => {
    const factor = graph.constant(k);
    if ((p.op === "mul" || p.op === "chainmul") && Number.isInteger(Math.log2(k))) {
      const at = p.args.findIndex((a, i) => (p.op === "mul" || i === 0) && repeated(a, p));
      if (at >= 0) return graph.elementwise(p.op, p.args.map((a, i) => (i === at ? graph.elementwise("mul", [factor, a]) : a)));
    }
    return graph.elementwise("mul", [factor, p]);
  };

  const adjointOf = (n: Node): Node | undefined => {
    const parts = dense.get(n.id);
    const scatters = scattered.get(n.id);
    let sum: Node | undefined;
    // Equal contributions (x*x sends g*x twice) are added once and scaled: k*c.
    const counts = new Map<Node, number>();
    if (parts) for (const p of parts) counts.set(p, (counts.get(p) ?? 0) + 1);
    // Masks by one condition are added first, next to each other, so that they become one
    // mask (Graph.simplify); groups in the order of their first contribution.
    const groups = new Map<number, Node[]>();
    for (const [p, k] of counts) {
      const term = k === 1 ? p : scaled(p, k);
      const key = term.op === "mask" ? term.args[0].id : -1;
      const group = groups.get(key);
      if (group) group.push(term);
      else groups.set(key, [term]);
    }
    for (const terms of groups.values()) {
      const group = terms.reduce((a, b) => graph.elementwise("add", [a, b]));
      sum = sum ? graph.elementwise("add", [sum, group]) : group;
    }
    if (scatters) {
      const s = graph.scatter(scatters, n.shape);
      sum = sum ? graph.elementwise("add", [sum, s]) : s;
    }
    dense.delete(n.id);
    scattered.delete(n.id);
    return sum;
  };

  for (const { output, seed, guarded: g } of seeded) add(output, seed, g);

  let currentGuarded = false;
  const context: RuleContext = {
    graph,
    tiesFirst,
    e: (op: ElementwiseName, ...args: Node[]) => graph.elementwise(op, args),
    c: (value: number) => graph.constant(value),
    chain: (g, local) => graph.elementwise(currentGuarded ? "chainmul" : "mul", [g, local]),
    guard: () => {
      currentGuarded = true;
    },
  };

  const wantedSet = new Set(wanted.map((p) => p.id));
  const gradients = new Map<number, Node>();
  for (let id = top - 1; id >= 0; id--) {
    const node = graph.nodes[id];
    if (!needsGrad[id]) continue;
    const g = adjointOf(node);
    if (!g) continue;
    if (wantedSet.has(id)) gradients.set(id, g);
    const rule = RULES[node.op];
    if (!rule) throw new Error(`internal: no derivative rule for '${node.op}'`);
    currentGuarded = guarded[id] === 1;
    graph.line = node.line; // gradient nodes are credited to the line of the node they come from
    const contributions = rule(context, node, g);
    const ruleGuarded = currentGuarded;
    contributions.forEach((c, k) => {
      if (c) add(node.args[k], c, ruleGuarded);
    });
  }
  return wanted.map((p) => gradients.get(p.id) ?? graph.zeros(p.shape));
}
