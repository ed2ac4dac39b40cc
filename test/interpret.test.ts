// The reference interpreter (src/ir/interpret.ts) against the compiled modules: each
// program is compiled to JavaScript, loaded from a temporary .mjs file, and its forward
// values and backward gradients are compared with the interpreter's, which evaluates the
// same IR and the adjoint nodes that `differentiate` builds. Also a few ops checked by hand
// (prodexcept without division, stable logsumexp, scatter, pack, matmul shapes).

import { mulberry32 } from "../src/random.js";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, test } from "vitest";
import { analyze, compile } from "../src/compile.js";
import { differentiate } from "../src/diff/reverse.js";
import { Graph } from "../src/ir/graph.js";
import { evaluateGraph, interpretProgram, type Value } from "../src/ir/interpret.js";

type Result = Record<string, number | Float64Array>;
interface Module {
  forward(args: Record<string, Value>): Result;
  backward(args: Record<string, Value>, seed?: Record<string, Value>): { outputs: Result; grad: Result };
}

const dir = mkdtempSync(join(tmpdir(), "gradc-interpret-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let loaded = 0;

async function load(source: string): Promise<Module> {
  const result = compile(source, { filename: "test.expr", format: "js" });
  if (!result.ok) throw new Error(result.diagnostics.map((d) => d.text).join("\n"));
  const file = join(dir, `m${loaded++}.mjs`);
  writeFileSync(file, result.code);
  return (await import(pathToFileURL(file).href)) as Module;
}

function program(source: string) {
  const analyzed = analyze(source, "test.expr");
  if (!analyzed.program) throw new Error(analyzed.diagnostics.map((d) => d.text).join("\n"));
  return analyzed.program;
}

/** Deterministic values in [-2, 2). */
function random(seed: number): () => number {
  const next = mulberry32(seed);
  return () => next() * 4 - 2;
}

function randomArgs(source: string, seed: number): Record<string, Value> {
  const next = random(seed);
  const args: Record<string, Value> = {};
  for (const a of program(source).args) args[a.name] = a.shape.length ? Array.from({ length: a.node.size }, next) : next();
  return args;
}

/** Equal up to rounding (the compiled code may fold `x*1`, `0 + x`...), NaN equal to NaN. */
function expectClose(actual: number | Float64Array, expected: number | Float64Array, what: string) {
  const a = typeof actual === "number" ? [actual] : Array.from(actual);
  const e = typeof expected === "number" ? [expected] : Array.from(expected);
  expect(typeof actual, what).toBe(typeof expected);
  expect(a.length, what).toBe(e.length);
  a.forEach((x, i) => {
    if (Number.isNaN(e[i]) || !Number.isFinite(e[i])) expect(x, `${what}[${i}]`).toBe(e[i]);
    else expect(Math.abs(x - e[i]), `${what}[${i}]: ${x} vs ${e[i]}`).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(e[i])));
  });
}

function expectSameResults(got: { outputs: Result; grad: Result }, want: { outputs: Result; grad: Result }) {
  expect(Object.keys(got.outputs)).toEqual(Object.keys(want.outputs));
  expect(Object.keys(got.grad)).toEqual(Object.keys(want.grad));
  for (const k of Object.keys(want.outputs)) expectClose(got.outputs[k], want.outputs[k], `output ${k}`);
  for (const k of Object.keys(want.grad)) expectClose(got.grad[k], want.grad[k], `grad ${k}`);
}

/** Compile, run forward and backward at a few random points, compare with the interpreter. */
async function compare(source: string, seed?: Record<string, Value>, points = 3) {
  const m = await load(source);
  for (let p = 0; p < points; p++) {
    const args = randomArgs(source, 1234 + p);
    const want = m.backward(args, seed);
    const got = interpretProgram(program(source), args, seed);
    expectSameResults(got, want);
    const forward = m.forward(args);
    for (const k of Object.keys(forward)) expectClose(got.outputs[k], forward[k], `forward ${k}`);
  }
}

const NEURON = "param w[3]\nparam x[2]\noutput f = sigmoid(w[0]*x[0] + w[1]*x[1] + w[2])\n";

