// The tensor IR's rank-general operations, built by hand and run by the reference
// interpreter: reductions that keep leading axes, take/put by an index tensor, stacks of
// matrix products, views of views composed into one, and batching of a loop body over
// its variable. Values are checked against direct loops; gradients (from differentiate)
// against central finite differences of the interpreted forward value.

import { describe, expect, test } from "vitest";
import { differentiate } from "../src/diff/reverse.js";
import { Graph, rowMajor, type Node } from "../src/ir/graph.js";
import { evaluateGraph, inputKey } from "../src/ir/interpret.js";
import { batchOver } from "../src/ir/batch.js";
import { mulberry32 } from "../src/random.js";

function values(n: number, seed: number): number[] {
  const next = mulberry32(seed);
  return Array.from({ length: n }, () => next() * 4 - 2);
}

/** Gradient of sum(w * f(x)) with respect to x, by differentiate and by central differences. */
function checkGradient(build: (g: Graph, x: Node) => Node, shape: number[], seed = 1) {
  const g = new Graph();
  const x = g.input("x", "param", shape);
  const y = build(g, x);
  const w = g.input("w", "input", y.shape);
  const loss = g.reduce("sum", g.elementwise("mul", [y, w]));
  const [grad] = differentiate(g, [{ output: loss, seed: g.constant(1), guarded: false }], [x]);
  const xv = values(x.size, seed);
  const wv = values(Math.max(1, y.size), seed + 1);
  const at = (v: number[]) => new Map([[inputKey(x), v], [inputKey(w), y.shape.length ? wv : wv[0]]]);
  const [analytic] = evaluateGraph(g, at(xv), [grad]);
  const f = (v: number[]) => evaluateGraph(g, at(v), [loss])[0][0];
  for (let k = 0; k < x.size; k++) {
    const h = 1e-5;
    const up = xv.slice();
    const down = xv.slice();
    up[k] += h;
    down[k] -= h;
    const numeric = (f(up) - f(down)) / (2 * h);
    expect(Math.abs(analytic[k] - numeric), `element ${k}`).toBeLessThan(1e-6 * (1 + Math.abs(numeric)));
  }
}

describe("reductions that keep leading axes", () => {
  test("sum over the last axis of a [2, 3, 4] tensor keeps [2, 3]", () => {
    const g = new Graph();
    const xv = values(24, 3);
    const x = g.tensor(xv, [2, 3, 4]);
    const r = g.reduce("sum", x, 2);
    expect(r.shape).toEqual([2, 3]);
    const [got] = evaluateGraph(g, new Map(), [r]);
    for (let k = 0; k < 6; k++) expect(got[k]).toBeCloseTo(xv.slice(4 * k, 4 * k + 4).reduce((a, b) => a + b), 12);
  });
  for (const kind of ["sum", "prod", "rmax", "rmin", "logsumexp"] as const)
    test(`${kind} with keep = 1 has finite-difference gradients`, () => checkGradient((g, x) => g.reduce(kind, x, 1), [3, 4]));
});

describe("take and put", () => {
  test("take along axis 1 by an index tensor, with repeats", () => {
    const g = new Graph();
    const xv = values(12, 5);
    const x = g.tensor(xv, [3, 4]);
    const t = g.take(x, g.tensor([3, 0, 3], [3]), 1);
    expect(t.shape).toEqual([3, 3]);
    const [got] = evaluateGraph(g, new Map(), [t]);
    expect(Array.from(got)).toEqual([xv[3], xv[0], xv[3], xv[7], xv[4], xv[7], xv[11], xv[8], xv[11]]);
  });
  test("the gradient of take adds up at repeated indices", () => {
    checkGradient((g, x) => g.take(x, g.tensor([2, 0, 2, 2], [2, 2]), 0), [3, 2]);
  });
});

describe("matrix products of any rank", () => {
  test("[2, 3, 4] @ [4, 5] is two [3, 5] products", () => {
    const g = new Graph();
    const av = values(24, 7);
    const bv = values(20, 8);
    const p = g.matmul(g.tensor(av, [2, 3, 4]), g.tensor(bv, [4, 5]));
    expect(p.shape).toEqual([2, 3, 5]);
    const [got] = evaluateGraph(g, new Map(), [p]);
    for (let s = 0; s < 2; s++)
      for (let i = 0; i < 3; i++)
        for (let j = 0; j < 5; j++) {
          let want = 0;
          for (let q = 0; q < 4; q++) want += av[s * 12 + i * 4 + q] * bv[q * 5 + j];
          expect(got[s * 15 + i * 5 + j]).toBeCloseTo(want, 12);
        }
  });
  test("gradients of a stacked product", () => {
    checkGradient((g, x) => g.matmul(x, g.tensor(values(12, 9), [2, 3, 2])), [2, 2, 3]);
    checkGradient((g, x) => g.matmul(g.tensor(values(12, 9), [2, 3, 2]), x), [2, 2]);
  });
});

