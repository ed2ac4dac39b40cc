// The loop-nest IR's passes, one at a time, on IR built by hand (src/loops/): each test
// checks what the pass promises about the statements it returns, and runs them before and
// after where values could change. Then the lowering of rank-general tensor operations
// (keep-reductions, take, put, constant tensors, iota) against the reference interpreter,
// and programs deep enough to overflow any recursion over the program.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Graph, type Node } from "../src/ir/graph.js";
import { HELPER_SOURCE } from "../src/ir/ops.js";
import { evaluateGraph, inputKey } from "../src/ir/interpret.js";
import { apply, lit, load, local, num, variable, affineAdd, allStmts as allStmtsOf, type Buffer, type Stmt } from "../src/loops/ir.js";
import { Printer } from "../src/loops/print.js";
import { buildLoops, printLoops } from "../src/loops/index.js";
import { unrollShortLoops, WRITTEN_OUT_PRODUCT } from "../src/loops/passes/unroll-short.js";
import { partialSums } from "../src/loops/passes/partial-sums.js";
import { guardZeroUnits, zeroWhere } from "../src/loops/passes/zero-guard.js";
import { mergeLoops, independent } from "../src/loops/passes/merge.js";
import { carryShiftedSums } from "../src/loops/passes/carry.js";
import { combineAccumulations } from "../src/loops/passes/combine.js";
import { accumulateIntoResults } from "../src/loops/passes/accumulate-into.js";
import { bindElementReads, replaceBuffers, replaceNestedBuffers } from "../src/loops/passes/scalar-replace.js";
import { contractRowBuffers } from "../src/loops/passes/contract.js";
import { hoistArgumentReads, hoistNestReads } from "../src/loops/passes/hoist.js";
import { unrollInnermost } from "../src/loops/passes/unroll.js";
import { smallTensorsToLocals } from "../src/loops/passes/locals.js";
import { splitLongBody } from "../src/loops/passes/split.js";
import { MAX_FUSION_DEPTH } from "../src/loops/passes/fusion.js";
import { compile } from "../src/compile.js";
import { addSize, dimSize, mulSize } from "../src/ir/size.js";
import { assertClose, centralDifference, load as loadModule, numericGradient, rng, uniform } from "./support/load.js";

const x: Buffer = { name: "a0", kind: "argument", size: 64 };
const y: Buffer = { name: "a1", kind: "argument", size: 64 };
const scratch = (id: number, size: number): Buffer => ({ name: `b${id}`, kind: "scratch", size, source: `buf${id}` });
const holder: Buffer = { name: "h9", kind: "holder", size: 64, source: "out" };
const i = variable("i");
const loop = (extent: number, body: Stmt[], v = "i"): Stmt => ({ k: "loop", v, from: 0, extent, step: 1, body });
const store = (buffer: Buffer, index: ReturnType<typeof lit>, value: Stmt extends never ? never : Parameters<typeof apply>[1], op: "=" | "+=" | "-=" = "="): Stmt => ({ k: "store", buffer, index, value, op });
const print = (body: readonly Stmt[]) => new Printer().stmts(body).join("\n");

/** Runs statements with the named arrays and returns them (and `result`, a local the statements may set). */
function run(body: readonly Stmt[], arrays: Record<string, Float64Array>): Record<string, Float64Array> {
  const printer = new Printer();
  const lines = printer.stmts(body);
  const names = Object.keys(arrays);
  const helpers = [...printer.helpers].map((h) => HELPER_SOURCE[h]);
  new Function(...names, [...helpers, ...lines].join("\n"))(...names.map((n) => arrays[n]));
  return arrays;
}
const ramp = (n: number, k = 1) => Float64Array.from({ length: n }, (_, j) => Math.sin(k * (j + 1)));

describe("unroll-short: short axes get literal indices", () => {
  it("a loop of 3 steps becomes 3 copies, and a local declared in it is renamed per copy", () => {
    const t: Buffer = { name: "t5", kind: "local", size: 3 };
    const body = unrollShortLoops([
      loop(3, [{ k: "let", name: "acc", value: load(x, affineAdd(variable("u"), lit(1))) }, store(t, variable("u"), local("acc"))], "u"),
    ]);
    expect(print(body)).toBe(["const acc_0 = a0[1];", "const t5_0 = acc_0;", "const acc_1 = a0[2];", "const t5_1 = acc_1;", "const acc_2 = a0[3];", "const t5_2 = acc_2;"].join("\n"));
  });

  it("a loop of 5 steps stays a loop", () => {
    const body = unrollShortLoops([loop(5, [store(holder, i, load(x, i))])]);
    expect(body).toHaveLength(1);
    expect(body[0].k).toBe("loop");
  });

  it(`a nest of 16 size-2 loops is written out only to ${WRITTEN_OUT_PRODUCT} copies, the outer axes stay loops, and every element is still stored`, () => {
    const rank = 16;
    const size = 2 ** rank;
    const big = (name: string, kind: Buffer["kind"]): Buffer => ({ name, kind, size, source: name });
    const [from, to] = [big("src", "argument"), big("dst", "holder")];
    let index = lit(0);
    for (let d = 0; d < rank; d++) index = affineAdd(index, variable(`u${d}`), 2 ** (rank - 1 - d));
    let nest: Stmt[] = [store(to, index, apply("mul", load(from, index), num(2)))];
    for (let d = rank - 1; d >= 0; d--) nest = [loop(2, nest, `u${d}`)];
    const body = unrollShortLoops(nest);
    const stores = allStmtsOf(body).filter((s) => s.k === "store");
    expect(stores).toHaveLength(WRITTEN_OUT_PRODUCT);
    expect(allStmtsOf(body).filter((s) => s.k === "loop")).toHaveLength(rank - Math.log2(WRITTEN_OUT_PRODUCT));
    const out = run(body, { src: ramp(size), dst: new Float64Array(size) }).dst;
    const input = ramp(size);
    expect(out.every((v, j) => v === 2 * input[j])).toBe(true);
  });

  it(`a loop whose variable indexes a local tensor is written out past ${WRITTEN_OUT_PRODUCT} copies, since a local has no variable index`, () => {
    // The sum over the inner axes of a [4, 4, 3, 2] value, kept in the locals t3_0..t3_3.
    const t: Buffer = { name: "t3", kind: "local", size: 4 };
    const extents = [4, 4, 3, 2];
    const strides = [24, 6, 2, 1];
    let index = lit(0);
    for (let d = 0; d < 4; d++) index = affineAdd(index, variable(`u${d}`), strides[d]);
    let nest: Stmt[] = [store(t, variable("u0"), load(x, index), "+=")];
    for (let d = 3; d >= 0; d--) nest = [loop(extents[d], nest, `u${d}`)];
    const body = unrollShortLoops([{ k: "fill", buffer: t, value: num(0) }, ...nest]);
    // All 96 copies: the outer loop goes past the product because it indexes t3.
    expect(allStmtsOf(body).filter((s) => s.k === "loop")).toHaveLength(0);
    expect(allStmtsOf(body).filter((s) => s.k === "store")).toHaveLength(96);
    const printed = [...new Printer().stmts(smallTensorsToLocals(body)), "h9[0] = t3_0; h9[1] = t3_1; h9[2] = t3_2; h9[3] = t3_3;"];
    const input = ramp(96);
    const out = new Float64Array(4);
    new Function("a0", "h9", printed.join("\n"))(input, out);
    for (let r = 0; r < 4; r++) expect(out[r]).toBeCloseTo(input.slice(24 * r, 24 * r + 24).reduce((a, b) => a + b, 0), 12);
  });

  it("a nest 20,000 loops deep is walked without recursion", () => {
    let nest: Stmt[] = [store(holder, lit(0), num(1), "+=")];
    for (let d = 0; d < 20_000; d++) nest = [loop(d % 2 ? 2 : 5, nest, `v${d}`)];
    const body = unrollShortLoops(nest);
    expect(allStmtsOf(body).filter((s) => s.k === "store").length).toBeLessThanOrEqual(WRITTEN_OUT_PRODUCT);
  });
});

