// Differential test of the code shapes: every program compiled as straight-line code, as
// loops and as a tape must give the same outputs and gradients. The loop emitter unrolls short
// axes, keeps small tensors in locals, fuses and merges loops; this is what keeps those
// rewrites honest.
import { compile } from "../src/compile.js";
import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { load } from "./support/load.js";

const programs: [string, string][] = [
  // The examples batched over the 300 spiral points (const N = 300) are left out: their
  // straight-line form is some 20 s of compiling each; test/spiral-batched.test.ts checks them
  // against the per-sample modules, and the fuzzer compares loops with straight-line code.
  ...readdirSync("examples/cs231n")
    .filter((f) => f.endsWith(".expr"))
    .map((f): [string, string] => [f, readFileSync(join("examples/cs231n", f), "utf8")])
    // Big batches would unroll for minutes; a program with dims has only the loop form (dims.test.ts).
    .filter(([, source]) => !/^const N = \d{3,}/m.test(source) && !/^dim /m.test(source)),
  ["matmul shapes", "param A[6, 5], B[5, 7], v[5], u[6]\noutput f = sum(A @ B) + sum(A @ v) + sum(u @ A) + v @ v"],
  ["small and long axes", "param A[3, 40], x[40], c[3]\ny = tanh(A @ x + c)\noutput f = sum(y * y) + prod(c) + max(A @ x)"],
  ["transposes and rows", "param M[8, 6], v[8]\nT = transpose(M)\noutput f = sum(T @ v) + sum(M[2] * M[5]) + norm(M)"],
  ["shifted reads", "param x[40]\noutput f = sum((x[i+1] - x[i])^2 + 0.5*sin(x[i]) for i in 0..39) + logsumexp(x)"],
  ["pack and scatter", "param v[6], w\nm = [v * w, exp(v), v]\noutput f = sum(m @ v) + sum([v[0], v[3], w])"],
  ["prod with zeros possible", "param v[7]\noutput f = prod(v) + prod(v * v)"],
  ["softmax tensor output", "param z[12]\noutput p = softmax(z)\noutput q = log_softmax(z * 2)"],
  ["where and extremes", "param v[10]\noutput f = sum(where(v > 0, sqrt(abs(v)), v * v)) + min(v) + max(v, 0.1 * v)[3]"],
  [
    "cloth with rows",
    "const S = 6\ninput k, rest\nparam p[S, S, 3]\ndef spring(a, b) = 0.5 * k * (sqrt(sum((b - a) * (b - a))) - rest) ^ 2\n" +
      "across = sum(sum(spring(p[r, c], p[r, c + 1]) for c in 0..S-1) for r in 0..S)\ndown = sum(sum(spring(p[r, c], p[r + 1, c]) for c in 0..S) for r in 0..S-1)\n" +
      "output energy = across + down + sum(p[:, :, 2])",
  ],
  // The gradient of v is a value computed after the loop that adds into it (the seed over 5) plus those additions.
  ["a gradient's own term known late", "param X[5, 1], v[5]\noutput loss = mean(v[i] for i in 0..5)\noutput T = X * reshape(v, [5, 1])"],
  ["weight gradient over a batch", "param X[40, 6], W[6, 5]\noutput f = sum(tanh(X @ W))"],
  ["gate on tensors", "def sq(a, b) = a * a * b\ngrad a = 2 * a * b\ngrad b = a * a\nparam v[9], s\noutput f = sum(sq(v, s))"],
];

function random(seed: number) {
  return () => {
    seed = (seed * 16807) % 2147483647;
    return (seed / 2147483647) * 2 - 1;
  };
}

describe("straight-line, loop and tape code agree", () => {
  for (const [name, source] of programs) {
    it(name, async () => {
      const modes = ["unrolled", "loops", "tape"] as const;
      const modules = await Promise.all(
        modes.map(async (emit) => {
          const loaded = await load(source, { emit });
          return { m: loaded.module, iface: loaded.interface };
        }),
      );
      const { iface } = modules[0];
      const rnd = random(7);
      const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
      const args: Record<string, number | number[]> = {};
      for (const a of iface.args) args[a.name] = a.shape.length ? Array.from({ length: size(a.shape) }, rnd) : rnd();
      const lossCase = iface.outputs.length === 1 && iface.outputs[0].shape.length === 0;
      const seed = lossCase ? undefined : Object.fromEntries(iface.outputs.map((o) => [o.name, o.shape.length ? Array.from({ length: size(o.shape) }, rnd) : rnd()]));
      const [a, b, c] = modules.map(({ m }) => m.backward(args, seed));
      for (const part of ["outputs", "grad"] as const) {
        for (const key of Object.keys(a[part])) {
          const values = (r: typeof a) => Array.from(typeof r[part][key] === "number" ? [r[part][key] as number] : (r[part][key] as Float64Array));
          const [x, y, z] = [values(a), values(b), values(c)];
          expect(y.length).toBe(x.length);
          x.forEach((v, i) => expect(Math.abs(v - y[i])).toBeLessThanOrEqual(1e-12 * Math.max(1, Math.abs(v))));
          // The tape runs the straight-line code's operations in the same order: equal, bit for bit.
          expect(z).toEqual(x);
        }
      }
      // The allocation-free form of the loop code equals its allocating form.
      const loops = modules[1].m;
      const grad = loops.createGrad();
      loops.backwardInto(args, seed, grad);
      loops.backwardInto(args, seed, grad);
      for (const key of Object.keys(b.grad)) expect(grad[key]).toEqual(b.grad[key]);
    });
  }
});

