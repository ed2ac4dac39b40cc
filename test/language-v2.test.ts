// Version 2 of the language (language.md): tensors of any rank, NumPy broadcasting, slices
// and negative indices, axis reductions, shape functions, einsum, tensor constants, and
// comprehensions batched instead of unrolled. Each program's values are checked against
// the same arithmetic written out in JavaScript; its gradients against central finite
// differences; and the compiled module against the reference interpreter.

import { describe, expect, it } from "vitest";
import { analyze, compile } from "../src/compile.js";
import { interpretProgram, type Value } from "../src/ir/interpret.js";
import { load, numericGradient, rng } from "./support/load.js";

function program(source: string) {
  const analyzed = analyze(source, "t.expr");
  if (!analyzed.program) throw new Error(analyzed.diagnostics.map((d) => d.text).join("\n"));
  return analyzed.program;
}

/** Random arguments in [-2, 2) for every input and param of `source`. */
function randomArgs(source: string, seed = 1): Record<string, number | number[]> {
  const next = rng(seed);
  const args: Record<string, number | number[]> = {};
  for (const a of program(source).args) args[a.name] = a.shape.length ? Array.from({ length: a.node.size }, () => next() * 4 - 2) : next() * 4 - 2;
  return args;
}

const list = (v: number | Float64Array | number[]) => (typeof v === "number" ? [v] : Array.from(v));

function expectValues(got: number | Float64Array, want: number[], what = "value") {
  const g = list(got);
  expect(g.length, what).toBe(want.length);
  g.forEach((v, k) => expect(Math.abs(v - want[k]), `${what}[${k}]: ${v} vs ${want[k]}`).toBeLessThan(1e-9 * (1 + Math.abs(want[k]))));
}

/** The interpreted output `name` of `source` at `args`. */
function run(source: string, args: Record<string, Value>, name = "o"): number | Float64Array {
  return interpretProgram(program(source), args).outputs[name];
}

/**
 * Gradients of the single scalar output against finite differences, through the
 * interpreter and through the compiled (unrolled) module, which must agree with it.
 */
async function expectGradients(source: string, seed = 1) {
  const args = randomArgs(source, seed);
  const p = program(source);
  const interpreted = interpretProgram(p, args);
  const { module } = await load(source, { emit: "unrolled" });
  const compiled = module.backward(args);
  const out = p.outputs[0].name;
  for (const a of p.args.filter((x) => x.role === "param")) {
    const fd = numericGradient((v) => interpretProgram(program(source), v).outputs[out] as number, args, a.name);
    const g = interpreted.grad[a.name];
    list(g).forEach((v, k) => expect(Math.abs(v - list(fd)[k]), `d${out}/d${a.name}[${k}]`).toBeLessThan(1e-5 * (1 + Math.abs(list(fd)[k]))));
    list(compiled.grad[a.name]).forEach((v, k) => expect(Math.abs(v - list(g)[k]), `compiled d${out}/d${a.name}[${k}]`).toBeLessThan(1e-9 * (1 + Math.abs(list(g)[k]))));
  }
  expectValues(compiled.outputs[out] as number, [interpreted.outputs[out] as number], "compiled value");
}

describe("broadcasting", () => {
  it("a bias on every row: [3, 4] + [4]", () => {
    const src = "input M[3, 4], b[4]\noutput o = M + b";
    const args = randomArgs(src);
    const [M, b] = [args.M as number[], args.b as number[]];
    expectValues(run(src, args), M.map((v, k) => v + b[k % 4]));
  });
  it("[4, 1] * [1, 5] -> [4, 5]", () => {
    const src = "input a[4, 1], c[1, 5]\noutput o = a * c";
    const args = randomArgs(src);
    const [a, c] = [args.a as number[], args.c as number[]];
    expectValues(run(src, args), Array.from({ length: 20 }, (_, k) => a[Math.floor(k / 5)] * c[k % 5]));
  });
  it("max and where broadcast too", () => {
    const src = "input M[2, 3], v[3]\noutput o = where(M > 0, max(M, v), v)";
    const args = randomArgs(src);
    const [M, v] = [args.M as number[], args.v as number[]];
    expectValues(run(src, args), M.map((m, k) => (m > 0 ? Math.max(m, v[k % 3]) : v[k % 3])));
  });
  it("the gradient of a broadcast argument is summed back to its shape", async () => {
    await expectGradients("input X[5, 3]\nparam W[3, 4], b[4], s[5, 1]\noutput o = sum(relu(X @ W + b) * s)");
  });
  it("[3] + [4] is an error naming both shapes", () => {
    const r = compile("param a[3], b[4]\noutput o = sum(a + b)");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.diagnostics[0].message).toContain("cannot broadcast shapes [3] and [4]");
  });
});