describe("tensors of many short axes: code of bounded size, right values and gradients", () => {
  const source = (rank: number) => `param x[${Array(rank).fill(2).join(", ")}]\nparam w[2]\noutput y = sum(tanh(x * w) ^ 2) + 0.5 * sum(exp(-x))\n`;
  const value = (xs: Float64Array, w: Float64Array) => {
    let f = 0;
    xs.forEach((v, j) => (f += Math.tanh(v * w[j % 2]) ** 2 + 0.5 * Math.exp(-v)));
    return f;
  };

  it("the module grows with the rank written in the source, not with the 2^rank elements", () => {
    const length = (rank: number) => compile(source(rank), { format: "js" }).code!.length;
    const [l12, l16, l20] = [length(12), length(16), length(20)];
    // 2^20 elements written out would be tens of megabytes; a few kilobytes per axis is the index arithmetic.
    expect(l20).toBeLessThan(400_000);
    expect(l20 - l16).toBeLessThan(1.5 * (l16 - l12));
  });

  for (const rank of [18, 20]) {
    it(`rank ${rank}: the value, and the gradient against the analytic one and finite differences at sampled elements`, { timeout: 60_000 }, async () => {
      const { module } = await loadModule(source(rank));
      const random = rng(rank);
      const xs = Float64Array.from({ length: 2 ** rank }, () => uniform(random, -1, 1));
      const w = Float64Array.from([0.7, -1.3]);
      const { outputs, grad } = module.backward({ x: xs, w });
      assertClose(outputs.y, value(xs, w), 1e-9);
      const gx = grad.x as Float64Array;
      const analytic = xs.map((v, j) => {
        const t = Math.tanh(v * w[j % 2]);
        return 2 * t * (1 - t * t) * w[j % 2] - 0.5 * Math.exp(-v);
      });
      assertClose(gx, analytic, 1e-9, "grad x");
      for (const j of [0, 1, 2 ** (rank - 1) + 5, 2 ** rank - 1]) {
        const at = (v: number) => {
          const moved = xs.slice();
          moved[j] = v;
          return (module.forward({ x: moved, w }).y as number);
        };
        assertClose(gx[j], centralDifference(at, xs[j], 1e-3), 1e-4, `grad x[${j}]`);
      }
    });
  }
});

describe("reductions along axes of rank-4 and rank-7 tensors whose result fits in locals", () => {
  // Reducing [4, 4, 3, 2] to [4] or [2]^7 to [2] made a nest too large to write out whole,
  // whose outer loop indexed a tensor kept in locals: the compiler threw.
  const cases = [
    { shape: [4, 4, 3, 2], axis: "[1, 2, 3]" },
    { shape: [2, 2, 2, 2, 2, 2, 2], axis: "[1, 2, 3, 4, 5, 6]" },
  ];
  for (const { shape, axis } of cases) {
    it(`sum, max and prod of ${JSON.stringify(shape)} along ${axis}: values by hand, gradients against differences`, async () => {
      const source = `param A[${shape.join(", ")}]\noutput s = sum(A * A, axis=${axis}) + max(A, axis=${axis}) + prod(A, axis=${axis})`;
      const { module } = await loadModule(source, { emit: "loops" });
      const size = shape.reduce((a, b) => a * b, 1);
      const rows = shape[0];
      const random = rng(5);
      const A = Array.from({ length: size }, () => uniform(random, 0.8, 1.2));
      const per = size / rows;
      const want = Array.from({ length: rows }, (_, r) => {
        const row = A.slice(r * per, (r + 1) * per);
        return row.reduce((t, v) => t + v * v, 0) + Math.max(...row) + row.reduce((t, v) => t * v, 1);
      });
      const seed = { s: Array.from({ length: rows }, (_, r) => r + 1) };
      const { outputs, grad } = module.backward({ A }, seed);
      assertClose(outputs.s, want, 1e-12, "s");
      const weighted = (args: Record<string, number | number[]>) => Array.from(module.forward(args).s as Float64Array).reduce((t, v, r) => t + (r + 1) * v, 0);
      assertClose(grad.A, numericGradient(weighted, { A }, "A") as number[], 1e-6, "grad A");
    });
  }
});

describe("partial sums: a long dot product keeps four running sums", () => {
  const dot = (n: number): Stmt[] => [
    { k: "let", name: "acc", value: num(0), mutable: true, reassociate: true },
    loop(n, [{ k: "assign", name: "acc", op: "+=", value: apply("mul", load(x, variable("q")), load(y, variable("q"))) }], "q"),
    store(holder, lit(0), local("acc")),
  ];
  for (const n of [40, 43]) {
    it(`${n} steps: four sums stepping by 4${n % 4 ? ", the rest into the first" : ""}, the same dot product within rounding`, () => {
      const body = partialSums(dot(n));
      const text = print(body);
      expect(text).toContain(`for (let q = 0; q < ${n - (n % 4)}; q += 4) {`);
      expect(text).toContain("acc3 += (a0[q + 3] * a1[q + 3]);");
      if (n % 4) expect(text).toContain(`for (let q = ${n - (n % 4)}; q < ${n}; q++) {`);
      const [a, b] = [ramp(64, 1), ramp(64, 2)];
      const want = a.slice(0, n).reduce((s, v, j) => s + v * b[j], 0);
      const got = run(body, { a0: a, a1: b, h9: new Float64Array(1) }).h9[0];
      expect(Math.abs(got - want)).toBeLessThan(1e-14);
    });
  }

  it("a declaration that merging moved up is found earlier in the list; one mentioned in between, or added to after the loop, is not", () => {
    const [decl, body, put] = dot(40);
    const between: Stmt = store(holder, lit(1), apply("exp", load(x, lit(0))));
    const split = partialSums([decl, between, body, put]);
    expect(print(split)).toContain("acc3 += (a0[q + 3] * a1[q + 3]);");
    expect(split.filter((s) => s.k === "let" && s.name === "acc")).toHaveLength(1);
    const a = ramp(64, 1), b = ramp(64, 2);
    const want = a.slice(0, 40).reduce((t, v, j) => t + v * b[j], 0);
    expect(Math.abs(run(split, { a0: a, a1: b, h9: new Float64Array(2) }).h9[0] - want)).toBeLessThan(1e-14);
    const mentioned: Stmt = store(holder, lit(1), local("acc"));
    expect(partialSums([decl, mentioned, body, put])).toEqual([decl, mentioned, body, put]);
    const more: Stmt = { k: "assign", name: "acc", op: "+=", value: num(1) };
    expect(partialSums([decl, body, more, put])).toEqual([decl, body, more, put]);
  });

  it("a dot product whose loop holds other statements (it joined a loop) keeps its one sum", () => {
    const [decl, body, put] = dot(40) as [Stmt, Extract<Stmt, { k: "loop" }>, Stmt];
    const joined: Stmt = { ...body, body: [...body.body, store(holder, variable("q"), load(x, variable("q")))] };
    expect(partialSums([decl, joined, put])).toEqual([decl, joined, put]);
  });

  it("an accumulator not marked reassociate (a sum the source wrote) keeps its order", () => {
    const body = dot(40);
    body[0] = { k: "let", name: "acc", value: num(0), mutable: true };
    expect(partialSums(body)).toEqual(body);
  });
});

