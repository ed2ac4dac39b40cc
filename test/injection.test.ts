// Output safety (the "Robustness" issue): names and numbers from the source reach the
// generated code only as quoted property keys, string literals, comments made safe, or
// numeric literals, and the file name only as comment text and string literals. For every
// place source text can reach, a hostile spelling is compiled next to a benign program of
// the same structure, and:
//
// - the module parses (acorn for JavaScript, TypeScript's parser for .ts and .d.ts);
// - its top-level shape (the list of top-level statements, their kinds and declared names)
//   and the set of identifiers used anywhere in it are those of the benign program, so no
//   source text became code;
// - it runs, the properties of `outputs` and `grad` are exactly the source names, as own
//   properties of plain objects, and nothing leaked into globalThis or Object.prototype.

import * as acorn from "acorn";
import { ts } from "ts-morph";
import { afterEach, describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { instantiate } from "./support/arbitrary.js";

type AnyNode = { type: string; [k: string]: unknown };

function parseModule(code: string): AnyNode {
  return acorn.parse(code, { ecmaVersion: "latest", sourceType: "module" }) as unknown as AnyNode;
}

/** Top-level statements as `Kind name`: functions, consts, exports. */
function topLevel(code: string): string[] {
  const body = parseModule(code).body as AnyNode[];
  return body.map((n) => {
    const decl = (n.type === "ExportNamedDeclaration" ? n.declaration : n) as AnyNode | null;
    const names =
      decl?.type === "FunctionDeclaration"
        ? [(decl.id as AnyNode).name]
        : decl?.type === "VariableDeclaration"
          ? (decl.declarations as AnyNode[]).map((d) => (d.id as AnyNode).name)
          : [];
    return `${n.type}${decl && decl !== n ? `/${decl.type}` : ""} ${names.join(",")}`;
  });
}

/** Every identifier name in the module (declarations, references and property names). */
function identifiers(code: string): Set<string> {
  const found = new Set<string>();
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) return x.forEach(walk);
    if (!x || typeof x !== "object") return;
    const n = x as AnyNode;
    if (n.type === "Identifier" || n.type === "PrivateIdentifier") found.add(n.name as string);
    for (const [k, v] of Object.entries(n)) if (k !== "type" && typeof v === "object") walk(v);
  };
  walk(parseModule(code));
  return found;
}

