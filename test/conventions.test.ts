// The derivative conventions of the language (language.md, "Derivative conventions" and
// "Gates") and the seed rules of backward (modules.md): the places where the math has no
// single answer, or where a naive implementation gives NaN, each pinned to the value the
// spec chose. Values here are exact (toBe / ===), not approximate, unless the spec's
// number is irrational.

import { describe, expect, it } from "vitest";
import { assertClose, load, type Values } from "./support/load.js";

/** backward of `source` at `args`, with `seed` (undefined: the loss case). */
async function backward(source: string, args: Record<string, unknown>, seed?: Record<string, unknown>) {
  const { module } = await load(source);
  return module.backward(args, seed);
}

/** Exactly +0 or -0 (not NaN, not tiny). */
function expectZero(x: unknown, what: string) {
  expect(typeof x, what).toBe("number");
  expect(x === 0, `${what}: expected exactly 0, got ${String(x)}`).toBe(true);
}

function grads(g: Values, name: string): number[] {
  const x = g[name];
  return typeof x === "number" ? [x] : Array.from(x);
}

describe("max and min split ties evenly", () => {
  it.each([
    ["max(x, x)", 2.5, 1],
    ["min(x, x)", 2.5, 1],
    ["max(x, x) * 3", -1, 3],
    ["max(0, x)", 0, 0.5],
    ["min(0, x)", 0, 0.5],
    ["max(x, 0)", 0, 0.5],
    ["max(0, x)", 1e-300, 1],
    ["max(0, x)", -1e-300, 0],
    ["relu(x)", 0, 0],
    ["relu(x)", 1, 1],
    ["relu(x)", -1, 0],
    ["max(2 * x, x + 1)", 1, 1.5],
  ])("d/dx %s at x = %s is %s", async (expr, x, expected) => {
    const { grad } = await backward(`param x\noutput f = ${expr}`, { x });
    expect(grad.x).toBe(expected);
  });

  it("max(0, z) at z = 0 passes half of the upstream gradient; relu passes none", async () => {
    const { grad } = await backward("param z[3]\noutput y = max(0, z)\noutput r = relu(z)", { z: [0, 0, 0] }, { y: [2, 4, 6] });
    expect(grads(grad, "z")).toEqual([1, 2, 3]);
    const only = await backward("param z[3]\noutput y = max(0, z)\noutput r = relu(z)", { z: [0, 0, 0] }, { r: [2, 4, 6] });
    expect(grads(only.grad, "z")).toEqual([0, 0, 0]);
  });

  it("max(a, b) and min(a, b) on a tie give each argument half", async () => {
    const { grad } = await backward("param a\nparam b\noutput f = max(a, b) + 10 * min(a, b)", { a: 1, b: 1 });
    expect(grad.a).toBe(5.5);
    expect(grad.b).toBe(5.5);
  });

  it.each([
    ["max", [2, 5, 5, 1], [0, 0.5, 0.5, 0]],
    ["min", [2, 1, 5, 1], [0, 0.5, 0, 0.5]],
    ["max", [3, 3, 3, 3], [0.25, 0.25, 0.25, 0.25]],
    ["max", [1, 4, 2, 3], [0, 1, 0, 0]],
  ])("the reduction %s(v) at v = %j splits the gradient: %j", async (name, v, expected) => {
    const { outputs, grad } = await backward(`param v[4]\noutput f = ${name}(v)`, { v });
    expect(outputs.f).toBe(name === "max" ? Math.max(...v) : Math.min(...v));
    expect(grads(grad, "v")).toEqual(expected);
  });

  it("the generator form max(... for ...) splits ties too", async () => {
    const { grad } = await backward("param v[3]\noutput f = max(v[i] * 2 for i in 0..3)", { v: [1, 1, 0] });
    expect(grads(grad, "v")).toEqual([1, 1, 0]);
  });
});

