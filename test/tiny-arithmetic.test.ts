// The arithmetic of the tiny functions (bench/tiny/*.expr), which are timed against
// hand-written code that spends no operation it can avoid: the simplifications that bring
// gradc's backward close to it (power-of-two constants taken into a shared reciprocal, one
// division for both operands of a quotient, and in the flat kernels a quotient multiplied by
// its divisor's reciprocal), each with values against the reference interpreter and
// gradients against central differences.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { differentiate } from "../src/diff/reverse.js";
import { Graph, type Node } from "../src/ir/graph.js";
import { evaluateGraph, inputKey } from "../src/ir/interpret.js";
import { factorLateScales } from "../src/ir/factor.js";
import { compile } from "../src/compile.js";
import { assertClose, awayFromZero, compileJs, flat, load, numericGradient, rng, uniform } from "./support/load.js";

/** The operations reachable from `roots`, by name, counted. */
function opsOf(roots: Node[]): Map<string, number> {
  const seen = new Set<Node>();
  const counts = new Map<string, number>();
  const stack = [...roots];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    counts.set(n.op, (counts.get(n.op) ?? 0) + 1);
    stack.push(...n.args);
  }
  return counts;
}

describe("power-of-two constants meet a reciprocal", () => {
  it("2 * (x * (0.5 / y)) is x * (1 / y), exactly, and 0.5 * (0.5 / y) is 0.25 / y", () => {
    const g = new Graph();
    const [x, y] = [g.input("x", "param", []), g.input("y", "param", [])];
    const half = g.elementwise("div", [g.constant(0.5), y]);
    const product = g.elementwise("mul", [g.constant(2), g.elementwise("mul", [x, half])]);
    expect(product.op).toBe("mul");
    const reciprocal = product.args.find((a) => a.op === "div")!;
    expect(reciprocal.args[0].value).toBe(1);
    const quarter = g.elementwise("mul", [g.constant(0.5), half]);
    expect(quarter.op === "div" && quarter.args[0].value).toBe(0.25);
    // Not for a factor that is no power of two: 3 * (0.5 / y) would round differently.
    expect(g.elementwise("mul", [g.constant(3), half]).op).toBe("mul");
    const random = rng(7);
    for (let k = 0; k < 200; k++) {
      const at = new Map([[inputKey(x), uniform(random, -1e3, 1e3)], [inputKey(y), uniform(random, -1e3, 1e3)]]);
      const [[value]] = evaluateGraph(g, at, [product]);
      const xv = at.get(inputKey(x))!;
      const yv = at.get(inputKey(y))!;
      expect(value).toBe(2 * (xv * (0.5 / yv)));
    }
  });
});

describe("the gradient of a quotient takes one division", () => {
  it("d(a/b) is 1/b for a and -(a/b)(1/b) for b, and matches central differences", () => {
    const g = new Graph();
    const [a, b] = [g.input("a", "param", []), g.input("b", "param", [])];
    const q = g.elementwise("div", [a, b]);
    const [ga, gb] = differentiate(g, [{ output: q, seed: g.constant(1), guarded: false }], [a, b]);
    expect(opsOf([q, ga, gb]).get("div")).toBe(2); // a/b and 1/b
    const at = (av: number, bv: number) => new Map([[inputKey(a), av], [inputKey(b), bv]]);
    const [[da], [db]] = evaluateGraph(g, at(1.3, -0.7), [ga, gb]);
    assertClose(da, 1 / -0.7, 1e-12, "d/da");
    assertClose(db, (-1.3 / (0.7 * 0.7)), 1e-12, "d/db");
  });
});