/** Parse errors of TypeScript text (the .ts module or a declaration file). */
function tsParseErrors(text: string, name: string): string[] {
  const sf = ts.createSourceFile(name, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  return ((sf as unknown as { parseDiagnostics: ts.Diagnostic[] }).parseDiagnostics ?? []).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
}

const built = new Map<string, ReturnType<typeof compileBoth>>();
/** The js and ts compiles of a program (cached: the benign twins are shared). */
function build(source: string, filename: string, emit: "unrolled" | "loops" = "unrolled") {
  const key = JSON.stringify([source, filename, emit]);
  if (!built.has(key)) built.set(key, compileBoth(source, filename, emit));
  return built.get(key)!;
}

function compileBoth(source: string, filename: string, emit: "unrolled" | "loops") {
  const js = compile(source, { filename, format: "js", emit });
  const tsm = compile(source, { filename, format: "ts", emit });
  if (!js.ok || !tsm.ok) throw new Error(`compile failed:\n${(js.ok ? [] : js.diagnostics).map((d) => d.text).join("\n")}`);
  return { js, ts: tsm };
}

/** The same checks for a hostile compile and its benign twin. */
function expectSameShape(hostile: ReturnType<typeof build>, benign: ReturnType<typeof build>) {
  expect(() => parseModule(hostile.js.code)).not.toThrow();
  expect(tsParseErrors(hostile.ts.code, "m.ts")).toEqual([]);
  expect(tsParseErrors(hostile.js.declaration!, "m.d.mts")).toEqual([]);
  expect(topLevel(hostile.js.code)).toEqual(topLevel(benign.js.code));
  expect([...identifiers(hostile.js.code)].sort()).toEqual([...identifiers(benign.js.code)].sort());
}

const PROTO_KEYS = Object.getOwnPropertyNames(Object.prototype).sort();
afterEach(() => {
  // Nothing leaked: no global written by generated code, Object.prototype as it was.
  expect((globalThis as Record<string, unknown>).__pwned).toBeUndefined();
  expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(PROTO_KEYS);
  expect(typeof Object.prototype.toString).toBe("function");
});

// ---- names --------------------------------------------------------------------------------

/**
 * Legal names that are special somewhere: Object.prototype members, JavaScript keywords and
 * globals, and the generated code's own local names (argument, temporary, buffer, loop and
 * helper names), which a careless emitter would let collide. (`grad`, the generated code's
 * holder, is a keyword of the language, so it cannot be a name.)
 */
const SPECIAL = [
  "constructor", "__proto__", "toString", "valueOf", "hasOwnProperty", "isPrototypeOf", "propertyIsEnumerable", "toLocaleString",
  "__defineGetter__", "__lookupSetter__", "prototype", "length", "then", "arguments", "eval", "undefined", "NaN", "Infinity",
  "globalThis", "Object", "Math", "Float64Array", "TypeError", "args", "outputs", "gradient", "seed", "a0", "a1", "s0", "t0", "t1",
  "g0", "o0", "b1", "h2", "buf1", "i", "j", "q", "checkArgs", "checkTensor", "describe", "sigmoid", "relu", "chainMul",
  "NO_SEED", "backwardRegisters", "forward", "backward", "createGrad", "default", "await", "yield", "let", "static", "enum",
  "function", "return", "var", "this", "super", "new", "typeof", "void", "delete", "async", "import", "export", "require",
  "process", "alert", "__pwned",
];

/**
 * A program that puts names in every place a name can stand: scalar and vector params,
 * inputs, a const, a plain def and its parameters, a gate and its parameter, bindings, a
 * loop variable, outputs (new and exported). `names[k]` fills the k-th slot.
 */
function namedProgram(names: readonly string[]): { source: string; scalars: string[]; vectors: string[]; outputs: string[] } {
  let k = 0;
  const next = () => names[k++ % names.length];
  const [input, vinput, konst, def0, dp1, dp2, gate0, gp, let1, let2, loop] = Array.from({ length: 11 }, next);
  // A def may not take a built-in's name (sigmoid, relu are in the list).
  const [def, gate] = [def0, gate0].map((f) => (["sigmoid", "relu"].includes(f) ? `${f}_` : f));
  const scalars = Array.from({ length: 24 }, next);
  const vectors = Array.from({ length: 8 }, next);
  const outputs = Array.from({ length: 4 }, next);
  const lines = [
    `const ${konst} = 3`,
    `input ${input}, ${vinput}[${konst}]`,
    `param ${scalars.join(", ")}`,
    `param ${vectors.map((v) => `${v}[${konst}]`).join(", ")}`,
    `def ${def}(${dp1}, ${dp2}) = ${dp1} * ${dp2} + ${dp1}`,
    `def ${gate}(${gp}) = ${gp} * ${gp}`,
    `grad ${gp} = 2 * ${gp}`,
    `${let1} = ${vectors.map((v) => `${v} * ${vinput}`).join(" + ")}`,
    `${let2} = [${vectors[0]}[${loop}] * ${loop} for ${loop} in 0..${konst}]`,
    // outputs[0]: a weighted sum of every scalar param, so d/d scalars[k] = k + 1 (times the input).
    `output ${outputs[0]} = ${input} * (${scalars.map((s, i) => `${i + 1} * ${s}`).join(" + ")}) + sum(${let1}) + ${gate}(${scalars[0]})`,
    `output ${outputs[1]} = ${def}(${let1}, ${scalars[1]}) + ${let2}`,
    `output ${outputs[2]} = ${scalars[2]}`,
    `output ${outputs[3]} = ${konst} * ${vectors[1]}`,
  ];
  return { source: lines.join("\n") + "\n", scalars, vectors, outputs };
}

describe("names special in JavaScript, or spelled like the generated code's own names", { timeout: 60_000 }, () => {
  // Rotate the list so each name lands in different places across the cases.
  const rotations = [0, 11, 23, 37, 52, 66].map((r) => [r, [...SPECIAL.slice(r), ...SPECIAL.slice(0, r)]] as const);
  const benign = namedProgram(Array.from({ length: 60 }, (_, k) => `n${k}`));
  const uniqueNames = (names: readonly string[]) => {
    // 47 slots from a list of distinct names: every program uses distinct names.
    expect(new Set(names.slice(0, 47)).size).toBe(47);
    return names;
  };

  it.each(rotations)("rotation %i: parses, keeps its shape, runs, and its objects have exactly the source names", (_, names) => {
    const p = namedProgram(uniqueNames(names));
    for (const emit of ["unrolled", "loops"] as const) {
      const hostile = build(p.source, "names.expr", emit);
      const twin = build(benign.source, "names.expr", emit);
      expectSameShape(hostile, twin);
      for (const name of SPECIAL.filter((n) => p.source.includes(n))) {
        // A source name is never an identifier of the module: it is a key or a string.
        if (!identifiers(twin.js.code).has(name)) expect(identifiers(hostile.js.code).has(name), `${name} became an identifier`).toBe(false);
      }

      const m = instantiate(hostile.js.code);
      const args: Record<string, unknown> = {};
      const [input, vinput] = [names[0], names[1]];
      Object.defineProperty(args, input, { value: 2, enumerable: true });
      Object.defineProperty(args, vinput, { value: [1, 2, 3], enumerable: true });
      p.scalars.forEach((s, i) => Object.defineProperty(args, s, { value: i / 10, enumerable: true }));
      p.vectors.forEach((v, i) => Object.defineProperty(args, v, { value: [i, i + 1, i + 2], enumerable: true }));
      // Every output seeded (0 but the first): a seed left out is the next test's subject.
      const seed: Record<string, unknown> = {};
      p.outputs.forEach((o, k) => Object.defineProperty(seed, o, { value: k === 0 ? 1 : k % 2 ? [0, 0, 0] : 0, enumerable: true }));
      const { outputs, grad } = m.backward(args, seed);
      for (const o of [outputs, grad, m.forward(args), m.createGrad(), m.createOutputs()]) expect(Object.getPrototypeOf(o)).toBe(Object.prototype);
      expect(Object.getOwnPropertyNames(outputs)).toEqual(p.outputs);
      expect(Object.getOwnPropertyNames(m.forward(args))).toEqual(p.outputs);
      expect(Object.getOwnPropertyNames(m.createOutputs())).toEqual(p.outputs);
      expect(Object.getOwnPropertyNames(grad)).toEqual([...p.scalars, ...p.vectors]);
      expect(Object.getOwnPropertyNames(m.createGrad())).toEqual([...p.scalars, ...p.vectors]);
      // d outputs[0] / d scalars[k] = input * (k + 1) (the gate adds 2 * scalars[0], which is 0).
      p.scalars.forEach((s, k) => expect(Object.getOwnPropertyDescriptor(grad, s)!.value, s).toBeCloseTo(2 * (k + 1), 12));
      expect(Object.getOwnPropertyDescriptor(outputs, p.outputs[2])!.value).toBe(0.2);
    }
  });

  // Found here: backward reads seeds as `seed[name]`, so an output named like a member of
  // Object.prototype that is left out of the seed finds the inherited member instead of
  // nothing: "the seed of 'toString' must be a number, got function toString()". An output
  // missing from the seed must contribute nothing (modules.md), whatever its name.
  it.each(["toString", "constructor", "__proto__", "valueOf", "hasOwnProperty", "__defineGetter__"])(
    "an output named %s that is left out of the seed contributes nothing",
    (name) => {
      for (const emit of ["unrolled", "loops"] as const) {
        const { js } = build(`param x\noutput f = 3 * x\noutput ${name} = 2 * x\noutput v = [x, x, x, x, x]`, "seed.expr", emit);
        const m = instantiate(js.code);
        expect(m.backward({ x: 1 }, { f: 1 }).grad, emit).toEqual({ x: 3 });
        const seed = JSON.parse(`{"${name}": 1}`);
        expect(m.backward({ x: 1 }, seed).grad, emit).toEqual({ x: 2 });
      }
    },
  );

  // Found by a TypeScript consumer: a dim's name was a local of checkSizes (`const default =`
  // did not parse, `const sizes =` clashed with the parameter) and a key of sizesOf's object
  // literal (`{ __proto__: size___proto__ }` set the prototype, so backward threw).
  it.each(["unrolled", "loops"] as const)("dims named like anything in SPECIAL (%s): parses, keeps its shape, and runs", (emit) => {
    const program = (dim: string) => `dim ${dim}\ninput y[${dim}]\nparam p[${dim}], c\noutput loss = c * sum((p - y)^2)\n`;
    const twin = build(program("N"), "dims.expr", emit);
    const args = { y: [1, 2], p: [3, 5], c: 0.5 };
    for (const dim of SPECIAL) {
      const hostile = build(program(dim), "dims.expr", emit);
      expect(tsParseErrors(hostile.ts.code, "m.ts"), dim).toEqual([]);
      expect(tsParseErrors(hostile.js.declaration!, "m.d.mts"), dim).toEqual([]);
      // A dim's name reaches the module only as a property name (`sizes.N`), in strings, and
      // in names of our own making (`size_N`, `$N`): the twin's, with N spelled as the dim.
      const asHostile = (names: Iterable<string>) => [...new Set([...names].map((n) => n.replace(/^(size_|sized_|flatSized_|given_|\$)?N$/, (_, prefix = "") => prefix + dim).replace(/ (size_|sized_|flatSized_|given_|\$)?N$/, (_, prefix = "") => ` ${prefix}${dim}`)))].sort();
      expect(topLevel(hostile.js.code), dim).toEqual(topLevel(twin.js.code).map((n) => asHostile([n])[0]));
      expect([...identifiers(hostile.js.code)].sort(), dim).toEqual(asHostile(identifiers(twin.js.code)));
      const body = hostile.js.code.replace(/^export (function|const) /gm, "$1 ");
      const m = new Function(`"use strict";\n${body}\nreturn { sizesOf, createGrad, backwardInto, paramSize, valueAndGradFlat };`)() as Record<string, (...a: unknown[]) => unknown>;
      const sizes = m.sizesOf(args) as Record<string, number>;
      expect(Object.getPrototypeOf(sizes), dim).toBe(Object.prototype);
      expect(Object.getOwnPropertyNames(sizes), dim).toEqual([dim]);
      expect(Object.getOwnPropertyDescriptor(sizes, dim)!.value, dim).toBe(2);
      expect(m.backwardInto(args, undefined, m.createGrad(sizes)), dim).toEqual({ p: new Float64Array([2, 3]), c: 13 });
      expect(m.paramSize(sizes), dim).toBe(3);
      const g = new Float64Array(3);
      expect(m.valueAndGradFlat([3, 5, 0.5], g, { y: [1, 2] }), dim).toBe(6.5);
      expect(Array.from(g), dim).toEqual([2, 3, 13]);
    }
  });

  it("the TypeScript module declares each name as a quoted property of Args, Outputs and Grads", () => {
    const p = namedProgram(SPECIAL);
    const { ts: t } = build(p.source, "names.expr");
    for (const name of [...p.scalars, ...p.outputs]) expect(t.code).toContain(`${JSON.stringify(name)}:`);
  });
});

describe("text that is not a name cannot become one", { timeout: 60_000 }, () => {
  it.each([
    ["a unicode escape in a name", "param a\\u0062\noutput f = a"],
    ["an escaped quote", 'param a\noutput f = a\\"'],
    ["a name with a dollar sign", "param $a\noutput f = $a"],
    ["a non-ASCII letter", "param caf\u00e9\noutput f = caf\u00e9"],
    ["a zero-width joiner inside a name", "param a\u200db\noutput f = a\u200db"],
    ["a right-to-left override", "param a\u202eb\noutput f = a"],
    ["a backtick", "param a\noutput f = `a`"],
    ["a template", "param a\noutput f = ${a}"],
    ["a string", 'param a\noutput f = "a"'],
    ["a closing comment", "param a\noutput f = a */ + 1"],
    ["a block comment", "param a\noutput f = a /* x */"],
    ["a line comment", "param a\noutput f = a // x"],
    ["a script tag", "param a\noutput f = a </script>"],
    ["a keyword as an output name", "param a\noutput for = a"],
    ["an unclosed call with code", "param a\noutput f = sin(a); globalThis.__pwned = 1"],
  ])("%s is rejected with a diagnostic", (_, source) => {
    const r = compile(source, { filename: "x.expr", format: "js" });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.diagnostics[0].text).toMatch(/^x\.expr:\d+:\d+: error: /);
  });

  it("comments in the source never reach the module: */, </script>, backticks and ${", () => {
    const source = [
      "# MARK1 */ globalThis.__pwned = 1; /* </script> `${globalThis.__pwned = 2}`",
      "param x # MARK2 */ </script><script>globalThis.__pwned = 3</script>",
      "def g(z) = z * z # MARK3 ${",
      "grad z = 2 * z # MARK4 `",
      "output f = g(x) # MARK5 \u2028 globalThis.__pwned = 4",
      "",
    ].join("\n");
    const r = build(source, "c.expr");
    for (const text of [r.js.code, r.js.declaration!, r.ts.code]) {
      expect(text).not.toMatch(/MARK|__pwned|script/);
    }
    expectSameShape(r, build("param x\ndef g(z) = z * z\ngrad z = 2 * z\noutput f = g(x)\n", "c.expr"));
    expect(instantiate(r.js.code).backward({ x: 3 })).toEqual({ outputs: { f: 9 }, grad: { x: 6 } });
  });
});

