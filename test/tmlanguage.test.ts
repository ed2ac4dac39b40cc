// The TextMate grammar grammar/expr.tmLanguage.json, tokenized the way VS Code does it:
// vscode-textmate with the Oniguruma regex engine (vscode-oniguruma's WebAssembly build).
// Sample lines must get the expected scopes, every keyword of the lexer and every built-in
// of the checker must be highlighted as such (so neither list can grow alone), and every
// example program must tokenize without an unscoped character outside spaces.

import { readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import oniguruma from "vscode-oniguruma";
import textmate from "vscode-textmate";
import { beforeAll, describe, expect, it } from "vitest";
import { BUILTIN_NAMES } from "../src/check/builtins.js";
import { KEYWORDS } from "../src/syntax/lexer.js";

const grammarPath = new URL("../grammar/expr.tmLanguage.json", import.meta.url);
const grammarJson = JSON.parse(readFileSync(grammarPath, "utf8"));

let grammar: textmate.IGrammar;

beforeAll(async () => {
  const require = createRequire(import.meta.url);
  const wasm = readFileSync(require.resolve("vscode-oniguruma/release/onig.wasm"));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new textmate.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns: string[]) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s: string) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName: string) =>
      scopeName === "source.expr" ? textmate.parseRawGrammar(readFileSync(grammarPath, "utf8"), grammarPath.pathname) : null,
  });
  const loaded = await registry.loadGrammar("source.expr");
  if (!loaded) throw new Error("grammar source.expr did not load");
  grammar = loaded;
});

interface Token {
  line: number;
  text: string;
  scopes: string[];
}

/** Every token of a program, line by line, carrying the rule stack as VS Code does. */
function tokenize(program: string): Token[] {
  const tokens: Token[] = [];
  let stack = textmate.INITIAL;
  program.split("\n").forEach((line, n) => {
    const result = grammar.tokenizeLine(line, stack);
    for (const t of result.tokens) tokens.push({ line: n + 1, text: line.slice(t.startIndex, t.endIndex), scopes: t.scopes });
    stack = result.ruleStack;
  });
  return tokens;
}

/** The scopes of the `nth` token whose text is exactly `text`. */
function scopesOf(program: string, text: string, nth = 0): string[] {
  const found = tokenize(program).filter((t) => t.text === text);
  if (found.length <= nth) throw new Error(`no token ${JSON.stringify(text)} (#${nth}) in ${JSON.stringify(tokenize(program).map((t) => t.text))}`);
  return found[nth].scopes;
}

/** The most specific scope of a token. */
const scope = (program: string, text: string, nth = 0) => scopesOf(program, text, nth).at(-1);

describe("the grammar file", () => {
  it("is a TextMate grammar for .expr files with scope source.expr", () => {
    expect(grammarJson.scopeName).toBe("source.expr");
    expect(grammarJson.fileTypes).toEqual(["expr"]);
    expect(scopesOf("x = 1", "x")[0]).toBe("source.expr");
  });
});

