// What keeps the straight-line kernel of a tiny function small (bench/tiny.mjs): V8 inlines a
// function of at most 460 bytes of bytecode into its caller, and a kernel just past that
// costs a call and more (the 3D triangle area: 463 bytes, 1.7x the hand-written function).
// So max/min's tie weights are one choice, max/min of a constant a test, a store's value that
// reads no argument is printed in the store, and valueAndGradFlat returns its value without a
// local. Each choice is checked for its printed form and its values: gradients against finite
// differences, and grad aliasing x, which the stores' order must survive; the clamp's kernel
// for its size in V8's bytecode.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ELEMENTWISE } from "../src/ir/ops.js";
import { assertClose, centralDifference, load, rng, uniform } from "./support/load.js";

const SEGMENT = `param p[2], a[2], b[2]
e = b - a
w = p - a
t = max(0, min(1, (w[0] * e[0] + w[1] * e[1]) / (e[0]^2 + e[1]^2)))
output d = sqrt((w[0] - t * e[0])^2 + (w[1] - t * e[1])^2)`;

const AREA3D = `param a[3], b[3], c[3]
e = b - a
f = c - a
n0 = e[1] * f[2] - e[2] * f[1]
n1 = e[2] * f[0] - e[0] * f[2]
n2 = e[0] * f[1] - e[1] * f[0]
output area = 0.5 * sqrt(n0^2 + n1^2 + n2^2)`;

interface Flat {
  paramSize: number;
  valueAndGradFlat(x: ArrayLike<number>, grad: Float64Array | number[]): number;
  valueFlat(x: ArrayLike<number>): number;
}

/** The text of the exported function `name` in module text. */
function functionText(code: string, name: string): string {
  const start = code.indexOf(`export function ${name}(`);
  return code.slice(start, code.indexOf("\n}\n", start) + 2);
}

/** valueAndGradFlat against central differences of valueFlat at `x`. */
function checkFlatGradient(m: Flat, x: number[]) {
  const grad = new Float64Array(m.paramSize);
  const value = m.valueAndGradFlat(Float64Array.from(x), grad);
  expect(value).toBe(m.valueFlat(x));
  for (let k = 0; k < x.length; k++) {
    const numeric = centralDifference((v) => m.valueFlat(x.map((xi, j) => (j === k ? v : xi))), x[k]);
    assertClose(grad[k], numeric, 1e-6, `element ${k} at ${x.join(", ")}`);
  }
}

