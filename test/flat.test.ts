// The flat form for optimizers (modules.md, "The flat form"): paramSize, packParams,
// unpackParams, valueFlat and valueAndGradFlat. Values and gradients against backward and
// finite differences in every code form, the objective option and its diagnostics, the
// errors of wrong lengths, and the TypeScript types of the new exports.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Project, ts } from "ts-morph";
import { compile } from "../src/compile.js";
import { ensureBuilt, gradc, tempFolders } from "./support/cli.js";
import { assertClose, centralDifference, importFile, load, rng, uniform } from "./support/load.js";

/** The flat exports, beside the ones of every module. */
interface FlatModule {
  paramSize: number;
  packParams(params: unknown, x?: Float64Array): Float64Array;
  unpackParams(x: ArrayLike<number>, params?: unknown): Record<string, number | Float64Array>;
  valueFlat(x: ArrayLike<number>, inputs?: unknown): number;
  valueAndGradFlat(x: ArrayLike<number>, grad: Float64Array | number[], inputs?: unknown): number;
  backward(args: unknown, seed?: unknown): { outputs: Record<string, number | Float64Array>; grad: Record<string, number | Float64Array> };
  forward(args: unknown): Record<string, number | Float64Array>;
}

async function flatModule(source: string, options: Parameters<typeof load>[1] = {}): Promise<FlatModule> {
  return (await load(source, options)).module as unknown as FlatModule;
}

// A circle fit's residual: params of several shapes (a scalar among them), inputs, and a
// tensor output beside the objective.
const CIRCLE = `param c[2], r
input px[5], py[5]
d = sqrt((px - c[0])^2 + (py - c[1])^2) - r
output residuals = d
output loss = sum(d^2)`;
const inputs = { px: [1, 0, -1, 0.2, 0.7], py: [0.1, 1.1, 0, -0.9, 0.6] };
const forms = ["unrolled", "loops", "tape"] as const;

describe.each(forms)("the flat form (%s)", (emit) => {
  it("packs params in declaration order and unpacks them back", async () => {
    const m = await flatModule(CIRCLE, { emit });
    expect(m.paramSize).toBe(3);
    const x = m.packParams({ c: [0.1, -0.2], r: 1.3 });
    expect(Array.from(x)).toEqual([0.1, -0.2, 1.3]);
    const into = new Float64Array(3);
    expect(m.packParams({ c: new Float64Array([1, 2]), r: 3 }, into)).toBe(into);
    expect(Array.from(into)).toEqual([1, 2, 3]);
    const params = m.unpackParams([4, 5, 6]);
    expect(Array.from(params.c as Float64Array)).toEqual([4, 5]);
    expect(params.r).toBe(6);
    const holders = m.unpackParams(x, params);
    expect(holders).toBe(params);
    expect(Array.from(params.c as Float64Array)).toEqual([0.1, -0.2]);
  });

  it("valueAndGradFlat gives backward's objective and gradient, laid out as x", async () => {
    const m = await flatModule(CIRCLE, { emit });
    const random = rng(7);
    for (let trial = 0; trial < 5; trial++) {
      const x = Float64Array.from({ length: 3 }, () => uniform(random, -0.5, 0.5) + (trial === 0 ? 0 : 0.3));
      x[2] = 1 + uniform(random, 0, 0.5);
      const args = { c: [x[0], x[1]], r: x[2], ...inputs };
      const reference = m.backward(args, { loss: 1 });
      const grad = new Float64Array(3);
      const value = m.valueAndGradFlat(x, grad, inputs);
      assertClose(value, reference.outputs.loss as number, 1e-12, "value");
      assertClose(m.valueFlat(x, inputs), reference.outputs.loss as number, 1e-12, "valueFlat");
      assertClose(grad, [...(reference.grad.c as Float64Array), reference.grad.r as number], 1e-12, "grad");
      // Finite differences of valueFlat itself.
      for (let k = 0; k < 3; k++) {
        const numeric = centralDifference((v) => {
          const moved = Float64Array.from(x);
          moved[k] = v;
          return m.valueFlat(moved, inputs);
        }, x[k]);
        assertClose(grad[k], numeric, 1e-7, `d loss / d x[${k}]`);
      }
    }
  });

  it("writes into a plain array of numbers, and reads one", async () => {
    const m = await flatModule(CIRCLE, { emit });
    const grad = [9, 9, 9];
    const expected = new Float64Array(3);
    const value = m.valueAndGradFlat([0.1, 0.2, 1.1], grad, inputs);
    expect(m.valueAndGradFlat(Float64Array.of(0.1, 0.2, 1.1), expected, inputs)).toBe(value);
    expect(grad).toEqual(Array.from(expected));
  });

  it("wrong lengths are RangeErrors, wrong elements and missing inputs TypeErrors", async () => {
    const m = await flatModule(CIRCLE, { emit });
    const grad = new Float64Array(3);
    expect(() => m.valueAndGradFlat(new Float64Array(4), grad, inputs)).toThrow(RangeError);
    expect(() => m.valueAndGradFlat(new Float64Array(2), grad, inputs)).toThrow("test.expr: 'x' must have length 3 (paramSize), got length 2");
    expect(() => m.valueAndGradFlat([1, 2, 3], new Float64Array(2), inputs)).toThrow("test.expr: 'grad' must have length 3 (paramSize), got length 2");
    expect(() => m.valueAndGradFlat([1, 2, 3], undefined as never, inputs)).toThrow(TypeError);
    expect(() => m.valueFlat([1, null, 3], inputs)).toThrow("test.expr: 'x' must be a flat array of numbers, but element 1 is null");
    expect(() => m.valueFlat([1, 2, 3])).toThrow("test.expr: the flat functions need the inputs (px, py), got nothing: 'px' is missing");
    expect(() => m.valueFlat([1, 2, 3], { px: inputs.px })).toThrow("argument 'py' is missing");
    expect(() => m.valueFlat([1, 2, 3], { ...inputs, py: [1, 2] })).toThrow(RangeError);
    expect(() => m.packParams({ c: [1, 2, 3], r: 1 })).toThrow("argument 'c' must have length 2 (flat, row-major), got length 3");
    expect(() => m.packParams({ c: [1, 2], r: 1 }, new Float64Array(5))).toThrow(RangeError);
    expect(() => m.unpackParams([1, 2])).toThrow(RangeError);
    expect(() => m.unpackParams([1, 2, 3], { c: new Float64Array(1), r: 0 })).toThrow("'c' of the params holder must have length 2, got length 1");
  });

  it("wrong lengths are still RangeErrors after many right calls, once V8 has optimized the call", async () => {
    const m = await flatModule(CIRCLE, { emit });
    const x = Float64Array.of(0.1, 0.2, 1.1);
    const grad = new Float64Array(3);
    const typed = { px: Float64Array.from(inputs.px), py: Float64Array.from(inputs.py) };
    let sum = 0;
    for (let i = 0; i < 200_000; i++) sum += m.valueAndGradFlat(x, grad, typed);
    expect(Number.isFinite(sum)).toBe(true);
    for (const n of [0, 2, 4]) {
      expect(() => m.valueAndGradFlat(new Float64Array(n), grad, typed)).toThrow(RangeError);
      expect(() => m.valueAndGradFlat(x, new Float64Array(n), typed)).toThrow(RangeError);
      expect(() => m.valueAndGradFlat(x, grad, { ...typed, px: new Float64Array(n) })).toThrow(RangeError);
    }
    expect(() => m.valueAndGradFlat("abc" as never, grad, typed)).toThrow(TypeError);
    expect(() => m.valueAndGradFlat(x, grad, undefined)).toThrow(TypeError);
  });
});

