// Compiler bugs found while writing the version 2 examples, benchmarks and fuzzer, each a
// plain test skipped until its fix lands (the skip names the bug). Unskip to check a fix.

import { describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";

const bytes = (source: string) => {
  const r = compile(source, { filename: "found.expr", format: "js" });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.text).join("\n"));
  return r.code.length;
};

describe("module size grows with the steps of a loop whose inner range or shape depends on its variable", () => {
  // Fixed: such a generator is batched over the hull of its steps, the others masked (test/triangular.test.ts).
  it("a triangular double sum: N = 1,000 is within 10% of N = 100", () => {
    const tri = (n: number) => `const N = ${n}\nparam x[N]\noutput o = sum(sum(x[i] * x[j] for j in i+1..N) for i in 0..N-1)`;
    expect(bytes(tri(1000)) / bytes(tri(100))).toBeLessThan(1.1);
  });

  // Fixed: the same for a slice whose length depends on the variable (prefix sums; 616 KB and
  // 4.3 s at N = 500 before): reduced row by row over a masked loop (test/ragged-slices.test.ts).
  it("prefix sums [sum(x[0:i+1]) for i in 0..N]: N = 500 is within 10% of N = 50", () => {
    const prefix = (n: number) => `const N = ${n}\nparam x[N]\noutput o = sum([sum(x[0:i+1]) for i in 0..N])`;
    expect(bytes(prefix(500)) / bytes(prefix(50))).toBeLessThan(1.1);
  });
});

describe("the spring chain with rows runs at 1.6x its scalar-coordinate form (bench:rows)", () => {
  // Fixed by loop fusion: backward of the chain written with rows made three loops over the
  // springs (p[i + 1] - p[i] into a buffer; the spring's force into a second buffer; the force
  // scattered into both ends' gradients), where the scalar form is one loop with locals.
  it("backwardInto of the chain with rows has one loop over the springs, as the scalar form", () => {
    const rows = "const N = 500\ninput k\nparam p[N, 2]\ndef spring(a, b) = 0.5 * k * (sqrt(sum((b - a) * (b - a))) - 1) ^ 2\noutput e = sum(spring(p[i], p[i + 1]) for i in 0..N-1)\n";
    const scalar = "const N = 500\ninput k\nparam x[N], y[N]\noutput e = sum(0.5 * k * (sqrt((x[i+1] - x[i])^2 + (y[i+1] - y[i])^2) - 1)^2 for i in 0..N-1)\n";
    const loops = (source: string) => {
      const r = compile(source, { filename: "found.expr", format: "js" });
      if (!r.ok) throw new Error(r.diagnostics.map((d) => d.text).join("\n"));
      const body = r.code.slice(r.code.indexOf("export function backwardInto"));
      return (body.slice(0, body.indexOf("\n}\n")).match(/for \(/g) ?? []).length;
    };
    expect(loops(rows)).toBe(loops(scalar));
  });
});