describe("where: only the selected branch gets gradient, and nothing leaks from the other", () => {
  it("where(x > 0, sqrt(x), 0) at x = -1 has value 0 and gradient exactly 0", async () => {
    const { outputs, grad } = await backward("param x\noutput f = where(x > 0, sqrt(x), 0)", { x: -1 });
    expect(outputs.f).toBe(0);
    expectZero(grad.x, "grad x");
  });

  it("where(x > 0, log(x), 0) at x = 0 has gradient exactly 0 (log'(0) = Infinity is not selected)", async () => {
    const { grad } = await backward("param x\noutput f = where(x > 0, log(x), 0)", { x: 0 });
    expectZero(grad.x, "grad x");
  });

  it("where(x > 0, sqrt(x), x) at x = 4 and x = -4", async () => {
    const src = "param x\noutput f = where(x > 0, sqrt(x), x * 3)";
    expect((await backward(src, { x: 4 })).grad.x).toBe(0.25);
    expect((await backward(src, { x: -4 })).grad.x).toBe(3);
  });

  it("tensor where with sqrt of negatives: no NaN in any element", async () => {
    const { outputs, grad } = await backward("param v[4]\noutput f = sum(where(v > 0, sqrt(v), 0))", { v: [-1, 4, -9, 0] });
    expect(outputs.f).toBe(2);
    expect(grads(grad, "v")).toEqual([0, 0.25, 0, 0]);
  });

  it("the masked branch's gradient stays out even further up the chain", async () => {
    // exp(where(...)) multiplies the masked zero by exp(0) = 1 and then by sqrt's Infinity.
    const { grad } = await backward("param x\noutput f = exp(where(x > 0, sqrt(x), 0)) * 2", { x: -1 });
    expectZero(grad.x, "grad x");
  });
});

describe("numerically stable forms", () => {
  it.each([
    ["sigmoid(x)", -1000, 0, 0],
    ["sigmoid(x)", 1000, 1, 0],
    ["sigmoid(x)", 0, 0.5, 0.25],
    ["softplus(x)", 1000, 1000, 1],
    ["softplus(x)", -1000, 0, 0],
    ["softplus(x)", 0, Math.LN2, 0.5],
    ["tanh(x)", 1000, 1, 0],
    ["exp(x)", -1000, 0, 0],
  ])("%s at x = %s is %s with gradient %s", async (expr, x, value, gradient) => {
    const { outputs, grad } = await backward(`param x\noutput f = ${expr}`, { x });
    expect(outputs.f).toBe(value);
    expect(grad.x).toBe(gradient);
  });

  it("logsumexp([1000, 1000]) = 1000 + log 2 with gradients [0.5, 0.5]", async () => {
    const { outputs, grad } = await backward("param a\nparam b\noutput f = logsumexp([a, b])", { a: 1000, b: 1000 });
    expect(outputs.f).toBe(1000 + Math.log(2));
    // exp(a - lse) with lse rounded near 1000 is 0.5 to about 1e-13 (an ulp of 1000).
    assertClose(grad.a, 0.5, 1e-12, "grad a");
    assertClose(grad.b, 0.5, 1e-12, "grad b");
  });

  it.each([
    [[1000, 1000], 1000 + Math.LN2, [0.5, 0.5]],
    [[-1000, -1000], -1000 + Math.LN2, [0.5, 0.5]],
    [[1000, -1000], 1000, [1, 0]],
  ])("logsumexp(v) at %j", async (v, value, gradient) => {
    const { outputs, grad } = await backward("param v[2]\noutput f = logsumexp(v)", { v });
    assertClose(outputs.f, value, 1e-15, "logsumexp");
    assertClose(grad.v, gradient, 1e-12, "grad");
  });

  it("softmax and log_softmax are finite for [1000, -1000, 0], gradients too", async () => {
    const src = "param v[3]\noutput p = softmax(v)\noutput l = log_softmax(v)";
    const { outputs } = await backward(src, { v: [1000, -1000, 0] }, { p: [1, 1, 1], l: [1, 1, 1] });
    assertClose(outputs.p, [1, 0, 0], 1e-300, "softmax");
    assertClose(outputs.l, [0, -2000, -1000], 1e-15, "log_softmax");
    for (const seed of [{ p: [1, 2, 3] }, { l: [1, 2, 3] }, { p: [-1, 0.5, 2], l: [3, -2, 1] }]) {
      const { grad } = await backward(src, { v: [1000, -1000, 0] }, seed);
      for (const g of grads(grad, "v")) expect(Number.isFinite(g), `grad with seed ${JSON.stringify(seed)}: ${grads(grad, "v")}`).toBe(true);
    }
    // log_softmax' = s - p * sum(s); p = [1, 0, 0].
    const { grad } = await backward(src, { v: [1000, -1000, 0] }, { l: [1, 2, 3] });
    assertClose(grad.v, [1 - 6, 2, 3], 1e-12, "log_softmax gradient");
  });

  it("cross-entropy at extreme scores is finite", async () => {
    const { outputs, grad } = await backward("param s[3]\ninput y[3]\noutput loss = -sum(y * log_softmax(s))", { s: [1000, -1000, 0], y: [0, 1, 0] });
    expect(outputs.loss).toBe(2000);
    assertClose(grad.s, [1, -1, 0], 1e-15, "grad");
  });
});

