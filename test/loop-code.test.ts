// What the loop emitter promises about the code it writes, beyond its values (test/loops.test.ts
// and the fuzzer check those): the rewrites that make the benchmark models' loops as lean as
// hand-written ones (bench/RESULTS.md). Each test fails when its rewrite is taken out.
import { describe, expect, it } from "vitest";
import { Graph } from "../src/ir/graph.js";
import { compileJs, load, numericGradient } from "./support/load.js";

const twoLayer = [
  "input x[2], y[3]",
  "param W1[100, 2], b1[100], W2[3, 100], b2[3]",
  "h = relu(W1 @ x + b1)",
  "output loss = -sum(y * log_softmax(W2 @ h + b2))",
].join("\n");

const chain = [
  "const N = 60",
  "input k, rest, mg",
  "param x[N], y[N]",
  "springs = sum(0.5 * k * (sqrt((x[i+1] - x[i])^2 + (y[i+1] - y[i])^2) - rest)^2 for i in 0..N-1)",
  "output energy = springs + mg * sum(y)",
].join("\n");

/** The body of the exported function `name`. */
function functionBody(code: string, name: string): string {
  const start = code.indexOf(`export function ${name}(`);
  return code.slice(start, code.indexOf("\n}\n", start));
}

/**
 * The bodies of the top-level `for` loops of a function body; of a loop unrolled by four
 * (`for (let i0 = 0; ...)` around four blocks), the first step's block.
 */
