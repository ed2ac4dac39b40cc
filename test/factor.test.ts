// The flat kernels' factoring of late scales (ir/factor.ts): a (n s) - b (m s) becomes
// s (a n - b m) when s waits for a division or a square root and a, n, b, m do not; nothing
// changes when another factor is late too, or the common factor is early. Values are the
// reference interpreter's before and after the pass, equal up to rounding.

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
});
