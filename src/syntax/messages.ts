// The catalogue of syntax diagnostics: one stable code per kind of mistake, and the
// wording in one place, so the lexer and the parser say the same thing the same way and
// the codes can be listed in the reference. Messages speak the user's language: what was
// expected and what was found ("expected an expression, found ')'"), never parser states.

/** Stable codes of the syntax stage (E01xx). */
export const SyntaxCode = {
  /** A character that no token starts with: `$`, NUL, `é`. */
  unexpectedCharacter: "E0101",
  /** A number run into letters or digits it cannot hold: `2x`, `1e`, `3_000`. */
  invalidNumber: "E0102",
  /** An expression was needed here. */
  expectedExpression: "E0103",
  /** A specific token was needed here (a name, `=`, `(`, `)`, `,` or `]`, `in`...). */
  expectedToken: "E0104",
  /** A bracket still open at the end of input or when the next statement starts. */
  unclosedBracket: "E0105",
  /** A `)` or `]` with nothing to close. */
  unmatchedBracket: "E0106",
  /** More than MAX_NESTING levels of parentheses, brackets, unary signs, `^` or calls. */
  nestedTooDeeply: "E0107",
  /** A keyword where a name is needed: `param for`. */
  keywordAsName: "E0108",
  /** A `grad` line that does not follow a `def` (or another `grad` line of it). */
  orphanGrad: "E0109",
  /** `for` outside `[ ]` or outside the only argument of a call. */
  misplacedFor: "E0110",
  /** `for i in` not followed by a range `a..b`. */
  expectedRange: "E0111",
  /** `..` outside `for ... in`. */
  misplacedRange: "E0112",
  /** `a < b < c`. */
  chainedComparison: "E0113",
  /** `=` missing in `const`, assignment, `output`, `def`, `grad`. */
  missingEquals: "E0114",
  /** A statement that starts with something no statement starts with. */
  expectedStatement: "E0115",
  /** Tokens left after a complete statement. */
  expectedStatementEnd: "E0116",
  /** A call whose callee is not a plain name: `(f)(x)`, `2(x)`, `f(x)(y)`. */
  notCallable: "E0117",
  // E0118 (more than two dimensions or indices) is retired: version 2 shapes and
  // indices have any rank. The code is not reused.
  /** The diagnostic limit was reached; parsing stopped. */
  tooManyErrors: "E0119",
  /** A string literal still open at the end of its line: `"ij,jk`. */
  unterminatedString: "E0120",
  /** `x ** 2`: the power operator is `^`. */
  powerOperator: "E0121",
  /** `f(axis=1, x)`: named arguments come after the positional ones. */
  positionalAfterNamed: "E0122",
  /** `f(x, axis=1, axis=2)`. */
  repeatedNamedArgument: "E0123",
  /** `dim N[3]`: a dim is one size, it has no shape. */
  dimWithShape: "E0124",
  /** `param w int` or `dim N int`: only inputs can be integer. */
  misplacedInt: "E0125",
} as const;

/** Nesting limit (parentheses, brackets, unary signs, `^`, calls, index chains). */
export const MAX_NESTING = 256;

/** After this many syntax diagnostics the parser stops. */
export const MAX_DIAGNOSTICS = 1000;

/** Unexpected characters reported one by one before they are only counted. */
export const MAX_CHARACTER_ERRORS = 100;

export const SyntaxMessage = {
  unexpectedCharacter: (shown: string) => `unexpected character ${shown}`,
  moreUnexpectedCharacters: (n: number) =>
    `${n} more unexpected character${n === 1 ? "" : "s"} not reported`,
  invalidNumber: (text: string) => `invalid number '${clip(text)}'`,
  expected: (what: string, found: string) => `expected ${what}, found ${found}`,
  unclosed: (open: string, close: string, atEnd: boolean) =>
    `'${open}' is never closed: expected '${close}' before ${atEnd ? "the end of input" : "the next statement"}`,
  unmatched: (close: string) => `unmatched '${close}': there is no '${close === ")" ? "(" : "["}' to close`,
  nestedTooDeeply: () => `expression nested too deeply (more than ${MAX_NESTING} levels)`,
  keywordAsName: (kw: string) => `'${kw}' is a keyword and cannot be a name`,
  orphanGrad: () => "a 'grad' line must directly follow the 'def' it belongs to",
  misplacedFor: () =>
    "unexpected 'for' here: 'e for i in a..b' goes inside '[ ]' or is the only argument of a call",
  generatorNotAlone: () => "a generator 'e for i in a..b' must be the only argument of the call",
  expectedRange: (found: string) => `'in' expects a range 'a..b', found ${found}`,
  misplacedRange: () => "unexpected '..' here: a range 'a..b' only follows 'for i in'",
  chainedComparison: (op: string) =>
    `comparisons cannot be chained ('a < b < c'): add parentheses around the comparison before '${op}'`,
  notCallable: () => "only a function name can be called (write '*' to multiply)",
  unterminatedString: (atEnd: boolean) =>
    `a string must end on the line it starts: expected '"' before the end of ${atEnd ? "input" : "the line"}`,
  powerOperator: () => "'**' is not an operator: write 'a ^ b' for a power",
  positionalAfterNamed: (name: string) =>
    `a positional argument cannot follow the named argument '${clip(name)}': put positional arguments first`,
  repeatedNamedArgument: (name: string) => `the argument '${clip(name)}' is given twice`,
  dimWithShape: (name: string) => `'${clip(name)}' is a dim, a single size: it takes no shape ('dim ${clip(name)}')`,
  intOnParam: () => "only inputs can be integer: params are differentiated",
  intBeforeShape: (name: string) => `'int' goes after the shape: write '${clip(name)}[...] int'`,
  intOnDim: () => "'int' marks an integer input; a dim is a size and always an integer",
  tooManyErrors: (n: number) => `too many syntax errors (${n}); stopping here`,
};

/** How a token is named in "found ..." parts of messages; long names and numbers are cut. */
export function clip(text: string): string {
  return text.length > 32 ? `${text.slice(0, 29)}...` : text;
}

/**
 * A character as shown in a message: printable ASCII quoted, other printable characters
 * quoted with their code point, anything invisible (NUL, controls, spaces, BOM, lone
 * surrogates) only as its code point, so a diagnostic never carries raw control bytes.
 */
export function showCharacter(codePoint: number): string {
  const hex = `U+${codePoint.toString(16).toUpperCase().padStart(4, "0")}`;
  if (codePoint > 0x20 && codePoint < 0x7f) return `'${String.fromCharCode(codePoint)}'`;
  const ch = String.fromCodePoint(codePoint);
  if (codePoint > 0x7f && /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(ch)) return `'${ch}' (${hex})`;
  return hex;
}
