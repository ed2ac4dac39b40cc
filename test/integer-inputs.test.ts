// Integer inputs (language.md, "Indexing with data: integer inputs"): labels, edge lists
// and observation tables whose elements index. Gathers at ranks 1-3, repeated indices whose
// gradients add up (scatter-add, as PyTorch's index_add), range and integrality errors that
// name the input, the element and the value and leave every holder untouched.

import { describe, expect, it } from "vitest";
import { analyze, compile } from "../src/compile.js";
import { interpretProgram } from "../src/ir/interpret.js";
import { load, numericGradient, rng } from "./support/load.js";

const list = (v: number | Float64Array | number[]) => (typeof v === "number" ? [v] : Array.from(v));
function close(got: ArrayLike<number> | number, want: ArrayLike<number> | number, tol: number, what: string) {
  const [g, w] = [list(got as never), list(want as never)];
  expect(g.length, what).toBe(w.length);
  g.forEach((v, k) => expect(Math.abs(v - w[k]), `${what}[${k}]: ${v} vs ${w[k]}`).toBeLessThan(tol * (1 + Math.abs(w[k]))));
}
function program(source: string) {
  const analyzed = analyze(source, "t.expr");
  if (!analyzed.program) throw new Error(analyzed.diagnostics.map((d) => d.text).join("\n"));
  return analyzed.program;
}