describe("loops over rows of rows merge into one nest", () => {
  it("the cloth written with rows: its backward is one nest (and the peeled last row), not one nest per operation", async () => {
    const source = programs.find(([name]) => name === "cloth with rows")![1].replace("const S = 6", "const S = 16");
    const result = compile(source, { format: "js", emit: "loops" });
    if (!result.ok) throw new Error(result.diagnostics[0].text);
    const backward = result.code.slice(result.code.indexOf("export function backwardInto"));
    const body = backward.slice(0, backward.indexOf("\n}\n"));
    // One nest over rows and columns, and the last row's springs across: one loop, not unrolled
    // (15 steps beside the nest's 225 are under 1/8 of them, passes/unroll.ts).
    expect(body.match(/for \(let /g)).toHaveLength(3);
    // Each spring's difference, length and stretch, and each row's sums, live in locals: no
    // module buffer is left (14 before nests merged).
    expect(body).not.toMatch(/= buf\d+;/);
  });
});

describe("a gradient with a term of its own and scattered parts", () => {
  it("the cloth in scalar coordinates: z's gradient starts at mg and takes the springs' parts in the one nest", async () => {
    const S = 16;
    const len = (a: string, b: string) => `sqrt((x[${b}] - x[${a}])^2 + (y[${b}] - y[${a}])^2 + (z[${b}] - z[${a}])^2)`;
    const source =
      `const S = ${S}\ninput k, rest, mg\nparam x[S, S], y[S, S], z[S, S]\n` +
      `across = sum(sum(0.5 * k * (${len("r, c", "r, c + 1")} - rest)^2 for c in 0..S-1) for r in 0..S)\n` +
      `down = sum(sum(0.5 * k * (${len("r, c", "r + 1, c")} - rest)^2 for c in 0..S) for r in 0..S-1)\n` +
      `output energy = across + down + mg * sum(z)\n`;
    const result = compile(source, { format: "js", emit: "loops" });
    if (!result.ok) throw new Error(result.diagnostics[0].text);
    const backward = result.code.slice(result.code.indexOf("export function backwardInto"));
    const body = backward.slice(0, backward.indexOf("\n}\n"));
    // One nest at the top level (two before), no module buffer, z's gradient filled with mg.
    expect(body.match(/^ {2}for \(let /gm)).toHaveLength(1);
    expect(body).not.toMatch(/= buf\d+;/);
    expect(body).toMatch(/^ {2}h\d+\.fill\((a2|t\d+)\);$/m);
    // Same values as the straight-line form.
    const [loops, unrolled] = await Promise.all([load(source, { emit: "loops" }), load(source, { emit: "unrolled" })]);
    const rnd = random(11);
    const args = { k: 40, rest: 1, mg: 0.3, x: Array.from({ length: S * S }, rnd), y: Array.from({ length: S * S }, rnd), z: Array.from({ length: S * S }, rnd) };
    const [a, b] = [loops.module.backward(args), unrolled.module.backward(args)];
    for (const key of ["x", "y", "z"]) (a.grad[key] as Float64Array).forEach((v: number, i: number) => expect(Math.abs(v - (b.grad[key] as Float64Array)[i])).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(v))));
  });
});

describe("a contraction over the batch runs in the batch's loop", () => {
  it("transpose(X) @ dH (the weight gradient) walks rows outermost and joins the forward loop over rows", () => {
    const source = programs.find(([name]) => name === "weight gradient over a batch")![1];
    const result = compile(source, { format: "js", emit: "loops" });
    if (!result.ok) throw new Error(result.diagnostics[0].text);
    const backward = result.code.slice(result.code.indexOf("export function backwardInto"));
    const body = backward.slice(0, backward.indexOf("\n}\n"));
    // One loop over the 40 rows at the top level; W's gradient is accumulated in it, row by row.
    expect(body.match(/^ {2}for \(let /gm)).toHaveLength(1);
    expect(body).toMatch(/^ {2}h\d+\.fill\(0\);$/m);
  });
});