describe("sample lines", () => {
  const neuron = `# CS231n: a single neuron
param w[3], b
input x[2]
const N = 2.5E+4
output f = sigmoid(w[0]*x[0] + w[1]*x[1] + w[2])  # note
`;

  it("comments, with the # as their punctuation", () => {
    expect(scope(neuron, "# CS231n: a single neuron".slice(1))).toBe("comment.line.number-sign.expr");
    expect(scopesOf("y = 1 # note", " note")).toContain("comment.line.number-sign.expr");
    expect(scope("y = 1 # note", "#")).toBe("punctuation.definition.comment.expr");
    expect(scope(neuron, " note")).toBe("comment.line.number-sign.expr");
  });

  it("keywords: param, input, const, output, def, grad, for, in", () => {
    expect(scope(neuron, "param")).toBe("keyword.other.declaration.param.expr");
    expect(scope(neuron, "input")).toBe("keyword.other.declaration.input.expr");
    expect(scope(neuron, "const")).toBe("keyword.other.declaration.const.expr");
    expect(scope(neuron, "output")).toBe("keyword.other.declaration.output.expr");
    const loop = "s = sum(w[i]*x[i] for i in 0..3)";
    expect(scope(loop, "for")).toBe("keyword.control.loop.expr");
    expect(scope(loop, "in")).toBe("keyword.control.loop.expr");
  });

  it("declared names, constants and outputs", () => {
    expect(scope(neuron, "w")).toBe("variable.other.declaration.expr");
    expect(scope(neuron, "b")).toBe("variable.other.declaration.expr");
    expect(scope(neuron, "N")).toBe("variable.other.constant.expr");
    expect(scope(neuron, "f")).toBe("variable.other.output.expr");
    // A name inside a declaration's dimensions is a use, not a declaration.
    const dims = "const H = 4\nparam W[H, 3]";
    expect(scope(dims, "W")).toBe("variable.other.declaration.expr");
    expect(scope(dims, "H", 1)).toBe("variable.other.expr");
    expect(scope(dims, "3")).toBe("constant.numeric.expr");
  });

  it("numbers: 12, 1.5, .5, 1., 1e-3, 2.5E+4, and 0..3 is a number, a range and a number", () => {
    for (const n of ["12", "1.5", ".5", "1.", "1e-3", "2.5E+4"]) expect(scope(`y = ${n} + 1`, n), n).toBe("constant.numeric.expr");
    const range = tokenize("v = [i for i in 0..3]").map((t) => [t.text, t.scopes.at(-1)]);
    expect(range).toContainEqual(["0", "constant.numeric.expr"]);
    expect(range).toContainEqual(["..", "keyword.operator.range.expr"]);
    expect(range).toContainEqual(["3", "constant.numeric.expr"]);
    expect(scope("y = x2 + 2", "x2")).toBe("variable.other.expr"); // a digit inside a name is not a number
  });

  it("operators: .., @, ^, arithmetic, comparison, assignment", () => {
    const line = "y = W @ x + b - 2 * z / 3 % 2 ^ -k";
    expect(scope(line, "@")).toBe("keyword.operator.matrix.expr");
    expect(scope(line, "^")).toBe("keyword.operator.power.expr");
    for (const op of ["+", "-", "*", "/", "%"]) expect(scope(line, op), op).toBe("keyword.operator.arithmetic.expr");
    expect(scope(line, "=")).toBe("keyword.operator.assignment.expr");
    for (const op of ["<", "<=", ">", ">=", "==", "!="]) expect(scope(`c = a ${op} b`, op), op).toBe("keyword.operator.comparison.expr");
    expect(scope("v = [x[i] for i in 0..N-1]", "..")).toBe("keyword.operator.range.expr");
  });

  it("built-in functions are support.function when called; a value named like one is a variable", () => {
    expect(scope(neuron, "sigmoid")).toBe("support.function.builtin.expr");
    expect(scope("l = log_softmax(s)", "log_softmax")).toBe("support.function.builtin.expr");
    expect(scope("l = logsumexp (s)", "logsumexp")).toBe("support.function.builtin.expr");
    expect(scope("param sum\ny = sum + 1", "sum", 1)).toBe("variable.other.expr");
    expect(scope("y = mysig(x)", "mysig")).toBe("entity.name.function.call.expr");
  });

  it("def names and parameters; grad lines with the argument and `out`", () => {
    const gate = "def sig(z) = 1 / (1 + exp(-z))\ngrad z = out * (1 - out)  # local gradient\ny = out";
    expect(scope(gate, "def")).toBe("keyword.other.def.expr");
    expect(scope(gate, "sig")).toBe("entity.name.function.expr");
    expect(scope(gate, "z")).toBe("variable.parameter.expr");
    expect(scope(gate, "grad")).toBe("keyword.other.grad.expr");
    expect(scope(gate, "z", 2)).toBe("variable.parameter.expr"); // the argument after grad
    expect(scopesOf(gate, "out")).toEqual(["source.expr", "meta.grad.expr", "variable.language.out.expr"]);
    expect(scope(gate, "out", 1)).toBe("variable.language.out.expr");
    expect(scope(gate, " local gradient")).toBe("comment.line.number-sign.expr");
    // `out` means the gate's value only in a grad line.
    expect(scopesOf(gate, "out", 2)).toEqual(["source.expr", "variable.other.expr"]);
    const two = "def f(a, b) = a * b\ngrad a = b\ngrad b = a";
    expect(scope(two, "a")).toBe("variable.parameter.expr");
    expect(scope(two, "b")).toBe("variable.parameter.expr");
  });
});