describe("the math is followed, not hidden", () => {
  it("sqrt'(0) = +Infinity", async () => {
    const { outputs, grad } = await backward("param x\noutput f = sqrt(x)", { x: 0 });
    expect(outputs.f).toBe(0);
    expect(grad.x).toBe(Infinity);
  });

  it("log(0) = -Infinity and log'(0) = +Infinity", async () => {
    const { outputs, grad } = await backward("param x\noutput f = log(x)", { x: 0 });
    expect(outputs.f).toBe(-Infinity);
    expect(grad.x).toBe(Infinity);
  });

  it("sqrt of a negative number is NaN", async () => {
    const { module } = await load("param x\noutput f = sqrt(x)");
    expect(module.forward({ x: -1 }).f).toBeNaN();
  });
});

describe("derivatives that are zero by convention", () => {
  it.each([
    ["abs(x)", 0, 0],
    ["abs(x)", -2, -1],
    ["abs(x)", 2, 1],
    ["sign(x)", 0, 0],
    ["sign(x)", 3, 0],
    ["floor(x)", 2, 0],
    ["floor(x)", 2.5, 0],
    ["ceil(x)", -1, 0],
    ["ceil(x)", 0.3, 0],
    ["x * (x > 1)", 2, 1],
    ["x * (x < 1)", 2, 0],
    ["(x >= 1) + (x == 2) + (x != 0) + (x <= 5)", 2, 0],
    ["x * floor(x)", 2.5, 2],
  ])("d/dx %s at x = %s is %s", async (expr, x, expected) => {
    const { grad } = await backward(`param x\noutput f = ${expr}`, { x });
    expectZero((grad.x as number) - expected, `d/dx ${expr}`);
  });

  it("abs'(0) = 0 in a tensor too", async () => {
    const { grad } = await backward("param v[3]\noutput f = sum(abs(v))", { v: [0, -2, 3] });
    expect(grads(grad, "v")).toEqual([0, -1, 1]);
  });
});

