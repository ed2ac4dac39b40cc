// Differential test of the code shapes: every program compiled as straight-line code, as
// loops and as a tape must give the same outputs and gradients. The loop emitter unrolls short
// axes, keeps small tensors in locals, fuses and merges loops; this is what keeps those
// rewrites honest.
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