describe("tensors of any rank", () => {
  it("rank 6 params, summed along axes", async () => {
    await expectGradients("param T[2, 1, 2, 1, 3, 2]\noutput o = sum(sum(T, axis=[1, 3]) ^ 2)");
  });
  it("a stack of matrix products: [2, 3, 4] @ [4, 2]", async () => {
    const src = "input A[2, 3, 4], B[4, 2]\noutput o = A @ B";
    const args = randomArgs(src);
    const [A, B] = [args.A as number[], args.B as number[]];
    const want: number[] = [];
    for (let s = 0; s < 2; s++) for (let i = 0; i < 3; i++) for (let j = 0; j < 2; j++) {
      let t = 0;
      for (let q = 0; q < 4; q++) t += A[s * 12 + i * 4 + q] * B[q * 2 + j];
      want.push(t);
    }
    expectValues(run(src, args), want);
    await expectGradients("param A[2, 3, 4], B[2, 4, 2]\noutput o = sum(sin(A @ B))");
  });
});

describe("indexing and slicing", () => {
  const src = "input x[6], M[3, 4]\noutput o = [x[-1], x[1:][0], sum(x[::2]), sum(x[1::3]), sum(M[:, 2]), sum(M[1:3, :-1]), M[-1, -2]]";
  it("slices, steps and negative indices count as in Python", () => {
    const args = randomArgs(src);
    const [x, M] = [args.x as number[], args.M as number[]];
    const m = (i: number, j: number) => M[i * 4 + j];
    expectValues(run(src, args), [
      x[5], x[1], x[0] + x[2] + x[4], x[1] + x[4], m(0, 2) + m(1, 2) + m(2, 2),
      m(1, 0) + m(1, 1) + m(1, 2) + m(2, 0) + m(2, 1) + m(2, 2), m(2, 2),
    ]);
  });
  it("neighbouring differences p[1:] - p[:-1] and their gradient", async () => {
    await expectGradients("param p[6, 2]\noutput o = sum(sqrt(sum((p[1:] - p[:-1]) ^ 2, axis=1)))");
  });
  it("windows of a 1-D convolution: [x[i:i+3] for i in 0..n-2]", async () => {
    const conv = "const n = 8\ninput x[n]\nparam k[3]\noutput o = [sum(x[i:i+3] * k) for i in 0..n-2]";
    const args = randomArgs(conv);
    const [x, k] = [args.x as number[], args.k as number[]];
    expectValues(run(conv, args), Array.from({ length: 6 }, (_, i) => x[i] * k[0] + x[i + 1] * k[1] + x[i + 2] * k[2]));
    await expectGradients(conv.replace("output o = ", "y = ") + "\noutput o = sum(y * y)");
  });
  it("slice errors name the slice and the shape", () => {
    const r = compile("param x[10]\noutput o = sum(x[0:12])");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.diagnostics[0].message).toBe("slice 0:12 is out of range for x[10]");
  });
});