describe("version 2 forms", () => {
  it("slices: the ':' of an index item", () => {
    const line = "y = M[:, j] + x[1::2] + x[a:b:s]";
    const colons = tokenize(line).filter((t) => t.text === ":");
    expect(colons.length).toBe(5);
    for (const t of colons) expect(t.scopes.at(-1)).toBe("punctuation.separator.slice.expr");
    expect(scope(line, "b")).toBe("variable.other.expr");
  });

  it("named arguments, with true and false as their values; a comparison is not one", () => {
    const line = "s = sum(x, axis=-1, keepdims=true) + f(a == b)";
    expect(scope(line, "axis")).toBe("variable.parameter.named.expr");
    expect(scope(line, "keepdims")).toBe("variable.parameter.named.expr");
    expect(scope(line, "=", 1)).toBe("keyword.operator.assignment.expr");
    expect(scope(line, "true")).toBe("constant.language.boolean.expr");
    expect(scope(line, "a")).toBe("variable.other.expr");
    expect(scope(line, "==")).toBe("keyword.operator.comparison.expr");
    expect(scope("y = true + 1", "true")).toBe("variable.other.expr");
    expect(scope("v = sum(X[i] for i in 0..n, axis=0)", "axis")).toBe("variable.parameter.named.expr");
  });

  it("strings, with no comment inside; one left open is marked", () => {
    const line = 'C = einsum("ij,jk->ik", A, B) + g("a#b")';
    expect(scope(line, "ij,jk->ik")).toBe("string.quoted.double.expr");
    expect(scope(line, '"')).toBe("punctuation.definition.string.begin.expr");
    expect(scope(line, '"', 1)).toBe("punctuation.definition.string.end.expr");
    expect(scope(line, "a#b")).toBe("string.quoted.double.expr");
    expect(scope(line, "einsum")).toBe("support.function.builtin.expr");
    expect(scope('x = "ij', '"ij')).toBe("invalid.illegal.unterminated-string.expr");
  });

  it("dim starts a declaration only before a name; elsewhere it is a name", () => {
    expect(scope("dim N, M", "dim")).toBe("keyword.other.declaration.dim.expr");
    expect(scope("dim N, M", "N")).toBe("variable.other.declaration.expr");
    expect(scope("dim N, M", "M")).toBe("variable.other.declaration.expr");
    expect(scope("a = 1; dim N", "dim")).toBe("keyword.other.declaration.dim.expr");
    expect(scope("dim = 3", "dim")).toBe("variable.other.expr");
    expect(scope("y = f(dim) + dim", "dim", 1)).toBe("variable.other.expr");
    expect(scope("param dim", "dim")).toBe("variable.other.declaration.expr");
    expect(scope("output dim", "dim")).toBe("variable.other.output.expr");
  });

  it("int after an input's name or shape; a name elsewhere", () => {
    const line = "input y[N] int, n int, x[N, 2]";
    expect(scope(line, "int")).toBe("storage.type.int.expr");
    expect(scope(line, "int", 1)).toBe("storage.type.int.expr");
    expect(scope(line, "n")).toBe("variable.other.declaration.expr");
    expect(scope(line, "x")).toBe("variable.other.declaration.expr");
    expect(scope("input int", "int")).toBe("variable.other.declaration.expr");
    expect(scope("input int int", "int", 1)).toBe("storage.type.int.expr");
    expect(scope("param int", "int")).toBe("variable.other.declaration.expr");
    expect(scope("y = int + 1", "int")).toBe("variable.other.expr");
  });

  it("'**' is marked as an error (the power is '^')", () => {
    expect(scope("y = x ** 2", "**")).toBe("invalid.illegal.operator.expr");
    expect(scope("y = x * 2", "*")).toBe("keyword.operator.arithmetic.expr");
  });
});

describe("agreement with the compiler", () => {
  it("every keyword of the lexer is a keyword", () => {
    for (const k of KEYWORDS) expect(scope(`${k}`, k), k).toMatch(/^keyword\./);
  });

  it("every built-in of the checker is a support.function, and nothing else is", () => {
    for (const name of BUILTIN_NAMES) expect(scope(`y = ${name}(x)`, name), name).toBe("support.function.builtin.expr");
    const listed = String(grammarJson.repository["builtin-call"].match).match(/\\b\((.*)\)\\b/)![1].split("|");
    expect([...listed].sort()).toEqual([...BUILTIN_NAMES].sort());
  });

  it("every example program tokenizes with every non-space character in a specific scope", () => {
    const folder = new URL("../examples/cs231n/", import.meta.url);
    const files = readdirSync(folder).filter((f) => f.endsWith(".expr"));
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) {
      const tokens = tokenize(readFileSync(new URL(f, folder), "utf8"));
      const bare = tokens.filter((t) => t.text.trim() !== "" && t.scopes.length === 1);
      expect(bare.map((t) => `${f}:${t.line}: ${JSON.stringify(t.text)}`)).toEqual([]);
    }
  });
});

describe("docs/build-integration.md, Editor support", () => {
  const doc = readFileSync(new URL("../docs/build-integration.md", import.meta.url), "utf8");
  const jsonBlocks = [...doc.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]));

  it("the extension manifest contributes this grammar for .expr files, and the language configuration is JSON", () => {
    const manifest = jsonBlocks.find((b) => b.contributes);
    expect(manifest.contributes.grammars).toEqual([{ language: "expr", scopeName: grammarJson.scopeName, path: "./syntaxes/expr.tmLanguage.json" }]);
    expect(manifest.contributes.languages[0]).toMatchObject({ id: "expr", extensions: [".expr"], configuration: "./language-configuration.json" });
    const configuration = jsonBlocks.find((b) => b.comments);
    expect(configuration.comments.lineComment).toBe("#");
    expect(doc).toContain(`code --install-extension ${manifest.name}-${manifest.version}.vsix`);
  });
});
