// Batched programs compile to modules whose size does not depend on the number of rows
// (issue: the per-row net was 56,531 lines at N = 300 and crashed at N = 3,000; `[b for i in
// 0..N]` overflowed the stack at N = 2,000). Each program compiles at N = 100,000, in well
// under the old minutes, to within 10% of its size at N = 10 and N = 300, and still computes.

import { describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { load } from "./support/load.js";

const netHead = (N: number) => `const N = ${N}\ninput X[N, 2], Y[N, 3], reg\nparam W1[2, 100], b1[100], W2[100, 3], b2[3]\n`;
const l2 = "0.5 * reg * sum(W1 * W1) + 0.5 * reg * sum(W2 * W2)";
// The sizes each program is compiled at; the spring chain starts at the 64 particles
// (at 10 the compiler rightly unrolls it: a short loop, straight-line code).
const programs: [string, (n: number) => string, number[]?][] = [
  ["net, per-row comprehension", (N) => `${netHead(N)}def row_loss(x, y) = -sum(y * log_softmax(relu(x @ W1 + b1) @ W2 + b2))\noutput loss = sum(row_loss(X[n], Y[n]) for n in 0..N) / N + ${l2}\n`],
  ["net, whole-matrix form", (N) => `${netHead(N)}output loss = -sum(Y * log_softmax(relu(X @ W1 + b1) @ W2 + b2, axis=1)) / N + ${l2}\n`],
  ["[b for i in 0..N]", (N) => `const N = ${N}\nparam b[4]\ninput M[N, 4]\noutput l = sum(M * [b for i in 0..N])\n`],
  ["spring chain with rows", (N) => `const N = ${N}\ninput k\nparam p[N, 2]\ndef spring(a, b) = 0.5 * k * (sqrt(sum((b - a) * (b - a))) - 1) ^ 2\noutput e = sum(spring(p[i], p[i + 1]) for i in 0..N-1)\n`, [64, 300, 3000, 100_000]],
];

function size(source: string): { bytes: number; ms: number } {
  const start = performance.now();
  const result = compile(source, { filename: "scale.expr", format: "js" });
  const ms = performance.now() - start;
  if (!result.ok) throw new Error(result.diagnostics.map((d) => d.text).join("\n"));
  return { bytes: result.code.length, ms };
}

describe("module size does not grow with N", () => {
  for (const [label, program, ns = [10, 300, 3000, 100_000]] of programs) {
    it(`${label}: N = ${ns.map((n) => n.toLocaleString("en-US")).join(", ")} within 10%`, () => {
      const sizes = ns.map((n) => size(program(n)));
      const bytes = sizes.map((s) => s.bytes);
      expect(Math.max(...bytes) / Math.min(...bytes), `sizes ${bytes.join(", ")}`).toBeLessThan(1.1);
      // a second, not the minutes of the unrolled compile; generous for a shared machine
      expect(sizes[3].ms, `${sizes[3].ms.toFixed(0)} ms at N = 100,000`).toBeLessThan(5000);
    }, 60_000);
  }

  it("the broadcast body at N = 100,000 runs: sum(M * b) over every row", async () => {
    const N = 100_000;
    const { module } = await load(programs[2][1](N));
    const M = Float64Array.from({ length: 4 * N }, (_, k) => ((k * 7) % 11) - 5);
    const b = Float64Array.of(0.5, -1, 2, 0.25);
    const { outputs, grad } = module.backward({ M, b });
    const colSums = [0, 0, 0, 0];
    for (let k = 0; k < M.length; k++) colSums[k % 4] += M[k];
    expect(outputs.l).toBeCloseTo(colSums.reduce((s, c, j) => s + c * b[j], 0), 6);
    expect(Array.from(grad.b as Float64Array)).toEqual(colSums);
  }, 60_000);
});