describe("axis reductions and named arguments", () => {
  const src = "input M[3, 4]\noutput o = [sum(M, axis=1), mean(M, axis=0)[0:3], max(M, axis=-1), logsumexp(M, axis=1)]";
  it("sum, mean, max and logsumexp along an axis", () => {
    const args = randomArgs(src);
    const M = args.M as number[];
    const row = (i: number) => M.slice(4 * i, 4 * i + 4);
    const col = (j: number) => [0, 1, 2].map((i) => M[i * 4 + j]);
    const lse = (v: number[]) => Math.log(v.reduce((s, x) => s + Math.exp(x), 0));
    const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
    const rows = [0, 1, 2].map(row);
    const out = run(src.replace("[sum(M, axis=1), mean(M, axis=0)[0:3], max(M, axis=-1), logsumexp(M, axis=1)]", "concat([sum(M, axis=1), mean(M, axis=0)[0:3], max(M, axis=-1), logsumexp(M, axis=1)])"), args);
    expectValues(out, [...rows.map(sum), ...[0, 1, 2].map((j) => sum(col(j)) / 3), ...rows.map((r) => Math.max(...r)), ...rows.map(lse)]);
  });
  it("keepdims keeps reduced axes as size 1: a layer norm", async () => {
    const ln = "param X[3, 5], g[5], b[5]\nmu = mean(X, axis=-1, keepdims=true)\nd = X - mu\nv = mean(d * d, axis=-1, keepdims=true)\ny = d / sqrt(v + 1e-5) * g + b\noutput o = sum(y * y * X)";
    await expectGradients(ln);
    const args = randomArgs("input X[3, 5]\noutput o = X - mean(X, axis=-1, keepdims=true)");
    const X = args.X as number[];
    const out = list(run("input X[3, 5]\noutput o = X - mean(X, axis=-1, keepdims=true)", args));
    for (let i = 0; i < 3; i++) expect(Math.abs(out.slice(5 * i, 5 * i + 5).reduce((a, b) => a + b, 0))).toBeLessThan(1e-12 * (1 + Math.abs(X[0])));
  });
  it("softmax and log_softmax along an axis, every row summing to 1", async () => {
    const args = randomArgs("input S[4, 3]\noutput o = softmax(S, axis=1)");
    const out = list(run("input S[4, 3]\noutput o = softmax(S, axis=1)", args));
    for (let i = 0; i < 4; i++) expect(Math.abs(out[3 * i] + out[3 * i + 1] + out[3 * i + 2] - 1)).toBeLessThan(1e-15);
    const cols = list(run("input S[4, 3]\noutput o = softmax(S, axis=0)", args));
    for (let j = 0; j < 3; j++) expect(Math.abs(cols[j] + cols[3 + j] + cols[6 + j] + cols[9 + j] - 1)).toBeLessThan(1e-15);
    await expectGradients("input Y[4, 3]\nparam S[4, 3]\noutput o = -sum(Y * log_softmax(S, axis=1)) + sum(softmax(S, axis=0) * Y)");
  });
  it("prod, min and norm along axes have finite-difference gradients", async () => {
    await expectGradients("param T[2, 3, 2]\noutput o = sum(prod(T, axis=1)) + sum(min(T, axis=[0, 2])) + sum(norm(T, axis=2))");
  });
  it("a generator with axis=0 reduces over the loop only", () => {
    const src2 = "input X[4, 3]\noutput o = sum(X[i] for i in 0..4, axis=0)";
    const args = randomArgs(src2);
    const X = args.X as number[];
    expectValues(run(src2, args), [0, 1, 2].map((j) => X[j] + X[3 + j] + X[6 + j] + X[9 + j]));
  });
});

