// Highlighting of `.expr` in the playground's editor. The word lists come from the
// TextMate grammar that editors use (grammar/expr.tmLanguage.json, whose keywords and
// built-ins test/tmlanguage.test.ts keeps equal to the compiler's), so the page cannot
// drift from the grammar; the token classes are the grammar's, read one token at a time
// by a StreamLanguage instead of Oniguruma, which the page does not need to load.

import { StreamLanguage, type StringStream } from "@codemirror/language";
import grammar from "../../grammar/expr.tmLanguage.json";

type Rule = { match?: string; patterns?: Rule[] };
const repository = grammar.repository as Record<string, Rule>;

/** The words of a `\b(a|b|c)\b` rule of the grammar. */
function words(rule: Rule): string[] {
  const m = /\\b\(([A-Za-z0-9_|]+)\)/.exec(rule.match ?? "");
  if (m) return m[1].split("|");
  const plain = /^\\b([A-Za-z_]+)\\b$/.exec(rule.match ?? "");
  return plain ? [plain[1]] : [];
}

export const KEYWORDS = new Set((repository.keyword.patterns ?? []).flatMap(words));
export const BUILTINS = new Set(words(repository["builtin-call"]));

interface State {
  /** The previous word was `def`, `input`, `param`, `const`, `output` or `grad`: this one is declared. */
  declares: boolean;
  /** Inside a `grad` line, where `out` is the gate's value. */
  gradLine: boolean;
}

const DECLARING = new Set(["def", "input", "param", "const", "output", "grad"]);

function token(stream: StringStream, state: State): string | null {
  if (stream.sol()) state.gradLine = false;
  if (stream.eatSpace()) return null;
  if (stream.match("#")) {
    stream.skipToEnd();
    return "comment";
  }
  // Numbers: 12, 1.5, .5, 1e-3; in `0..3` the dots are the range operator.
  if (stream.match(/^(?:[0-9]+(?:\.(?!\.)[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/)) return "number";
  const word = stream.match(/^[A-Za-z_][A-Za-z0-9_]*/) as RegExpMatchArray | null;
  if (word) {
    const w = word[0];
    const declared = state.declares;
    state.declares = DECLARING.has(w);
    if (w === "grad") state.gradLine = true;
    if (KEYWORDS.has(w)) return "keyword";
    if (declared) return "variableName.definition";
    const called = /^\s*\(/.test(stream.string.slice(stream.pos));
    if (called && BUILTINS.has(w)) return "variableName.standard";
    if (called) return "variableName.function";
    if (state.gradLine && w === "out") return "self";
    return "variableName";
  }
  state.declares = false;
  if (stream.match(/^(?:\.\.|<=|>=|==|!=|[<>@^+\-*/%=])/)) return "operator";
  stream.next();
  return "punctuation";
}

export const exprLanguage = StreamLanguage.define<State>({
  name: "expr",
  startState: () => ({ declares: false, gradLine: false }),
  token,
  languageData: { commentTokens: { line: "#" } },
});