describe("a quotient beside its divisor's reciprocal, in the flat kernels", () => {
  it("a / b becomes a (1 / b) where the gradient needs 1 / b, within two roundings of a / b", () => {
    const g = new Graph();
    const [a, c, b] = [g.input("a", "param", []), g.input("c", "param", []), g.input("b", "param", [])];
    // (a / b)(c / b): two quotients and, in the gradient, 1 / b; no sum that could cancel
    // and magnify a rounding, so every root stays within a few roundings, relatively.
    const f = g.elementwise("mul", [g.elementwise("div", [a, b]), g.elementwise("div", [c, b])]);
    const grads = differentiate(g, [{ output: f, seed: g.constant(1), guarded: false }], [a, c, b]);
    expect(opsOf([f, ...grads]).get("div")).toBe(3);
    const roots = factorLateScales(g, [f, ...grads]);
    expect(opsOf(roots).get("div")).toBe(1);
    const random = rng(11);
    for (let k = 0; k < 500; k++) {
      const values = [uniform(random, -1e3, 1e3), uniform(random, -1e3, 1e3), awayFromZero(random, 1e-3, 1e3)];
      const at = new Map([a, c, b].map((x, i) => [inputKey(x), values[i]]));
      const before = evaluateGraph(g, at, [f, ...grads]).map(([v]) => v);
      const after = evaluateGraph(g, at, roots).map(([v]) => v);
      const [av, cv, bv] = values;
      // Each quotient rounds twice: within 2 ulp of the correctly rounded one.
      expect(Math.abs(av * (1 / bv) - av / bv)).toBeLessThanOrEqual(4 * Number.EPSILON * Math.abs(av / bv));
      after.forEach((v, i) => expect(Math.abs(v - before[i]), `root ${i} at ${values.join(", ")}`).toBeLessThanOrEqual(1e-14 * Math.abs(before[i])));
    }
  });

  it("keeps the division where nothing needs the reciprocal, and for a constant numerator", () => {
    const g = new Graph();
    const [a, b] = [g.input("a", "param", []), g.input("b", "param", [])];
    const alone = g.elementwise("div", [a, b]);
    expect(factorLateScales(g, [alone])).toEqual([alone]);
    const half = g.elementwise("div", [g.constant(0.5), b]);
    const inverse = g.elementwise("div", [g.constant(1), b]);
    const sum = g.elementwise("add", [half, inverse]);
    expect(factorLateScales(g, [sum])).toEqual([sum]);
  });

  it("the pinhole projection's kernels divide once, as the hand-written function does", async () => {
    const source = readFileSync(join(__dirname, "..", "bench", "tiny", "reprojection.expr"), "utf8");
    const { code } = await load(source);
    for (const name of ["valueFlat", "valueAndGradFlat"]) {
      const body = code.slice(code.indexOf(`export function ${name}(`));
      expect(body.slice(0, body.indexOf("\n}\n")).match(/ \/ /g), name).toHaveLength(1);
    }
    // backward keeps the quotients as the source writes them, and their gradient's 1 / z.
    const backward = code.slice(code.indexOf("export function backwardInto("));
    expect(backward.slice(0, backward.indexOf("\n}\n")).match(/ \/ /g)).toHaveLength(3);
  });
});

describe("a value that reads a scalar input", () => {
  it("is returned after the gradient's stores, its atan2 call last, as in the hand-written bend constraint", async () => {
    const source = readFileSync(join(__dirname, "..", "bench", "tiny", "bend.expr"), "utf8");
    const { code, module: m } = await load(source);
    const body = code.slice(code.indexOf("export function valueAndGradFlat("));
    const kernel = body.slice(0, body.indexOf("\n}\n"));
    // The scalar input is a local (a3): no store into grad can change it, so the value need
    // not be computed before the stores, where V8 would keep every temporary across the call.
    expect(kernel).toMatch(/return Math\.atan2\(t\d+, t\d+\) - a\d+;$/);
    expect(kernel.match(/Math\.atan2/g)).toHaveLength(1);
    const flatModule = m as unknown as { packParams(p: unknown): Float64Array; valueAndGradFlat(x: Float64Array, g: Float64Array, i: unknown): number };
    const args = { a: [-1, 0.2], b: [0, 0], c: [0.8, 0.9], rest: 2 };
    const x = flatModule.packParams(args);
    expect(flatModule.valueAndGradFlat(x, new Float64Array(6), args)).toBe(Math.atan2(-1 * 0.9 - 0.2 * 0.8, -1 * 0.8 + 0.2 * 0.9) - 2);
  });
});