describe("shape functions and einsum", () => {
  it("transpose, reshape, flatten, stack and concat", () => {
    const src = "input A[2, 3]\noutput o = concat([flatten(transpose(A)), reshape(A, [3, -1])[2], stack([A[0], A[1]], axis=1)[1]])";
    const args = randomArgs(src);
    const A = args.A as number[];
    expectValues(run(src, args), [A[0], A[3], A[1], A[4], A[2], A[5], A[4], A[5], A[1], A[4]]);
  });
  it("transpose with a permutation of a rank-3 tensor", () => {
    const src = "input T[2, 3, 4]\noutput o = transpose(T, [2, 0, 1])[3, 1, 2]";
    const args = randomArgs(src);
    expectValues(run(src, args), [(args.T as number[])[1 * 12 + 2 * 4 + 3]]);
  });
  it("outer, cross, diag and trace", () => {
    const src = "input u[3], v[3], M[3, 3]\noutput o = concat([flatten(outer(u, v)), cross(u, v), diag(M), flatten(diag(u)), [trace(M)]])";
    const args = randomArgs(src);
    const [u, v, M] = [args.u as number[], args.v as number[], args.M as number[]];
    const outer = u.flatMap((a) => v.map((b) => a * b));
    const cross = [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]];
    const diagU = [u[0], 0, 0, 0, u[1], 0, 0, 0, u[2]];
    expectValues(run(src, args), [...outer, ...cross, M[0], M[4], M[8], ...diagU, M[0] + M[4] + M[8]]);
  });
  it("einsum: matrix product, batch product, a full contraction and outer", () => {
    const src = `input A[2, 3], B[3, 2], S[2, 2, 3]\noutput o = concat([flatten(einsum("ij,jk->ik", A, B)), [einsum("ij,ij->", A, A)], flatten(einsum("bij,jk->bik", S, B)), flatten(einsum("i,j->ij", A[0], B[0]))])`;
    const args = randomArgs(src);
    const [A, B, S] = [args.A as number[], args.B as number[], args.S as number[]];
    const AB = [0, 1].flatMap((i) => [0, 1].map((k) => [0, 1, 2].reduce((s, j) => s + A[i * 3 + j] * B[j * 2 + k], 0)));
    const SB = [0, 1].flatMap((b) => [0, 1].flatMap((i) => [0, 1].map((k) => [0, 1, 2].reduce((s, j) => s + S[b * 6 + i * 3 + j] * B[j * 2 + k], 0))));
    const outer = [0, 1, 2].flatMap((i) => [0, 1].map((j) => A[i] * B[j]));
    expectValues(run(src, args), [...AB, A.reduce((s, a) => s + a * a, 0), ...SB, ...outer]);
  });
  it("einsum gradients, and a contraction over two letters", async () => {
    await expectGradients(`param A[2, 3, 4], B[4, 3]\noutput o = sum(einsum("bij,ji->b", A, B) ^ 2)`);
  });
  it("einsum diagnostics", () => {
    const message = (src: string) => {
      const r = compile(src);
      return r.ok ? "compiled" : r.diagnostics[0].message;
    };
    expect(message(`param A[2, 3], B[4, 2]\noutput o = sum(einsum("ij,jk->ik", A, B))`)).toBe("einsum: 'j' is 3 in the first operand and 4 in the second");
    expect(message(`param A[2, 2]\noutput o = einsum("ii->", A)`)).toBe("einsum: 'i' appears twice in 'ii'");
    expect(message(`param A[2, 2]\noutput o = sum(einsum("ij", A))`)).toBe(`einsum: '->' is required, as in "ij,jk->ik"`);
  });
  it("zeros, ones and eye", () => {
    expectValues(run("output o = concat([flatten(eye(2)), zeros([2]), ones([1])])", {}), [1, 0, 0, 1, 0, 0, 1]);
  });
});