describe("integer inputs index", () => {
  const loss = [
    "const N = 6",
    "const K = 3",
    "input X[N, 2]",
    "input y[N] int",
    "param W[2, K], b[K]",
    "scores = X @ W + b",
    "output loss = -mean([log_softmax(scores, axis=1)[i, y[i]] for i in 0..N])",
  ].join("\n");
  const next = rng(7);
  const args = {
    X: Array.from({ length: 12 }, () => next() * 2 - 1),
    y: Int32Array.from([0, 2, 1, 2, 2, 0]),
    W: Array.from({ length: 6 }, () => next()),
    b: [0.1, -0.2, 0.3],
  };

  it("the course's loss with integer labels equals the one-hot loss", async () => {
    const oneHot = loss.replace("input y[N] int", "input Y[N, K]").replace("output loss = -mean([log_softmax(scores, axis=1)[i, y[i]] for i in 0..N])", "output loss = -sum(Y * log_softmax(scores, axis=1)) / N");
    const Y = Array.from(args.y).flatMap((c) => [0, 1, 2].map((k) => (k === c ? 1 : 0)));
    const { module } = await load(loss);
    const { module: hot } = await load(oneHot);
    const a = module.backward(args);
    const h = hot.backward({ ...args, Y });
    close(a.outputs.loss as number, h.outputs.loss as number, 1e-12, "loss");
    close(a.grad.W as Float64Array, h.grad.W as Float64Array, 1e-12, "dW");
    close(a.grad.b as Float64Array, h.grad.b as Float64Array, 1e-12, "db");
  });

  it("gathers rows t[y] (rank 2) and take along an axis (rank 3), with repeated indices adding up", async () => {
    const src = "input e[5] int\nparam T[4, 3], U[2, 4, 3]\noutput o = sum(T[e] ^ 2) + sum(take(U, e, axis=1) * 0.5) ^ 2";
    const a = { e: [3, 0, 3, 3, 1], T: Array.from({ length: 12 }, (_, k) => k / 7 - 0.5), U: Array.from({ length: 24 }, (_, k) => Math.sin(k)) };
    const { module } = await load(src);
    const g = module.backward(a).grad;
    // d/dT of sum(T[e]^2): each row r gets 2 T[r] per occurrence of r in e.
    const counts = [1, 1, 0, 3];
    close(Array.from(g.T as Float64Array).slice(0, 12), Array.from({ length: 12 }, (_, k) => 2 * a.T[k] * counts[Math.floor(k / 3)]), 1e-12, "dT by hand");
    for (const name of ["T", "U"]) close(g[name] as Float64Array, numericGradient((v) => module.forward(v).o as number, a, name) as number[], 1e-6, `d${name}`);
    close(module.forward(a).o as number, interpretProgram(program(src), a).outputs.o as number, 1e-12, "interpreter");
  });

  it("an observation table picks a camera and a point per row, in one loop", async () => {
    const src = [
      "const P = 5",
      "input obs[P, 2] int, feat[P, 2]",
      "param cams[3, 2], pts[4, 2]",
      "def residual(c, p, f) = c * p - f",
      "output err = sum(sum(residual(cams[obs[i, 0]], pts[obs[i, 1]], feat[i]) ^ 2) for i in 0..P)",
    ].join("\n");
    const a = { obs: [0, 1, 2, 3, 1, 0, 0, 2, 2, 3], feat: Array.from({ length: 10 }, (_, k) => k / 10), cams: [1, 2, 0.5, -1, 1.5, 0.3], pts: [0.2, 0.4, -0.3, 1, 2, -2, 0.7, 0.1] };
    const { module, code } = await load(src);
    let want = 0;
    for (let i = 0; i < 5; i++)
      for (let d = 0; d < 2; d++) want += (a.cams[a.obs[2 * i] * 2 + d] * a.pts[a.obs[2 * i + 1] * 2 + d] - a.feat[2 * i + d]) ** 2;
    close(module.forward(a).err as number, want, 1e-12, "err");
    for (const name of ["cams", "pts"]) close(module.backward(a).grad[name] as Float64Array, numericGradient((v) => module.forward(v).err as number, a, name) as number[], 1e-6, `d${name}`);
    expect(compile(src.replace("P = 5", "P = 100000")).ok).toBe(true);
    expect(code.length).toBeLessThan(20_000);
  });

  it("an index out of range is a RangeError naming the input, element and value; nothing is written", async () => {
    const { module } = await load(loss);
    const grad = module.createGrad();
    (grad.W as Float64Array).fill(7);
    expect(() => module.backwardInto({ ...args, y: [0, 2, 1, 3, 2, 0] }, undefined, grad)).toThrow(RangeError);
    expect(() => module.backwardInto({ ...args, y: [0, 2, 1, 3, 2, 0] }, undefined, grad)).toThrow(/'y': y\[3\] is 3, out of range 0\.\.2/);
    expect(Array.from(grad.W as Float64Array).every((v) => v === 7)).toBe(true);
    expect(() => module.forward({ ...args, y: [0, 2, -1, 1, 2, 0] })).toThrow(/'y': y\[2\] is -1/);
  });

  it("a non-integer element is a TypeError naming the input", async () => {
    const { module } = await load(loss);
    expect(() => module.forward({ ...args, y: [0, 2, 1.5, 1, 2, 0] })).toThrow(TypeError);
    expect(() => module.forward({ ...args, y: [0, 2, 1.5, 1, 2, 0] })).toThrow(/'y' must hold whole numbers, but y\[2\] is 1.5/);
  });

  // Found by the spec audit: a const tensor picked by data compiled to "internal: take from
  // 'tensor'" in every form (the loop lowering folded the read to one of its values).
  it.each(["unrolled", "loops", "auto"] as const)("picks from a const tensor: e[y[0]], E[y], take(E, y, axis=-1) (%s)", async (emit) => {
    const source = "dim N\ninput y[N] int\nparam x\nconst e = [1, 2, 3]\nconst E = [[1, 2], [3, 4], [5, 6]]\noutput o = sum(E[y] * x, axis=0) * e[y[0]]\noutput t = take(E, y, axis=-1) * x";
    const { module } = await load(source, { emit });
    const { outputs, grad } = module.backward({ y: [1, 0], x: 3 }, { o: [1, 1], t: [1, 0, 0, 0, 0, 1] });
    // E[y] = [[3, 4], [1, 2]], summed over rows [4, 6], times x and e[1] = 2; E[:, y] = [[2, 1], [4, 3], [6, 5]].
    expect(list(outputs.o as Float64Array)).toEqual([24, 36]);
    expect(list(outputs.t as Float64Array)).toEqual([6, 3, 12, 9, 18, 15]);
    expect(grad.x).toBe(8 + 12 + 2 + 5);
  });

  it("an element of an integer input is a number where a value is expected", async () => {
    const { module } = await load("input y[4] int\nparam w\noutput o = w * sum(y) / 4");
    close(module.forward({ y: [1, 2, 3, 4], w: 2 }).o as number, 5, 1e-15, "value");
  });

  it("the declaration file says an integer input is integer", () => {
    const r = compile(loss, { format: "js" });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.declaration).toMatch(/Integer input[^\n]*\n\s*"y": Int32Array \| ArrayLike<number>;/);
  });

  it("an index from a non-integer input is an error that says how to declare it", () => {
    const r = compile("input k\nparam w[3]\noutput o = w[k]");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.diagnostics[0].message).toBe("'k' is an input, not a compile-time constant (declare it 'input k int' to index with it)");
  });
});