// ---- numbers ------------------------------------------------------------------------------

describe("numbers reach the module as numeric literals of the same value", { timeout: 60_000 }, () => {
  it.each([
    ["1e308", 1e308],
    ["0.1", 0.1],
    ["1e-320", 1e-320],
    ["5e-324", 5e-324],
    ["123456789012345678901234567890", 123456789012345678901234567890],
    ["0.30000000000000004", 0.30000000000000004],
    [".5", 0.5],
    ["1.", 1],
    ["2.5E+4", 25000],
    ["1e21", 1e21],
    ["0.0000001", 1e-7],
    ["1.7976931348623157e308", Number.MAX_VALUE],
    ["00012", 12],
  ])("%s", (text, value) => {
    const program = (t: string) => `param x\noutput f = x * ${t}\noutput g = ${t} + 0 * x\n`;
    for (const emit of ["unrolled", "loops"] as const) {
      const r = build(program(text), "n.expr", emit);
      // The twin spells the same number as JavaScript prints it.
      expectSameShape(r, build(program(String(value)), "n.expr", emit));
      const m = instantiate(r.js.code);
      const { outputs, grad } = m.backward({ x: 1 }, { f: 1, g: 0 });
      expect(outputs.f).toBe(value);
      expect(outputs.g).toBe(value);
      expect(grad.x).toBe(value);
    }
  });

  it.each(["1e999", "1e309", "9".repeat(400)])("%s is too large: an error, not Infinity", (text) => {
    const r = compile(`param x\noutput f = x * ${text}`, { filename: "n.expr" });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.diagnostics[0].code).toBe("E0215");
  });

  it.each(["0x10", "1_000", "1e", "1e+", "1.2.3", "2x", "1ee3", "1e3e3"])("%s is an invalid number", (text) => {
    const r = compile(`param x\noutput f = x * ${text}`, { filename: "n.expr" });
    expect(r.ok).toBe(false);
  });

  it("constants that fold to Infinity, NaN and -0 stay those values in the module", () => {
    const r = build("param x\noutput f = x * (1e308 * 10)\noutput g = -0 + 0 * x\noutput h = (1e308 * 10) * 0 + x\n", "n.expr");
    const m = instantiate(r.js.code);
    const out = m.forward({ x: 1 });
    expect(out.f).toBe(Infinity);
    expect(Object.is(out.g, -0) || out.g === 0).toBe(true);
    expect(out.h).toBeNaN();
  });
});

