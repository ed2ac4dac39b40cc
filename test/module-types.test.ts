// The generated module as a TypeScript user meets it (modules.md): for each program, one
// consumer file calls every export the page names, typed with the page's own signatures,
// against the .ts module, the .js module with its .d.ts and the .mjs module with its .d.mts.
// Each consumer is type-checked under strict, and the wrong calls that TypeScript can see
// (a param left out, a misspelled seed key, a holder without a property, holders without
// their sizes, the flat functions without their inputs) carry `@ts-expect-error`, so a type
// that is too loose fails the check. Then the same consumers run against the modules: the
// right calls agree with each other, and every wrong call throws the class the page names,
// with a message naming the argument.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { Project, ts } from "ts-morph";
import { afterAll, describe, expect, it } from "vitest";
import { compile, type ModuleInterface } from "../src/compile.js";

interface Program {
  name: string;
  source: string;
  /** A value per dim, for the arguments the consumer passes. */
  dims?: Record<string, number>;
  /** Integer inputs: given whole numbers below `classes`. */
  ints?: string[];
  classes?: number;
  objective?: string;
  emit?: "unrolled" | "loops" | "tape";
}

const example = (path: string) => readFileSync(`examples/${path}`, "utf8");

const PROGRAMS: Program[] = [
  { name: "circuit", source: example("cs231n/circuit.expr") },
  { name: "neuron", source: example("cs231n/neuron.expr") },
  { name: "neuron_gate", source: example("cs231n/neuron-gate.expr"), emit: "tape" },
  { name: "softmax", source: example("cs231n/softmax.expr"), emit: "loops" },
  { name: "twolayer_sized", source: example("cs231n/twolayer-sized.expr"), dims: { N: 4 } },
  { name: "layernorm", source: example("v2/layernorm.expr") },
  // Linear algebra helpers (solve), a Hessian and a gradient as outputs.
  { name: "newton", source: example("fit/rosenbrock.expr") },
  // Params of rank 0 to 3, an integer input, a tensor output beside the objective, a dim.
  {
    name: "ranks",
    source: "dim N\ninput X[N, 2]\ninput lab[N] int\ninput s\nparam a, v[3], M[2, 3], T[2, 2, 2]\n" +
      "output f = a * sum(v) + sum(M) + sum(T * T) + s * sum(X) + sum([X[i, lab[i]] for i in 0..N])\noutput g = v * a\n",
    dims: { N: 3 }, ints: ["lab"], classes: 2, objective: "f",
  },
  // Two dims, one shared by an input and a param: paramSize is a function of the sizes.
  {
    name: "sized",
    source: "dim N, K\ninput X[N, K]\ninput y[N] int\nparam W[K, 3], b\nscores = X @ W\n" +
      "output loss = -mean([log_softmax(scores, axis=1)[i, y[i]] for i in 0..N]) + b^2\noutput probs = softmax(scores, axis=1)\n",
    dims: { N: 2, K: 4 }, ints: ["y"], classes: 3, objective: "loss", emit: "loops",
  },
  // Several scalar outputs and a Jacobian: no default seed, no flat form without --objective.
  { name: "several", source: "param u[4], c\ny = u * u * c\noutput J = jacobian(y, u)\noutput s = sum(y)\noutput t = c^3\n" },
  { name: "several_objective", source: "param u[4], c\ny = u * u * c\noutput s = sum(y)\noutput t = c^3\n", objective: "t" },
  // No params: Grads and Params have no properties.
  { name: "no_params", source: "input x, v[2]\noutput f = x * sum(v)\n" },
];

interface Arg { name: string; role: "input" | "param"; length: number; scalar: boolean; integer: boolean }

function lengthOf(shape: (number | string)[], dims: Record<string, number>): number {
  return shape.reduce<number>((n, s) => {
    if (typeof s === "number") return n * s;
    if (dims[s] === undefined) throw new Error(`no value for the size '${s}'`);
    return n * dims[s];
  }, 1);
}

