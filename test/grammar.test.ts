// Keeps grammar/expr.ebnf and the parser in agreement. The grammar is read with the small
// EBNF reader in test/support/ebnf.ts; a seeded generator draws a few hundred random
// programs from it (bounded depth, names and numbers from the grammar's own lexical
// rules, spaces, comments, CRLF and line breaks inside brackets between tokens), and the
// parser must accept every one without a diagnostic. The lexer's keyword and operator
// lists must be exactly the grammar's quoted tokens, so neither can gain one alone.

import { readFileSync } from "node:fs";
import { mulberry32 } from "../src/random.js";
import { describe, expect, it } from "vitest";
import { KEYWORDS, PUNCTUATORS } from "../src/syntax/lexer.js";
import { BINARY_OPERATORS, parse } from "../src/syntax/parser.js";
import { type Grammar, type Node, SentenceGenerator, isLexical, readEbnf, terminals } from "./support/ebnf.js";

const grammarText = readFileSync(new URL("../grammar/expr.ebnf", import.meta.url), "utf8");
const grammar = readEbnf(grammarText);


/** Characters a comment may hold: anything but a line feed, odd ones included. */
const COMMENT_POOL = [..."abc XYZ 019 #$!.;()[]=+-*/\"'\t\r", "\u0000", "\u00e9", "\u{1F600}", "\uFEFF"];

function specialText(random: () => number) {
  return (text: string): string => {
    if (text.startsWith("any character")) {
      // "any character except U+000A line feed, U+0022 ...": the pool without those.
      const except = [...text.matchAll(/U\+([0-9A-F]{4,6})/g)].map((m) => String.fromCodePoint(parseInt(m[1], 16)));
      const pool = COMMENT_POOL.filter((c) => !except.includes(c));
      return pool[Math.floor(random() * pool.length)];
    }
    const code = /U\+([0-9A-F]{4,6})/.exec(text);
    if (code === null) throw new Error(`no way to generate ? ${text} ?`);
    return String.fromCodePoint(parseInt(code[1], 16));
  };
}

/** Lay tokens out as source: spaces between them, comments and line breaks where the language allows. */
function layOut(tokens: string[], gen: SentenceGenerator, random: () => number): string {
  let source = random() < 0.1 ? gen.generateText("BOM") : "";
  let depth = 0;
  for (const [i, token] of tokens.entries()) {
    if (i > 0) {
      source += gen.generateText("SPACE");
      if (depth > 0 && random() < 0.1) source += (random() < 0.5 ? gen.generateText("COMMENT") : "") + "\n";
    }
    if (token === "\n" && random() < 0.2) source += gen.generateText("COMMENT");
    if (token === "\n" && random() < 0.2) source += "\r";
    source += token;
    if (token === "(" || token === "[") depth++;
    if (token === ")" || token === "]") depth--;
  }
  if (random() < 0.1) source += gen.generateText("COMMENT");
  return source;
}

/**
 * The one rule the EBNF cannot state: a call names each named argument once. Inside
 * parentheses, `name =` is always a named argument (a def's parameters are never
 * followed by `=`), so a repeated one is renamed.
 */
function distinctNamedArguments(tokens: string[]): string[] {
  const open: (Set<string> | undefined)[] = [];
  return tokens.map((token, i) => {
    if (token === "(") open.push(new Set());
    else if (token === "[") open.push(undefined);
    else if (token === ")" || token === "]") open.pop();
    const names = open[open.length - 1];
    if (names === undefined || tokens[i + 1] !== "=" || !/^[A-Za-z_]/.test(token)) return token;
    let name = token;
    for (let k = 2; names.has(name); k++) name = `${token}${k}`;
    names.add(name);
    return name;
  });
}

/** Quoted tokens of the syntax rules (not the characters inside lexical rules). */
function syntaxTerminals(g: Grammar): Set<string> {
  const out = new Set<string>();
  const walk = (n: Node): void => {
    if (n.kind === "terminal") out.add(n.text);
    else if (n.kind === "seq") n.items.forEach(walk);
    else if (n.kind === "alt") n.options.forEach(walk);
    else if (n.kind === "opt" || n.kind === "rep") walk(n.body);
    else if (n.kind === "except") walk(n.base);
  };
  for (const [name, node] of g) if (!isLexical(name)) walk(node);
  return out;
}

describe("grammar/expr.ebnf", () => {
  it("is read completely, every rule reachable", () => {
    expect(grammar.has("program")).toBe(true);
    const reachable = new Set(["program", "SPACE", "COMMENT", "BOM"]);
    const gen = [...reachable];
    for (let i = 0; i < gen.length; i++) {
      terminals(grammar, { kind: "ref", name: gen[i] }); // throws on an undefined rule
      const visit = (n: Node): void => {
        if (n.kind === "ref" && !reachable.has(n.name)) {
          reachable.add(n.name);
          gen.push(n.name);
        } else if (n.kind === "seq") n.items.forEach(visit);
        else if (n.kind === "alt") n.options.forEach(visit);
        else if (n.kind === "opt" || n.kind === "rep") visit(n.body);
        else if (n.kind === "except") {
          visit(n.base);
          visit(n.exception);
        }
      };
      visit(grammar.get(gen[i])!);
    }
    expect([...grammar.keys()].filter((name) => !reachable.has(name))).toEqual([]);
  });

  it("has exactly the lexer's keywords and operators as its tokens", () => {
    const quoted = syntaxTerminals(grammar);
    for (const word of [...KEYWORDS, ...PUNCTUATORS]) expect(quoted, `'${word}' is missing from the grammar`).toContain(word);
    expect([...quoted].sort()).toEqual([...KEYWORDS, ...PUNCTUATORS].sort());
    expect([...terminals(grammar, grammar.get("KEYWORD")!)].sort()).toEqual([...KEYWORDS].sort());
    for (const op of BINARY_OPERATORS.keys()) expect(quoted).toContain(op);
  });

  it("generates 400 random programs that the parser accepts without a diagnostic", () => {
    const random = mulberry32(20240601);
    const gen = new SentenceGenerator(grammar, { random, maxDepth: 40, maxTokens: 30, special: specialText(random) });
    const failures: string[] = [];
    let statements = 0;
    for (let n = 0; n < 400; n++) {
      const source = layOut(distinctNamedArguments(gen.generate("program")), gen, random);
      const { program, diagnostics } = parse(source);
      statements += program.statements.length;
      if (diagnostics.length > 0) failures.push(`${JSON.stringify(source)}\n  -> ${diagnostics[0].message}`);
    }
    expect(failures.slice(0, 5).join("\n")).toBe("");
    expect(statements).toBeGreaterThan(400);
    // Every rule was exercised by some sentence (BOM, SPACE and COMMENT by layOut).
    expect([...grammar.keys()].filter((name) => !gen.used.has(name) && !["BOM", "SPACE", "COMMENT"].includes(name))).toEqual([]);
  });
});
