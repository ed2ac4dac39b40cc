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
// Also for the flat kernels, and exact: a power of two that multiplies every use of a shared
// product is taken into the product once. The chain rule through a square and a square root
// leaves s = (2 (k e)) (0.5 / l) used as 2 (d_i s) by each coordinate of a spring; with the 2
// in s, s is (2 (k e)) (1 / l) and each use one product (the spring's flat kernel: 1.10x ->
// 1.04x the hand-written function). Scaling by 2^k commutes with rounding, so the values are
// the same, barring overflow.
//
// And a quotient a / b whose divisor's reciprocal 1 / b the kernel computes anyway (the
// gradient of a / b needs it, rules.ts) becomes a (1 / b): one division where the kernel took
// two, as hand-written code divides once (a pinhole projection's x / z and y / z and their
// gradient: three divisions, one after; the reprojection kernel 1.31x -> 1.0x the hand-written
// function). Not bit for bit either: a (1 / b) rounds twice, so it can differ from a / b in
// the last place (test/tiny-arithmetic.test.ts bounds the kernels at 1e-14 of backward);
// where |b| is below 2^-1022 or above 2^1022, 1 / b is infinite or subnormal, and a (1 / b)
// can be infinite, NaN (0 * Infinity) or short of digits where a / b was not; the gradient,
// which multiplies by that same 1 / b, is then so already. A constant numerator keeps its
// division (a power of two times 1 / b is that quotient again, Graph's simplification).
//
// One forward walk over the scalar graph (topological by construction), rebuilding a node
// when an operand was rebuilt; new nodes are hash-consed like any other.

import { isElementwise } from "./ops.js";
import { powerOfTwo, reachable, type Graph, type Node } from "./graph.js";

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

  // Shared products whose every use scales them by the same power of two c, as c x or as
  // c (y x): such an x is rebuilt as c x, and each use's multiplication by c is dropped.
  const users: Node[][] = Array.from({ length: top }, () => []);
  for (let id = 0; id < top; id++) if (needed[id]) for (const a of g.nodes[id].args) users[a.id].push(g.nodes[id]);
  const isRoot = new Uint8Array(top);
  for (const r of roots) isRoot[r.id] = 1;
  const constantOf = (n: Node) => n.args.find((a) => a.op === "const" && powerOfTwo(a.value!) && Math.abs(a.value!) !== 1);
  const scaleInto = new Map<number, Node>();
  const absorbed = new Map<number, Node>();
  for (let id = 0; id < top; id++) {
    const x = g.nodes[id];
    // A use that drops its c for one product cannot drop it for another, nor take one in.
    if (!needed[id] || x.op !== "mul" || isRoot[id] || users[id].length < 2 || absorbed.has(id)) continue;
    // The use that multiplies by c, for each use of x: u itself, or u's only user.
    const scaling = users[id].map((u) => {
      if (u.op !== "mul" || u.args[0] === u.args[1]) return undefined;
      if (constantOf(u)) return { by: u, keep: x };
      const [w] = users[u.id];
      return users[u.id].length === 1 && !isRoot[u.id] && w.op === "mul" && constantOf(w) ? { by: w, keep: u } : undefined;
    });
    const c = scaling[0] && constantOf(scaling[0].by);
    if (!c || scaling.some((s) => !s || constantOf(s.by) !== c || absorbed.has(s.by.id))) continue;
    // c x folds c into a quotient c2 / y of x (Graph's simplification): a new division, a
    // loss unless x was the old one's only user.
    const divisions = [x, ...x.args].filter((d) => d.op === "div");
    if (divisions.some((d) => users[d.id].length > 1)) continue;
    scaleInto.set(id, c);
    for (const s of scaling) absorbed.set(s!.by.id, s!.keep);
  }

  // The divisors whose reciprocal the kernel needs, by the divisor's id.
  const hasReciprocal = new Uint8Array(top);
  for (let id = 0; id < top; id++) {
    const n = g.nodes[id];
    if (needed[id] && n.op === "div" && n.args[0].op === "const" && n.args[0].value === 1) hasReciprocal[n.args[1].id] = 1;
  }

  const rebuilt: (Node | undefined)[] = new Array(top);
  const saved = g.line;
  for (let id = 0; id < top; id++) {
    if (!needed[id]) continue;
    const n = g.nodes[id];
    isLate(n);
    if (!isElementwise(n.op)) continue;
    // New nodes carry the line of the node they stand for (comments in generated code).
    g.line = n.line;
    const keep = absorbed.get(id);
    if (keep) {
      rebuilt[id] = rebuilt[keep.id] ?? keep;
      continue;
    }
    const args = n.args.map((a) => rebuilt[a.id] ?? a);
    let m: Node;
    if (n.op === "div" && n.args[0].op !== "const" && hasReciprocal[n.args[1].id]) {
      // The reciprocal of the rebuilt divisor: the needed one itself (hash-consed), or what it
      // is rebuilt into when its divisor was rebuilt.
      m = g.elementwise("mul", [args[0], g.elementwise("div", [g.constant(1), args[1]])]);
    } else m = args.every((a, k) => a === n.args[k]) ? n : g.elementwise(n.op, args);
    const c = scaleInto.get(id);
    if (c) m = g.elementwise("mul", [c, m]);
    if (m.op === "add" || m.op === "sub") m = factored(m) ?? m;
    if (m !== n) rebuilt[id] = m;
    isLate(m);
  }
  g.line = saved;
  return roots.map((r) => rebuilt[r.id] ?? r);
}