// ---- the file name ------------------------------------------------------------------------

describe("the filename option", { timeout: 60_000 }, () => {
  const SOURCE = "param w[2]\nparam x\noutput f = w[0] * x + w[1]\n";
  const hostile = [
    "a*/b.expr",
    'x"; globalThis.__pwned = 1; ".expr',
    "x'; globalThis.__pwned = 1; '.expr",
    "a\nglobalThis.__pwned = 1 //.expr",
    "a\r\nglobalThis.__pwned = 1 //.expr",
    "a\u2028globalThis.__pwned = 1 //.expr",
    "a\u2029globalThis.__pwned = 1 //.expr",
    "*/ globalThis.__pwned = 1; /*.expr",
    "</script><script>globalThis.__pwned = 1</script>.expr",
    "<script>globalThis.__pwned = 1<\\script>.expr",
    "x`${globalThis.__pwned = 1}`.expr",
    "${globalThis.__pwned = 1}.expr",
    "<!-- globalThis.__pwned = 1 -->.expr",
    "--> globalThis.__pwned = 1.expr",
    "a\\\"; globalThis.__pwned = 1; //.expr",
    "a\0b.expr",
    "\ud800lone surrogate.expr",
    "\u202eevil.expr",
    "\ufeffbom.expr",
    "",
    "x".repeat(10_000) + ".expr",
  ];

  it.each(hostile.map((f) => [JSON.stringify(f).slice(0, 80), f]))("%s", (_, filename) => {
    for (const emit of ["unrolled", "loops"] as const) {
      const r = build(SOURCE, filename, emit);
      expectSameShape(r, build(SOURCE, "benign.expr", emit));
      // No line of the module starts with text from the file name: it is inside a comment
      // or a string literal on a line the compiler wrote.
      for (const text of [r.js.code, r.js.declaration!, r.ts.code]) expect(text).not.toMatch(/^\s*globalThis/m);
      const m = instantiate(r.js.code);
      expect(m.backward({ w: [2, 3], x: 5 })).toEqual({ outputs: { f: 13 }, grad: { w: new Float64Array([5, 1]), x: 2 } });
      // Error messages carry the file's base name as text.
      const base = filename.split(/[\\/]/).pop()!;
      let message = "";
      try {
        m.forward({ x: 1 });
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toContain("'w'");
      if (base) expect(message).toContain(base);
    }
  });

  // A module inlined into an HTML <script> element would end at the first "</script" in
  // its text, wherever it is: the file name cannot bring one, since only its base name
  // (after the last "/" or "\\") reaches the module.
  it("the module text never contains </script from the file name", () => {
    for (const filename of ["a</script>.expr", "a<\\/script>.expr", "x/</SCRIPT>.expr"]) {
      const r = build(SOURCE, filename);
      for (const text of [r.js.code, r.js.declaration!, r.ts.code]) expect(text).not.toMatch(/<\/script/i);
    }
  });
});
