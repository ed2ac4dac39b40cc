// Long straight-line bodies are split into part functions sharing a register file
// (src/emit/split.ts): a chain of thousands of scalar statements must still compute the
// right value and gradient, in functions V8 can optimize and enter; so must a long loop body
// over a run-time size, whose parts read the dim.
import { describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { assertClose, load, numericGradient } from "./support/load.js";

/** x_i = 0.5 x_(i-1) + 0.1 sin(x_(i-1)) + c_(i mod 3): a contraction, so values stay tame. */
function chain(n: number): string {
  const lines = ["param x0", "param c[3]"];
  for (let i = 1; i <= n; i++) lines.push(`x${i} = 0.5 * x${i - 1} + 0.1 * sin(x${i - 1}) + c[${i % 3}]`);
  lines.push(`output f = x${n}`, "output g = x1 * c[0]");
  return lines.join("\n");
}

/** The same recurrence in JavaScript, with forward-mode derivatives. */
function reference(n: number, x0: number, c: number[]) {
  let x = x0;
  let dx = 1;
  const dc = [0, 0, 0];
  for (let i = 1; i <= n; i++) {
    const local = 0.5 + 0.1 * Math.cos(x);
    for (let k = 0; k < 3; k++) dc[k] *= local;
    dc[i % 3] += 1;
    dx *= local;
    x = 0.5 * x + 0.1 * Math.sin(x) + c[i % 3];
  }
  return { f: x, dx, dc };
}

describe("long bodies become part functions", () => {
  for (const emit of ["unrolled", "loops"] as const) {
    it(`a 3000-statement chain (${emit})`, { timeout: 60_000 }, async () => {
      const n = 3000;
      const { module, code } = await load(chain(n), { emit });
      expect(code).toMatch(/function backwardPart\d+\(/);
      expect(code).toMatch(/const backwardRegisters = new Float64Array\(/);
      // No function of the module is longer than a part plus its prologue.
      const longest = Math.max(...code.split(/\nfunction |\nexport function /).map((f) => f.split("\n").length));
      expect(longest).toBeLessThan(1200);
      const c = [0.3, -0.2, 0.7];
      const want = reference(n, 0.4, c);
      const { outputs, grad } = module.backward({ x0: 0.4, c }, { f: 1 });
      expect(outputs.f as number).toBeCloseTo(want.f, 12);
      expect(module.forward({ x0: 0.4, c }).f as number).toBeCloseTo(want.f, 12);
      expect(grad.x0 as number).toBeCloseTo(want.dx, 12);
      Array.from(grad.c as Float64Array).forEach((v, k) => expect(v).toBeCloseTo(want.dc[k], 10));
    });
  }
});

describe("long loop bodies over a dim", () => {
  // Each part that loops over N needs N: loop bounds read the dim as a size, not as a local,
  // so a part once lacked it (a ReferenceError), and the module printer could not type it
  // (the compiler threw).
  const lines = ["dim N", "param x[N], w[3]"];
  for (let i = 0; i < 300; i++) lines.push(`output o${i} = sum(sin(x * ${(i + 1) / 100}) * w[${i % 3}]) / N`);
  const source = lines.join("\n");
  const seed = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`o${i}`, 1]));

  it("compiles to parts that take N, as TypeScript too", { timeout: 60_000 }, () => {
    const result = compile(source, { filename: "long.expr", format: "ts" });
    if (!result.ok) throw new Error(result.diagnostics.map((d) => d.text).join("\n"));
    expect(result.code).toMatch(/function backwardPart\d+\(/);
    for (const header of result.code.match(/function \w+Part\d+\([^)]*\)/g)!) expect(header).toContain("$N: number");
  });

  it("gives the values and gradients of the program", { timeout: 60_000 }, async () => {
    const { module, code } = await load(source, { emit: "loops" });
    expect(code).toMatch(/function backwardPart\d+\(/);
    const x = [0.1, 0.5, -0.3, 2, 1.1];
    const w = [0.3, -0.2, 0.7];
    const outputs = module.forward({ x, w });
    for (let i = 0; i < 300; i++) assertClose(outputs[`o${i}`], x.reduce((s, v) => s + Math.sin(v * ((i + 1) / 100)) * w[i % 3], 0) / x.length, 1e-12, `o${i}`);
    const total = (args: Record<string, number | number[]>) => Object.values(module.forward(args)).reduce((s: number, v) => s + (v as number), 0);
    const { grad } = module.backward({ x, w }, seed);
    assertClose(grad.w, numericGradient(total, { x, w }, "w") as number[], 1e-7, "grad w");
    assertClose(grad.x, numericGradient(total, { x, w }, "x") as number[], 1e-7, "grad x");
  });
});
