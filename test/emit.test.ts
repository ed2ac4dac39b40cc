// The generated module as a product (modules.md, "The generated module"): TypeScript output
// that type-checks under strict, with a user's file against its types; JavaScript that
// parses and a declaration file that parses; names that are special in JavaScript kept as
// plain own properties; no code from source names or file names; identical bytes on every
// compile; argument checks with TypeError/RangeError naming the argument; and the
// allocation-free forms agreeing with the allocating ones.

import * as acorn from "acorn";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Project, ts } from "ts-morph";
import { describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { ROOT } from "./support/cli.js";
import { assertClose, compileJs, flat, load, rng, uniform, type Values } from "./support/load.js";

const EXAMPLES = join(ROOT, "examples", "cs231n");
const exampleFiles = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith(".expr"))
  .sort();
const readExample = (f: string) => readFileSync(join(EXAMPLES, f), "utf8");

function compileTs(source: string, filename = "test.expr"): string {
  const r = compile(source, { filename, format: "ts" });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.text).join("\n"));
  expect(r.declaration).toBeUndefined();
  return r.code;
}

// ---- type checking ---------------------------------------------------------------------
// Building a TypeScript program binds the lib files again, about a second each time, so
// every file to check is registered while the tests are collected (each in its own folder
// of an in-memory file system) and all are checked in ONE program on first use.

const typeFiles = new Map<string, string>();
let typeDiagnostics: Map<string, string[]> | undefined;

/** Register files (path -> text) for the one type-check; returns the paths. */
function forTypeCheck(files: Record<string, string>): string[] {
  if (typeDiagnostics) throw new Error("files must be registered before the first type check");
  for (const [path, text] of Object.entries(files)) {
    if (typeFiles.has(path)) throw new Error(`registered twice: ${path}`);
    typeFiles.set(path, text);
  }
  return Object.keys(files);
}

/** The diagnostics of a file as `name:line: TScode message`, strict, ES2022, ESNext modules. */
function diagnosticsOf(path: string): string[] {
  if (!typeDiagnostics) {
    const project = new Project({
      useInMemoryFileSystem: true,
      compilerOptions: {
        strict: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        lib: ["lib.es2022.d.ts"],
        noEmit: true,
        // TypeScript's own lib files need no checking (seconds saved); ours are all checked.
        skipDefaultLibCheck: true,
      },
    });
    for (const [file, text] of typeFiles) project.createSourceFile(file, text);
    const found = new Map<string, string[]>();
    for (const d of ts.getPreEmitDiagnostics(project.getProgram().compilerObject)) {
      const file = d.file?.fileName ?? "(global)";
      const line = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0;
      const list = found.get(file) ?? [];
      list.push(`${file.slice(file.lastIndexOf("/") + 1)}:${line}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`);
      found.set(file, list);
    }
    typeDiagnostics = found;
  }
  return typeDiagnostics.get(path) ?? [];
}

/** A program whose names are all special somewhere in JavaScript. */
const WEIRD = [
  "input constructor",
  "input delete[2]",
  "param __proto__",
  "param default[2]",
  "param arguments",
  "param eval",
  "param Math",
  "param toString",
  "def hasOwnProperty(valueOf) = valueOf * 2",
  "output out = constructor * __proto__ + sum(delete * default) + arguments * eval",
  "output valueOf = hasOwnProperty(default) * Math + toString",
  "output __proto__",
  "",
].join("\n");
const WEIRD_ARGS = '{"constructor": 2, "delete": [3, 5], "__proto__": 7, "default": [11, 13], "arguments": 17, "eval": 19, "Math": 23, "toString": 29}';

