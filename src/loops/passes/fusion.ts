// Fusion, decided on the tensor IR before lowering: an elementwise node with one user that
// reads it element for element (an elementwise op of the same size, a reduction, a scatter
// that subtracts a negation) is computed inside that user's loop instead of being stored.
// Fused expressions are capped in depth (MAX_FUSION_DEPTH), so that a chain of thousands of
// fusable nodes (the gradient of `[b for i in 0..N]` sums N parts) becomes stored steps
// rather than one expression thousands of levels deep.

import { reachable, type Graph, type Node } from "../../ir/graph.js";
import { isElementwise } from "../../ir/ops.js";

/** Deepest chain of fused operations in one element's expression. */
export const MAX_FUSION_DEPTH = 16;

/** A gate is an alias of its forward value. */
export function resolve(n: Node): Node {
  // A gate's value is its forward operand; checked indices are their values (the module
  // checks them before it computes).
  while (n.op === "gate" || n.op === "checkindex") n = n.args[0];
  return n;
}

export interface FusionPlan {
  needed: Uint8Array;
  /** Nodes some root needs through operands, gates resolved. */
  live: Uint8Array;
  /** Users of each node (roots count twice: they are always stored or read by a sink). */
  uses: Uint32Array;
  /** The last user seen of each node: its only one when `uses` is 1. */
  consumer: (Node | undefined)[];
}

/** Uses counted from the roots down, in one backward walk over node ids. */
export function planFusion(graph: Graph, roots: readonly Node[]): FusionPlan {
  const needed = reachable(graph, roots);
  const uses = new Uint32Array(graph.nodes.length);
  const consumer: (Node | undefined)[] = new Array(graph.nodes.length);
  const live = new Uint8Array(graph.nodes.length);
  for (const r of roots) live[r.id] = 1;
  for (let id = graph.nodes.length - 1; id >= 0; id--) {
    if (!live[id] || !needed[id]) continue;
    const n = graph.nodes[id];
    if (n.op === "gate" || n.op === "checkindex") continue;
    for (const a0 of n.args) {
      const a = resolve(a0);
      live[a.id] = 1;
      uses[a.id]++;
      consumer[a.id] = n;
    }
  }
  for (const r of roots) uses[r.id] += 2;
  return { needed, live, uses, consumer };
}

/** Whether `n` may be computed inside its single user's loop, its own fused depth being `depth`. */
export function fusable(plan: FusionPlan, n: Node, depth: number): boolean {
  const user = plan.consumer[n.id];
  if (depth > MAX_FUSION_DEPTH) return false;
  return (
    plan.uses[n.id] === 1 &&
    user !== undefined &&
    n.shape.length > 0 &&
    user.op !== "gate" &&
    // pick's rare value is computed on every path, before the choice (ir/ops.ts).
    !(user.op === "pick" && user.args[2] === n) &&
    ((isElementwise(user.op) && user.size === n.size) ||
      user.op === "sum" ||
      user.op === "prod" ||
      user.op === "rmax" ||
      user.op === "rmin" ||
      (user.op === "scatter" && n.op === "neg"))
  );
}