describe("gates: a def with grad lines", () => {
  it("a deliberately wrong grad line is used as written: grad z = 2 gives 2 * upstream", async () => {
    const src = "def g(z) = z * z * z\ngrad z = 2\nparam x\noutput f = g(x)";
    const { outputs, grad } = await backward(src, { x: 3 });
    expect(outputs.f).toBe(27); // the body is the forward value
    expect(grad.x).toBe(2); // not 3 x^2 = 27: the body is not differentiated
    const seeded = await backward(src, { x: 3 }, { f: 5 });
    expect(seeded.grad.x).toBe(10);
  });

  it("the chain rule goes through the gate's argument: g(3 * x)", async () => {
    const { grad } = await backward("def g(z) = z * z\ngrad z = 7\nparam x\noutput f = g(3 * x) * 2", { x: 1 });
    expect(grad.x).toBe(42);
  });

  it("'out' in a grad line is the gate's forward value", async () => {
    const { outputs, grad } = await backward("def e(z) = exp(z)\ngrad z = out\nparam x\noutput f = e(x)", { x: 1.5 });
    expect(outputs.f).toBe(Math.exp(1.5));
    expect(grad.x).toBe(Math.exp(1.5));
  });

  it("a gate's arguments are in scope in grad lines; one line per argument", async () => {
    const src = "def h(a, b) = a * b\ngrad a = b + 100\ngrad b = a + 1000\nparam x\nparam y\noutput f = h(x, y)";
    const { outputs, grad } = await backward(src, { x: 2, y: 3 });
    expect(outputs.f).toBe(6);
    expect(grad.x).toBe(103);
    expect(grad.y).toBe(1002);
  });

  it("tensor arguments: upstream * local, elementwise", async () => {
    const src = "def sq(z) = z * z\ngrad z = 10 * z\nparam v[3]\noutput y = sq(v)";
    const { outputs, grad } = await backward(src, { v: [1, 2, 3] }, { y: [1, 0.5, -1] });
    expect(Array.from(outputs.y as Float64Array)).toEqual([1, 4, 9]);
    expect(grads(grad, "v")).toEqual([10, 10, -30]);
  });

  it("a scalar argument beside tensor ones gets the sum over elements of upstream * local", async () => {
    const src = "def scale(s, v) = s * v\ngrad s = v\ngrad v = s\nparam k\nparam w[3]\noutput y = scale(k, w)";
    const { outputs, grad } = await backward(src, { k: 2, w: [1, 2, 3] }, { y: [1, 10, 100] });
    expect(Array.from(outputs.y as Float64Array)).toEqual([2, 4, 6]);
    expect(grad.k).toBe(1 * 1 + 10 * 2 + 100 * 3);
    expect(grads(grad, "w")).toEqual([2, 20, 200]);
  });

  it("a scalar argument with a scalar local gradient beside a tensor: sum of upstream * local", async () => {
    const src = "def shift(s, v) = v + s\ngrad s = 3\ngrad v = 1\nparam k\nparam w[3]\noutput y = shift(k, w)";
    const { grad } = await backward(src, { k: 2, w: [1, 2, 3] }, { y: [1, 10, 100] });
    expect(grad.k).toBe(333);
    expect(grads(grad, "w")).toEqual([1, 10, 100]);
  });

  it("a def without grad lines is differentiated through its body", async () => {
    const { grad } = await backward("def g(z) = z * z * z\nparam x\noutput f = g(x)", { x: 3 });
    expect(grad.x).toBe(27);
  });

  // A reducing gate: a scalar value of a tensor argument. Called per row of a comprehension
  // (batched), and under jvp and hessian, it gives what the same def without grad lines
  // gives (its grad line is right): these were internal errors ("cannot broadcast [2] to [2, 1]").
  it.each([
    ["per row", "output t = sum([ss(C[i] * x) for i in 0..3] * u)"],
    ["per row, a scalar argument beside", "output t = sum([sc(C[i], k) for i in 0..3] * u)"],
    ["jvp", "output t = jvp(ss(x * k), x, d)"],
    ["jvp per row", "output t = sum(jvp([ss(C[i] * x) for i in 0..3], x, d) * u)"],
    ["hessian per row", "output t = sum(hessian(sum([ss(C[i] * x) for i in 0..3] * u), x) * E)"],
  ])("a reducing gate %s gives the values and gradients of its body", async (_, line) => {
    const gates = "def ss(v) = sum(v * v)\ngrad v = 2 * v\ndef sc(v, s) = s * sum(exp(v))\ngrad v = s * exp(v)\ngrad s = sum(exp(v))\n";
    const bodies = "def ss(v) = sum(v * v)\ndef sc(v, s) = s * sum(exp(v))\n";
    const rest = `param x[2], C[3, 2], k\ninput d[2], u[3], E[2, 2]\n${line}\n`;
    const args = { x: [0.3, -0.7], C: [0.1, 0.2, -0.3, 0.4, 0.5, -0.6], k: 1.3, d: [0.9, -0.2], u: [1, -2, 0.5], E: [1, 2, 3, 4] };
    const [a, b] = [await backward(gates + rest, args), await backward(bodies + rest, args)];
    assertClose(a.outputs.t, b.outputs.t as number, 1e-12, "t");
    for (const name of ["x", "C", "k"]) assertClose(a.grad[name], b.grad[name] as number | Float64Array, 1e-12, `grad ${name}`);
  });

  it("a gate called twice uses its grad line at each call", async () => {
    const src = "def g(z) = z * z\ngrad z = 2 * z\nparam x\nparam y\noutput f = g(x) + g(y) * 10";
    const { grad } = await backward(src, { x: 3, y: 4 });
    expect(grad.x).toBe(6);
    expect(grad.y).toBe(80);
  });
});