function loopBodies(body: string): string[] {
  return [...body.matchAll(/\n {2}for \(let i0? = 0;[^\n]*\{\n([\s\S]*?)\n {2}\}(?=\n)/g)].map((m) => (/^ {4}\{\n {6}const i = i0;/.test(m[1]) ? m[1].slice(0, m[1].indexOf("\n    }")) : m[1]));
}

const moduleBuffers = (code: string) => (code.match(/^const buf\d+ = new Float64Array/gm) ?? []).length;

describe("the two-layer net's loops", () => {
  const { code } = compileJs(twoLayer, { emit: "loops" });
  const backward = functionBody(code, "backwardInto");

  it("keep only the hidden layer between the forward and backward passes (relu's gradient tests its output)", () => {
    expect(moduleBuffers(code)).toBe(1);
  });

  it("load each element of a buffer once per loop iteration", () => {
    const bodies = loopBodies(backward);
    expect(bodies.length).toBeGreaterThanOrEqual(2);
    for (const body of bodies) {
      const reads = [...body.matchAll(/\b([bh]\d+\[[^\]]*\])(?! =)/g)].map((m) => m[1]);
      expect(reads.length, body).toBe(new Set(reads).size);
    }
  });
});

describe("the chain of springs", () => {
  it("walks the masses once in backward: the carried sum is read in the same pass, no buffer", () => {
    const { code } = compileJs(chain, { emit: "loops" });
    expect(moduleBuffers(code)).toBe(0);
    expect(loopBodies(functionBody(code, "backwardInto"))).toHaveLength(1);
  });

  it("and its gradient matches finite differences and the straight-line code", async () => {
    const looped = (await load(chain, { emit: "loops" })).module;
    const unrolled = (await load(chain, { emit: "unrolled" })).module;
    const x = Array.from({ length: 60 }, (_, i) => 1.2 * i + 0.1 * Math.sin(7 * i));
    const y = Array.from({ length: 60 }, (_, i) => 0.3 * Math.cos(3 * i));
    const args = { k: 50, rest: 1, mg: 0.25, x, y };
    const got = looped.backward(args).grad;
    const want = unrolled.backward(args).grad;
    for (const name of ["x", "y"]) {
      const g = got[name] as Float64Array;
      const w = want[name] as Float64Array;
      for (let i = 0; i < 60; i++) expect(Math.abs(g[i] - w[i])).toBeLessThan(1e-12 * (1 + Math.abs(w[i])));
      const fd = numericGradient((a) => looped.forward(a).energy as number, args, name) as number[];
      for (let i = 0; i < 60; i++) expect(Math.abs(g[i] - fd[i])).toBeLessThan(1e-6 * (1 + Math.abs(fd[i])));
    }
  });
});

describe("Rosenbrock's backward pass", () => {
  it("has no negation left: the adjoint of a difference is subtracted, not added negated", () => {
    const { code } = compileJs("param x[100]\noutput f = sum(100*(x[i+1] - x[i]^2)^2 + (1 - x[i])^2 for i in 0..99)", { emit: "loops" });
    const backward = functionBody(code, "backwardInto");
    expect(backward).not.toMatch(/\(-/);
    expect(loopBodies(backward)).toHaveLength(1);
  });
});

describe("unrolled loops", () => {
  const source = "param x[10], W[3, 10]\noutput f = sum(tanh(W @ x)) + sum(x * x * x)";

  it("run four steps per iteration, then the remaining steps", () => {
    const { code } = compileJs(source, { emit: "loops" });
    expect(code).toContain("for (let i0 = 0; i0 < 8; i0 += 4) {");
    expect(code).toContain("for (let i = 8; i < 10; i++) {");
  });

  it("give the straight-line code's values", async () => {
    const looped = (await load(source, { emit: "loops" })).module;
    const unrolled = (await load(source, { emit: "unrolled" })).module;
    const args = { x: Array.from({ length: 10 }, (_, i) => Math.sin(i + 1)), W: Array.from({ length: 30 }, (_, i) => Math.cos(3 * i)) };
    const [a, b] = [looped.backward(args), unrolled.backward(args)];
    expect(Math.abs((a.outputs.f as number) - (b.outputs.f as number))).toBeLessThan(1e-12);
    for (const name of ["x", "W"]) {
      const [ga, gb] = [a.grad[name] as Float64Array, b.grad[name] as Float64Array];
      ga.forEach((v, i) => expect(Math.abs(v - gb[i])).toBeLessThan(1e-12));
    }
  });
});

describe("negations move outward, exactly", () => {
  const g = new Graph();
  const [a, b] = ["a", "b"].map((n) => g.input(n, "param", [4]));
  const neg = (x: typeof a) => g.elementwise("neg", [x]);

  it("a + -b is a - b, and -a + b is b - a", () => {
    expect(g.elementwise("add", [a, neg(b)])).toBe(g.elementwise("sub", [a, b]));
    expect(g.elementwise("add", [neg(a), b])).toBe(g.elementwise("sub", [b, a]));
  });

  it("a - -b is a + b, and -a - b is -(a + b)", () => {
    expect(g.elementwise("sub", [a, neg(b)])).toBe(g.elementwise("add", [a, b]));
    expect(g.elementwise("sub", [neg(a), b])).toBe(neg(g.elementwise("add", [a, b])));
  });

  it("(-a) b, a (-b), (-a) / b and a / (-b) are negated products and quotients", () => {
    expect(g.elementwise("mul", [neg(a), b])).toBe(neg(g.elementwise("mul", [a, b])));
    expect(g.elementwise("mul", [a, neg(b)])).toBe(neg(g.elementwise("mul", [a, b])));
    expect(g.elementwise("div", [neg(a), b])).toBe(neg(g.elementwise("div", [a, b])));
    expect(g.elementwise("div", [a, neg(b)])).toBe(neg(g.elementwise("div", [a, b])));
  });
});

describe("simplifications with a constant spread over a tensor", () => {
  it("x * 1 and x + 0 are x, broadcast to the tensor's shape", () => {
    const g = new Graph();
    const s = g.input("s", "param", []);
    const ones = g.broadcast(g.constant(1), [5]);
    const zeros = g.zeros([5]);
    const product = g.elementwise("mul", [ones, s]);
    expect(product).toBe(g.broadcast(s, [5]));
    expect(g.elementwise("add", [s, zeros])).toBe(g.broadcast(s, [5]));
  });

  it("relu's chain rule with a constant test passes the upstream gradient or exactly 0", () => {
    const g = new Graph();
    const u = g.input("u", "param", [3]);
    expect(g.elementwise("reluGrad", [u, g.constant(2)])).toBe(u);
    expect(g.elementwise("reluGrad", [u, g.broadcast(g.constant(-1), [3])])).toBe(g.zeros([3]));
  });
});
