// A reader for the EBNF subset grammar/expr.ebnf is written in, and a random sentence
// generator over it. The grammar file is documentation first; reading it here and
// feeding its sentences to the parser is what keeps the two from drifting apart.
//
// Subset: `name = alternatives ;`, `,` sequence, `|` choice, `[ ]` option, `{ }`
// repetition, `( )` grouping, `a - b` exception (b must be a finite set of strings),
// "..." or '...' terminals, `? ... ?` special sequences, `(* ... *)` comments (nesting).
// Rule names may contain `-` between letters (`grad-line`); the exception operator has spaces.

export type Node =
  | { kind: "terminal"; text: string }
  | { kind: "special"; text: string }
  | { kind: "ref"; name: string }
  | { kind: "seq"; items: Node[] }
  | { kind: "alt"; options: Node[] }
  | { kind: "opt"; body: Node }
  | { kind: "rep"; body: Node }
  | { kind: "except"; base: Node; exception: Node };

export type Grammar = Map<string, Node>;

type Lexeme = { kind: "ident" | "terminal" | "special" | "punct"; text: string; at: number };

function lex(text: string): Lexeme[] {
  const out: Lexeme[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (/\s/.test(c)) {
      i++;
    } else if (text.startsWith("(*", i)) {
      // Comments nest, as in ISO 14977: (* a (* b *) c *) is one comment.
      let depth = 0;
      const start = i;
      do {
        if (text.startsWith("(*", i)) (depth++, (i += 2));
        else if (text.startsWith("*)", i)) (depth--, (i += 2));
        else if (++i > text.length) throw new Error(`unterminated comment at ${start}`);
      } while (depth > 0);
    } else if (c === '"' || c === "'" || c === "?") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unterminated ${c} at ${i}`);
      out.push({ kind: c === "?" ? "special" : "terminal", text: text.slice(i + 1, end), at: i });
      i = end + 1;
    } else if (/[A-Za-z]/.test(c)) {
      const m = /^[A-Za-z][A-Za-z0-9_]*(?:-[A-Za-z][A-Za-z0-9_]*)*/.exec(text.slice(i))!;
      out.push({ kind: "ident", text: m[0], at: i });
      i += m[0].length;
    } else if ("=;|,[]{}()-".includes(c)) {
      out.push({ kind: "punct", text: c, at: i });
      i++;
    } else {
      throw new Error(`unexpected '${c}' at ${i} in the grammar`);
    }
  }
  return out;
}

/** Rules by name, in file order. */
export function readEbnf(text: string): Grammar {
  const toks = lex(text);
  let p = 0;
  const peek = (t: string) => toks[p]?.kind === "punct" && toks[p].text === t;
  const expect = (t: string) => {
    if (!peek(t)) throw new Error(`expected '${t}' at ${toks[p]?.at ?? "end"} in the grammar`);
    p++;
  };
  const alternatives = (): Node => {
    const options = [sequence()];
    while (peek("|")) {
      p++;
      options.push(sequence());
    }
    return options.length === 1 ? options[0] : { kind: "alt", options };
  };
  const sequence = (): Node => {
    const items = [term()];
    while (peek(",")) {
      p++;
      items.push(term());
    }
    return items.length === 1 ? items[0] : { kind: "seq", items };
  };
  const term = (): Node => {
    const base = factor();
    if (!peek("-")) return base;
    p++;
    return { kind: "except", base, exception: factor() };
  };
  const factor = (): Node => {
    const t = toks[p++];
    if (t === undefined) throw new Error("unexpected end of the grammar");
    if (t.kind === "terminal") return { kind: "terminal", text: t.text };
    if (t.kind === "special") return { kind: "special", text: t.text.trim() };
    if (t.kind === "ident") return { kind: "ref", name: t.text };
    const close = { "[": "]", "{": "}", "(": ")" }[t.text];
    if (close === undefined) throw new Error(`unexpected '${t.text}' at ${t.at} in the grammar`);
    const body = alternatives();
    expect(close);
    return t.text === "[" ? { kind: "opt", body } : t.text === "{" ? { kind: "rep", body } : body;
  };
  const rules: Grammar = new Map();
  while (p < toks.length) {
    const name = toks[p++];
    if (name.kind !== "ident") throw new Error(`expected a rule name at ${name.at}`);
    expect("=");
    rules.set(name.text, alternatives());
    expect(";");
  }
  for (const [name, node] of rules) {
    for (const ref of references(node)) {
      if (!rules.has(ref)) throw new Error(`rule '${name}' uses undefined '${ref}'`);
    }
  }
  return rules;
}

export function references(node: Node): string[] {
  switch (node.kind) {
    case "terminal":
    case "special":
      return [];
    case "ref":
      return [node.name];
    case "seq":
      return node.items.flatMap(references);
    case "alt":
      return node.options.flatMap(references);
    case "opt":
    case "rep":
      return references(node.body);
    case "except":
      return [...references(node.base), ...references(node.exception)];
  }
}

/** Every quoted terminal of a node, recursively through references. */
export function terminals(grammar: Grammar, node: Node, seen = new Set<string>()): Set<string> {
  const out = new Set<string>();
  const walk = (n: Node): void => {
    if (n.kind === "terminal") out.add(n.text);
    else if (n.kind === "ref") {
      if (!seen.has(n.name)) {
        seen.add(n.name);
        walk(grammar.get(n.name)!);
      }
    } else if (n.kind === "seq") n.items.forEach(walk);
    else if (n.kind === "alt") n.options.forEach(walk);
    else if (n.kind === "opt" || n.kind === "rep") walk(n.body);
    else if (n.kind === "except") walk(n.base);
  };
  walk(node);
  return out;
}

/** Is the rule lexical (UPPER CASE: characters, one token) rather than syntactic? */
export const isLexical = (name: string): boolean => name === name.toUpperCase();

export interface GeneratorOptions {
  random: () => number;
  /** Rule references deeper than this take the shortest way out. */
  maxDepth: number;
  /** Past this many tokens in an item of the start rule, choices take the shortest way out. */
  maxTokens: number;
  /** The text of a special sequence `? ... ?`. */
  special: (text: string) => string;
}

/**
 * Random sentences. A syntactic rule yields tokens (an array of strings); a lexical
 * rule referenced from a syntactic one yields one token, its characters concatenated.
 * Depth is bounded: past maxDepth, options and repetitions are left out and choices
 * take an alternative of least height, so every expansion terminates; below it, the
 * chance of taking the shortest way grows with depth (see damping).
 */
export class SentenceGenerator {
  private readonly height = new Map<Node, number>();
  readonly used = new Set<string>();
  private produced = 0;

  constructor(
    private readonly grammar: Grammar,
    private readonly options: GeneratorOptions,
  ) {
    // Least derivation height of every node, by fixed point.
    for (let changed = true; changed; ) {
      changed = false;
      for (const node of grammar.values()) {
        const before = this.height.get(node);
        const after = this.measure(node);
        if (before !== after) changed = true;
      }
    }
  }

  private measure(node: Node): number {
    let h: number;
    switch (node.kind) {
      case "terminal":
      case "special":
        h = 0;
        break;
      case "ref":
        h = (this.height.get(this.grammar.get(node.name)!) ?? Infinity) + 1;
        break;
      case "seq":
        h = Math.max(...node.items.map((n) => this.measure(n)));
        break;
      case "alt":
        h = Math.min(...node.options.map((n) => this.measure(n)));
        break;
      case "opt":
      case "rep":
        this.measure(node.body);
        h = 0;
        break;
      case "except":
        this.measure(node.exception);
        h = this.measure(node.base);
        break;
    }
    this.height.set(node, h);
    return h;
  }

  /** Tokens of one random sentence of `rule`. */
  generate(rule: string): string[] {
    this.produced = 0;
    const out: string[] = [];
    this.expand({ kind: "ref", name: rule }, 0, out, false);
    return out;
  }

  /** One random string of a lexical rule. */
  generateText(rule: string): string {
    this.produced = 0;
    const out: string[] = [];
    this.expand(this.grammar.get(rule)!, 0, out, true);
    return out.join("");
  }

  /**
   * Chance of taking the shortest way at this depth. It grows with depth, so that deep
   * expansions are rare and sentence sizes stay small, instead of the usual all-or-nothing
   * sizes of uniformly random grammar expansion.
   */
  private damping(depth: number): number {
    if (this.produced > this.options.maxTokens) return 1;
    return Math.min(1, depth / this.options.maxDepth) ** 2;
  }

  private fits(node: Node, depth: number): boolean {
    return depth + (this.height.get(node) ?? 0) <= this.options.maxDepth;
  }

  private expand(node: Node, depth: number, out: string[], lexical: boolean): void {
    const random = this.options.random;
    switch (node.kind) {
      case "terminal":
        this.produced++;
        out.push(node.text);
        return;
      case "special":
        this.produced++;
        out.push(this.options.special(node.text));
        return;
      case "ref": {
        this.used.add(node.name);
        const body = this.grammar.get(node.name)!;
        if (!lexical && isLexical(node.name)) {
          // A token is drawn afresh, whatever the depth of the sentence around it.
          const produced = this.produced;
          const chars: string[] = [];
          this.expand(body, 1, chars, true);
          out.push(chars.join(""));
          this.produced = produced + 1;
        } else {
          this.expand(body, depth + 1, out, lexical);
        }
        return;
      }
      case "seq":
        for (const item of node.items) this.expand(item, depth, out, lexical);
        return;
      case "alt": {
        let choices = node.options.filter((o) => this.fits(o, depth));
        if (choices.length === 0 || random() < this.damping(depth)) {
          const least = Math.min(...node.options.map((o) => this.height.get(o)!));
          choices = node.options.filter((o) => this.height.get(o) === least);
        }
        this.expand(choices[Math.floor(random() * choices.length)], depth, out, lexical);
        return;
      }
      case "opt":
      case "rep": {
        // The start rule's own options and repetitions (a program's statements) are
        // taken more often, and each item gets a fresh token budget.
        const top = depth <= 1;
        const grow = top ? 0.8 : 0.5;
        do {
          if (top) this.produced = 0;
          if (!this.fits(node.body, depth) || random() < this.damping(depth) || random() > grow) return;
          this.expand(node.body, depth, out, lexical);
        } while (node.kind === "rep");
        return;
      }
      case "except": {
        const excluded = this.language(node.exception);
        for (let attempt = 0; attempt < 100; attempt++) {
          const chars: string[] = [];
          this.expand(node.base, depth, chars, lexical);
          if (!excluded.has(chars.join(""))) {
            out.push(...chars);
            return;
          }
        }
        throw new Error("could not generate outside an exception");
      }
    }
  }

  /** All strings of a finite node (terminals, choices, sequences, references to such). */
  private language(node: Node): Set<string> {
    switch (node.kind) {
      case "terminal":
        return new Set([node.text]);
      case "ref":
        this.used.add(node.name);
        return this.language(this.grammar.get(node.name)!);
      case "alt":
        return new Set(node.options.flatMap((o) => [...this.language(o)]));
      case "seq":
        return node.items.reduce(
          (acc, item) => new Set([...acc].flatMap((a) => [...this.language(item)].map((b) => a + b))),
          new Set([""]),
        );
      default:
        throw new Error(`the exception of '-' must be a finite set of strings, not a ${node.kind}`);
    }
  }
}