// Loading TypeScript's lib files into the first project takes a few seconds.
describe("TypeScript output type-checks under strict", { timeout: 60_000 }, () => {
  it("the in-memory project itself has no global errors", () => {
    expect(diagnosticsOf("(global)")).toEqual([]);
  });

  const exampleTs = exampleFiles.map((file) => [file, forTypeCheck({ [`/examples-ts/${file}/m.ts`]: compileTs(readExample(file), file) })[0]] as const);
  it.each(exampleTs)("examples/cs231n/%s", (_, path) => {
    expect(diagnosticsOf(path)).toEqual([]);
  });

  const weird = forTypeCheck({ "/weird-ts/m.ts": compileTs(WEIRD, "weird.expr") })[0];
  it("the program of JavaScript-special names", () => {
    expect(diagnosticsOf(weird)).toEqual([]);
  });

  const weirdUnchecked = compile(WEIRD, { filename: "weird.expr", format: "ts", checks: false });
  const weirdUncheckedPath = forTypeCheck({ "/weird-unchecked/m.ts": weirdUnchecked.ok ? weirdUnchecked.code : "" })[0];
  it("the program of JavaScript-special names, with checks off", () => {
    expect(weirdUnchecked.ok).toBe(true);
    expect(diagnosticsOf(weirdUncheckedPath)).toEqual([]);
  });

  const small = [
    ["scalar only", "param x\noutput f = x * x"],
    ["inputs only, no params", "input x[2]\noutput f = sum(x)"],
    ["tensor outputs", "param W[2, 3]\ninput x[3]\noutput y = W @ x\noutput s = sum(y)"],
    ["every helper", "param v[3]\noutput f = sum(sigmoid(v)) + sum(softplus(v)) + logsumexp(v) + sum(where(v > 0, sqrt(v), 0)) + max(v) + prod(v)\noutput g = softmax(v)"],
    ["atan2 and its Hessian (tables of constants, boolean tests)", "param p[2]\noutput f = atan2(p[0], p[1])\noutput H = hessian(atan2(p[0], p[1]), p)"],
    [
      "a boolean test declared before the branches that read it",
      "param x\nparam y\ns = where(y < 1, where(y < 0.5, 3, 2), 1)\na = where(x > 0, sin(y) * cos(y) * exp(y) * s + tanh(y * s), y)\noutput f = where(x > 0, sin(a) * cos(a) * exp(a) * s + where(y < 0.5, a, 2 * a) + tanh(a * s), a + 1)",
    ],
  ].map(([label, source], i) => [label, forTypeCheck({ [`/small-${i}/m.ts`]: compileTs(source) })[0]] as const);
  it.each(small)("%s", (_, path) => {
    expect(diagnosticsOf(path)).toEqual([]);
  });

  const declarations = exampleFiles.map((file) => [file, forTypeCheck({ [`/examples-dts/${file}/m.d.mts`]: compileJs(readExample(file), { filename: file }).declaration })[0]] as const);
  it.each(declarations)("the declaration file of %s", (_, path) => {
    expect(diagnosticsOf(path)).toEqual([]);
  });
});