describe("data indices that change with the step, over a run-time size", () => {
  // A loop over a dim must be batched (it cannot be written out), so reading a value that
  // depends on the step at an index read from data, and the scatter that a derivative of
  // such a read makes, each need a batching rule: the steps' axes are laid end to end.
  const next = rng(17);
  const data = {
    X: Array.from({ length: 10 }, () => next() * 2 - 1),
    y: Int32Array.from([2, 0, 1, 1, 2]),
    z: Int32Array.from([1, 1, 0, 1, 0]),
    W: Array.from({ length: 6 }, () => next() * 2 - 1),
    b: [0.1, -0.2, 0.3],
    x: [0.4, -1.3, 0.7],
    T: Array.from({ length: 12 }, () => next() * 2 - 1),
  };
  const logSoftmaxAt = (s: number[], k: number) => {
    const m = Math.max(...s);
    return s[k] - m - Math.log(s.reduce((t, v) => t + Math.exp(v - m), 0));
  };
  const scoresOf = (W: number[], b: number[], X: number[], i: number) => [0, 1, 2].map((r) => W[2 * r] * X[2 * i] + W[2 * r + 1] * X[2 * i + 1] + b[r]);

  it("a per-example loss log_softmax(W @ X[i] + b)[y[i]]: value by hand, gradients against differences", async () => {
    const src = "dim N\ninput X[N, 2], y[N] int\nparam W[3, 2], b[3]\noutput loss = -mean([log_softmax(W @ X[i] + b)[y[i]] for i in 0..N])";
    const { module } = await load(src);
    const f = (a: Record<string, number | number[]>) => {
      const [W, b, X] = [a.W as number[], a.b as number[], a.X as number[]];
      return -[0, 1, 2, 3, 4].reduce((t, i) => t + logSoftmaxAt(scoresOf(W, b, X, i), data.y[i]), 0) / 5;
    };
    const a = { X: data.X, y: data.y, W: data.W, b: data.b };
    const { outputs, grad } = module.backward(a);
    close(outputs.loss as number, f(a as never), 1e-12, "loss");
    for (const name of ["W", "b"]) close(grad[name] as Float64Array, numericGradient(f, a as never, name) as number[], 1e-7, `d${name}`);
  });

  it("a data index along an inner axis of a value that depends on the step: values by hand, gradients against differences", async () => {
    const src = "dim N\ninput X[N, 2], y[N] int\nparam T[3, 2, 2]\noutput r = [(T * X[i, 0])[:, y[i]] for i in 0..N]\noutput s = sum(r * r)";
    const { module } = await load(src);
    const a = { X: data.X, y: Int32Array.from([1, 0, 1, 1, 0]), T: data.T };
    const { r } = module.forward(a);
    // Step i: T[:, y[i], :] * X[i, 0], a [3, 2] block.
    const want = Array.from(a.y).flatMap((k, i) => [0, 1, 2].flatMap((p) => [0, 1].map((q) => data.T[p * 4 + k * 2 + q] * data.X[2 * i])));
    close(r as Float64Array, want, 1e-12, "r");
    const { grad } = module.backward(a, { r: new Float64Array(30), s: 1 });
    const s = (v: Record<string, number | number[]>) => module.forward({ ...a, ...v }).s as number;
    close(grad.T as Float64Array, numericGradient(s, a as never, "T") as number[], 1e-7, "dT");
  });

  it("gradient in a comprehension over a dim, at a data index along the first axis and an inner one", async () => {
    const src = [
      "dim N",
      "input y[N] int, z[N] int",
      "param x[3], T[3, 2, 2]",
      "g = [gradient(x[y[i]] ^ 3, x) for i in 0..N]",
      "h = [gradient(sum(T[:, z[i]] ^ 2), T) for i in 0..N]",
      "output g",
      "output h",
      "output s = sum(g * g) + sum(h * h)",
    ].join("\n");
    const { module } = await load(src);
    const a = { y: data.y, z: data.z, x: data.x, T: data.T };
    const { g, h } = module.forward(a);
    // Row i of g is 3 x[y[i]]^2 at y[i], else 0; block i of h is 2 T where the middle index is z[i].
    close(g as Float64Array, Array.from(data.y).flatMap((k) => [0, 1, 2].map((j) => (j === k ? 3 * data.x[k] ** 2 : 0))), 1e-12, "g");
    close(h as Float64Array, Array.from(data.z).flatMap((k) => data.T.map((t, e) => (Math.floor(e / 2) % 2 === k ? 2 * t : 0))), 1e-12, "h");
    const { grad } = module.backward(a, { g: new Float64Array(15), h: new Float64Array(60), s: 1 });
    const s = (v: Record<string, number | number[]>) => module.forward({ ...a, ...v }).s as number;
    for (const name of ["x", "T"]) close(grad[name] as Float64Array, numericGradient(s, a as never, name) as number[], 1e-7, `d${name}`);
  });
});