describe("views of views", () => {
  test("a transposed row block read through two gathers is one gather", () => {
    const g = new Graph();
    const x = g.input("x", "input", [4, 6]);
    const rows = g.gather(x, [2, 6], { offset: 6, strides: [6, 1] }); // rows 1..2
    const t = g.gather(rows, [6, 2], { offset: 0, strides: [1, 6] }); // transposed
    expect(t.op).toBe("gather");
    expect(t.args[0]).toBe(x);
    const xv = values(24, 11);
    const [got] = evaluateGraph(g, new Map([[inputKey(x), xv]]), [t]);
    for (let i = 0; i < 6; i++) for (let j = 0; j < 2; j++) expect(got[i * 2 + j]).toBe(xv[(1 + j) * 6 + i]);
  });
  test("a view that wraps across rows stays two gathers", () => {
    const g = new Graph();
    const x = g.input("x", "input", [3, 4]);
    const t = g.gather(x, [4, 3], { offset: 0, strides: [1, 4] });
    const flat = g.gather(t, [6], { offset: 2, strides: [1] }); // crosses t's rows
    expect(flat.args[0]).toBe(t);
  });
});

describe("batching a loop body", () => {
  test("[W @ x[n] + b for n in 0..5] is one product over the rows of x", () => {
    const g = new Graph();
    const W = g.input("W", "param", [3, 4]);
    const b = g.input("b", "param", [3]);
    const X = g.input("X", "input", [5, 4]);
    const loop = g.loopVariable(1, 0, 5);
    const row = g.take(X, loop, 0);
    const body = g.elementwise("add", [g.matmul(W, row), b]);
    const batched = batchOver(g, loop, body);
    expect(batched.shape).toEqual([5, 3]);
    const needed = new Set<string>();
    const stack = [batched];
    while (stack.length) {
      const n = stack.pop()!;
      needed.add(n.op);
      stack.push(...n.args);
    }
    expect(needed.has("loopvar")).toBe(false);
    expect(needed.has("take")).toBe(false);
    const [Wv, bv, Xv] = [values(12, 1), values(3, 2), values(20, 3)];
    const at = new Map([[inputKey(W), Wv], [inputKey(b), bv], [inputKey(X), Xv]]);
    const [got] = evaluateGraph(g, at, [batched]);
    for (let n = 0; n < 5; n++)
      for (let i = 0; i < 3; i++) {
        let want = bv[i];
        for (let q = 0; q < 4; q++) want += Wv[i * 4 + q] * Xv[n * 4 + q];
        expect(got[n * 3 + i]).toBeCloseTo(want, 12);
      }
  });
  test("x[(i * i) % 7] reads through a table of indices", () => {
    const g = new Graph();
    const x = g.input("x", "input", [7]);
    const loop = g.loopVariable(2, 0, 7);
    const index = g.elementwise("mod", [g.elementwise("mul", [loop, loop]), g.constant(7)]);
    const batched = batchOver(g, loop, g.take(x, index, 0));
    const xv = values(7, 4);
    const [got] = evaluateGraph(g, new Map([[inputKey(x), xv]]), [batched]);
    expect(Array.from(got)).toEqual([0, 1, 4, 2, 2, 4, 1].map((k) => xv[k]));
  });
  test("x[i + j] over j, with i an outer loop's variable, then over i", () => {
    const g = new Graph();
    const x = g.input("x", "input", [7]);
    const i = g.loopVariable(3, 0, 3);
    const j = g.loopVariable(4, 1, 4); // j in 1..5
    const inner = batchOver(g, j, g.take(x, g.elementwise("add", [i, j]), 0));
    const outer = batchOver(g, i, inner);
    expect(outer.shape).toEqual([3, 4]);
    const xv = values(7, 6);
    const [got] = evaluateGraph(g, new Map([[inputKey(x), xv]]), [outer]);
    for (let a = 0; a < 3; a++) for (let b = 0; b < 4; b++) expect(got[a * 4 + b]).toBe(xv[a + b + 1]);
  });
  test("a body that ignores the variable is repeated without copies", () => {
    const g = new Graph();
    const b = g.input("b", "param", [4]);
    const loop = g.loopVariable(5, 0, 2000);
    const batched = batchOver(g, loop, b);
    expect(batched.op).toBe("gather");
    expect(batched.map!.strides).toEqual([0, ...rowMajor([4])]);
  });
});