/** Whole numbers for integer inputs, small smooth values otherwise, the same on every run. */
function valuesOf(a: Arg, at: number, classes: number): number[] {
  return Array.from({ length: a.length }, (_, k) => (a.integer ? (k + at) % classes : Math.round(1000 * (0.6 + 0.4 * Math.sin(3 * at + k + 1))) / 1000));
}

const literal = (a: Arg, values: number[], k: number) =>
  a.scalar ? String(values[0]) : k % 2 ? `new Float64Array([${values.join(", ")}])` : `[${values.join(", ")}]`;

/** An object literal of some of the arguments, by name. */
const objectOf = (list: Arg[], values: Map<string, string>, except?: string) =>
  `{ ${list.filter((a) => a.name !== except).map((a) => `${JSON.stringify(a.name)}: ${values.get(a.name)}`).join(", ")} }`;

const ones = (n: number) => `[${Array(n).fill(1).join(", ")}]`;

/**
 * The consumer of one module: `run(t)` makes every call modules.md describes. Types are the
 * module's own (`Args`, `Outputs`...), the functions' types are the page's signatures.
 */
function consumer(p: Program, iface: ModuleInterface, from: string, flat: boolean): string {
  const dims = p.dims ?? {};
  const sized = Object.keys(dims).length > 0;
  const args: Arg[] = iface.args.map((a) => ({ name: a.name, role: a.role, length: lengthOf(a.shape, dims), scalar: a.shape.length === 0, integer: (p.ints ?? []).includes(a.name) }));
  const params = args.filter((a) => a.role === "param");
  const inputs = args.filter((a) => a.role === "input");
  const outputs = iface.outputs.map((o) => ({ name: o.name, length: lengthOf(o.shape, dims), scalar: o.shape.length === 0 }));
  const values = new Map(args.map((a, k) => [a.name, literal(a, valuesOf(a, k, p.classes ?? 2), k)]));
  const loss = outputs.length === 1 && outputs[0].scalar;
  const objective = p.objective ?? (flat ? outputs.find((o) => o.scalar)!.name : undefined);
  const q = JSON.stringify;
  const seedOf = (o: (typeof outputs)[number]) => (o.scalar ? "1" : ones(o.length));
  const seed = `{ ${outputs.map((o) => `${q(o.name)}: ${seedOf(o)}`).join(", ")} }`;
  const sizes = sized ? `{ ${Object.entries(dims).map(([d, v]) => `${d}: ${v}`).join(", ")} }` : "";
  const types = ["Args", "Outputs", "Seed", "Grads", ...(sized ? ["Sizes"] : []), ...(flat ? ["Params", "Inputs"] : [])];
  const L: string[] = [];
  const out = (...l: string[]) => L.push(...l);
  out(`import * as M from ${q(from)};`, `import type { ${types.join(", ")} } from ${q(from)};`, "");
  out(
    "export interface Tester {",
    "  same(actual: unknown, expected: unknown, what: string): void;",
    "  throws(call: () => unknown, kind: new (message?: string) => Error, names: (string | number)[], what: string): void;",
    "}",
    "const list = (v: number | ArrayLike<number>): number[] => (typeof v === \"number\" ? [v] : Array.from(v));",
    "",
    "export function run(t: Tester): { outputs: Outputs; grad: Grads } {",
  );
  out(`  const args: Args = ${objectOf(args, values)};`);
  // The page's signatures: every export must be assignable to them.
  const holderParams = sized ? "sizes: Sizes" : "";
  out(
    "  const forward: (args: Args) => Outputs = M.forward;",
    "  const backward: (args: Args, seed?: Seed) => { outputs: Outputs; grad: Grads } = M.backward;",
    `  const createOutputs: (${holderParams}) => Outputs = M.createOutputs;`,
    `  const createGrad: (${holderParams}) => Grads = M.createGrad;`,
    "  const forwardInto: (args: Args, outputs: Outputs) => Outputs = M.forwardInto;",
    "  const backwardInto: (args: Args, seed: Seed | undefined, grad: Grads, outputs?: Outputs) => Grads = M.backwardInto;",
  );
  if (sized) out("  const sizesOf: (args: Args) => Sizes = M.sizesOf;", "  const sizes: Sizes = sizesOf(args);", `  t.same(sizes, ${sizes}, "sizesOf");`);
  else out("  // @ts-expect-error no dims, no sizesOf", "  t.same(typeof M.sizesOf, \"undefined\", \"sizesOf\");");
  const S = sized ? "sizes" : "";

  // The right calls agree with each other.
  out("  const outputs: Outputs = forward(args);");
  for (const o of outputs) out(`  const out_${o.name}: ${o.scalar ? "number" : "Float64Array"} = outputs[${q(o.name)}];`);
  out(`  const holders = forwardInto(args, createOutputs(${S}));`);
  for (const o of outputs) out(`  t.same(list(holders[${q(o.name)}]), list(out_${o.name}), "forwardInto's ${o.name}");`);
  out(`  const seed: Seed = ${seed};`);
  out(`  const result = ${loss ? "backward(args)" : "backward(args, seed)"};`);
  for (const a of params) out(`  const grad_${a.name}: ${a.scalar ? "number" : "Float64Array"} = result.grad[${q(a.name)}];`);
  out(`  const grad: Grads = createGrad(${S});`, `  const into: Outputs = createOutputs(${S});`);
  out(`  t.same(backwardInto(args, ${loss ? "undefined" : "seed"}, grad, into), grad, "backwardInto returns grad");`);
  for (const a of params) out(`  t.same(list(grad[${q(a.name)}]), list(grad_${a.name}), "backwardInto's ${a.name}");`);
  for (const o of outputs) out(`  t.same(list(into[${q(o.name)}]), list(out_${o.name}), "backwardInto's output ${o.name}");`);
  out("  backwardInto(args, seed, grad);");
  for (const a of inputs) out("  // @ts-expect-error Grads has the params alone", `  t.same(result.grad[${q(a.name)}], undefined, "no gradient of input ${a.name}");`);

  if (flat && objective) {
    const withInputs = inputs.length > 0;
    const inputsArg = withInputs ? ", inputs" : "";
    const sizedParams = params.some((a) => iface.args.find((b) => b.name === a.name)!.shape.some((s) => typeof s === "string"));
    const size = params.reduce((n, a) => n + a.length, 0);
    out(
      `  const paramSize: number = ${sizedParams ? "M.paramSize(sizes)" : "M.paramSize"};`,
      `  t.same(paramSize, ${size}, "paramSize");`,
      "  const packParams: (params: Params, x?: Float64Array) => Float64Array = M.packParams;",
      "  const unpackParams: (x: ArrayLike<number>, params?: Params) => Params = M.unpackParams;",
      // modules.md writes `inputs?: Inputs`; a program with inputs requires them (a call
      // without them throws), so its signature is the stricter one.
      `  const valueFlat: (x: ArrayLike<number>, inputs${withInputs ? "" : "?"}: Inputs) => number = M.valueFlat;`,
      `  const valueAndGradFlat: (x: ArrayLike<number>, grad: Float64Array | number[], inputs${withInputs ? "" : "?"}: Inputs) => number = M.valueAndGradFlat;`,
      `  const params: Params = ${objectOf(params, values)};`,
      `  const inputs: Inputs = ${objectOf(inputs, values)};`,
      "  const x: Float64Array = packParams(params);",
      "  t.same(packParams(params, new Float64Array(paramSize)), x, \"packParams into x\");",
      "  t.same(unpackParams(x), unpackParams(x, createGrad(" + S + ")), \"unpackParams into holders\");",
      ...params.map((a) => `  t.same(list(unpackParams(x)[${q(a.name)}]), list(params[${q(a.name)}]), "unpackParams's ${a.name}");`),
      `  const objective = backward(args, { ${q(objective)}: 1 });`,
      `  t.same(valueFlat(x${inputsArg}), objective.outputs[${q(objective)}], "valueFlat");`,
      "  const flatGrad = new Float64Array(paramSize);",
      `  t.same(valueAndGradFlat(x, flatGrad${inputsArg}), objective.outputs[${q(objective)}], "valueAndGradFlat's value");`,
      "  t.same(flatGrad, packParams(objective.grad), \"valueAndGradFlat's gradient\");",
      "  const plain: number[] = Array.from(x, () => 0);",
      `  valueAndGradFlat(Array.from(x), plain${inputsArg});`,
      "  t.same(plain, Array.from(flatGrad), \"valueAndGradFlat into a number[]\");",
      `  t.throws(() => valueFlat(new Float64Array(paramSize + 1)${inputsArg}), RangeError, ["'x'", paramSize], "a long x");`,
      `  t.throws(() => valueAndGradFlat(x, new Float64Array(paramSize + 1)${inputsArg}), RangeError, ["'grad'", paramSize], "a long grad");`,
      `  t.throws(() => packParams(params, new Float64Array(paramSize + 1)), RangeError, ["'x'", paramSize], "packParams into a long x");`,
      `  t.throws(() => unpackParams(new Float64Array(paramSize + 1)), RangeError, ["paramSize"], "unpackParams of a long x");`,
    );
    if (withInputs) {
      out(
        "  // @ts-expect-error the inputs are needed",
        `  t.throws(() => M.valueFlat(x), TypeError, [${q(`'${inputs[0].name}'`)}], "valueFlat without inputs");`,
        "  // @ts-expect-error the inputs are needed",
        `  t.throws(() => M.valueAndGradFlat(x, flatGrad), TypeError, [${q(`'${inputs[0].name}'`)}], "valueAndGradFlat without inputs");`,
        "  // @ts-expect-error an input left out",
        `  t.throws(() => valueFlat(x, ${objectOf(inputs, values, inputs[0].name)}), TypeError, [${q(`'${inputs[0].name}'`)}], "an input left out");`,
      );
    } else {
      out(
        "  t.same(M.valueFlat(x), valueFlat(x, {}), \"valueFlat without inputs\");",
        "  // @ts-expect-error the program has no inputs",
        "  M.valueFlat(x, { nothing: 1 });",
      );
    }
    if (params.length) {
      out(
        "  // @ts-expect-error a param left out",
        `  t.throws(() => packParams(${objectOf(params, values, params[0].name)}), TypeError, [${q(`'${params[0].name}'`)}], "packParams without a param");`,
        "  // @ts-expect-error x is a Float64Array",
        "  packParams(params, Array.from(x));",
      );
    }
    if (sizedParams) out("  // @ts-expect-error paramSize is a function of the sizes", "  const wrongSize: number = M.paramSize;", "  void wrongSize;");
  } else {
    out(
      "  // @ts-expect-error no flat form",
      "  t.same(typeof M.valueFlat, \"undefined\", \"no valueFlat\");",
      "  // @ts-expect-error no flat form",
      "  t.same(typeof M.paramSize, \"undefined\", \"no paramSize\");",
    );
  }

  // Wrong calls: a type error where TypeScript can see it, and at run time the class and the name.
  const param = params[0];
  if (param) {
    out(
      "  // @ts-expect-error a param left out",
      `  t.throws(() => forward(${objectOf(args, values, param.name)}), TypeError, [${q(`'${param.name}'`)}], "a param left out");`,
      "  // @ts-expect-error a misspelled argument (and so a param left out)",
      `  t.throws(() => forward({ ...${objectOf(args, values, param.name)}, ${q(param.name.toUpperCase() + "_")}: ${values.get(param.name)} }), TypeError, [${q(`'${param.name}'`)}], "a misspelled param");`,
    );
  }
  // The expected length is the page's for a tensor of fixed shape; one sized by a dim names itself.
  const fixed = (a: Arg) => iface.args.find((b) => b.name === a.name)!.shape.every((s) => typeof s === "number");
  const tensor = args.find((a) => !a.scalar && fixed(a)) ?? args.find((a) => !a.scalar);
  if (tensor) {
    out(
      `  t.throws(() => forward({ ...args, ${q(tensor.name)}: ${ones(tensor.length + 1)} }), RangeError, [${q(`'${tensor.name}'`)}${fixed(tensor) ? `, ${tensor.length}` : ""}], "a tensor of the wrong length");`,
      `  t.throws(() => backward({ ...args, ${q(tensor.name)}: new Float64Array(${Math.max(0, tensor.length - 1)}) }, seed), RangeError, [${q(`'${tensor.name}'`)}${fixed(tensor) ? `, ${tensor.length}` : ""}], "a tensor of the wrong length, to backward");`,
      "  // @ts-expect-error a number for a tensor",
      `  t.throws(() => forward({ ...args, ${q(tensor.name)}: 2 }), TypeError, [${q(`'${tensor.name}'`)}], "a number for a tensor");`,
    );
  }
  const scalar = args.find((a) => a.scalar);
  if (scalar) out("  // @ts-expect-error a string for a number", `  t.throws(() => forward({ ...args, ${q(scalar.name)}: "1" }), TypeError, [${q(`'${scalar.name}'`)}], "a string for a number");`);
  const integer = args.find((a) => a.integer && !a.scalar);
  if (integer) out(`  t.throws(() => forward({ ...args, ${q(integer.name)}: [0.5${", 0".repeat(integer.length - 1)}] }), TypeError, [${q(`'${integer.name}'`)}], "a fraction in an integer input");`);

  const first = outputs[0];
  // Another case of the same letters is close to the output whatever its length.
  const swapped = [...first.name].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join("");
  const misspelled = swapped !== first.name ? swapped : first.name + "_";
  out(
    "  // @ts-expect-error a misspelled seed key",
    `  t.throws(() => backward(args, { ${q(misspelled)}: ${seedOf(first)} }), TypeError, [${q(`'${misspelled}'`)}${swapped !== first.name ? `, ${q(`did you mean '${first.name}'`)}` : ""}], "a misspelled seed key");`,
    "  // @ts-expect-error a misspelled seed key, to backwardInto",
    `  t.throws(() => backwardInto(args, { ${q(misspelled)}: ${seedOf(first)} }, grad), TypeError, [${q(`'${misspelled}'`)}], "a misspelled seed key to backwardInto");`,
  );
  const tensorOut = outputs.find((o) => !o.scalar);
  if (tensorOut) {
    out(
      `  t.throws(() => backward(args, { ${q(tensorOut.name)}: ${ones(tensorOut.length + 1)} }), RangeError, [${q(`'${tensorOut.name}'`)}, ${tensorOut.length}, ${tensorOut.length + 1}], "a seed of the wrong length");`,
      "  // @ts-expect-error a number seeds a scalar output only",
      `  t.throws(() => backward(args, { ${q(tensorOut.name)}: 1 }), TypeError, [${q(`'${tensorOut.name}'`)}], "a number seeding a tensor output");`,
    );
  }
  const scalarOut = outputs.find((o) => o.scalar);
  if (scalarOut) out("  // @ts-expect-error an array seeds a tensor output only", `  t.throws(() => backward(args, { ${q(scalarOut.name)}: [1] }), TypeError, [${q(`'${scalarOut.name}'`)}], "an array seeding a scalar output");`);
  if (!loss) {
    // The page's signature lets the seed out; the call throws, naming the seeds needed.
    out(`  t.throws(() => backward(args), Error, [${outputs.map((o) => q(o.name)).join(", ")}], "no seed where one is needed");`);
    out(`  t.throws(() => backwardInto(args, undefined, grad), Error, [${outputs.map((o) => q(o.name)).join(", ")}], "an undefined seed where one is needed");`);
  }
  if (param) {
    out(
      `  const { ${q(param.name)}: _left, ...lacking } = createGrad(${S});`,
      "  void _left;",
      "  // @ts-expect-error a grad holder without a param",
      `  t.throws(() => backwardInto(args, seed, lacking), TypeError, [${q(`'${param.name}'`)}], "a grad holder without a param");`,
    );
  }
  const tensorParam = params.find((a) => !a.scalar);
  if (tensorParam)
    out(`  t.throws(() => backwardInto(args, seed, { ...grad, ${q(tensorParam.name)}: new Float64Array(${tensorParam.length + 1}) }), RangeError, [${q(`'${tensorParam.name}'`)}, ${tensorParam.length}], "a grad holder of the wrong length");`);
  out(
    `  const { ${q(first.name)}: _first, ...noFirst } = createOutputs(${S});`,
    "  void _first;",
    "  // @ts-expect-error an outputs holder without an output",
    `  t.throws(() => forwardInto(args, noFirst), TypeError, [${q(`'${first.name}'`)}], "an outputs holder without an output");`,
  );
  if (tensorOut)
    out(`  t.throws(() => forwardInto(args, { ...createOutputs(${S}), ${q(tensorOut.name)}: new Float64Array(${tensorOut.length + 1}) }), RangeError, [${q(`'${tensorOut.name}'`)}, ${tensorOut.length}], "an outputs holder of the wrong length");`);
  if (sized) {
    out("  // @ts-expect-error holders take the sizes", `  t.throws(() => M.createGrad(), TypeError, ["sizes"], "createGrad without sizes");`);
    // Type errors only: what a misspelled dim does at run time is not the page's to say.
    out("  // @ts-expect-error a misspelled dim", `  const misspelledDim = () => createOutputs({ ...sizes, ${Object.keys(dims)[0].toLowerCase()}_: 1 });`, "  void misspelledDim;");
    const bySize = params.find((a) => iface.args.find((b) => b.name === a.name)!.shape.some((s) => typeof s === "string"));
    if (bySize) {
      const bigger = `{ ${Object.entries(dims).map(([d, v]) => `${d}: ${v + 1}`).join(", ")} }`;
      out(`  t.throws(() => backwardInto(args, seed, createGrad(${bigger})), RangeError, [${q(`'${bySize.name}'`)}], "a grad holder of other sizes");`);
    }
  }
  out("  return result;", "}", "");
  return L.join("\n");
}

