// The flat kernels' factoring of late scales (ir/factor.ts): a (n s) - b (m s) becomes
// s (a n - b m) when s waits for a division or a square root and a, n, b, m do not; nothing
// changes when another factor is late too, or the common factor is early. And a power of two
// on every use of a shared product taken into the product, exactly. Values are the reference
// interpreter's before and after the pass.

import { describe, expect, it } from "vitest";
import { Graph, type Node } from "../src/ir/graph.js";
import { evaluateGraph, inputKey } from "../src/ir/interpret.js";
import { factorLateScales } from "../src/ir/factor.js";

function scalars(g: Graph, names: string[]): Node[] {
  return names.map((n) => g.input(n, "param", []));
}

const at = (g: Graph, inputs: Node[], values: number[]) => new Map(inputs.map((x, k) => [inputKey(x), values[k]]));

describe("factoring late scales out of sums and differences", () => {
  it("takes a division's result out of a difference of products, and out of a sum of such differences", () => {
    const g = new Graph();
    const [a, n, b, m, c, p, r] = scalars(g, ["a", "n", "b", "m", "c", "p", "r"]);
    const s = g.elementwise("div", [g.constant(0.5), g.elementwise("sqrt", [r])]);
    const mul = (x: Node, y: Node) => g.elementwise("mul", [x, y]);
    const ns = mul(n, s);
    const ms = mul(m, s);
    const left = g.elementwise("sub", [mul(a, ns), mul(b, ms)]);
    const right = g.elementwise("sub", [mul(c, ms), mul(p, ns)]);
    const total = g.elementwise("add", [left, right]);
    const [f1, f2] = factorLateScales(g, [left, total]);
    expect(f1.op).toBe("mul");
    expect(f1.args).toContain(s);
    const inner = f1.args.find((x) => x !== s)!;
    expect(inner.op).toBe("sub");
    expect(inner.args.map((x) => x.op)).toEqual(["mul", "mul"]);
    expect(inner.args.flatMap((x) => x.args)).not.toContain(s);
    // The sum of two factored differences is factored again: one multiplication by s.
    expect(f2.op).toBe("mul");
    expect(f2.args).toContain(s);
    const values = [0.3, -1.2, 2.5, 0.7, -0.4, 1.9, 3.1];
    const inputs = [a, n, b, m, c, p, r];
    const [before, after] = [evaluateGraph(g, at(g, inputs, values), [left, total]), evaluateGraph(g, at(g, inputs, values), [f1, f2])];
    expect(after[0][0]).toBeCloseTo(before[0][0], 14);
    expect(after[1][0]).toBeCloseTo(before[1][0], 14);
  });

  it("leaves a combination alone when another factor is late too, or the common factor is early", () => {
    const g = new Graph();
    const [a, n, b, m, r] = scalars(g, ["a", "n", "b", "m", "r"]);
    const mul = (x: Node, y: Node) => g.elementwise("mul", [x, y]);
    const s = g.elementwise("div", [g.constant(1), r]);
    const lateToo = g.elementwise("sqrt", [a]);
    const bothLate = g.elementwise("sub", [mul(lateToo, mul(n, s)), mul(b, mul(m, s))]);
    const early = g.elementwise("add", [mul(a, mul(n, r)), mul(b, mul(m, r))]);
    const constant = g.elementwise("add", [mul(g.constant(2), mul(n, s)), mul(g.constant(2), mul(m, a))]);
    expect(factorLateScales(g, [bothLate, early, constant])).toEqual([bothLate, early, constant]);
  });

  it("takes a power of two on every use of a shared product into the product, with the same values", () => {
    const g = new Graph();
    const [k, e, l, y0, y1, y2] = scalars(g, ["k", "e", "l", "y0", "y1", "y2"]);
    const mul = (x: Node, y: Node) => g.elementwise("mul", [x, y]);
    const two = g.constant(2);
    // The spring's s = (2 (k e)) (0.5 / l), used as 2 (y_i s).
    const s = mul(mul(two, mul(k, e)), g.elementwise("div", [g.constant(0.5), l]));
    const roots = [mul(two, mul(y0, s)), mul(two, mul(y1, s)), g.elementwise("neg", [mul(two, mul(y2, s))])];
    const out = factorLateScales(g, roots);
    // Each use is one product by the new s, which divides 1 (not 0.5) by l.
    for (const [k2, r] of out.entries()) {
      const product = k2 === 2 ? r.args[0] : r;
      expect(product.op).toBe("mul");
      expect(product.args.some((a) => a.op === "const")).toBe(false);
    }
    const shared = out[0].args.find((a) => a !== y0)!;
    expect(shared.args.some((a) => a.op === "div" && a.args[0].value === 1)).toBe(true);
    const inputs = [k, e, l, y0, y1, y2];
    const values = [40, 0.37, 1.37, 0.3, -1.1, 0.7];
    const before = evaluateGraph(g, at(g, inputs, values), roots).map((v) => v[0]);
    const after = evaluateGraph(g, at(g, inputs, values), out).map((v) => v[0]);
    expect(after).toEqual(before);
  });

  it("keeps the power of two in the uses when one use lacks it, or when the quotient is shared", () => {
    const g = new Graph();
    const [a, l, y0, y1] = scalars(g, ["a", "l", "y0", "y1"]);
    const mul = (x: Node, y: Node) => g.elementwise("mul", [x, y]);
    const two = g.constant(2);
    const q = g.elementwise("div", [g.constant(1), l]);
    const s = mul(a, q);
    const mixed = [mul(two, mul(y0, s)), mul(y1, s)];
    expect(factorLateScales(g, mixed)).toEqual(mixed);
    // 1 / l is read elsewhere too: folding the 2 into it would divide a second time.
    const sharedQuotient = [mul(two, mul(y0, s)), mul(two, mul(y1, s)), mul(q, y1)];
    expect(factorLateScales(g, sharedQuotient)).toEqual(sharedQuotient);
  });
});
