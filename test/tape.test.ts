// The tape (src/emit/tape.ts): long scalar programs become one instruction per operation
// run by a small interpreter. Its values must be the straight-line code's, bit for bit (it
// runs the same operations, printed by the same printers, in the same order); the fuzzer
// and test/loops.test.ts compare the forms on many programs, these tests the choice and the
// cases the fuzzer found.
import { describe, expect, it } from "vitest";
import { compile, TAPE_LIMIT } from "../src/compile.js";
import { load } from "./support/load.js";

function chain(n: number): string {
  const lines = ["param x0", "param c[3]"];
  for (let i = 1; i <= n; i++) lines.push(`x${i} = 0.5 * x${i - 1} + 0.1 * sin(x${i - 1}) + c[${i % 3}]`);
  return [...lines, `output f = x${n}`].join("\n");
}

const flat = (v: unknown) => (typeof v === "number" ? [v] : Array.from(v as Float64Array));

describe("the tape", () => {
  it(`is chosen for scalar programs past ${TAPE_LIMIT} backward operations, and not below`, () => {
    const long = compile(chain(2500), { format: "js" });
    const short = compile(chain(500), { format: "js" });
    if (!long.ok || !short.ok) throw new Error("compile failed");
    expect(long.stats.backwardOperations).toBeGreaterThan(TAPE_LIMIT);
    expect(long.stats.emitted).toBe("tape");
    expect(long.code).toMatch(/^function runTape\(tapeCode, tapeRegisters, first\) \{$/m);
    expect(short.stats.emitted).toBe("unrolled");
  });

  it("gives the straight-line code's outputs and gradients, bit for bit", { timeout: 60_000 }, async () => {
    const source = chain(2500);
    const tape = (await load(source)).module;
    const straight = (await load(source, { emit: "unrolled" })).module;
    const args = { x0: 0.4, c: [0.3, -0.2, 0.7] };
    const [a, b] = [tape.backward(args), straight.backward(args)];
    expect(flat(a.outputs.f)).toEqual(flat(b.outputs.f));
    for (const name of ["x0", "c"]) expect(flat(a.grad[name])).toEqual(flat(b.grad[name]));
    // backward with a seed scales; forward agrees with backward's outputs
    const seeded = tape.backward(args, { f: 3 });
    expect(flat(seeded.grad.c)).toEqual(flat(straight.backward(args, { f: 3 }).grad.c));
    expect(tape.forward(args).f).toBe(a.outputs.f);
  });

  it("reads a missing seed of a small tensor output as zeros (the fuzzer's find: its stand-in is longer)", async () => {
    const source = "param A[1, 1], D[17, 1]\noutput f = D\noutput g = [exp(tanh([A[(i + 1) % 1, i] for i in 0..1]))]";
    const tape = (await load(source, { emit: "tape" })).module;
    const straight = (await load(source, { emit: "unrolled" })).module;
    const args = { A: [0.5], D: Array.from({ length: 17 }, (_, i) => i / 10) };
    const seed = { f: Array.from({ length: 17 }, (_, i) => 1 - i / 17) };
    const [a, b] = [tape.backward(args, seed), straight.backward(args, seed)];
    for (const name of ["A", "D"]) expect(flat(a.grad[name])).toEqual(flat(b.grad[name]));
  });

  it("keeps the interpreter to a bounded number of instruction kinds, whatever the program", async () => {
    // Statements u(a * k) op v(b * k) of 256 shapes (one instruction each): past 200 kinds,
    // new shapes are split into one-operation instructions.
    const fns = ["sin", "cos", "tanh", "exp", "sigmoid", "softplus", "atan", "abs"];
    const ops = ["+", "-", "*", "/"];
    const lines = ["param p[2]"];
    const terms: string[] = [];
    for (let k = 0; k < 300; k++) {
      const [u, v, op] = [fns[k % 8], fns[(k >> 3) % 8], ops[(k >> 6) % 4]];
      lines.push(`y${k} = ${u}(p[0] * ${k + 1}) ${op} ${v}(p[1] * ${k + 2})`);
      terms.push(`y${k}`);
    }
    lines.push(`output f = ${terms.join(" + ")}`);
    const source = lines.join("\n");
    const loaded = await load(source, { emit: "tape" });
    const kinds = (loaded.code.match(/^\s+case \d+:/gm) ?? []).length;
    expect(kinds).toBeGreaterThan(150);
    expect(kinds).toBeLessThanOrEqual(200 + 40);
    const straight = (await load(source, { emit: "unrolled" })).module;
    const args = { p: [0.03, -0.02] };
    const [a, b] = [loaded.module.backward(args), straight.backward(args)];
    expect(a.outputs.f).toBe(b.outputs.f);
    expect(flat(a.grad.p)).toEqual(flat(b.grad.p));
  });

  it("holds arguments given as plain arrays and as Float64Arrays alike, call after call", async () => {
    const tape = (await load("param w[3], s\ninput x[3]\noutput f = s * sum(w * x) + relu(s)", { emit: "tape" })).module;
    const a = tape.backward({ w: [1, 2, 3], s: 2, x: [4, 5, 6] });
    const b = tape.backward({ w: Float64Array.of(1, 2, 3), s: 2, x: Float64Array.of(4, 5, 6) });
    expect(a.outputs.f).toBe(2 * 32 + 2);
    expect(flat(a.grad.w)).toEqual([8, 10, 12]);
    expect(a.grad.s).toBe(32 + 1);
    expect(flat(b.grad.w)).toEqual(flat(a.grad.w));
  });
});