interface Built {
  program: Program;
  iface: ModuleInterface;
  flat: boolean;
  ts: string;
  js: string;
  dts: string;
}

function build(p: Program): Built {
  const options = { filename: `${p.name}.expr`, objective: p.objective, emit: p.emit };
  const ts = compile(p.source, { ...options, format: "ts" });
  const js = compile(p.source, { ...options, format: "js" });
  if (!ts.ok || !js.ok) throw new Error(`${p.name}: ${(ts.ok ? [] : ts.diagnostics).map((d) => d.text).join("\n")}`);
  return { program: p, iface: ts.interface, flat: /export function valueFlat\(/.test(ts.code), ts: ts.code, js: js.code, dts: js.declaration! };
}

const built = PROGRAMS.map(build);
// The three forms a TypeScript user imports: the .ts module, .js with .d.ts, .mjs with .d.mts.
const FORMS = [
  { suffix: "ts", from: (n: string) => `./${n}.js` },
  { suffix: "js", from: (n: string) => `./${n}-js.js` },
  { suffix: "mjs", from: (n: string) => `./${n}-m.mjs` },
] as const;

describe("a TypeScript consumer of each generated module, as modules.md writes its signatures", () => {
  it("type-checks under strict, and each wrong call it marks is a type error", () => {
    const project = new Project({
      useInMemoryFileSystem: true,
      compilerOptions: {
        strict: true,
        noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: true,
        noPropertyAccessFromIndexSignature: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        lib: ["lib.es2022.d.ts"],
        noEmit: true,
        skipDefaultLibCheck: true,
      },
    });
    for (const b of built) {
      const n = b.program.name;
      project.createSourceFile(`/${n}.ts`, b.ts);
      project.createSourceFile(`/${n}-js.d.ts`, b.dts);
      project.createSourceFile(`/${n}-m.d.mts`, b.dts);
      for (const f of FORMS) project.createSourceFile(`/use-${n}-${f.suffix}.ts`, consumer(b.program, b.iface, f.from(n), b.flat));
    }
    const errors = ts.getPreEmitDiagnostics(project.getProgram().compilerObject).map((d) => {
      const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0;
      return `${d.file?.fileName ?? ""}:${line}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`;
    });
    expect(errors).toEqual([]);
  }, 60_000);

  // The same consumers at run time, against the .ts module (its types stripped) and the .js one.
  const dir = mkdtempSync(join(tmpdir(), "gradc-types-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const strip = (text: string) => ts.transpileModule(text, { compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext } }).outputText;

  it.each(built.map((b) => [b.program.name, b] as const))("%s: the calls agree and the wrong ones throw as modules.md says", async (_, b) => {
    const n = b.program.name;
    writeFileSync(join(dir, `${n}.js`), strip(b.ts));
    writeFileSync(join(dir, `${n}-m.mjs`), b.js);
    const tester = (form: string) => ({
      same(actual: unknown, expected: unknown, what: string) {
        expect(actual, `${form}: ${what}`).toEqual(expected);
      },
      throws(call: () => unknown, kind: new (message?: string) => Error, names: (string | number)[], what: string) {
        let thrown: unknown;
        try {
          call();
        } catch (e) {
          thrown = e;
        }
        expect(thrown, `${form}: ${what} throws`).toBeInstanceOf(kind);
        const message = (thrown as Error).message;
        for (const name of names) expect(message, `${form}: ${what} names ${name}`).toContain(String(name));
      },
    });
    const results: unknown[] = [];
    for (const f of [FORMS[0], FORMS[2]]) {
      const file = join(dir, `use-${n}-${f.suffix}.js`);
      writeFileSync(file, strip(consumer(b.program, b.iface, f.from(n), b.flat)));
      const used = (await import(pathToFileURL(file).href)) as { run(t: ReturnType<typeof tester>): unknown };
      results.push(used.run(tester(f.suffix)));
    }
    // The TypeScript module's text differs from the JavaScript one's (the `!` of each read,
    // compound updates spelled out), never its numbers.
    expect(results[0]).toEqual(results[1]);
  });
});

// The library entry as a TypeScript app calls it (support/library-consumer.ts): type-checked
// with its imports, then run.
describe("a TypeScript consumer of the library entry", () => {
  it("type-checks, and compile() returns module text or the CLI's diagnostics", async () => {
    const project = new Project({
      compilerOptions: {
        strict: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.NodeNext,
        moduleResolution: ts.ModuleResolutionKind.NodeNext,
        lib: ["lib.es2022.d.ts"],
        types: [],
        noEmit: true,
        skipLibCheck: true,
      },
    });
    const file = project.addSourceFileAtPath(join("test", "support", "library-consumer.ts"));
    const program = project.getProgram().compilerObject;
    const source = program.getSourceFile(file.getFilePath())!;
    const errors = [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)].map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    expect(errors).toEqual([]);

    const { run } = await import("./support/library-consumer.js");
    const { code, declaration, diagnostic, wrongOption } = run();
    expect(code).toMatch(/^export function valueAndGradFlat\(x, grad, inputs\) \{$/m);
    expect(declaration).toMatch(/^export declare function backward\(args: Args, seed\?: Seed\): \{ outputs: Outputs; grad: Grads \};$/m);
    // The CLI prints each diagnostic's text: `file:line:col: error: message`, the line, a caret.
    const [where, line, caret] = diagnostic.text.split("\n");
    expect(where).toBe(`bad.expr:2:${diagnostic.column}: error: ${diagnostic.message}`);
    expect(line.trim()).toBe("output f = w +");
    expect(caret.indexOf("^")).toBe(line.indexOf("output") + diagnostic.column - 1);
    expect(wrongOption).toBeInstanceOf(TypeError);
  }, 60_000);
});