describe("the interpreter agrees with compiled modules", () => {
  test("the CS231n circuit, interpreting the adjoint nodes directly", async () => {
    const source = "param x\nparam y\nparam z\nq = x + y\noutput f = q * z\n";
    const p = program(source);
    const seed = p.graph.input("f", "seed", []);
    const [x, y, z] = p.args.map((a) => a.node);
    const grads = differentiate(p.graph, [{ output: p.outputs[0].node, seed, guarded: false }], [x, y, z]);
    const values = new Map<string, Value>([["param:x", -2], ["param:y", 5], ["param:z", -4], ["seed:f", 1]]);
    const [f, dx, dy, dz] = evaluateGraph(p.graph, values, [p.outputs[0].node, ...grads]);
    expect([f[0], dx[0], dy[0], dz[0]]).toEqual([-12, -4, -4, 3]);
    const m = await load(source);
    expect(m.backward({ x: -2, y: 5, z: -4 })).toEqual({ outputs: { f: -12 }, grad: { x: -4, y: -4, z: 3 } });
  });

  test("the sigmoid neuron, three ways (built-in, def, gate)", async () => {
    const ways = [
      NEURON,
      "def sig(z) = 1 / (1 + exp(-z))\nparam w[3]\nparam x[2]\noutput f = sig(w[0]*x[0] + w[1]*x[1] + w[2])\n",
      "def sig(z) = 1 / (1 + exp(-z))\ngrad z = out * (1 - out)\nparam w[3]\nparam x[2]\noutput f = sig(w[0]*x[0] + w[1]*x[1] + w[2])\n",
    ];
    for (const source of ways) {
      const got = interpretProgram(program(source), { w: [2, -3, -3], x: [-1, -2] });
      expect(got.outputs.f as number).toBeCloseTo(0.7310585786, 9);
      expectClose(got.grad.w, Float64Array.of(-0.19661193324148185, -0.3932238664829637, 0.19661193324148185), "w");
      expect(Array.from(got.grad.x as Float64Array).map((v) => +v.toFixed(7))).toEqual([0.3932239, -0.5898358]);
      expectSameResults(got, (await load(source)).backward({ w: [2, -3, -3], x: [-1, -2] }));
      await compare(source);
    }
  });

  test("matmul shapes: [m,n]@[n,p], [m,n]@[n], [n]@[n,p], [n]@[n]", async () => {
    const source = [
      "param A[2,3]", "param B[3,4]", "param v[3]", "param u[2]",
      "output C = A @ B", "output Av = A @ v", "output uA = u @ A", "output vv = v @ v",
      "output loss = sum(C * C) + sum(Av) * vv + sum(uA @ B)",
    ].join("\n");
    await compare(source, { loss: 1 });
    await compare(source, { C: [1, -1, 2, 0.5, 0, 3, -2, 1], Av: [0.5, -2], uA: [1, 2, 3], vv: -1.5, loss: 0.25 });
  });

  test("tensor outputs with outputs left out of the seed", async () => {
    const source = "param W[3,2]\ninput x[2]\nparam b[3]\noutput h = relu(W @ x + b)\noutput s = sum(h)\noutput t = tanh(W)\n";
    await compare(source, { h: [1, -2, 0.5] });
    await compare(source, { s: 2 });
    await compare(source, { t: [1, 2, 3, 4, 5, 6], s: -1 });
  });

  test("softmax and the CS231n examples", async () => {
    await compare("param s[4]\noutput p = softmax(s)\noutput l = log_softmax(s)\noutput z = logsumexp(s)\n", { p: [1, 0, -1, 2], l: [0.5, 0.5, 0, 1], z: 3 });
    await compare(readFileSync("examples/cs231n/softmax.expr", "utf8"));
    await compare(readFileSync("examples/cs231n/twolayer.expr", "utf8"), undefined, 1);
  });

  test("indexing: elements, rows, transposes, array literals", async () => {
    const source = [
      "param M[3,4]", "param v[4]",
      "r = M[1] * v + M[2, 3]",
      "T = transpose(M)",
      "P = [M[0], r, [1, 2, 3, v[0]]]",
      "output f = sum(P * M) + T[3, 2] * v[1] + sum(T @ [1, -1, 2]) + dot(M[2], v)",
      "output Q = [[v[0], v[1]], [M[2, 0], 7]]",
    ].join("\n");
    await compare(source, { f: 1, Q: [1, 2, 3, 4] });
  });

  test("comprehensions, generators and reductions", async () => {
    const source = [
      "const N = 4", "param x[N]", "param A[N, N]",
      "y = [x[i] * x[(i + 1) % N] for i in 0..N]",
      "B = [[A[i, j] * (i - j) for j in 0..N] for i in 0..N]",
      "output f = sum(y) + prod(x) + max(x) + min(B) + mean(A) + norm(x) + logsumexp(B)",
      "output g = sum(x[i] ^ i for i in 0..N) + prod(x[i] + 3 for i in 0..N) + max(A[i, i] for i in 0..N)",
    ].join("\n");
    await compare(source, { f: 1, g: 0.5 });
    await compare(source, { g: 1 });
  });

  test("elementwise built-ins, comparisons, where, pow and gates", async () => {
    const source = [
      "def sq(a, b) = a * a * b",
      "grad a = 2 * a * b",
      "grad b = a * a",
      "param x[3]", "param y[3]", "param c",
      "e = exp(x) + log(abs(y) + 1) + sqrt(x * x + 1) + sin(x) * cos(y) + atan(x) + tanh(y) + softplus(x)",
      "m = max(x, y) + min(x, c) + atan2(y, x) + where(x > y, x * c, y / c) + relu(x - c) + (2 ^ x) + abs(y) ^ c",
      "output f = sum(e * m) + sum(sq(x, c)) + sq(c, c) + sum(expm1(x) + log1p(abs(y))) + sum(sign(x) + floor(y) + ceil(x))",
    ].join("\n");
    await compare(source, undefined, 5);
  });
});