describe("a user's file against the generated types", { timeout: 60_000 }, () => {
  const user = (from: string) =>
    [
      `import { forward, backward, backwardInto, forwardInto, createGrad, createOutputs, type Args, type Grads, type Outputs, type Seed } from "${from}";`,
      `const args: Args = { W: [1, 2, 3, 4, 5, 6], b: new Float64Array(3), x: [1, 2], y: [0, 1, 0], reg: 0.001 };`,
      `const out: Outputs = forward(args);`,
      `const loss: number = out.loss;`,
      `const r: { outputs: Outputs; grad: Grads } = backward(args);`,
      `const gW: Float64Array = r.grad.W;`,
      `const gb: Float64Array = r.grad.b;`,
      `const seed: Seed = { loss: 2 };`,
      `const g = createGrad();`,
      `const o = createOutputs();`,
      `const same: Grads = backwardInto(args, seed, g, o);`,
      `backwardInto(args, undefined, g);`,
      `forwardInto(args, o);`,
      `export const used = [loss, gW, gb, same];`,
      ``,
    ].join("\n");
  const source = readExample("softmax.expr");
  const softmaxTs = compileTs(source, "softmax.expr");

  const [, userTs] = forTypeCheck({ "/user-ts/softmax.ts": softmaxTs, "/user-ts/user.ts": user("./softmax.js") });
  // The files with deliberate mistakes import the same module, from the same folder.
  it("type-checks against the TypeScript module", () => {
    expect(diagnosticsOf(userTs)).toEqual([]);
  });

  const [, userJs] = forTypeCheck({
    "/user-js/softmax.d.mts": compileJs(source, { filename: "softmax.expr" }).declaration,
    "/user-js/user.mts": user("./softmax.mjs"),
  });
  it("type-checks against the JavaScript module's declaration file", () => {
    expect(diagnosticsOf(userJs)).toEqual([]);
  });

  const wrong = [
    ["a wrong property name in the arguments", `forward({ W: [1, 2, 3, 4, 5, 6], b: [0, 0, 0], x: [1, 2], y: [0, 1, 0], regg: 0.001 });`],
    ["a missing argument", `forward({ W: [1, 2, 3, 4, 5, 6], b: [0, 0, 0], x: [1, 2], y: [0, 1, 0] });`],
    ["a string for a number", `forward({ W: [1, 2, 3, 4, 5, 6], b: [0, 0, 0], x: [1, 2], y: [0, 1, 0], reg: "0.001" });`],
    ["a number for a tensor", `forward({ W: 1, b: [0, 0, 0], x: [1, 2], y: [0, 1, 0], reg: 0.001 });`],
    ["a wrong seed name", `backward({ W: [1, 2, 3, 4, 5, 6], b: [0, 0, 0], x: [1, 2], y: [0, 1, 0], reg: 0.001 }, { los: 1 });`],
    ["a gradient of an input", `const gx: Float64Array = createGrad().x;`],
    ["a tensor gradient used as a number", `const gW: number = createGrad().W;`],
    ["an output that does not exist", `const z: number = createOutputs().accuracy;`],
    ["backwardInto without its seed argument", `backwardInto({ W: [1, 2, 3, 4, 5, 6], b: [0, 0, 0], x: [1, 2], y: [0, 1, 0], reg: 0.001 }, createGrad());`],
  ].map(([label, line], i) => {
    const file = `import { forward, backward, backwardInto, createGrad, createOutputs } from "./softmax.js";\n${line}\nexport {};\n`;
    return [label, forTypeCheck({ [`/user-ts/wrong-${i}.ts`]: file })[0]] as const;
  });
  it.each(wrong)("%s is a type error", (_, path) => {
    const errors = diagnosticsOf(path);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((e) => /^wrong-\d+\.ts:2: /.test(e)), errors.join("\n")).toBe(true);
  });

  const [weirdUser] = forTypeCheck({
    "/weird-ts/user.ts": [
      `import { forward, backward, type Args } from "./m.js";`,
      `const args: Args = { constructor: 2, delete: [3, 5], ["__proto__"]: 7, default: [11, 13], arguments: 17, eval: 19, Math: 23, toString: 29 };`,
      `const r = backward(args, { out: 1, valueOf: [1, 1], ["__proto__"]: 1 });`,
      `const p: number = r.grad["__proto__"];`,
      `const d: Float64Array = r.grad.default;`,
      `const o: number = forward(args).out;`,
      `export const used = [p, d, o];`,
      ``,
    ].join("\n"),
  });
  it("the weird-names module's types accept its own names", () => {
    expect(diagnosticsOf(weirdUser)).toEqual([]);
  });
});

