// The playground's parts that need no browser (playground/src): the in-page gradient check
// must agree with the CLI's (`gradc check`, src/cli/check.ts) on which params pass, and
// fail a wrong gate as it does; the highlighter must read `.expr` with the grammar's word
// classes.

import { StringStream } from "@codemirror/language";
import { describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { gradientCheck as cliCheck } from "../src/cli/check.js";
import { checkTable, gradientCheck, type LoadedModule } from "../playground/src/gradient-check.js";
import { BUILTINS, exprLanguage, KEYWORDS } from "../playground/src/highlight.js";
import { readFileSync } from "node:fs";

const example = (name: string) => readFileSync(new URL(`../examples/cs231n/${name}`, import.meta.url), "utf8");

async function load(source: string) {
  const r = compile(source, { format: "js" });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.text).join("\n"));
  const m = (await import("data:text/javascript," + encodeURIComponent(r.code))) as LoadedModule;
  return { code: r.code, iface: r.interface, m };
}

describe("the playground's gradient check", () => {
  const verdicts = (rows: { param: string; maxError: number }[]) => rows.map((r) => [r.param, r.maxError <= 1e-7]);

  it.each(["neuron.expr", "neuron-gate.expr", "twolayer.expr", "hinge.expr", "softmax.expr"])("%s: passes, as with gradc check", async (name) => {
    const { code, iface, m } = await load(example(name));
    const page = gradientCheck(m, iface, 3, 1);
    const cli = await cliCheck(code, iface, { at: new Map(), points: 3, seed: 1 });
    expect(verdicts(page)).toEqual(verdicts(cli));
    expect(page.every((r) => r.maxError <= 1e-7)).toBe(true);
  });

  it("fails a gate whose grad line is wrong, naming the param, as gradc check does", async () => {
    const { code, m, iface } = await load(example("neuron-gate.expr").replace("grad z = out * (1 - out)", "grad z = out * out"));
    const rows = gradientCheck(m, iface, 3, 1);
    expect(rows.map((r) => r.maxError > 1e-7)).toEqual([true, true]);
    expect(verdicts(rows)).toEqual(verdicts(await cliCheck(code, iface, { at: new Map(), points: 3, seed: 1 })));
    const table = checkTable(rows, 3);
    expect(table).toMatch(/^w\s+3\s+\S+\s+FAIL$/m);
    expect(table).toContain("the gradient of 'w' looks wrong: at element");
  });
});

/** [text, token] pairs of one line, as the editor's highlighter reads it. */
function tokens(lines: string[]): [string, string | null][][] {
  const parser = (exprLanguage as unknown as { streamParser: { startState(i: number): unknown; token(s: StringStream, st: unknown): string | null } }).streamParser;
  const state = parser.startState(2);
  return lines.map((line) => {
    const out: [string, string | null][] = [];
    const stream = new StringStream(line, 4, 2);
    while (!stream.eol()) {
      const t = parser.token(stream, state);
      const text = line.slice(stream.start, stream.pos);
      if (text.trim()) out.push([text, t]);
      stream.start = stream.pos;
    }
    return out;
  });
}

describe("the playground's highlighter", () => {
  it("takes its words from grammar/expr.tmLanguage.json", () => {
    for (const k of ["input", "param", "const", "output", "def", "grad", "for", "in"]) expect(KEYWORDS.has(k)).toBe(true);
    for (const b of ["sigmoid", "log_softmax", "sum", "relu", "atan2"]) expect(BUILTINS.has(b)).toBe(true);
  });

  it("reads declarations, calls, gates, comments and numbers", () => {
    const [def, grad, decl, body] = tokens(["def sig(z) = 1 / (1 + exp(-z))", "grad z = out * (1 - out)", "param w[3]  # weights", "output f = sum(w[i] * 1e-3 for i in 0..3) + sig(w[0])"]);
    expect(def.slice(0, 3)).toEqual([["def", "keyword"], ["sig", "variableName.definition"], ["(", "punctuation"]]);
    expect(def).toContainEqual(["exp", "variableName.standard"]);
    expect(grad).toContainEqual(["out", "self"]);
    expect(grad[1]).toEqual(["z", "variableName.definition"]);
    expect(decl).toEqual([["param", "keyword"], ["w", "variableName.definition"], ["[", "punctuation"], ["3", "number"], ["]", "punctuation"], ["# weights", "comment"]]);
    expect(body).toContainEqual(["sum", "variableName.standard"]);
    expect(body).toContainEqual(["1e-3", "number"]);
    expect(body).toContainEqual(["..", "operator"]);
    expect(body).toContainEqual(["sig", "variableName.function"]);
    expect(body.filter(([t]) => t === "0")).toEqual([["0", "number"], ["0", "number"]]);
  });
});