describe("tensor constants", () => {
  it("const tensors of numbers and of earlier consts", () => {
    const src = "const R = [[0, -1], [1, 0]]\nconst I = eye(2)\nconst ones = [1, 1]\nconst S = 2 * R + I\ninput v[2]\noutput o = S @ v + ones";
    const args = randomArgs(src);
    const v = args.v as number[];
    expectValues(run(src, args), [v[0] - 2 * v[1] + 1, 2 * v[0] + v[1] + 1]);
  });
  // Sizes, range bounds and slice bounds are compile-time integer expressions, and an
  // element of a tensor const is one (these were "must be known at compile time").
  it("elements of a tensor const size shapes, bound ranges and slices", async () => {
    const src = "const e = [2, 3]\nparam x[e[1] + 2]\noutput o = sum(x[e[0]:sum(e):e[0] - 1] * [k for k in e[0] - 1..e[1] + 1]) + x[e[0] - 3]";
    const p = program(src);
    expect(p.args[0].shape).toEqual([5]);
    const args = randomArgs(src);
    const x = args.x as number[];
    expectValues(run(src, args), [x[2] * 1 + x[3] * 2 + x[4] * 3 + x[4]]);
    await expectGradients(src);
    const bad = compile("const e = [2.5, 3]\nparam x[e[0]]\noutput o = sum(x)");
    expect(bad.ok ? [] : bad.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual(["E0211 a dimension must be a positive integer, got 2.5"]);
  });
});

describe("comprehensions are batched, not unrolled", () => {
  const perRow = (n: number) =>
    [
      `const N = ${n}`,
      "input X[N, 2], Y[N, 3]",
      "param W1[2, 8], b1[8], W2[8, 3], b2[3]",
      "def row_loss(x, y) = -sum(y * log_softmax(relu(x @ W1 + b1) @ W2 + b2))",
      "output loss = sum(row_loss(X[n], Y[n]) for n in 0..N) / N",
    ].join("\n");
  const whole = (n: number) =>
    [`const N = ${n}`, "input X[N, 2], Y[N, 3]", "param W1[2, 8], b1[8], W2[8, 3], b2[3]", "output loss = -sum(Y * log_softmax(relu(X @ W1 + b1) @ W2 + b2, axis=1)) / N"].join("\n");

  it("the per-row net equals the whole-matrix net", () => {
    const args = randomArgs(whole(20), 3);
    const a = interpretProgram(program(perRow(20)), args);
    const b = interpretProgram(program(whole(20)), args);
    expectValues(a.outputs.loss, [b.outputs.loss as number]);
    for (const p of ["W1", "b1", "W2", "b2"]) expectValues(a.grad[p], list(b.grad[p]), p);
  });
  it("its graph does not grow with the number of rows", () => {
    const size = (n: number) => program(perRow(n)).graph.nodes.length;
    expect(size(3000)).toBe(size(10));
    expect(size(100_000)).toBe(size(10));
  });
  it("a body that ignores the variable is one broadcast, for N = 2000", () => {
    const src = "const N = 2000\nparam b[4]\ninput M[N, 4]\noutput l = sum(M * [b for i in 0..N])";
    expect(program(src).graph.nodes.length).toBeLessThan(30);
  });
  it("a non-affine index x[(i * i) % n] reads through a table", async () => {
    const src = "const n = 7\nparam x[n]\noutput o = sum([x[(i * i) % n] * i for i in 0..n])";
    const args = randomArgs(src);
    const x = args.x as number[];
    expectValues(run(src, args), [[0, 1, 2, 3, 4, 5, 6].reduce((s, i) => s + x[(i * i) % 7] * i, 0)]);
    await expectGradients(src);
  });
  it("nested comprehensions build a matrix; an inner range may depend on the outer variable", () => {
    const src = "input x[4]\noutput o = [[x[i] * x[j] for j in 0..4] for i in 0..3]";
    const args = randomArgs(src);
    const x = args.x as number[];
    expectValues(run(src, args), [0, 1, 2].flatMap((i) => [0, 1, 2, 3].map((j) => x[i] * x[j])));
    const tri = "input x[4]\noutput o = sum(sum(x[i] * x[j] for j in i+1..4) for i in 0..3)";
    let want = 0;
    for (let i = 0; i < 3; i++) for (let j = i + 1; j < 4; j++) want += x[i] * x[j];
    expectValues(run(tri, args), [want]);
  });
  it("springs written with rows and a def", async () => {
    const src = [
      "const N = 12",
      "param p[N, 2]",
      "def spring(a, b) = (sqrt(sum((b - a) ^ 2)) - 1) ^ 2",
      "output o = sum(spring(p[i], p[i + 1]) for i in 0..N-1)",
    ].join("\n");
    await expectGradients(src);
    expect(program(src.replace("N = 12", "N = 10000")).graph.nodes.length).toBe(program(src).graph.nodes.length);
  });
  it("a gate inside a comprehension keeps its analytic gradient", async () => {
    const src = ["def sig(z) = 1 / (1 + exp(-z))", "grad z = out * (1 - out)", "param w[3], x[5, 3]", "output o = sum(sig(dot(w, x[i])) for i in 0..5)"].join("\n");
    await expectGradients(src);
  });
  it("an index out of range at some step is an error", () => {
    const r = compile("param w[3]\noutput o = sum([w[i + 1] for i in 0..3])");
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.diagnostics[0].message).toContain("index 3 out of range for w[3]");
  });
});

describe("strings and named arguments out of place", () => {
  const message = (src: string) => {
    const r = compile(src);
    return r.ok ? "compiled" : `${r.diagnostics[0].line}:${r.diagnostics[0].column} ${r.diagnostics[0].code} ${r.diagnostics[0].message}`;
  };
  it.each([
    ["param A[2, 2], B[2, 2]\noutput C = dot(\"ij,jk->ik\", A)", "2:16 E0223 'dot' takes a tensor here, not a string"],
    ["param x\noutput y = \"x\" + x", "2:12 E0265 a string can only be an argument of a built-in that takes one, as in einsum(\"ij,jk->ik\", A, B)"],
    ["param x[2]\noutput y = sum(x, keepdims=1)", "2:28 E0261 keepdims must be true or false"],
    ["param x[2]\noutput y = true * x", "2:12 E0261 'true' is only a value of a named argument, as in keepdims=true"],
    ["def f(a) = a\nparam x\noutput y = f(x, axis=0)", "3:17 E0264 'f' takes no named arguments"],
  ])("%j", (src, want) => expect(message(src)).toBe(want));
});