describe("atan2's gradient in the angle's flat kernel", () => {
  // x (1 / r) where r + 1 / r < 1e100, picked against the scaled formula computed before the
  // choice, whose scale is a table of constants (rules.ts). Both rest on V8 having run every
  // operation the optimized code makes: one that only a rare side makes would be a
  // deoptimization exit, and the caller's loop would then not be peeled.
  const source = readFileSync(join(__dirname, "..", "bench", "tiny", "angle.expr"), "utf8");
  const compiled = compileJs(source, { filename: "angle.expr", checks: false });
  const kernel = compiled.code.slice(compiled.code.indexOf("export function valueAndGradFlat("), compiled.code.indexOf("\n}\n", compiled.code.indexOf("export function valueAndGradFlat(")));

  it("multiplies by 1 / r in the common range, picked against the scaled formula named before", () => {
    const r = /const t\d+ = (t\d+) < 1e-300;/.exec(kernel)?.[1];
    expect(kernel).toMatch(new RegExp(`const ${r} = \\((t\\d+) \\* \\1\\) \\+ \\((t\\d+) \\* \\2\\);`));
    const inverse = new RegExp(`const (t\\d+) = 1 / ${r};`).exec(kernel)?.[1];
    const common = new RegExp(`const (t\\d+) = \\(${r} \\+ ${inverse}\\) < 1e\\+100;`).exec(kernel)?.[1];
    const tests = ["< 1e-300", "> 1e\\+300"].map((t) => new RegExp(`const (t\\d+) = ${r} ${t};`).exec(kernel)?.[1]);
    expect([inverse, common, ...tests].every(Boolean), kernel).toBe(true);
    const [tiny, huge] = tests;
    const scale = new RegExp(`const (t\\d+) = ${r} < 1 \\? \\(${tiny} \\? [\\d.e+]+ : [\\d.e+]+\\) : \\(${huge} \\? [\\d.e-]+ : [\\d.e-]+\\);`).exec(kernel)?.[1];
    expect(scale, kernel).toBeDefined();
    // Each partial: the common side in the choice, the scaled side a name computed before it.
    const picks = [...kernel.matchAll(new RegExp(`const t\\d+ = ${common} \\? \\((t\\d+) \\* ${inverse}\\) : (t\\d+);`, "g"))];
    expect(picks, kernel).toHaveLength(2);
    for (const [, , scaled] of picks) expect(kernel).toMatch(new RegExp(`const ${scaled} = ${scale} \\* \\(t\\d+ \\* t\\d+\\);`));
    expect(kernel).not.toMatch(/if \(/);
    expect(kernel.match(/ \/ /g)).toHaveLength(2);
  });

  it("in a loop too, the scaled partial is a local computed before the choice, not inside it", () => {
    const looped = compileJs("param u[100], v[100]\noutput s = sum(atan2(u, v))", { filename: "angles.expr", checks: false }).code;
    const choices = [...looped.matchAll(/!== 0 \? \((\w+) \* (\w+)\) : ([^)]*)\)/g)];
    expect(choices.length, looped).toBeGreaterThanOrEqual(2);
    for (const [, , , rare] of choices) {
      expect(rare).toMatch(/^\w+$/);
      expect(looped).toMatch(new RegExp(`const ${rare} = \\w+ \\* \\(\\w+ \\* \\w+\\);`));
    }
  });

  it("is optimized by V8 without an exit for missing feedback", () => {
    const dir = mkdtempSync(join(tmpdir(), "gradc-atan2-"));
    writeFileSync(join(dir, "angle.mjs"), compiled.code);
    const driver = [
      'import { valueAndGradFlat } from "./angle.mjs";',
      "const x = Float64Array.of(1.2, 0.3, -0.4, 0.9);",
      "const g = new Float64Array(4);",
      "%PrepareFunctionForOptimization(valueAndGradFlat);",
      "for (let i = 0; i < 100; i++) valueAndGradFlat(x, g);",
      "%OptimizeFunctionOnNextCall(valueAndGradFlat);",
      "valueAndGradFlat(x, g);",
    ].join("\n");
    writeFileSync(join(dir, "driver.mjs"), driver);
    const run = spawnSync(process.execPath, ["--allow-natives-syntax", "--print-opt-code", "--print-opt-code-filter=valueAndGradFlat", join(dir, "driver.mjs")], { encoding: "utf8" });
    rmSync(dir, { recursive: true, force: true });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/kind = TURBOFAN/);
    expect(run.stdout).toMatch(/name = valueAndGradFlat/);
    expect(run.stdout).not.toMatch(/Insufficient type feedback/);
  });
});