describe("zero guard: no work for the units relu switched off", () => {
  const gW: Buffer = { name: "h9", kind: "holder", size: 64, source: "out" };
  const gb: Buffer = scratch(4, 64);
  // The backward of one row of a relu layer: h = a0[i] (relu's output), d = a1[i].
  const body = (extra: Stmt[] = []): Stmt[] => [
    loop(16, [
      { k: "let", name: "h", value: load(x, i) },
      store(gW, i, apply("mul", local("h"), load(y, i)), "+="),
      { k: "let", name: "dh", value: apply("reluGrad", apply("mul", load(y, i), num(3)), local("h")) },
      store(gb, i, local("dh"), "+="),
      store(gW, affineAdd(i, lit(16)), { k: "dot", terms: [[local("dh"), load(y, i)], [load(x, i), local("dh")]] }, "+="),
      ...extra,
    ]),
  ];
  const hidden = () => Float64Array.from({ length: 64 }, (_, j) => (j % 3 === 0 ? 0 : Math.abs(Math.sin(j))));

  it("the additions after the read of relu's output run only where it is not zero, with the same values", () => {
    const guarded = guardZeroUnits(body());
    const text = print(guarded);
    expect(text).toContain("if (h !== 0) {");
    expect(text.indexOf("const h = a0[i];")).toBeLessThan(text.indexOf("if (h !== 0)"));
    const fresh = () => ({ a0: hidden(), a1: ramp(64, 3), h9: ramp(64, 5), b4: ramp(64, 7) });
    expect(run(guarded, fresh())).toEqual(run(body(), fresh()));
  });

  it("declines when a statement after the read adds what is not zero there, overwrites, or nothing tests relu's mask", () => {
    const notZero = store(gb, affineAdd(i, lit(20)), load(y, i), "+=");
    const overwrite = store(gb, affineAdd(i, lit(20)), local("dh"));
    for (const extra of [[notZero], [overwrite]]) expect(guardZeroUnits(body(extra))).toEqual(body(extra));
    const noMask = [loop(16, [{ k: "let", name: "h", value: load(x, i) }, store(gW, i, apply("mul", local("h"), load(y, i)), "+=")])];
    expect(guardZeroUnits(noMask)).toEqual(noMask);
  });

  it("is zero where h is: products with a zero factor, relu's mask and relu of one, sums of such; not a quotient or exp", () => {
    const h = local("h"), z = new Set(["h"]), w = load(y, i);
    for (const e of [apply("mul", w, h), apply("neg", apply("mul", h, w)), apply("reluGrad", w, h), apply("relu", h), apply("sub", apply("mul", h, w), apply("mul", w, h))])
      expect(zeroWhere(e, z), print([{ k: "let", name: "v", value: e }])).toBe(true);
    for (const e of [apply("div", h, w), apply("exp", h), apply("add", h, w), apply("reluGrad", w, local("u"))])
      expect(zeroWhere(e, z), print([{ k: "let", name: "v", value: e }])).toBe(false);
  });

  it("the batched spiral net's backward skips switched-off units and its forward walks the hidden units once", () => {
    const source = readFileSync("examples/cs231n/twolayer-batched.expr", "utf8");
    const result = compile(source, { filename: "twolayer-batched.expr", format: "js" });
    expect(result.ok).toBe(true);
    const backward = result.code!.slice(result.code!.indexOf("export function backwardInto"));
    expect(backward).toMatch(/if \(b\d+_\w+ !== 0\) \{/);
    // The loop over rows, and in it one over the hidden units for the layer and the three class scores.
    expect(backward.slice(0, backward.indexOf("Math.max")).match(/for \(let /g)).toHaveLength(2);
  });

  it("a small batched relu net with the guard: its gradient matches finite differences", async () => {
    const source = "input X[12, 2], Y[12, 3]\nparam W1[2, 40], b1[40], W2[40, 3], b2[3]\noutput loss = -sum(Y * log_softmax(relu(X @ W1 + b1) @ W2 + b2, axis=1))\n";
    const { module, code } = await loadModule(source, { emit: "loops" });
    expect(code).toContain(" !== 0) {");
    const random = rng(11);
    const values = (n: number) => Array.from({ length: n }, () => uniform(random, -1, 1));
    const args: Record<string, number | number[]> = { X: values(24), Y: Array.from({ length: 36 }, (_, k) => (k % 3 === Math.floor(k / 3) % 3 ? 1 : 0)), W1: values(80), b1: values(40), W2: values(120), b2: values(3) };
    const f = (a: Record<string, number | number[]>) => module.forward(a).loss as number;
    const { grad } = module.backward(args);
    let zeros = 0;
    for (const name of ["W1", "b1", "W2", "b2"]) {
      const want = numericGradient(f, args, name) as number[];
      assertClose(grad[name], want, 1e-6, `d loss / d ${name}`);
      if (name === "b1") zeros = (grad.b1 as Float64Array).filter((v) => v === 0).length;
    }
    // Units switched off for every row: their bias gradient is exactly zero, as relu's mask says.
    expect(zeros).toBeGreaterThan(0);
  });
});

describe("zero guard: the masked steps of a loop's hull", () => {
  // The backward of sum(exp(x[j]) for j in i+1..n) over the hull 0..16: m = j >= r ? 1 : 0.
  const gx: Buffer = { name: "h9", kind: "holder", size: 64, source: "out" };
  const body = (mask = apply("ge", { k: "index", index: i }, local("r")), extra: Stmt[] = []): Stmt[] => [
    { k: "let", name: "r", value: num(5) },
    { k: "let", name: "acc", value: num(0), mutable: true },
    loop(16, [
      { k: "let", name: "e", value: apply("exp", load(x, i)) },
      { k: "let", name: "m", value: mask },
      { k: "assign", name: "acc", op: "+=", value: apply("where", local("m"), local("e"), num(0)) },
      store(gx, i, apply("chainmul", apply("mask", local("m"), local("s"), num(0)), local("e")), "+="),
      ...extra,
    ]),
    store(gx, lit(40), local("acc")),
  ];
  const fresh = () => ({ a0: ramp(64, 3), h9: ramp(64, 5) });
  const runWithSeed = (stmts: Stmt[]) => run([{ k: "let", name: "s", value: num(2) }, ...stmts], fresh());

  it("the mask is tested first and the rest runs where it holds, its selects their first branch, with the same values", () => {
    const guarded = guardZeroUnits(body());
    const text = print(guarded);
    expect(text).toMatch(/const m = .*\n\s*if \(m !== 0\) \{\n\s*const e = Math.exp/);
    expect(text).toContain("acc += e;");
    expect(text).not.toContain("MASKED_ZERO");
    expect(runWithSeed(guarded)).toEqual(runWithSeed(body()));
  });

  it("declines a mask that reads data (a data-dependent branch), or a statement that is not zero at masked steps", () => {
    const dataMask = apply("gt", load(y, i), num(0));
    expect(guardZeroUnits(body(dataMask))).toEqual(body(dataMask));
    const notZero = [store(gx, affineAdd(i, lit(20)), local("e"), "+=")];
    expect(guardZeroUnits(body(undefined, notZero))).toEqual(body(undefined, notZero));
  });

  it("a pair potential over j in i+1..n: backward guards the masked steps, and its gradient is that of plain loops", async () => {
    const n = 40;
    const { module, code } = await loadModule(`const n = ${n}\nparam x[n]\noutput e = sum(sum(exp(-(x[i] - x[j]) ^ 2) for j in i+1..n) for i in 0..n-1)\n`);
    const backward = code.slice(code.indexOf("export function backwardInto"));
    expect(backward).toMatch(/if \(b\d+_\w+ !== 0\) \{\n\s*const b\d+_\w+ = r\d+ - a0\[/);
    const x = Float64Array.from({ length: n }, (_, k) => Math.sin(k));
    const want = new Float64Array(n);
    for (let a = 0; a < n; a++)
      for (let b = a + 1; b < n; b++) {
        const c = -2 * (x[a] - x[b]) * Math.exp(-((x[a] - x[b]) ** 2));
        want[a] += c;
        want[b] -= c;
      }
    assertClose(module.backward({ x }).grad.x, want, 1e-12, "grad x");
  });
});

describe("merging loops", () => {
  const b1 = scratch(1, 10);
  it("a loop reading at [i] what the one before wrote at [i] joins it; a read at [i + 1] keeps them apart", () => {
    const first = loop(10, [store(b1, i, apply("exp", load(x, i)))]);
    const same = loop(10, [store(holder, i, apply("mul", load(b1, i), load(y, i)))]);
    const shifted = loop(10, [store(holder, i, load(b1, affineAdd(i, lit(1))))]);
    expect(mergeLoops([first, same]).filter((s) => s.k === "loop")).toHaveLength(1);
    expect(mergeLoops([first, shifted]).filter((s) => s.k === "loop")).toHaveLength(2);
    expect(independent((first as { body: Stmt[] }).body, (same as { body: Stmt[] }).body, "i")).toBe(true);
  });

  it("a running sum is complete only after its loop: a loop reading it stays apart", () => {
    const sum = loop(10, [{ k: "assign", name: "s", op: "+=", value: load(x, i) }]);
    const user = loop(10, [store(holder, i, apply("mul", load(x, i), local("s")))]);
    const body = mergeLoops([{ k: "let", name: "s", value: num(0), mutable: true }, sum, user]);
    expect(body.filter((s) => s.k === "loop")).toHaveLength(2);
  });

  it("a loop one step longer joins, its last step peeled; values unchanged", () => {
    const a = loop(10, [store(holder, i, load(x, i))]);
    const b = loop(11, [store(scratch(2, 11), i, apply("mul", num(2), load(y, i)))]);
    const merged = mergeLoops([a, b]);
    expect(merged.filter((s) => s.k === "loop")).toHaveLength(1);
    expect(merged[merged.length - 1].k).toBe("block");
    const arrays = () => ({ a0: ramp(64), a1: ramp(64, 3), h9: new Float64Array(64), b2: new Float64Array(11) });
    expect(run(merged, arrays())).toEqual(run([a, b], arrays()));
  });

  it("a loop moves up past one that only reads what it reads, not past one that writes it", () => {
    const b2 = scratch(2, 10);
    const write = loop(10, [store(b1, i, apply("exp", load(x, i)))]);
    const reader = loop(7, [store(holder, i, load(b1, i))]);
    const writer = loop(7, [store(b1, i, num(1))]);
    const again = loop(10, [store(b2, i, apply("mul", load(b1, i), num(2)))]);
    expect(mergeLoops([write, reader, again]).filter((s) => s.k === "loop")).toHaveLength(2);
    expect(mergeLoops([write, writer, again]).filter((s) => s.k === "loop")).toHaveLength(3);
    const arrays = () => ({ a0: ramp(64), h9: new Float64Array(64), b1: new Float64Array(10), b2: new Float64Array(10) });
    expect(run(mergeLoops([write, reader, again]), arrays())).toEqual(run([write, reader, again], arrays()));
  });

  it("a zero fill between two loops moves up with the loop that accumulates into it", () => {
    const acc = scratch(3, 10);
    const body = mergeLoops([loop(10, [store(holder, i, load(x, i))]), { k: "fill", buffer: acc, value: num(0) }, loop(10, [store(acc, i, load(y, i), "+=")])]);
    expect(body.map((s) => s.k)).toEqual(["fill", "loop"]);
  });

  it("a constant between two loops moves up before them when it reads nothing they write; one that does stays", () => {
    const first = loop(10, [store(holder, i, load(x, i))]);
    const second = loop(10, [store(scratch(4, 10), i, apply("mul", load(y, i), local("t")))]);
    const constant: Stmt = { k: "let", name: "t", value: apply("mul", local("a2"), local("s0")) };
    const merged = mergeLoops([first, constant, second]);
    expect(merged.map((s) => s.k)).toEqual(["let", "loop"]);
    const arrays = () => ({ a0: ramp(64), a1: ramp(64, 3), h9: new Float64Array(64), b4: new Float64Array(10) });
    const withLocals = (body: Stmt[]): Stmt[] => [{ k: "let", name: "a2", value: num(3) }, { k: "let", name: "s0", value: num(-2) }, ...body];
    expect(run(withLocals(merged), arrays())).toEqual(run(withLocals([first, constant, second]), arrays()));
    // A constant that reads what the first loop computed stays after it, and the loops apart.
    const sum = loop(10, [{ k: "assign", name: "r", op: "+=", value: load(x, i) }]);
    const late: Stmt = { k: "let", name: "t", value: apply("mul", local("r"), local("s0")) };
    const kept = mergeLoops([{ k: "let", name: "r", value: num(0), mutable: true }, sum, late, second]);
    expect(kept.filter((s) => s.k === "loop")).toHaveLength(2);
  });

  it("constants move up as a chain, past an item that stays because of what it reads: reading what that one reads holds nothing back", () => {
    // The slices chain's backward: `u = c * r` stays after the sum r; `t = c * s0` reads c too,
    // and `t2 = 2 * t` (the adjoint's scaling, taken out of the loop) reads t: both move up,
    // and the second loop joins the first.
    const sum = loop(10, [{ k: "assign", name: "r", op: "+=", value: load(x, i) }]);
    const second = loop(10, [store(scratch(4, 10), i, apply("mul", load(y, i), local("t2")))]);
    const body: Stmt[] = [
      { k: "let", name: "c", value: apply("mul", local("a2"), num(0.5)) },
      { k: "let", name: "r", value: num(0), mutable: true },
      sum,
      { k: "let", name: "u", value: apply("mul", local("c"), local("r")) },
      { k: "let", name: "t", value: apply("mul", local("c"), local("s0")) },
      { k: "let", name: "t2", value: apply("mul", num(2), local("t")) },
      second,
      store(holder, lit(0), local("u")),
    ];
    const merged = mergeLoops(body);
    expect(merged.filter((s) => s.k === "loop")).toHaveLength(1);
    const order = merged.flatMap((s) => (s.k === "let" ? [s.name] : s.k === "loop" ? ["loop"] : []));
    expect(order.indexOf("t2")).toBeLessThan(order.indexOf("loop"));
    expect(order.indexOf("u")).toBeGreaterThan(order.indexOf("loop"));
    const arrays = () => ({ a0: ramp(64), a1: ramp(64, 3), h9: new Float64Array(64), b4: new Float64Array(10) });
    const withLocals = (b: Stmt[]): Stmt[] => [{ k: "let", name: "a2", value: num(3) }, { k: "let", name: "s0", value: num(-2) }, ...b];
    const after = run(withLocals(merged), arrays());
    expect(after).toEqual(run(withLocals(body), arrays()));
    expect(after.h9[0]).not.toBe(0);
  });
});

describe("sections, accumulators and short nests (the whole-problem bundle adjustment's backward is one loop)", () => {
  const j = variable("j");
  const plus = (k: number) => affineAdd(i, lit(k));
  const arrays = (extra: Record<string, number>) => () => ({ a0: ramp(64), a1: ramp(64, 3), h9: new Float64Array(64), ...Object.fromEntries(Object.entries(extra).map(([k, n]) => [k, new Float64Array(n)])) });

  it("components laid end to end (v + k * n in a loop of n steps) keep to their iteration: the loops join", () => {
    const c = scratch(30, 20);
    const first = loop(10, [store(c, i, load(x, i)), store(c, plus(10), apply("mul", load(y, i), num(2)))]);
    const second = loop(10, [store(holder, i, apply("add", load(c, i), load(c, plus(10))))]);
    const merged = mergeLoops([first, second]);
    expect(merged.filter((s) => s.k === "loop")).toHaveLength(1);
    expect(run(merged, arrays({ b30: 20 })())).toEqual(run([first, second], arrays({ b30: 20 })()));
    // Another loop's neighbour (i + 1), or a loop of 11 steps (whose i = 10 is the second
    // component's first element), stays apart.
    expect(mergeLoops([first, loop(10, [store(holder, i, load(c, plus(1)))])]).filter((s) => s.k === "loop")).toHaveLength(2);
    const longer = loop(11, [store(scratch(31, 11), i, load(c, i))]);
    expect(mergeLoops([first, longer]).filter((s) => s.k === "loop")).toHaveLength(2);
  });

  it("with a dim n, components at v + k * n are sections too: the loops join, and elements written then read become locals", () => {
    const n = dimSize("N");
    const c: Buffer = { name: "b33", kind: "scratch", size: mulSize(2, n), source: "buf33" };
    const over = (body: Stmt[]): Stmt => ({ k: "loop", v: "i", from: 0, extent: n, step: 1, body });
    const second = affineAdd(i, lit(n));
    const first = over([store(c, i, load(x, i)), store(c, second, apply("mul", load(y, i), num(2)))]);
    const user = over([store(holder, i, apply("add", load(c, i), load(c, second)))]);
    const merged = mergeLoops([first, user]);
    expect(merged.filter((s) => s.k === "loop")).toHaveLength(1);
    const withN = (body: Stmt[]): Stmt[] => [{ k: "let", name: "$N", value: num(10) }, ...body];
    expect(run(withN(merged), arrays({ b33: 20 })()).h9).toEqual(run(withN([first, user]), arrays({ b33: 20 })()).h9);
    const { body: out, replaced } = replaceBuffers(merged, []);
    expect([...replaced]).toEqual(["b33"]);
    expect(print(out)).not.toContain("b33[");
    expect(run(withN(out), arrays({})()).h9).toEqual(run(withN([first, user]), arrays({ b33: 20 })()).h9);
    // An offset that is no whole multiple of n (n - 1, or 2n + 1) is no section: the loops stay apart.
    for (const off of [addSize(n, -1), addSize(mulSize(2, n), 1)]) {
      const shifted = over([store(holder, i, load(c, affineAdd(i, lit(off))))]);
      expect(mergeLoops([first, shifted]).filter((s) => s.k === "loop")).toHaveLength(2);
    }
  });

  it("a zero-filled buffer that one loop adds into and reads at its own elements becomes locals, the fill and the buffer gone", () => {
    const acc = scratch(32, 20);
    const body: Stmt[] = [
      { k: "fill", buffer: acc, value: num(0) },
      loop(10, [store(acc, i, load(x, i), "+="), store(acc, plus(10), load(y, i), "-="), store(acc, i, load(y, i), "+="), store(holder, i, apply("mul", load(acc, i), load(acc, plus(10))))]),
    ];
    const { body: out, replaced } = replaceBuffers(body, []);
    expect([...replaced]).toEqual(["b32"]);
    const text = print(out);
    expect(text).not.toMatch(/b32\[|fill/);
    expect(text).toContain("let b32_i = 0;");
    expect(run(out, arrays({})()).h9).toEqual(run(body, arrays({ b32: 20 })()).h9);
    // Read after the loop: kept.
    expect([...replaceBuffers([...body, store(holder, lit(0), load(acc, lit(3)))], []).replaced]).toEqual([]);
  });

  it("a loop nesting a short loop joins another with it written out; alone, it keeps its nest", () => {
    const rows = scratch(34, 30);
    const gather = loop(10, [loop(3, [store(rows, affineAdd(affineAdd(lit(0), i, 3), j), apply("mul", load(x, j), load(y, i)))], "j")]);
    const user = loop(10, [store(holder, i, apply("add", load(rows, affineAdd(lit(1), i, 3)), load(rows, affineAdd(lit(2), i, 3))))]);
    const merged = mergeLoops([gather, user]);
    expect(merged).toHaveLength(1);
    expect(print(merged)).not.toContain("for (let j");
    expect(run(merged, arrays({ b34: 30 })())).toEqual(run([gather, user], arrays({ b34: 30 })()));
    expect(mergeLoops([gather])).toEqual([gather]);
  });
});

describe("merging nests", () => {
  // A [rows, 14, 3] tensor: element (r, c, k) at 42r + 3c + k, written in one nest and read in the next
  // (14 columns: more than MERGE_UNROLL, so the inner loops stay loops).
  const at = (c: number) => affineAdd(affineAdd({ c: 0, terms: [["i", 42]] }, { c: 0, terms: [["j", 3]] }), lit(c));
  const d = scratch(7, 252);
  const h: Buffer = { name: "h8", kind: "holder", size: 252, source: "out" };
  const differences = (rows: number) => loop(rows, [loop(14, [0, 1, 2].map((c) => store(d, at(c), apply("sub", load(x, affineAdd(at(c), lit(42))), load(x, at(c))))), "j")]);
  const squares = (rows: number) => loop(rows, [loop(14, [0, 1, 2].map((c) => store(h, at(c), apply("mul", load(d, at(c)), load(d, at(c))))), "j")]);
  const loops = (body: readonly Stmt[]) => allStmtsOf(body).filter((s) => s.k === "loop").length;
  const arrays = () => ({ a0: ramp(320), b7: new Float64Array(252), h8: new Float64Array(252) });

  it("two nests over the same rows, each row's block its own, become one nest, their inner loops one loop; same values", () => {
    const merged = mergeLoops([differences(5), squares(5)]);
    expect(loops(merged)).toBe(2);
    expect(run(merged, arrays())).toEqual(run([differences(5), squares(5)], arrays()));
  });

  it("a nest one row shorter joins, the longer nest's last row peeled after the loop; same values", () => {
    const before = [differences(6), squares(5)];
    const merged = mergeLoops(before);
    expect(merged.map((s) => s.k)).toEqual(["loop", "block"]);
    expect(loops(merged)).toBe(3);
    expect(run(merged, arrays())).toEqual(run(before, arrays()));
  });

  it("a nest reading the next row of what the other wrote stays apart", () => {
    const next = loop(5, [loop(14, [store(h, at(0), load(d, affineAdd(at(0), lit(42))))], "j")]);
    expect(mergeLoops([differences(6), next]).filter((s) => s.k === "loop")).toHaveLength(2);
  });

  it("a loop stepping by 4 reaches only the steps it takes: partial sums over a row join the nest that wrote it", () => {
    const row = (c: number, v = "q") => affineAdd(affineAdd({ c: 0, terms: [["i", 8]] }, { c: 0, terms: [[v, 1]] }), lit(c));
    const write = loop(5, [loop(8, [store(d, row(0, "j"), apply("exp", load(x, row(0, "j"))))], "j")]);
    const sums: Stmt = { k: "loop", v: "q", from: 0, extent: 8, step: 4, body: [0, 1, 2, 3].map((c) => ({ k: "assign", name: "s", op: "+=", value: load(d, row(c)) }) as Stmt) };
    const read = loop(5, [{ k: "let", name: "s", value: num(0), mutable: true }, sums, store(h, i, local("s"))]);
    const merged = mergeLoops([write, read]);
    expect(merged.filter((s) => s.k === "loop")).toHaveLength(1);
    expect(run(merged, arrays())).toEqual(run([write, read], arrays()));
  });

  it("renaming a loop's variable never captures a nested loop's: that one is renamed first", () => {
    // for j { for i { ... } } joins for i { ... } as for i { for i1 { ... } }.
    const a = loop(5, [store(h, i, load(x, i))]);
    const b = loop(5, [loop(14, [store(scratch(9, 90), affineAdd({ c: 0, terms: [["j", 14]] }, i), apply("mul", load(y, i), load(x, variable("j"))))])], "j");
    const merged = mergeLoops([a, b]);
    expect(merged.filter((s) => s.k === "loop")).toHaveLength(1);
    expect(print(merged)).toContain("for (let i1 = 0; i1 < 14; i1++)");
    const arrays = () => ({ a0: ramp(64), a1: ramp(64, 2), h8: new Float64Array(252), b9: new Float64Array(90) });
    expect(run(merged, arrays())).toEqual(run([a, b], arrays()));
  });

  it("a constant the loop reads moves up with it when nothing it passes writes what it reads", () => {
    const [b1, b2] = [scratch(1, 10), scratch(2, 10)];
    const first = loop(10, [store(b1, i, apply("exp", load(x, i)))]);
    const constant: Stmt = { k: "let", name: "r0", value: load(y, lit(3)) };
    const second = loop(10, [store(b2, i, apply("mul", load(b1, i), local("r0")))]);
    const merged = mergeLoops([first, constant, second]);
    expect(merged.map((s) => s.k)).toEqual(["let", "loop"]);
    // Reading what the first loop writes, it stays, and so does the loop.
    const late: Stmt = { k: "let", name: "r0", value: load(b1, lit(3)) };
    expect(mergeLoops([first, late, second]).map((s) => s.k)).toEqual(["loop", "let", "loop"]);
  });

  it("scratch written before it is read in each innermost loop and peeled step becomes locals; its buffer goes", () => {
    const merged = mergeLoops([differences(6), squares(5), squares(6)]);
    const { body, replaced } = replaceNestedBuffers(merged, []);
    expect([...replaced]).toEqual(["b7"]);
    expect(print(body)).not.toContain("b7[");
    const kept = (arrays: Record<string, Float64Array>) => ({ h8: arrays.h8 });
    expect(kept(run(body, arrays()))).toEqual(kept(run([differences(6), squares(5), squares(6)], arrays())));
    // Statements of a loop around others keep to the rule on their own: a row's sum.
    const rowSum = scratch(10, 6);
    const summed = [loop(6, [{ k: "let", name: "s", value: num(0), mutable: true }, loop(14, [{ k: "assign", name: "s", op: "+=", value: load(x, at(0)) }], "j"), store(rowSum, i, local("s")), store(h, i, apply("mul", load(rowSum, i), load(rowSum, i)))])];
    const row = replaceNestedBuffers(summed, []);
    expect([...row.replaced]).toEqual(["b10"]);
    expect(run(row.body, arrays()).h8).toEqual(run(summed, { ...arrays(), b10: new Float64Array(6) }).h8);
    // Read outside a loop, or by the stores after the body: kept.
    expect([...replaceNestedBuffers([...merged, store(h, lit(0), load(d, lit(3)))], []).replaced]).toEqual([]);
    expect([...replaceNestedBuffers(merged, [{ k: "copy", to: h, from: d }]).replaced]).toEqual([]);
  });
});

describe("combined accumulations", () => {
  const h: Buffer = { name: "h4", kind: "holder", size: 12, source: "out" };
  const at = (c: number) => affineAdd({ c: 0, terms: [["i", 2]] }, lit(c));
  it("two accumulations into one element become one; then a chain's gradient is a carried sum; same values", () => {
    const body: Stmt[] = [
      store(h, at(1), load(y, lit(0)), "+="),
      store(h, at(2), apply("mul", load(x, i), num(3)), "+="),
      store(h, at(0), apply("mul", load(x, i), num(3)), "-="),
      store(h, at(1), apply("sin", load(x, i)), "-="),
      store(h, at(3), apply("sin", load(x, i)), "+="),
    ];
    const combined = combineAccumulations(body);
    expect(combined).toHaveLength(4);
    expect(print(combined)).toContain("h4[i * 2 + 1] += (a1[0] - Math.sin(a0[i]));");
    const fill: Stmt = { k: "fill", buffer: h, value: num(0) };
    const carried = carryShiftedSums([fill], "i", 5, combined);
    expect(carried.after).toHaveLength(2);
    const merged = [...carried.before, loop(5, carried.body), ...carried.after];
    expect(print(merged)).not.toContain("fill");
    const arrays = () => ({ a0: ramp(64), a1: ramp(64, 2), h4: new Float64Array(12).fill(7) });
    const want = run([fill, loop(5, body)], arrays()).h4;
    run(merged, arrays()).h4.forEach((v, k) => expect(Math.abs(v - want[k])).toBeLessThanOrEqual(1e-15));
  });

  it("a read of the buffer, or a change to what the first adds, keeps them apart", () => {
    const read: Stmt[] = [store(h, at(1), load(y, lit(0)), "+="), store(scratch(5, 12), i, load(h, at(1))), store(h, at(1), load(y, lit(1)), "+=")];
    expect(combineAccumulations(read)).toHaveLength(3);
    const changed: Stmt[] = [store(h, at(1), local("t"), "+="), { k: "assign", name: "t", op: "=", value: num(2) }, store(h, at(1), load(y, lit(1)), "+=")];
    expect(combineAccumulations(changed)).toHaveLength(3);
  });
});

describe("accumulating into the result", () => {
  const b = scratch(11, 10);
  const h: Buffer = { name: "h12", kind: "holder", size: 10, source: "out" };
  const scatter = (op: "+=" | "-=", shift: number) => loop(9, [store(b, affineAdd(i, lit(shift)), apply("sin", load(x, i)), op)]);
  const final = loop(10, [store(h, i, apply("add", local("m"), load(b, i)))]);
  const arrays = () => ({ a0: ramp(64), b11: new Float64Array(10), h12: new Float64Array(10) });
  const withM = (body: readonly Stmt[]): Stmt[] => [{ k: "let", name: "m", value: num(0.25) }, ...body];

  it("a zero-filled buffer only added into, then stored as `m + b[i]`: the holder filled with m takes the additions; same values", () => {
    const body = withM([{ k: "fill", buffer: b, value: num(0) }, scatter("+=", 1), scatter("-=", 0), final]);
    const { body: out, replaced } = accumulateIntoResults(body, []);
    expect([...replaced]).toEqual(["b11"]);
    expect(print(out)).not.toContain("b11");
    expect(print(out)).toContain("h12.fill(m);");
    expect(run(out, arrays()).h12).toEqual(run(body, arrays()).h12);
    // Merged, the fill's value starts a carried sum: each element written once.
    const merged = mergeLoops(out);
    expect(print(merged)).not.toContain("fill");
    const want = run(body, arrays()).h12;
    run(merged, arrays()).h12.forEach((v, k) => expect(Math.abs(v - want[k])).toBeLessThanOrEqual(1e-15));
  });

  it("kept when the buffer is read elsewhere, when the first value varies by element, or when it is declared after the fill", () => {
    const other = loop(10, [store(scratch(13, 10), i, load(b, i))]);
    expect([...accumulateIntoResults(withM([{ k: "fill", buffer: b, value: num(0) }, scatter("+=", 1), other, final]), []).replaced]).toEqual([]);
    const varying = loop(10, [store(h, i, apply("add", load(x, i), load(b, i)))]);
    expect([...accumulateIntoResults([{ k: "fill", buffer: b, value: num(0) }, scatter("+=", 1), varying], []).replaced]).toEqual([]);
    const late = [{ k: "fill", buffer: b, value: num(0) } as Stmt, scatter("+=", 1), { k: "let", name: "m", value: num(0.25) } as Stmt, final];
    expect([...accumulateIntoResults(late, []).replaced]).toEqual([]);
  });
});

describe("carried shifted sums", () => {
  it("x[i] += e; x[i + 1] -= f over n steps: x written once per element, the zero fill gone, same values", () => {
    const h: Buffer = { name: "h4", kind: "holder", size: 11, source: "out" };
    const fill: Stmt = { k: "fill", buffer: h, value: num(0) };
    const body: Stmt[] = [store(h, i, apply("mul", load(x, i), load(x, i)), "+="), store(h, affineAdd(i, lit(1)), apply("sin", load(y, i)), "-=")];
    const carried = carryShiftedSums([fill], "i", 10, body);
    expect(carried.before).toEqual([{ k: "let", name: "h4carry", value: num(0), mutable: true }]);
    expect(print(carried.body)).toBe(["h4[i] = (h4carry + (a0[i] * a0[i]));", "h4carry = -Math.sin(a1[i]);"].join("\n"));
    expect(print(carried.after)).toBe("h4[10] = h4carry;");
    const before = run([fill, loop(10, body)], { a0: ramp(64), a1: ramp(64, 2), h4: new Float64Array(11).fill(7) }).h4;
    const after = run([...carried.before, loop(10, carried.body), ...carried.after], { a0: ramp(64), a1: ramp(64, 2), h4: new Float64Array(11).fill(7) }).h4;
    expect(after).toEqual(before);
  });
});

describe("scalar replacement", () => {
  it("a scratch buffer written at [i] and read at [i] in one loop only becomes a local, and its buffer goes", () => {
    const b5 = scratch(5, 10);
    const body = [loop(10, [store(b5, i, apply("exp", load(x, i))), store(holder, i, apply("mul", load(b5, i), load(b5, i)))])];
    const { body: out, replaced } = replaceBuffers(body, []);
    expect([...replaced]).toEqual(["b5"]);
    expect(print(out)).not.toContain("b5[");
    expect(print(out)).toContain("const b5_i = Math.exp(a0[i]);");
    // Read by the stores after it: kept.
    expect([...replaceBuffers(body, [{ k: "copy", to: holder, from: b5 }]).replaced]).toEqual([]);
  });

  it("an element read twice is loaded once; an element written with = and read again is read from its local", () => {
    const body = bindElementReads([loop(10, [store(holder, i, apply("mul", load(x, i), load(x, i))), store(scratch(6, 10), i, apply("add", load(holder, i), num(1)))])]);
    const text = print(body);
    expect(text.match(/a0\[i\]/g)).toHaveLength(1);
    expect(text).toContain("const h9_i = a0_i * a0_i;");
    expect(text).toContain("b6[i] = (h9_i + 1);");
  });
});

describe("row buffers", () => {
  const j = variable("j");
  const k = variable("k");
  const row = (w: ReturnType<typeof variable>, c = 0) => affineAdd(affineAdd(lit(c), i, 4), w);
  const arrays = (extra: Record<string, number>) => () => ({ a0: ramp(64), a1: ramp(64, 3), h9: new Float64Array(64), ...Object.fromEntries(Object.entries(extra).map(([n, m]) => [n, new Float64Array(m)])) });

  it("in a loop with nested loops, a zero-filled buffer its own statements add into and read becomes locals", () => {
    const acc = scratch(40, 10);
    const body: Stmt[] = [
      { k: "fill", buffer: acc, value: num(0) },
      loop(10, [loop(4, [store(holder, row(j), load(x, j))], "j"), store(acc, i, load(y, i), "+="), store(holder, affineAdd(lit(50), i), apply("mul", load(acc, i), num(2)))]),
    ];
    const { body: out, replaced } = replaceBuffers(body, []);
    expect([...replaced]).toEqual(["b40"]);
    expect(print(out)).not.toMatch(/b40\[|fill/);
    expect(run(out, arrays({})()).h9).toEqual(run(body, arrays({ b40: 10 })()).h9);
    // Touched in the nested loop too: kept (the rewrite does not reach in there).
    const inner: Stmt[] = [
      { k: "fill", buffer: acc, value: num(0) },
      loop(10, [store(acc, i, load(y, i), "+="), loop(4, [store(holder, row(j), apply("mul", load(acc, i), load(x, j)))], "j")]),
    ];
    expect([...replaceBuffers(inner, []).replaced]).toEqual([]);
  });

  it("a buffer one loop writes and reads only in its own iteration's block, written before it is read, keeps one block", () => {
    const hidden = scratch(41, 40);
    const body: Stmt[] = [
      loop(10, [
        loop(4, [store(hidden, row(j), apply("exp", load(x, affineAdd(i, j))))], "j"),
        loop(4, [store(holder, row(k), apply("mul", load(hidden, row(k)), load(hidden, row(k))))], "k"),
        store(holder, affineAdd(lit(50), i), apply("add", load(hidden, affineAdd(lit(1), i, 4)), load(hidden, affineAdd(lit(3), i, 4)))),
      ]),
    ];
    const { body: out, contracted } = contractRowBuffers(body, []);
    expect([...contracted.keys()]).toEqual(["b41"]);
    expect(contracted.get("b41")).toMatchObject({ name: "b41", size: 4, source: "buf41row" });
    const text = print(out);
    expect(text).toContain("b41[j] = Math.exp(");
    expect(text).toContain("h9[i * 4 + k] = (b41[k] * b41[k]);");
    expect(text).not.toMatch(/b41\[i/);
    expect(run(out, arrays({ b41: 4 })()).h9).toEqual(run(body, arrays({ b41: 40 })()).h9);
  });

  it("no block is kept when an iteration reads before writing, when the writer misses elements, or when the buffer is touched elsewhere", () => {
    const hidden = scratch(42, 40);
    const write = loop(4, [store(hidden, row(j), load(x, j))], "j");
    const read = loop(4, [store(holder, row(k), load(hidden, row(k)))], "k");
    const contracts = (body: Stmt[], stores: Stmt[] = []) => contractRowBuffers(body, stores).contracted.size > 0;
    expect(contracts([loop(10, [write, read])])).toBe(true);
    // Reader and writer both loops over j (a layer's forward and backward walks over its units).
    expect(contracts([loop(10, [write, loop(4, [store(holder, row(j), load(hidden, row(j)))], "j")])])).toBe(true);
    // ... but a second j of 8 steps reaches past the row.
    expect(contracts([loop(10, [write, loop(8, [store(holder, row(j), load(hidden, row(j)))], "j")])])).toBe(false);
    // The previous iteration's block read before this one writes it.
    expect(contracts([loop(10, [read, write])])).toBe(false);
    expect(contracts([loop(10, [store(holder, i, load(hidden, affineAdd(lit(0), i, 4))), write])])).toBe(false);
    // A writer over three of the four elements, or adding into them.
    expect(contracts([loop(10, [loop(3, [store(hidden, row(j), load(x, j))], "j"), read])])).toBe(false);
    expect(contracts([loop(10, [loop(4, [store(hidden, row(j), load(x, j), "+=")], "j"), read])])).toBe(false);
    // Single elements written by the loop's own statements count: all four, then the reads.
    const own = [0, 1, 2, 3].map((c) => store(hidden, affineAdd(lit(c), i, 4), load(y, i)));
    expect(contracts([loop(10, [...own, read])])).toBe(true);
    expect(contracts([loop(10, [...own.slice(0, 3), read])])).toBe(false);
    // Read after the loop, by the stores, or out of the block (the next row): kept whole.
    expect(contracts([loop(10, [write, read]), store(holder, lit(0), load(hidden, lit(5)))])).toBe(false);
    expect(contracts([loop(10, [write, read])], [{ k: "copy", to: holder, from: hidden }])).toBe(false);
    expect(contracts([loop(10, [write, loop(4, [store(holder, row(k), load(hidden, row(k, 4)))], "k")])])).toBe(false);
  });
});

describe("hoisting invariant reads", () => {
  it("argument elements at constant indices are read once, at the top", () => {
    const { prelude, lists } = hoistArgumentReads([[store(holder, lit(0), apply("add", load(x, lit(3)), load(x, lit(3))))]]);
    expect(print(prelude)).toBe("const a0_3 = a0[3];");
    expect(print(lists[0])).toBe("h9[0] = (a0_3 + a0_3);");
  });

  it("in a nest, a read that does not depend on the inner loop moves to the outer loop's body", () => {
    const j = variable("j");
    const nest = loop(8, [loop(8, [store(holder, affineAdd(affineAdd(lit(0), i, 8), j), apply("mul", load(x, i), load(y, j)))], "j")]);
    const { body } = hoistNestReads([nest]);
    expect(print(body)).toBe(["for (let i = 0; i < 8; i++) {", "  const r0 = a0[i];", "  for (let j = 0; j < 8; j++) {", "    h9[i * 8 + j] = (r0 * a1[j]);", "  }", "}"].join("\n"));
  });
});

describe("unroll by four", () => {
  it("an innermost loop of 10 steps runs 4 steps per iteration, then the last 2; same values", () => {
    const body = [loop(10, [store(holder, i, apply("mul", load(x, i), num(3)))])];
    const text = print(unrollInnermost(body));
    expect(text).toContain("for (let i0 = 0; i0 < 8; i0 += 4) {");
    expect(text).toContain("    const i = i0 + 3;");
    expect(text).toContain("for (let i = 8; i < 10; i++) {");
    const arrays = () => ({ a0: ramp(64), h9: new Float64Array(64) });
    expect(run(unrollInnermost(body), arrays())).toEqual(run(body, arrays()));
  });

  it("loops of fewer than 8 steps, and loops around loops, stay", () => {
    expect(unrollInnermost([loop(7, [store(holder, i, load(x, i))])])).toEqual([loop(7, [store(holder, i, load(x, i))])]);
  });

  it("a loop with under 1/8 of the steps of the busiest loop stays rolled: 40 steps beside 64 x 40, not beside 5 x 40", () => {
    const small = loop(40, [store(holder, lit(0), load(x, i), "+=")]);
    const nest = (rows: number) => loop(rows, [loop(40, [store(holder, variable("j"), load(y, variable("j")), "+=")], "j")], "r");
    const rolled = (rows: number) => unrollInnermost([nest(rows), small]).filter((s) => s.k === "loop" && s.v === "i");
    expect(rolled(64)).toEqual([small]);
    expect(rolled(5)).toHaveLength(0);
    const inner = (unrollInnermost([nest(64), small])[0] as Extract<Stmt, { k: "loop" }>).body[0] as Extract<Stmt, { k: "loop" }>;
    expect(inner.step).toBe(4);
  });

  it("a loop whose body holds a guarded block is unrolled, the guard in each step", () => {
    const body = [loop(16, [{ k: "let", name: "h", value: load(x, i) }, { k: "block", when: local("h"), body: [store(holder, i, local("h"), "+=")] }])];
    const text = print(unrollInnermost(body));
    expect(text).toContain("for (let i0 = 0; i0 < 16; i0 += 4) {");
    expect(text.match(/if \(h !== 0\)/g)).toHaveLength(4);
  });
});

describe("small tensors in locals, and splitting long bodies", () => {
  it("a small tensor's elements become plain locals", () => {
    const t: Buffer = { name: "t2", kind: "local", size: 2 };
    const body = smallTensorsToLocals([{ k: "fill", buffer: t, value: num(0) }, store(t, lit(1), load(x, lit(0)), "+="), store(holder, lit(0), load(t, lit(1)))]);
    expect(print(body)).toBe(["let t2_0 = 0;", "let t2_1 = 0;", "t2_1 += a0[0];", "h9[0] = t2_1;"].join("\n"));
  });

  it("a body of 3000 statements becomes parts; values crossing parts go through the register file", () => {
    const body: Stmt[] = [{ k: "let", name: "v0", value: load(x, lit(0)) }];
    for (let k = 1; k < 3000; k++) body.push({ k: "let", name: `v${k}`, value: apply("add", apply("mul", num(0.5), local(`v${k - 1}`)), load(x, lit(k % 64))) });
    const stores: Stmt[][] = [[store(holder, lit(0), local("v2999"))]];
    const split = splitLongBody({ aliases: [], prelude: [], body, stores }, "backward", ["a0", "grad"], new Printer())!;
    expect(split.parts.length).toBeGreaterThan(5);
    expect(split.parts.every((p) => p.body.length <= 400)).toBe(true);
    expect(split.parts[0].params).toEqual(["a0"]);
    expect(print(split.stores[0])).toMatch(/^h9\[0\] = backwardRegisters\[\d+\];$/);
    // Run the parts in order, as the caller would.
    const a0 = ramp(64);
    const regs = new Float64Array(split.registers.size);
    for (const p of split.parts) run(p.body, { a0, backwardRegisters: regs });
    const h9 = run(split.stores[0], { backwardRegisters: regs, h9: new Float64Array(1) }).h9;
    let v = a0[0];
    for (let k = 1; k < 3000; k++) v = 0.5 * v + a0[k % 64];
    expect(h9[0]).toBe(v);
  });
});

/** A graph's nodes computed by loop code and by the reference interpreter. */
function againstInterpreter(build: (g: Graph) => { inputs: Node[]; outputs: Node[] }) {
  const g = new Graph();
  const { inputs, outputs } = build(g);
  const values = inputs.map((n, k) => (n.role === "input" && n.name?.startsWith("idx") ? Array.from({ length: n.size }, (_, j) => (j * 7 + k) % 3) : Array.from(ramp(n.size, k + 1))));
  const code = printLoops(g, outputs.map((n, k) => (n.shape.length ? { node: n, tensor: `res[${k}]` } : { node: n, scalar: `res[${k}]` })), (n) => (inputs.includes(n) ? `a${inputs.indexOf(n)}` : undefined));
  const text = [...[...code.helpers].map((h) => HELPER_SOURCE[h]), ...code.buffers.values(), ...code.statements, ...code.stores.flat(), "return res;"].join("\n");
  const args = inputs.map((n, k) => (n.shape.length ? Float64Array.from(values[k]) : values[k][0]));
  const out = outputs.map((n) => (n.shape.length ? new Float64Array(n.size) : 0));
  const got = new Function(...inputs.map((_, k) => `a${k}`), "res", text)(...args, out) as (number | Float64Array)[];
  const want = evaluateGraph(g, new Map(inputs.map((n, k) => [inputKey(n), n.shape.length ? values[k] : values[k][0]])), outputs);
  outputs.forEach((n, k) => {
    const w = Array.from(want[k]);
    const v = n.shape.length ? Array.from(got[k] as Float64Array) : [got[k] as number];
    expect(v.length).toBe(w.length);
    v.forEach((e, j) => expect(Math.abs(e - w[j])).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(w[j]))));
  });
  return text;
}

describe("lowering, rank-general, against the reference interpreter", () => {
  it("an elementwise op over [3, 5, 6] fused into a sum keeping 1 and 2 axes", () => {
    againstInterpreter((g) => {
      const a = g.input("a", "param", [3, 5, 6]);
      const b = g.input("b", "param", [3, 5, 6]);
      const e = g.elementwise("mul", [g.elementwise("sin", [a]), b]);
      return { inputs: [a, b], outputs: [g.reduce("sum", e, 1), g.reduce("rmax", g.elementwise("exp", [a]), 2), g.reduce("prod", b, 0)] };
    });
  });

  it("logsumexp and prodexcept keeping a leading axis", () => {
    againstInterpreter((g) => {
      const a = g.input("a", "param", [6, 7]);
      const c = g.input("c", "param", [9]);
      return { inputs: [a, c], outputs: [g.reduce("logsumexp", a, 1), g.prodExcept(a, 1), g.prodExcept(c)] };
    });
  });

  it("take and put by a run-time index tensor, a constant tensor and iota", () => {
    const text = againstInterpreter((g) => {
      const t = g.input("t", "param", [3, 8]);
      const idx = g.input("idx", "input", [10]);
      const taken = g.take(t, idx, 0); // [10, 8]
      const v = g.input("v", "param", [10, 8]);
      const put = g.put(v, idx, 0, [3, 8]);
      const c = g.tensor([1, -2, 3, 0.5, 5, 6, 7, 8], [8]);
      const scaled = g.elementwise("mul", [taken, g.gather(c, [10, 8], { offset: 0, strides: [0, 1] })]);
      const ramped = g.elementwise("add", [g.gather(g.iota(2, 8), [10, 8], { offset: 0, strides: [0, 1] }), v]);
      return { inputs: [t, idx, v], outputs: [scaled, put, ramped, g.reduce("sum", scaled)] };
    });
    // An indirect load and an indirect `+=`, the index element read once per row (the row of
    // 8 may be written out, when its loop joins another: see the merging tests).
    expect(text).toMatch(/a0\[(j|\d) \+ 8 \* r\d+\]/);
    expect(text).toMatch(/\w+\[(j|\d) \+ 8 \* r\d+\] \+= /);
    expect(text).toMatch(/new Float64Array\(\[1, \(-2\), 3/);
  });

  it(`a chain of 3000 fusable additions is stored every ${MAX_FUSION_DEPTH} levels, not one expression 3000 deep`, { timeout: 60_000 }, () => {
    const text = againstInterpreter((g) => {
      const a = g.input("a", "param", [6]);
      let s = a;
      for (let k = 0; k < 3000; k++) s = g.elementwise("add", [g.elementwise("mul", [s, g.constant(0.999)]), g.elementwise("sin", [a])]);
      return { inputs: [a], outputs: [g.reduce("sum", s)] };
    });
    expect(Math.max(...text.split("\n").map((l) => l.length))).toBeLessThan(2000);
  });
});

describe("deep programs", () => {
  it("sum(M * [b for i in 0..N]) at N = 2000 compiles to loops, and its gradient is the column sums of M", async () => {
    const source = "const N = 2000\nparam b[4]\ninput M[N, 4]\noutput l = sum(M * [b for i in 0..N])";
    const result = compile(source, { emit: "loops" });
    expect(result.ok).toBe(true);
    const { module } = await loadModule(source, { emit: "loops" });
    const M = Array.from({ length: 8000 }, (_, k) => Math.cos(k));
    const { grad } = module.backward({ b: [1, 2, 3, 4], M });
    const want = [0, 1, 2, 3].map((c) => M.filter((_, k) => k % 4 === c).reduce((s, v) => s + v, 0));
    Array.from(grad.b as Float64Array).forEach((v, c) => expect(Math.abs(v - want[c])).toBeLessThan(1e-9));
  });
  it("at N = 100,000 the module is one loop over the rows, the size of N = 2000's", { timeout: 60_000 }, () => {
    const code = (n: number) => {
      const r = compile(`const N = ${n}\nparam b[4]\ninput M[N, 4]\noutput l = sum(M * [b for i in 0..N])`, { format: "js" });
      if (!r.ok) throw new Error(r.diagnostics.map((d) => d.text).join("\n"));
      return r.code;
    };
    const [small, large] = [code(2000), code(100_000)];
    expect(Math.abs(large.length - small.length) / small.length).toBeLessThan(0.1);
    const backward = large.slice(large.indexOf("export function backwardInto"));
    expect((backward.slice(0, backward.indexOf("\n}\n")).match(/\n {2}for \(/g) ?? []).length).toBe(1);
  });
});