describe("emitted JavaScript parses; declaration files parse as TypeScript", { timeout: 30_000 }, () => {
  const programs: [string, string, string][] = [
    ...exampleFiles.map((f): [string, string, string] => [`examples/cs231n/${f}`, readExample(f), f]),
    ["weird names", WEIRD, "weird.expr"],
    ["a file name with quotes, */ and a newline", "param x\noutput f = x", 'evil */ "quote\' \\\n\u2028 ${x}.expr'],
    [
      "every built-in",
      "param v[3]\nparam M[2, 3]\noutput f = sum(exp(v) + log(v*v+1) + sqrt(v*v) + sin(v) + cos(v) + tan(v) + asin(v/9) + acos(v/9) + atan(v) + sinh(v) + cosh(v) + tanh(v) + sigmoid(v) + relu(v) + softplus(v) + abs(v) + sign(v) + floor(v) + ceil(v) + log1p(v*v) + expm1(v)) + sum(pow(v, 2) + max(v, 0) + min(v, 1) + atan2(v, 2) + where(v > 0, v, 0)) + mean(v) + prod(v) + max(v) + min(v) + norm(M) + logsumexp(v) + dot(v, v) + sum(softmax(v)) + sum(log_softmax(v)) + sum(M @ v) + sum(transpose(M))",
      "all.expr",
    ],
  ];

  it.each(programs)("%s", (_, source, filename) => {
    const r = compileJs(source, { filename });
    expect(() => acorn.parse(r.code, { ecmaVersion: "latest", sourceType: "module" })).not.toThrow();
    for (const [name, text] of [
      ["m.d.mts", r.declaration],
      ["m.ts", compileTs(source, filename)],
    ]) {
      const sf = ts.createSourceFile(name, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
      const parseErrors = (sf as unknown as { parseDiagnostics: ts.Diagnostic[] }).parseDiagnostics;
      expect(parseErrors.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n")), name).toEqual([]);
    }
  });

  it.each([
    ["quotes, comment ends and a newline", 'x"); globalThis.__pwned = 1; ("*/ globalThis.__pwned = 2; /*\n globalThis.__pwned = 3;.expr'],
    ["a line separator U+2028 ending the header's // comment", "x\u2028globalThis.__pwned = 4; //.expr"],
    ["a paragraph separator U+2029", "x\u2029globalThis.__pwned = 5; //.expr"],
    ["a backslash and a quote", "x\\\"; globalThis.__pwned = 6; //.expr"],
  ])("a hostile file name cannot put code into the module: %s", async (_, filename) => {
    const r = compileJs("param x\noutput f = x * 2", { filename });
    // The whole module is comments, declarations and exports: no top-level statement runs code.
    const program = acorn.parse(r.code, { ecmaVersion: "latest", sourceType: "module" }) as unknown as { body: { type: string; start: number; end: number }[] };
    for (const n of program.body) expect(["FunctionDeclaration", "ExportNamedDeclaration", "VariableDeclaration"], r.code.slice(n.start, n.end)).toContain(n.type);
    const { module } = await load("param x\noutput f = x * 2", { filename });
    expect((globalThis as Record<string, unknown>).__pwned).toBeUndefined();
    expect(module.forward({ x: 3 })).toEqual({ f: 6 });
    // The file's name (its base name, as in the header) appears in messages as written.
    expect(() => module.forward({})).toThrowError(filename.split(/[\\/]/).pop()!);
  });
});

describe("names that are special in JavaScript keep their spelling and stay own properties", () => {
  it("compiles, runs, and gives the right values", async () => {
    const { module, interface: iface } = await load(WEIRD, { filename: "weird.expr" });
    expect(iface.args.map((a) => a.name)).toEqual(["constructor", "delete", "__proto__", "default", "arguments", "eval", "Math", "toString"]);
    const args = JSON.parse(WEIRD_ARGS) as Record<string, unknown>;
    expect(Object.hasOwn(args, "__proto__")).toBe(true);

    const out = module.forward(args);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out).sort()).toEqual(["__proto__", "out", "valueOf"]);
    // out = constructor*__proto__ + sum(delete*default) + arguments*eval = 14 + (33 + 65) + 323
    expect(out.out).toBe(14 + 33 + 65 + 323);
    // valueOf = 2*default*Math + toString
    expect(Array.from(out["valueOf"] as unknown as Float64Array)).toEqual([2 * 11 * 23 + 29, 2 * 13 * 23 + 29]);
    expect(Object.getOwnPropertyDescriptor(out, "__proto__")?.value).toBe(7);

    const seed = JSON.parse('{"out": 1, "valueOf": [10, 100], "__proto__": 1000}');
    const { outputs, grad } = module.backward(args, seed);
    expect(outputs.out).toBe(out.out);
    expect(Object.getPrototypeOf(grad)).toBe(Object.prototype);
    expect(Object.keys(grad).sort()).toEqual(["Math", "__proto__", "arguments", "default", "eval", "toString"]);
    const own = (o: object, k: string) => Object.getOwnPropertyDescriptor(o, k)?.value;
    expect(own(grad, "__proto__")).toBe(2 + 1000); // d out/d __proto__ = constructor; plus the exported __proto__'s seed
    expect(Array.from(grad.default as Float64Array)).toEqual([3 + 10 * 2 * 23, 5 + 100 * 2 * 23]);
    expect(grad.arguments).toBe(19);
    expect(grad.eval).toBe(17);
    expect(grad.Math).toBe(10 * 2 * 11 + 100 * 2 * 13);
    expect(grad.toString).toBe(110);
    // Prototype methods are untouched.
    expect(typeof Object.prototype.toString).toBe("function");
    expect(typeof Object.prototype.hasOwnProperty).toBe("function");
  });

  it("args built with Object.defineProperty work the same", async () => {
    const { module } = await load(WEIRD, { filename: "weird.expr" });
    const args = {};
    for (const [k, v] of Object.entries(JSON.parse(WEIRD_ARGS) as Record<string, unknown>)) Object.defineProperty(args, k, { value: v, enumerable: true });
    expect(module.forward(args).out).toBe(435);
  });

  it("the into forms keep __proto__ an own property", async () => {
    const { module } = await load(WEIRD, { filename: "weird.expr" });
    const args = JSON.parse(WEIRD_ARGS);
    const o = module.createOutputs();
    const g = module.createGrad();
    expect(Object.hasOwn(o, "__proto__")).toBe(true);
    expect(Object.hasOwn(g, "__proto__")).toBe(true);
    module.backwardInto(args, JSON.parse('{"out": 1, "valueOf": [0, 0], "__proto__": 0}'), g, o);
    expect(Object.getOwnPropertyDescriptor(g, "__proto__")?.value).toBe(2);
    expect(Object.getOwnPropertyDescriptor(o, "__proto__")?.value).toBe(7);
    expect(Object.getPrototypeOf(g)).toBe(Object.prototype);
  });

  it("a missing __proto__ argument is reported, not read from Object.prototype", async () => {
    const { module } = await load(WEIRD, { filename: "weird.expr" });
    const args = JSON.parse(WEIRD_ARGS);
    delete args["__proto__"];
    expect(() => module.forward(args)).toThrowError(TypeError);
    expect(() => module.forward(args)).toThrowError(/__proto__/);
  });
});