describe("evaluateGraph by hand", () => {
  test("prodexcept multiplies the other elements, without division (zeros included)", () => {
    const g = new Graph();
    const x = g.input("x", "param", [4]);
    const [pe] = evaluateGraph(g, new Map([["param:x", [2, 0, 3, 0]]]), [g.prodExcept(x)]);
    expect(Array.from(pe)).toEqual([0, 0, 0, 0]);
    const [pe2] = evaluateGraph(g, new Map([["param:x", [2, 0, 3, 5]]]), [g.prodExcept(x)]);
    expect(Array.from(pe2)).toEqual([0, 30, 0, 0]);
    const [pe3] = evaluateGraph(g, new Map([["param:x", [2, 4, 3, 5]]]), [g.prodExcept(x)]);
    expect(Array.from(pe3)).toEqual([60, 30, 40, 24]);
  });

  test("logsumexp is stable", () => {
    const g = new Graph();
    const x = g.input("x", "input", [2]);
    const [v] = evaluateGraph(g, new Map([["input:x", [1000, 1000]]]), [g.reduce("logsumexp", x)]);
    expect(v[0]).toBe(1000 + Math.log(2));
  });

  test("gather, scatter (accumulating), pack and broadcasting scalars", () => {
    const g = new Graph();
    const m = g.input("M", "param", [2, 3]);
    const s = g.input("s", "param", []);
    const t = g.gather(m, [3, 2], { offset: 0, strides: [1, 3] });
    const sc = g.scatter([{ values: m, map: { offset: 0, strides: [1, 0] } }, { values: s, map: { offset: 1, strides: [] } }], [2]);
    const p = g.pack([g.elementwise("mul", [s, g.gather(m, [3], { offset: 3, strides: [1] })]), g.gather(m, [3], { offset: 0, strides: [1] })]);
    const values = new Map<string, Value>([["param:M", [1, 2, 3, 4, 5, 6]], ["param:s", 10]]);
    const [tv, scv, pv] = evaluateGraph(g, values, [t, sc, p]);
    expect(Array.from(tv)).toEqual([1, 4, 2, 5, 3, 6]);
    expect(Array.from(scv)).toEqual([6, 25]);
    expect(Array.from(pv)).toEqual([40, 50, 60, 1, 2, 3]);
  });

  test("matmul shapes", () => {
    const g = new Graph();
    const A = g.input("A", "input", [2, 3]);
    const B = g.input("B", "input", [3, 2]);
    const v = g.input("v", "input", [3]);
    const u = g.input("u", "input", [2]);
    const values = new Map<string, Value>([["input:A", [1, 2, 3, 4, 5, 6]], ["input:B", [1, 0, 0, 1, 1, 1]], ["input:v", [1, -1, 2]], ["input:u", [3, -1]]]);
    const [AB, Av, uA, vv] = evaluateGraph(g, values, [g.matmul(A, B), g.matmul(A, v), g.matmul(u, A), g.matmul(v, v)]);
    expect(Array.from(AB)).toEqual([4, 5, 10, 11]);
    expect(Array.from(Av)).toEqual([5, 11]);
    expect(Array.from(uA)).toEqual([-1, 1, 3]);
    expect(Array.from(vv)).toEqual([6]);
  });

  test("a missing or wrongly sized input is an error naming it", () => {
    const g = new Graph();
    const x = g.input("x", "param", [3]);
    const y = g.elementwise("exp", [x]);
    expect(() => evaluateGraph(g, new Map(), [y])).toThrow(/param 'x'/);
    expect(() => evaluateGraph(g, new Map([["param:x", [1, 2]]]), [y])).toThrow(/needs 3 values, got 2/);
  });

  test("a long chain evaluates without recursion", () => {
    const g = new Graph();
    let x = g.input("x", "param", []);
    for (let i = 0; i < 20_000; i++) x = g.elementwise("add", [x, g.constant(1)]);
    const [v] = evaluateGraph(g, new Map([["param:x", 0.5]]), [x]);
    expect(v[0]).toBe(20_000.5);
  });
});