describe("seeds of backward", () => {
  const two = "param x\nparam y\noutput a = x * y\noutput b = x + 2 * y";

  it("a seed for only one output gives the gradient of that output only", async () => {
    expect((await backward(two, { x: 3, y: 5 }, { a: 1 })).grad).toEqual({ x: 5, y: 3 });
    expect((await backward(two, { x: 3, y: 5 }, { b: 1 })).grad).toEqual({ x: 1, y: 2 });
    expect((await backward(two, { x: 3, y: 5 }, { a: 2, b: 10 })).grad).toEqual({ x: 20, y: 26 });
  });

  it("backward still computes every output, seeded or not", async () => {
    const { outputs } = await backward(two, { x: 3, y: 5 }, { b: 1 });
    expect(outputs).toEqual({ a: 15, b: 13 });
  });

  it.each([
    ["sqrt(x)", 0],
    ["log(x)", 0],
    ["sqrt(x) * 0", 0],
    ["1 / x", 0],
  ])("an output left out of the seed contributes no NaN: a = %s at x = %s, seed {b: 1}", async (expr, x) => {
    const { grad } = await backward(`param x\noutput a = ${expr}\noutput b = x * 2`, { x }, { b: 1 });
    expect(grad.x).toBe(2);
  });

  it("an output with an infinite local gradient left out of a tensor seed contributes nothing", async () => {
    const { grad } = await backward("param v[2]\noutput a = sqrt(v)\noutput b = v * 2", { v: [0, 0] }, { b: [1, 1] });
    expect(grads(grad, "v")).toEqual([2, 2]);
  });

  it("a seed of 0 for an output is not the same as leaving it out: 0 * Infinity is NaN by the math", async () => {
    const { grad } = await backward("param x\noutput a = sqrt(x)\noutput b = x * 2", { x: 0 }, { a: 1, b: 1 });
    expect(grad.x).toBe(Infinity);
  });

  it("without a seed, a multi-output program throws an Error naming the outputs", async () => {
    const { module } = await load(two);
    expect(() => module.backward({ x: 1, y: 2 })).toThrowError(Error);
    let message = "";
    try {
      module.backward({ x: 1, y: 2 });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(/\ba\b/);
    expect(message).toMatch(/\bb\b/);
    expect(message).toMatch(/seed/);
  });

  it("without a seed, a single tensor output throws an Error naming it", async () => {
    const { module } = await load("param v[3]\noutput ys = v * 2");
    expect(() => module.backward({ v: [1, 2, 3] })).toThrowError(/ys/);
  });

  it("without a seed, a single scalar output is seeded with 1 (the loss case)", async () => {
    const src = "param x\noutput f = x * x";
    expect((await backward(src, { x: 3 })).grad.x).toBe(6);
    expect((await backward(src, { x: 3 }, { f: 0.5 })).grad.x).toBe(3);
    expect((await backward(src, { x: 3 }, {})).grad.x).toBe(0);
  });

  it.each([
    ["number[]", [1, -2, 0.5]],
    ["Float64Array", Float64Array.from([1, -2, 0.5])],
  ])("a tensor seed (%s) is the upstream gradient of each element", async (_, s) => {
    const { grad } = await backward("param v[3]\noutput y = v * v", { v: [1, 2, 3] }, { y: s });
    expect(grads(grad, "v")).toEqual([2, -8, 3]);
  });

  it("a matrix seed is flat and row-major", async () => {
    const { grad } = await backward("param M[2, 2]\noutput Y = M * [[1, 2], [3, 4]]", { M: [0, 0, 0, 0] }, { Y: [1, 10, 100, 1000] });
    expect(grads(grad, "M")).toEqual([1, 20, 300, 4000]);
  });

  it("a scalar and a tensor output seeded together", async () => {
    const { grad } = await backward("param v[2]\noutput s = sum(v)\noutput y = v * 3", { v: [1, 2] }, { s: 2, y: [1, -1] });
    expect(grads(grad, "v")).toEqual([5, -1]);
  });

  it("backward only returns gradients for params, not inputs", async () => {
    const { grad } = await backward("input x\nparam w\noutput f = w * x", { x: 3, w: 2 });
    expect(grad).toEqual({ w: 3 });
  });
});