describe("determinism", () => {
  it.each(exampleFiles)("compiling %s twice gives identical bytes (ts and js)", (file) => {
    const source = readExample(file);
    const ts1 = compile(source, { filename: file, format: "ts" });
    const js1 = compile(source, { filename: file, format: "js" });
    // Something else in between, so no counter or cache can leak from one compile to the next.
    compile(WEIRD, { filename: "weird.expr", format: "js" });
    compile("param x\noutput f = y", { filename: "bad.expr" });
    const ts2 = compile(source, { filename: file, format: "ts" });
    const js2 = compile(source, { filename: file, format: "js" });
    expect(ts1.ok && js1.ok && ts2.ok && js2.ok).toBe(true);
    if (ts1.ok && ts2.ok && js1.ok && js2.ok) {
      expect(ts2.code).toBe(ts1.code);
      expect(js2.code).toBe(js1.code);
      expect(js2.declaration).toBe(js1.declaration);
    }
  });
});

describe("argument checks", () => {
  const SOURCE = "input x\nparam w[3]\nparam M[2, 3]\noutput f = x * sum(w) + sum(M @ w)";
  const good = () => ({ x: 1, w: [1, 2, 3], M: [1, 2, 3, 4, 5, 6] });
  const calls = async () => {
    const { module } = await load(SOURCE, { filename: "checked.expr" });
    return [
      ["forward", (a: unknown) => module.forward(a)],
      ["backward", (a: unknown) => module.backward(a)],
      ["forwardInto", (a: unknown) => module.forwardInto(a, module.createOutputs())],
      ["backwardInto", (a: unknown) => module.backwardInto(a, undefined, module.createGrad())],
    ] as const;
  };

  it.each([
    ["a missing scalar", { w: [1, 2, 3], M: [1, 2, 3, 4, 5, 6] }, TypeError, ["'x'"]],
    ["a missing vector", { x: 1, M: [1, 2, 3, 4, 5, 6] }, TypeError, ["'w'", "3"]],
    ["a missing matrix", { x: 1, w: [1, 2, 3] }, TypeError, ["'M'", "6"]],
    ["a vector too short", { ...good(), w: [1, 2] }, RangeError, ["'w'", "3", "2"]],
    ["a vector too long", { ...good(), w: new Float64Array(4) }, RangeError, ["'w'", "3", "4"]],
    ["a matrix of the wrong length", { ...good(), M: [1, 2, 3] }, RangeError, ["'M'", "6"]],
    ["null for a vector", { ...good(), w: null }, TypeError, ["'w'"]],
    ["null for a scalar", { ...good(), x: null }, TypeError, ["'x'"]],
    ["a string for a vector", { ...good(), w: "abc" }, TypeError, ["'w'"]],
    ["a string for a scalar", { ...good(), x: "1" }, TypeError, ["'x'"]],
    ["an array for a scalar", { ...good(), x: [1] }, TypeError, ["'x'"]],
    ["a number for a vector", { ...good(), w: 3 }, TypeError, ["'w'"]],
    ["a nested array for a vector", { ...good(), w: [[1], [2], [3]] }, TypeError, ["'w'"]],
    ["an array of strings", { ...good(), w: ["1", "2", "3"] }, TypeError, ["'w'"]],
  ])("%s", async (_, args, kind, mentions) => {
    for (const [name, call] of await calls()) {
      let error: unknown;
      try {
        call(args);
      } catch (e) {
        error = e;
      }
      expect(error, name).toBeInstanceOf(kind);
      for (const m of mentions) expect((error as Error).message, name).toContain(m);
    }
  });

  it("a nested array for a matrix is rejected, naming the argument and the flat length", async () => {
    for (const [name, call] of await calls()) {
      let error: unknown;
      try {
        call({ ...good(), M: [[1, 2, 3], [4, 5, 6]] });
      } catch (e) {
        error = e;
      }
      expect(error instanceof TypeError || error instanceof RangeError, name).toBe(true);
      expect((error as Error).message).toContain("'M'");
      expect((error as Error).message).toContain("6");
      expect((error as Error).message).toMatch(/flat/);
    }
  });

  it.each([
    ["undefined", undefined],
    ["null", null],
    ["a number", 3],
  ])("%s instead of an arguments object is a TypeError", async (_, args) => {
    for (const [name, call] of await calls()) expect(() => call(args), name).toThrowError(TypeError);
  });

  it("error messages name the source file", async () => {
    const { module } = await load(SOURCE, { filename: "checked.expr" });
    expect(() => module.forward({ x: 1, M: [1, 2, 3, 4, 5, 6] })).toThrowError(/checked\.expr/);
  });

  it("a wrong seed is an error naming the output", async () => {
    const { module } = await load("param v[3]\noutput y = v * 2\noutput s = sum(v)", { filename: "seeds.expr" });
    expect(() => module.backward({ v: [1, 2, 3] }, { y: [1, 2] })).toThrowError(/'y'/);
    expect(() => module.backward({ v: [1, 2, 3] }, { s: "1" })).toThrowError(/'s'/);
  });

  it("valid arguments of both kinds pass", async () => {
    const { module } = await load(SOURCE, { filename: "checked.expr" });
    const a = module.forward(good());
    const b = module.forward({ x: 1, w: Float64Array.from([1, 2, 3]), M: Float64Array.from([1, 2, 3, 4, 5, 6]) });
    expect(a).toEqual(b);
    expect(a.f).toBe(6 + (14 + 32));
  });

  it("checks: false leaves the checks out and gives the same values", async () => {
    const checked = await load(SOURCE, { filename: "checked.expr" });
    const unchecked = await load(SOURCE, { filename: "checked.expr", checks: false });
    expect(unchecked.code).not.toContain("checkArgs");
    expect(unchecked.code.length).toBeLessThan(checked.code.length);
    expect(unchecked.module.forward(good())).toEqual(checked.module.forward(good()));
    expect(unchecked.module.backward(good())).toEqual(checked.module.backward(good()));
  });
});