const TINY = ["point-segment", "point-segment-gate", "reprojection", "triangle-area-3d", "distance", "spring", "angle", "bend", "rod", "circle-residual"];

describe.each(TINY)("bench/tiny/%s.expr", (name) => {
  it("backward against central differences, and valueAndGradFlat against backward", async () => {
    const source = readFileSync(join(__dirname, "..", "bench", "tiny", `${name}.expr`), "utf8");
    const { module: m, interface: face } = await load(source);
    const random = rng(name.length * 31);
    const args: Record<string, number | number[]> = {};
    for (const a of face.args) args[a.name] = a.shape.length ? Array.from({ length: a.shape.reduce((p: number, d) => p * Number(d), 1) }, () => uniform(random, 0.3, 2)) : uniform(random, 0.3, 2);
    // Points away from the clamp's ends: the segment from (0, 0) to (2, 0), the point above it.
    if (name.startsWith("point-segment")) Object.assign(args, { p: [0.7, 1.3], a: [-1, 0.2], b: [2, -0.4] });
    const { outputs, grad } = m.backward(args);
    const [output] = Object.keys(outputs);
    const f = (v: Record<string, number | number[]>) => m.forward(v)[output] as number;
    for (const a of face.args.filter((a) => a.role === "param")) assertClose(grad[a.name], numericGradient(f, args, a.name) as number | number[], 1e-6, `d${output}/d${a.name}`);
    const flatModule = m as unknown as { packParams(p: unknown): Float64Array; valueAndGradFlat(x: Float64Array, g: Float64Array, i: unknown): number; paramSize: number };
    const g = new Float64Array(flatModule.paramSize);
    const value = flatModule.valueAndGradFlat(flatModule.packParams(args), g, args);
    // Equal up to rounding: the flat kernels factor late scales out of the gradient's sums of
    // products and multiply by a divisor's reciprocal where backward divides (ir/factor.ts).
    assertClose(value, outputs[output] as number, 1e-14, "valueAndGradFlat's value");
    expect((m as unknown as { valueFlat(x: Float64Array, i: unknown): number }).valueFlat(flatModule.packParams(args), args)).toBe(value);
    assertClose(g, face.args.filter((a) => a.role === "param").flatMap((a) => flat(grad[a.name])), 1e-14, "valueAndGradFlat's gradient");
  });
});

describe("the point-segment distance written as a gate (bench/tiny/point-segment-gate.expr)", () => {
  it("has the gradient of the distance differentiated through t, inside the segment and past either end, with t's part left out", async () => {
    const read = (name: string) => readFileSync(join(__dirname, "..", "bench", "tiny", `${name}.expr`), "utf8");
    const { module: through } = await load(read("point-segment"));
    const { module: gate } = await load(read("point-segment-gate"));
    const random = rng(11);
    // p above the segment (t inside), before a and past b (t clamped to 0 and 1).
    for (const along of [0.4, -0.7, 1.8]) {
      for (let k = 0; k < 20; k++) {
        const a = [uniform(random, -2, 2), uniform(random, -2, 2)];
        const b = [uniform(random, -2, 2), uniform(random, -2, 2)];
        const off = uniform(random, 0.2, 1);
        const p = [a[0] + along * (b[0] - a[0]) - off * (b[1] - a[1]), a[1] + along * (b[1] - a[1]) + off * (b[0] - a[0])];
        const args = { p, a, b };
        const expected = through.backward(args);
        const got = gate.backward(args);
        expect(got.outputs.d).toBe(expected.outputs.d);
        // Inside, t's own part is the rounding of a residual orthogonal to b - a: it is left out.
        for (const name of ["p", "a", "b"]) assertClose(got.grad[name], expected.grad[name], 1e-12, `dd/d${name} at t = ${along}`);
      }
    }
  });
  it("costs the hand-written arithmetic: no operation for t's derivative, one division per component", () => {
    const backward = (name: string) => {
      const result = compile(readFileSync(join(__dirname, "..", "bench", "tiny", `${name}.expr`), "utf8"));
      if (!result.ok) throw new Error(`${name}.expr does not compile`);
      return result.stats.backwardOperations;
    };
    expect(backward("point-segment-gate")).toBeLessThanOrEqual(30);
    expect(backward("point-segment")).toBeGreaterThan(backward("point-segment-gate") + 20);
  });
});