describe("max and min in a kernel", () => {
  it("tie weights are one choice on the comparison, and the clamp's gradient is right inside, at the ends and past them", async () => {
    const loaded = await load(SEGMENT);
    const kernel = functionText(loaded.code, "valueAndGradFlat");
    // The flat kernel tests the tie first: every call but a tie runs both tests, and V8
    // compiles no exit for a test never run (rules.ts, winWeight). backwardInto, which returns
    // the holder, tests the win first, its other side an exit and the weight a constant.
    expect(kernel).toMatch(/\(t\d+ === 0 \? 0\.5 : \(t\d+ > 0 \? 1 : 0\)\)/);
    expect(kernel).toMatch(/\(t\d+ === 1 \? 0\.5 : \(t\d+ < 1 \? 1 : 0\)\)/);
    expect(kernel).not.toContain("? 1 : 0) !== 0");
    const backward = functionText(loaded.code, "backwardInto");
    expect(backward).toMatch(/\(t\d+ > 0 \? 1 : \(t\d+ === 0 \? 0\.5 : 0\)\)/);
    expect(backward).toMatch(/\(t\d+ < 1 \? 1 : \(t\d+ === 1 \? 0\.5 : 0\)\)/);
    // The clamp itself as two tests, not two calls.
    expect(kernel).toMatch(/const (t\d+) = (t\d+) >= 1 \? 1 : \2;\n {2}const t\d+ = \1 <= 0 \? 0 : \1;/);
    expect(kernel).not.toContain("Math.m");
    const m = loaded.module as unknown as Flat;
    // Projections inside the segment, before a and past b; backward agrees with the kernel.
    for (const p of [[0.7, 1.3], [-2, 0.5], [3.5, -1.1]]) {
      checkFlatGradient(m, [...p, -1, 0.2, 2, -0.4]);
      const grad = new Float64Array(6);
      m.valueAndGradFlat(Float64Array.of(...p, -1, 0.2, 2, -0.4), grad);
      const { grad: g } = loaded.module.backward({ p, a: [-1, 0.2], b: [2, -0.4] });
      expect([...g.p as Float64Array, ...g.a as Float64Array, ...g.b as Float64Array]).toEqual([...grad]);
    }
  });

  it("a tie still splits the gradient evenly", async () => {
    const m = (await load("param x, y\noutput f = max(x, y) + 3 * min(x, y)")).module;
    const { grad } = m.backward({ x: 2, y: 2 });
    expect([grad.x, grad.y]).toEqual([2, 2]);
    const apart = m.backward({ x: 2, y: 1 }).grad;
    expect([apart.x, apart.y]).toEqual([1, 3]);
    // Against a constant, in both forms: the weight is 1/2 at the tie, 1 and 0 on either side.
    const clamp = (await load("param x\noutput f = max(0, x) + 3 * min(1, x)")).module;
    const flat = clamp as unknown as Flat;
    for (const [x, weight] of [[0, 0.5 + 3], [1, 1 + 1.5], [0.5, 1 + 3], [-1, 3], [2, 1], [NaN, 0]]) {
      expect(clamp.backward({ x }).grad.x).toBe(weight);
      const g = new Float64Array(1);
      flat.valueAndGradFlat(Float64Array.of(x), g);
      expect(g[0]).toBe(weight);
    }
  });

  it("a product or a sum prints a lone name first, and keeps its value", async () => {
    const { add, mul } = ELEMENTWISE;
    expect(mul.print("(t1 + t2)", "t3")).toBe("(t3 * (t1 + t2))");
    expect(add.print("x[2]", "t3")).toBe("(t3 + x[2])");
    expect(mul.print("0.5", "t3")).toBe("(t3 * 0.5)");
    expect(mul.print("t1", "(t2 - t3)")).toBe("(t1 * (t2 - t3))");
    expect(add.print("t1", "t2")).toBe("(t1 + t2)");
    expect(mul.print("x[0]", "(t2 - t3)")).toBe("(x[0] * (t2 - t3))");
    // The segment's gradient scales its tie weight by a product of two names.
    const kernel = functionText((await load(SEGMENT)).code, "valueAndGradFlat");
    expect(kernel).toMatch(/= 2 \* \(t\d+ \* \(t\d+ \* t\d+\)\);/);
  });

  it("max and min of a constant print as a test, with Math.max's and Math.min's value for every operand", () => {
    const { max, min } = ELEMENTWISE;
    expect(max.print("0", "t3")).toBe("(t3 <= 0 ? 0 : t3)");
    expect(min.print("t3", "1")).toBe("(t3 >= 1 ? 1 : t3)");
    // What the choice would print twice, and a NaN constant, keep the call.
    expect(max.print("0", "(t1 + t2)")).toBe("Math.max(0, (t1 + t2))");
    expect(max.print("0", "x[2]")).toBe("Math.max(0, x[2])");
    expect(min.print("NaN", "t3")).toBe("Math.min(NaN, t3)");
    expect(max.print("t2", "t3")).toBe("Math.max(t2, t3)");
    const constants = ["0", "(-0)", "1", "(-1)", "0.5", "1e-300", "Infinity", "(-Infinity)"];
    const operands = [0, -0, 1, -1, 0.5, 2, 1e-300, -1e-300, Infinity, -Infinity, NaN];
    for (const [name, op, reference] of [["max", max, Math.max], ["min", min, Math.min]] as const) {
      for (const c of constants) {
        for (const [a, b] of [[c, "v"], ["v", c]]) {
          const printed = op.print(a, b);
          expect(printed, `${name}(${a}, ${b})`).not.toContain("Math.");
          const f = new Function("v", `return ${printed};`) as (v: number) => number;
          const value = Number(c.replace(/[()]/g, ""));
          for (const v of operands) expect(Object.is(f(v), reference(value, v)), `${printed} at ${Object.is(v, -0) ? "-0" : v}`).toBe(true);
        }
      }
    }
  });

  it("the point-segment distance's kernel stays under V8's inlining limit of 460 bytes of bytecode", async () => {
    // Past it, the kernel is a call in the caller's loop: 2.0x the hand-written function's time,
    // 1.76x inlined. Node's own bytecode printer measures it, for the checked and the
    // unchecked module.
    for (const checks of [true, false]) {
      const { code } = await load(SEGMENT, { checks });
      const dir = mkdtempSync(join(tmpdir(), "gradc-bytecode-"));
      try {
        writeFileSync(join(dir, "m.mjs"), code);
        writeFileSync(join(dir, "run.mjs"), 'import { valueAndGradFlat } from "./m.mjs";\nvalueAndGradFlat(Float64Array.of(0.7, 1.3, -1, 0.2, 2, -0.4), new Float64Array(6));\n');
        const run = spawnSync(process.execPath, ["--print-bytecode", "--print-bytecode-filter=valueAndGradFlat", join(dir, "run.mjs")], { encoding: "utf8", timeout: 60_000 });
        expect(run.status, run.stderr).toBe(0);
        const length = Number(/Bytecode length: (\d+)/.exec(run.stdout)?.[1]);
        expect(length, `checks: ${checks}`).toBeLessThanOrEqual(460);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});

describe("the stores of a straight-line kernel", () => {
  it("a value that reads no argument is printed in its store; valueAndGradFlat returns without a local", async () => {
    const loaded = await load(AREA3D);
    const kernel = functionText(loaded.code, "valueAndGradFlat");
    // The reciprocal is factored out of each gradient's combination (ir/factor.ts): the
    // products do not wait for the division, one multiplication by it ends each element.
    expect(kernel).toMatch(/grad\[0\] = -\(t\d+ \* \(t\d+ \+ t\d+\)\);/);
    const scales = [...kernel.matchAll(/grad\[\d\] = (t\d+) \* t\d+;/g)].map((m) => m[1]);
    expect(scales).toHaveLength(6);
    expect(new Set(scales).size).toBe(1);
    expect(kernel).not.toContain("const value");
    expect(kernel).toMatch(/return t\d+ \* 0\.5;\n\}/);
    // One reciprocal of the length scales every gradient, as written by hand.
    expect(kernel.match(/\/ t\d+/g)).toHaveLength(1);
    expect(kernel).not.toMatch(/2 \* \(t\d+ \* t\d+\)/);
    const random = rng(9);
    for (let trial = 0; trial < 3; trial++) checkFlatGradient(loaded.module as unknown as Flat, Array.from({ length: 9 }, () => uniform(random, -1, 1)));
  });

  it("an element read more than once is read once, into a temporary, before any store", async () => {
    const loaded = await load("param x[2]\noutput f = (1 - x[0])^2 + 100 * (x[1] - x[0]^2)^2");
    const kernel = functionText(loaded.code, "valueAndGradFlat");
    expect(kernel.match(/x\[0\]/g)).toHaveLength(1);
    expect(kernel).toMatch(/^ {2}const t\d+ = x\[0\];$/m);
    expect(kernel.match(/x\[1\]/g)).toHaveLength(1);
    const backward = functionText(loaded.code, "backwardInto");
    expect(backward.match(/a0\[0\]/g)).toHaveLength(1);
    const m = loaded.module as unknown as Flat;
    checkFlatGradient(m, [-1.2, 1]);
    // grad aliasing x: every read is done before the first store.
    const x = Float64Array.of(-1.2, 1);
    expect(m.valueAndGradFlat(x, x)).toBeCloseTo(24.2, 12);
    expect(x[0]).toBeCloseTo(-215.6, 10);
    expect(x[1]).toBeCloseTo(-88, 10);
  });

  it("stores into a grad that is x itself still see the arguments as given", async () => {
    // Each gradient element reads arguments, so none may be computed after a store into x.
    const m = (await load("param x[3]\noutput f = x[0] * x[1] + x[1] * x[2] + x[2] * x[0]")).module as unknown as Flat;
    const x = Float64Array.of(2, 3, 5);
    const grad = new Float64Array(3);
    const value = m.valueAndGradFlat(x, grad);
    const same = Float64Array.of(2, 3, 5);
    expect(m.valueAndGradFlat(same, same)).toBe(value);
    expect(Array.from(same)).toEqual(Array.from(grad));
  });

  it("an objective that is a param's element is read before the gradient's stores", async () => {
    const loaded = await load("param x[2]\noutput f = x[1]");
    expect(functionText(loaded.code, "valueAndGradFlat")).toContain("const value = x[1];");
    const m = loaded.module as unknown as Flat;
    const x = Float64Array.of(4, 7);
    expect(m.valueAndGradFlat(x, x)).toBe(7);
    expect(Array.from(x)).toEqual([0, 1]);
  });
});

describe("the checks of the flat kernels", () => {
  it("are one call in the kernel, and still name the first wrong argument", async () => {
    const source = "param c[2], r\ninput px[3]\noutput loss = sum((px - c[0])^2) + r^2 + c[1]";
    const loaded = await load(source);
    const kernel = functionText(loaded.code, "valueAndGradFlat");
    expect(kernel.split("\n")[1]).toBe("  checkValueAndGradFlat(x, grad, inputs);");
    expect(kernel).not.toContain("isFlat");
    expect(functionText(loaded.code, "valueFlat").split("\n")[1]).toBe("  checkValueFlat(x, inputs);");
    const m = loaded.module as unknown as Flat & { valueAndGradFlat(x: unknown, g: unknown, inputs?: unknown): number; valueFlat(x: unknown, inputs?: unknown): number };
    const inputs = { px: [1, 2, 3] };
    expect(() => m.valueAndGradFlat([1, 2], [0, 0], undefined)).toThrow("'x' must have length 3 (paramSize), got length 2");
    expect(() => m.valueAndGradFlat([1, 2, 3], new Float64Array(2), undefined)).toThrow("'grad' must have length 3 (paramSize), got length 2");
    expect(() => m.valueAndGradFlat([1, 2, 3], new Float64Array(3), { px: [1] })).toThrow(RangeError);
    expect(() => m.valueFlat([1, 2, 3])).toThrow(TypeError);
    expect(m.valueAndGradFlat([1, 2, 3], new Float64Array(3), inputs)).toBe(m.valueFlat([1, 2, 3], inputs));
  });

  it("test every length in one bounds check, in a const, and still name the wrong argument after many right calls", async () => {
    const source = "param c[2], r\ninput px[3], s\noutput loss = sum((px - c[0])^2) * s + r^2 + c[1]";
    const loaded = await load(source);
    const check = /const checkValueAndGradFlat = function \(x, grad, inputs\) \{[\s\S]*?\n\};/.exec(loaded.code)![0];
    expect(check).toContain("LENGTH_OK[(a.length - 3) | (g.length - 3) | (v0.length - 3)] !== undefined");
    expect(check.match(/LENGTH_OK/g)).toHaveLength(1);
    expect(check).toContain('typeof v1 === "number"');
    expect(loaded.code).toMatch(/const checkValueFlat = function \(x, inputs\) \{\n[\s\S]*?LENGTH_OK\[\(a\.length - 3\) \| \(v0\.length - 3\)\]/);
    expect(loaded.code).not.toContain("function isFlatGrad");
    const m = loaded.module as unknown as { valueAndGradFlat(x: unknown, g: unknown, inputs?: unknown): number };
    const x = Float64Array.of(0.5, -1, 2);
    const grad = new Float64Array(3);
    const inputs = { px: Float64Array.of(1, 2, 3), s: 0.5 };
    const value = m.valueAndGradFlat(x, grad, inputs);
    for (let i = 0; i < 200_000; i++) m.valueAndGradFlat(x, grad, inputs);
    const before = Array.from(grad);
    // Two wrong lengths whose differences have opposite signs, one wrong length each, and
    // wrong kinds: each names the first wrong argument, in the order x, grad, inputs.
    expect(() => m.valueAndGradFlat(new Float64Array(4), new Float64Array(2), inputs)).toThrow("'x' must have length 3 (paramSize), got length 4");
    expect(() => m.valueAndGradFlat(x, new Float64Array(4), inputs)).toThrow("'grad' must have length 3 (paramSize), got length 4");
    expect(() => m.valueAndGradFlat(x, grad, { ...inputs, px: [1, 2] })).toThrow("argument 'px' must have length 3 (flat, row-major), got length 2");
    expect(() => m.valueAndGradFlat(x, grad, { px: inputs.px })).toThrow("argument 's' must be a number, got nothing (missing)");
    expect(() => m.valueAndGradFlat([1, "2", 3], grad, inputs)).toThrow("'x' must be a flat array of numbers, but element 1 is a string");
    expect(() => m.valueAndGradFlat(x, grad)).toThrow("the flat functions need the inputs (px, s), got nothing: 'px' is missing");
    expect(Array.from(grad)).toEqual(before);
    // The unusual right values (other typed arrays) pass through the explaining checks.
    expect(m.valueAndGradFlat(Float32Array.from(x), grad, { px: [1, 2, 3], s: 0.5 })).toBeCloseTo(value, 6);
  });
});