describe("the allocation-free forms", () => {
  const programs: [string, string, (r: () => number) => Record<string, number | number[]>, Record<string, unknown> | undefined][] = [
    ["softmax.expr (loss case)", readExample("softmax.expr"), (r) => ({ x: [uniform(r, -1, 1), uniform(r, -1, 1)], y: [0, 0, 1], reg: 0.001, W: Array.from({ length: 6 }, () => uniform(r, -1, 1)), b: [uniform(r, -1, 1), 0, 0.5] }), undefined],
    [
      "twolayer.expr (large: 100 hidden units)",
      readExample("twolayer.expr"),
      (r) => ({
        x: [uniform(r, -1, 1), uniform(r, -1, 1)],
        y: [0, 1, 0],
        reg: 0.001,
        W1: Array.from({ length: 200 }, () => uniform(r, -1, 1)),
        b1: Array.from({ length: 100 }, () => uniform(r, -0.5, 0.5)),
        W2: Array.from({ length: 300 }, () => uniform(r, -1, 1)),
        b2: [uniform(r, -1, 1), 0, 0.5],
      }),
      undefined,
    ],
    [
      "scalar and tensor params and outputs",
      "param k\nparam v[3]\nparam M[2, 3]\noutput s = k * sum(v)\noutput y = M @ v * k\noutput Z = M * M",
      (r) => ({ k: uniform(r, -2, 2), v: [1, uniform(r, -2, 2), 3], M: Array.from({ length: 6 }, () => uniform(r, -2, 2)) }),
      { s: 0.5, y: [1, -2], Z: [1, 2, 3, 4, 5, 6] },
    ],
  ];

  const snapshot = (v: Values) => Object.fromEntries(Object.entries(v).map(([k, x]) => [k, typeof x === "number" ? x : Array.from(x)]));

  it.each(programs)("%s: createOutputs and createGrad make zeroed holders of the right lengths", async (_, source) => {
    const { module, interface: iface } = await load(source, { filename: "into.expr" });
    const o = module.createOutputs();
    const g = module.createGrad();
    expect(Object.keys(o)).toEqual(iface.outputs.map((x) => x.name));
    expect(Object.keys(g)).toEqual(iface.args.filter((a) => a.role === "param").map((a) => a.name));
    for (const x of [...iface.outputs.map((q) => [o[q.name], q.shape] as const), ...iface.args.filter((a) => a.role === "param").map((a) => [g[a.name], a.shape] as const)]) {
      const [value, shape] = x;
      if (shape.length) {
        expect(value).toBeInstanceOf(Float64Array);
        expect((value as Float64Array).length).toBe(shape.reduce((p, q) => p * q, 1));
        expect(Array.from(value as Float64Array).every((e) => e === 0)).toBe(true);
      } else expect(typeof value).toBe("number");
    }
    // Fresh holders each call.
    expect(module.createGrad()).not.toBe(g);
  });

  it.each(programs)("%s: forwardInto and backwardInto equal forward and backward", async (_, source, point, seed) => {
    const { module } = await load(source, { filename: "into.expr" });
    for (const p of [1, 2, 3]) {
      const args = point(rng(p));
      const o = module.createOutputs();
      const tensors = Object.fromEntries(Object.entries(o).filter(([, x]) => typeof x !== "number"));
      const returned = module.forwardInto(args, o);
      expect(returned).toBe(o);
      // Tensors are written in place.
      for (const [k, x] of Object.entries(tensors)) expect(o[k]).toBe(x);
      expect(snapshot(o)).toEqual(snapshot(module.forward(args)));

      const g = module.createGrad();
      const gTensors = Object.fromEntries(Object.entries(g).filter(([, x]) => typeof x !== "number"));
      const o2 = module.createOutputs();
      const gr = module.backwardInto(args, seed, g, o2);
      expect(gr).toBe(g);
      for (const [k, x] of Object.entries(gTensors)) expect(g[k]).toBe(x);
      const reference = module.backward(args, seed);
      expect(snapshot(g)).toEqual(snapshot(reference.grad));
      expect(snapshot(o2)).toEqual(snapshot(reference.outputs));
    }
  });

  it.each(programs)("%s: backwardInto overwrites, never accumulates", async (_, source, point, seed) => {
    const { module } = await load(source, { filename: "into.expr" });
    const args = point(rng(9));
    const g = module.createGrad();
    module.backwardInto(args, seed, g);
    const first = snapshot(g);
    module.backwardInto(args, seed, g);
    expect(snapshot(g)).toEqual(first);
    // Garbage in the holders is overwritten too.
    for (const [k, x] of Object.entries(g)) {
      if (typeof x === "number") g[k] = 12345;
      else x.fill(NaN);
    }
    module.backwardInto(args, seed, g);
    expect(snapshot(g)).toEqual(first);
    // Another point, then back: no state carried over.
    module.backwardInto(point(rng(10)), seed, g);
    module.backwardInto(args, seed, g);
    expect(snapshot(g)).toEqual(first);
  });

  it.each(programs)("%s: backwardInto writes the outputs only when given", async (_, source, point, seed) => {
    const { module } = await load(source, { filename: "into.expr" });
    const args = point(rng(4));
    const o = module.createOutputs();
    for (const [k, x] of Object.entries(o)) {
      if (typeof x === "number") o[k] = -777;
      else x.fill(-777);
    }
    module.backwardInto(args, seed, module.createGrad(), o);
    expect(snapshot(o)).toEqual(snapshot(module.forward(args)));
    // Without outputs it still works.
    expect(() => module.backwardInto(args, seed, module.createGrad())).not.toThrow();
  });

  it("gradients from backwardInto match finite differences (softmax.expr)", async () => {
    const { module } = await load(readExample("softmax.expr"), { filename: "into.expr" });
    const args = programs[0][2](rng(5));
    const g = module.backwardInto(args, undefined, module.createGrad());
    const W = args.W as number[];
    const h = 1e-6;
    const numeric = W.map((_, i) => {
      const at = (d: number) => module.forward({ ...args, W: W.map((w, j) => (j === i ? w + d : w)) }).loss as number;
      return (at(h) - at(-h)) / (2 * h);
    });
    assertClose(g.W, numeric, 1e-6, "dW");
    expect(flat(g.b).length).toBe(3);
  });
});

