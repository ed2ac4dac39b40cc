// Factoring a late common factor out of a sum or a difference of products, for the flat
// kernels: a (n s) - b (m s) becomes s (a n - b m) when s comes late (after a division or a
// square root) and a, n, b and m do not. Reverse mode multiplies a scale computed late (the
// 1 / |n| of a norm's gradient) into each adjoint before the adjoints are combined, so every
// combination waits for the division; factored, the products run while the division does and
// one multiplication by s ends the chain, as a hand-written gradient has it (the 3D triangle
// area's flat kernel: 1.25x the hand-written function's time, 0.99x factored, with three
// operations more). Not bit for bit: the products round in another order, and a n is formed
// without s, so it can overflow where a (n s) did not (in the triangle's area, an edge near
// 1e160 long with a normal near 1e150: a n is past 1e308, a (n s) near 1e160). So only the
// flat kernels, written for the speed of small fits, are factored; forward and backward keep
// the operations as differentiated.
//
// One forward walk over the scalar graph (topological by construction), rebuilding a node
// when an operand was rebuilt; new nodes are hash-consed like any other.

import { isElementwise } from "./ops.js";
import { reachable, type Graph, type Node } from "./graph.js";

const SLOW = new Set(["div", "sqrt"]);

/** The nodes of `roots` with late common factors taken out of sums and differences. */
export function factorLateScales(g: Graph, roots: readonly Node[]): Node[] {
  const needed = reachable(g, roots);
  const top = g.nodes.length;
  const late = new Map<number, boolean>();
  // Whether a node waits for a division or a square root; operands are known first.
  const isLate = (n: Node): boolean => {
    const known = late.get(n.id);
    if (known !== undefined) return known;
    const value = isElementwise(n.op) && (SLOW.has(n.op) || n.args.some((a) => late.get(a.id) ?? isLate(a)));
    late.set(n.id, value);
    return value;
  };
  // The factors of a product, two levels deep: a (n s) is [a, n, s].
  const factors = (x: Node): readonly Node[] => (x.op !== "mul" ? [x] : x.args.flatMap((a) => (a.op === "mul" ? a.args : [a])));
  const product = (xs: readonly Node[]): Node => xs.reduce((acc, x) => g.elementwise("mul", [acc, x]));
  const without = (xs: readonly Node[], x: Node): Node[] => {
    const k = xs.indexOf(x);
    return [...xs.slice(0, k), ...xs.slice(k + 1)];
  };
  const factored = (n: Node): Node | undefined => {
    const [left, right] = n.args;
    if (left.op !== "mul" || right.op !== "mul") return undefined;
    const [l, r] = [factors(left), factors(right)];
    for (const c of l) {
      if (c.op === "const" || !r.includes(c) || !isLate(c)) continue;
      const [a, b] = [without(l, c), without(r, c)];
      if ([...a, ...b].some(isLate)) continue;
      return g.elementwise("mul", [c, g.elementwise(n.op as "add" | "sub", [product(a), product(b)])]);
    }
    return undefined;
  };

  const rebuilt: (Node | undefined)[] = new Array(top);
  const saved = g.line;
  for (let id = 0; id < top; id++) {
    if (!needed[id]) continue;
    const n = g.nodes[id];
    isLate(n);
    if (!isElementwise(n.op)) continue;
    // New nodes carry the line of the node they stand for (comments in generated code).
    g.line = n.line;
    const args = n.args.map((a) => rebuilt[a.id] ?? a);
    let m = args.every((a, k) => a === n.args[k]) ? n : g.elementwise(n.op, args);
    if (m.op === "add" || m.op === "sub") m = factored(m) ?? m;
    if (m !== n) rebuilt[id] = m;
    isLate(m);
  }
  g.line = saved;
  return roots.map((r) => rebuilt[r.id] ?? r);
}