describe("which output the flat form minimizes", () => {
  it("the only scalar output, by default; none when there are two and no objective", async () => {
    expect(compile("param a\noutput f = a^2").ok && (compile("param a\noutput f = a^2") as { code: string }).code).toMatch(/export function valueAndGradFlat\(/);
    const two = compile("param a\noutput f = a^2\noutput g = a^3");
    expect(two.ok && two.code).not.toMatch(/valueAndGradFlat|paramSize/);
  });

  it("objective picks one output among several; the others take no part", async () => {
    const source = "param a, v[2]\noutput f = a^2 * v[0]\noutput g = a^3 + v[1]\noutput h = v * a";
    for (const emit of forms) {
      const m = await flatModule(source, { objective: "g", emit });
      const grad = new Float64Array(3);
      expect(m.valueAndGradFlat([2, 5, 7], grad)).toBe(15);
      expect(Array.from(grad)).toEqual([12, 0, 1]);
      expect(m.valueFlat([2, 5, 7])).toBe(15);
    }
  });

  it("an objective that is no output is E0301 with the nearest name; a tensor output E0302", () => {
    const unknown = compile("param a\noutput loss = a^2\noutput r = [a, a]", { objective: "los" });
    expect(unknown.ok).toBe(false);
    if (!unknown.ok) {
      expect(unknown.diagnostics[0].code).toBe("E0301");
      expect(unknown.diagnostics[0].message).toBe("the objective 'los' is not an output of this program (did you mean 'loss'?); its outputs are 'loss', 'r'");
    }
    const tensor = compile("param a\noutput loss = a^2\noutput r = [a, a]", { objective: "r" });
    expect(tensor.ok).toBe(false);
    if (!tensor.ok) {
      expect(tensor.diagnostics[0].code).toBe("E0302");
      expect(tensor.diagnostics[0].message).toMatch(/^the objective 'r' is a tensor output \[2\]; the flat form minimizes a scalar/);
      expect(tensor.diagnostics[0].line).toBe(3);
    }
  });
});

describe("the flat kernel reads x and writes grad directly", () => {
  it("straight-line programs get kernels, not a wrapper around backwardInto", () => {
    const r = compile(CIRCLE, { format: "js" });
    expect(r.ok && r.code).toMatch(/export function valueAndGradFlat\(x, grad, inputs\) \{/);
    expect(r.ok && r.code).not.toMatch(/FLAT_ARGS/);
    const loops = compile(CIRCLE, { format: "js", emit: "loops" });
    expect(loops.ok && loops.code).toMatch(/backwardInto\(FLAT_ARGS, FLAT_SEED, FLAT_GRAD, FLAT_OUTPUTS\)/);
  });

  it("--no-checks drops the length checks of x and grad", () => {
    const r = compile("param a[2]\noutput f = a[0] * a[1]", { format: "js", checks: false });
    expect(r.ok && r.code).not.toMatch(/checkFlat/);
  });
});

describe("types of the flat form", () => {
  it("the .ts module and the .d.ts declare them, and a caller type-checks (and a wrong one does not)", () => {
    const project = new Project({
      useInMemoryFileSystem: true,
      compilerOptions: {
        strict: true,
        noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        lib: ["lib.es2022.d.ts"],
        noEmit: true,
        skipDefaultLibCheck: true,
      },
    });
    const tsModule = compile(CIRCLE, { format: "ts", filename: "circle.expr" });
    const jsModule = compile(CIRCLE, { format: "js", filename: "circle.expr" });
    const loopsModule = compile(CIRCLE, { format: "ts", filename: "circle.expr", emit: "loops" });
    if (!tsModule.ok || !jsModule.ok || !loopsModule.ok) throw new Error("compile failed");
    project.createSourceFile("circle.ts", tsModule.code);
    project.createSourceFile("loops.ts", loopsModule.code);
    project.createSourceFile("declared.d.ts", jsModule.declaration!);
    const caller = (from: string) =>
      `import { paramSize, packParams, unpackParams, valueFlat, valueAndGradFlat, type Params, type Inputs } from "./${from}";\n` +
      "const p: Params = { c: [0, 0], r: 1 };\nconst data: Inputs = { px: [1, 2, 3, 4, 5], py: new Float64Array(5) };\n" +
      "const x: Float64Array = packParams(p);\nconst g = new Float64Array(paramSize);\n" +
      "const f: number = valueAndGradFlat(x, g, data) + valueFlat([1, 2, 3], data);\n" +
      "const back: Float64Array = unpackParams(x).c;\n" +
      // modules.md: unpackParams(x, params?: Params): Params, so holders of plain arrays type-check too.
      "const into: Params = unpackParams(x, { c: [0, 0], r: 1 });\nexport { f, back, into };\n";
    project.createSourceFile("caller.ts", caller("circle.js"));
    project.createSourceFile("caller-loops.ts", caller("loops.js"));
    project.createSourceFile("caller-declared.ts", caller("declared.js"));
    const errors = project.getPreEmitDiagnostics().map((d) => `${d.getSourceFile()?.getBaseName()}:${d.getLineNumber()}: ${ts.flattenDiagnosticMessageText(d.compilerObject.messageText, "\n")}`);
    expect(errors).toEqual([]);
    // The inputs are required when the program has some: forgetting them is a type error.
    project.createSourceFile("wrong.ts", 'import { valueFlat } from "./declared.js";\nexport const v = valueFlat([1, 2, 3]);\n');
    expect(project.getPreEmitDiagnostics().map((d) => d.getSourceFile()?.getBaseName())).toEqual(["wrong.ts"]);
  }, 60_000);
});

describe("--objective on the command line", () => {
  const { folder, cleanup } = tempFolders("gradc-flat-");
  beforeAll(() => ensureBuilt(), 120_000);
  afterAll(cleanup);
  const source = "param a, v[2]\noutput f = a^2 * v[0]\noutput g = a^3 + v[1]\n";

  it("picks the objective of the flat form", async () => {
    const dir = folder();
    writeFileSync(join(dir, "m.expr"), source);
    const r = gradc(["compile", join(dir, "m.expr"), "-o", join(dir, "m.mjs"), "--objective", "g"]);
    expect(r.status).toBe(0);
    const m = (await importFile(join(dir, "m.mjs"))) as unknown as FlatModule;
    expect(m.valueFlat([2, 5, 7])).toBe(15);
  });

  it("an objective that is no output: exit 1 and E0301 in the user's terms", () => {
    const dir = folder();
    writeFileSync(join(dir, "m.expr"), source);
    const r = gradc(["compile", join(dir, "m.expr"), "-o", join(dir, "m.mjs"), "--objective", "G"]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/m\.expr:2:8: error: the objective 'G' is not an output of this program \(did you mean 'g'\?\); its outputs are 'f', 'g'/);
  });
});