describe("JSDoc and header", () => {
  it("each exported function has a JSDoc line naming the source file", () => {
    const r = compileJs(readExample("neuron.expr"), { filename: "neuron.expr" });
    for (const text of [r.code, r.declaration, compileTs(readExample("neuron.expr"), "neuron.expr")]) {
      for (const fn of ["forward", "backward", "forwardInto", "backwardInto", "createOutputs", "createGrad"]) {
        expect(text).toMatch(new RegExp(`/\\*\\*[^\\n]*neuron\\.expr[^\\n]*\\*/\\n(export )?(declare )?function ${fn}\\(|/\\*\\*[^\\n]*neuron\\.expr[^\\n]*\\*/\\nexport (declare )?function ${fn}\\(`));
      }
    }
  });

  it("every export of a module with dims and the flat form has one, sizesOf included", () => {
    const source = readExample("twolayer-sized.expr");
    const r = compileJs(source, { filename: "twolayer-sized.expr" });
    for (const text of [r.code, r.declaration!, compileTs(source, "twolayer-sized.expr")]) {
      const lines = text.split("\n");
      const exported = lines.flatMap((l, i) => (/^export (declare )?(function|const) /.test(l) ? [i] : []));
      // unpackParams has two overloads (Grads and Params), and the .ts module its implementation too.
      expect(exported.length).toBe(text.includes("declare") ? 13 : text.includes("params?: Params") ? 14 : 12);
      expect(lines.some((l) => /^export (declare )?function sizesOf\(/.test(l))).toBe(true);
      for (const i of exported) expect(lines[i - 1], lines[i]).toMatch(/^\/\*\* .* \(twolayer-sized\.expr\) \*\/$/);
    }
  });

  it("the module imports nothing", () => {
    for (const file of exampleFiles) {
      const r = compileJs(readExample(file), { filename: file });
      const program = acorn.parse(r.code, { ecmaVersion: "latest", sourceType: "module" }) as unknown as { body: { type: string }[] };
      expect(program.body.some((n) => n.type === "ImportDeclaration" || n.type === "ExportAllDeclaration"), file).toBe(false);
      expect(r.code).not.toMatch(/\bimport\s*\(|\brequire\s*\(/);
    }
  });
});
