// The lexer turns source text into tokens on demand, one `next()` at a time, like acorn's
// tokenizer: the parser pulls tokens and may peek one ahead, so a 10 MB source never
// becomes a 10 MB token array. Each step looks at one character code and moves forward,
// so lexing is linear and cannot throw: a character no token starts with is reported
// ("unexpected character '$'") and skipped.
//
// Statement ends are decided here. A line feed is a `newline` token at bracket depth 0
// and is skipped inside `( )` or `[ ]`; the token after a skipped line feed carries
// `nlBefore`, which the parser uses to recover from a bracket that was never closed.
// `;` is always a token (the parser treats it as a statement end). `#` starts a comment
// to the end of the line; spaces, tabs and carriage returns (so CRLF) are skipped; a
// byte-order mark at offset 0 is ignored.
//
// Numbers: `12`, `1.5`, `.5`, `1.`, `1e-3`, `2.5E+4`. A `.` after digits belongs to the
// number unless another `.` follows, so `0..3` is `0`, `..`, `3`. A number run into
// letters, digits or `_` (`2x`, `1e`, `3_000`) is one invalid-number diagnostic, not two
// tokens. `1e999` is a number whose value is Infinity; the checker rejects it.
//
// Strings (`"ij,jk->ik"`, for einsum) are double-quoted, have no escapes and end on the
// line they start: a line break or the end of input before the closing `"` is reported
// and the string ends there, so the rest of the file is not swallowed.
//
// `dim` and `int` are not keywords: they mean something only in one position each
// (a statement start, after an input item), which the parser decides.

import type { Diagnostic } from "../diagnostics.js";
import { MAX_CHARACTER_ERRORS, SyntaxCode, SyntaxMessage, showCharacter } from "./messages.js";

export const KEYWORDS = ["input", "param", "const", "output", "def", "grad", "for", "in"] as const;
export type Keyword = (typeof KEYWORDS)[number];

/** Every operator and punctuation token, longest first where one is a prefix of another. */
export const PUNCTUATORS = [
  "<=", ">=", "==", "!=", "..",
  "+", "-", "*", "/", "@", "%", "^", "<", ">", "=", "(", ")", "[", "]", ",", ";", ":",
] as const;

export type TokenType = "name" | "keyword" | "number" | "string" | "punct" | "newline" | "eof";

export interface Token {
  type: TokenType;
  /** Source text (with its quotes for a string); "\n" for a newline, "" at the end of input. */
  text: string;
  /** Numeric value of a number token (Infinity for `1e999`); 0 for other tokens. */
  value: number;
  start: number;
  end: number;
  /** Bracket depth before this token (0 at statement level). */
  depth: number;
  /** A line feed inside brackets was skipped just before this token. */
  nlBefore: boolean;
}

const KEYWORD_SET: ReadonlySet<string> = new Set(KEYWORDS);

const TAB = 9, LF = 10, VT = 11, FF = 12, CR = 13, SPACE = 32;
const QUOTE = 34, HASH = 35, DOT = 46, UNDERSCORE = 95;

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function isIdentStart(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === UNDERSCORE;
}

function isIdentChar(c: number): boolean {
  return isIdentStart(c) || isDigit(c);
}

export class Lexer {
  private pos: number;
  private depth = 0;
  private nlPending = false;
  private peeked: Token | undefined;
  private characterErrors = 0;
  private firstUnreported = 0;

  constructor(
    private readonly source: string,
    private readonly report: (d: Diagnostic) => void,
  ) {
    this.pos = source.charCodeAt(0) === 0xfeff ? 1 : 0;
  }

  /** The next token; after the end of input, `eof` forever. */
  next(): Token {
    const t = this.peeked;
    if (t !== undefined) {
      this.peeked = undefined;
      return t;
    }
    return this.scan();
  }

  /** The token `next()` will return, without consuming it. */
  peek(): Token {
    return (this.peeked ??= this.scan());
  }

  private scan(): Token {
    const src = this.source;
    for (;;) {
      this.skipSpace();
      const start = this.pos;
      if (start >= src.length) {
        if (this.characterErrors > MAX_CHARACTER_ERRORS) {
          const more = this.characterErrors - MAX_CHARACTER_ERRORS;
          this.characterErrors = MAX_CHARACTER_ERRORS; // report the summary once
          const at = this.firstUnreported;
          this.report({
            code: SyntaxCode.unexpectedCharacter,
            message: SyntaxMessage.moreUnexpectedCharacters(more),
            span: { start: at, end: at + 1 },
          });
        }
        return this.token("eof", start, start);
      }
      const c = src.charCodeAt(start);
      if (c === LF) {
        this.pos++;
        return this.token("newline", start, this.pos);
      }
      if (isIdentStart(c)) return this.readWord(start);
      if (isDigit(c) || (c === DOT && isDigit(src.charCodeAt(start + 1)))) return this.readNumber(start);
      if (c === QUOTE) return this.readString(start);
      const op = this.readPunctuator(start, c);
      if (op !== undefined) return op;
      this.skipUnexpected(start);
    }
  }

  /** Spaces, tabs, CR, comments, and line feeds inside brackets. */
  private skipSpace(): void {
    const src = this.source;
    while (this.pos < src.length) {
      const c = src.charCodeAt(this.pos);
      if (c === SPACE || c === TAB || c === CR || c === FF || c === VT) {
        this.pos++;
      } else if (c === HASH) {
        const eol = src.indexOf("\n", this.pos);
        this.pos = eol === -1 ? src.length : eol;
      } else if (c === LF && this.depth > 0) {
        this.nlPending = true;
        this.pos++;
      } else {
        return;
      }
    }
  }

  private token(type: TokenType, start: number, end: number, value = 0): Token {
    const t: Token = {
      type,
      text: type === "eof" ? "" : this.source.slice(start, end),
      value,
      start,
      end,
      depth: this.depth,
      nlBefore: this.nlPending,
    };
    this.nlPending = false;
    return t;
  }

  private readWord(start: number): Token {
    const src = this.source;
    let p = start + 1;
    while (p < src.length && isIdentChar(src.charCodeAt(p))) p++;
    this.pos = p;
    const word = src.slice(start, p);
    return this.token(KEYWORD_SET.has(word) ? "keyword" : "name", start, p);
  }

  private readNumber(start: number): Token {
    const src = this.source;
    let p = start;
    while (isDigit(src.charCodeAt(p))) p++;
    // A fraction, unless this `.` starts `..` (`0..3`).
    if (src.charCodeAt(p) === DOT && src.charCodeAt(p + 1) !== DOT) {
      p++;
      while (isDigit(src.charCodeAt(p))) p++;
    }
    const e = src.charCodeAt(p);
    if (e === 69 || e === 101) {
      let q = p + 1;
      const sign = src.charCodeAt(q);
      if (sign === 43 || sign === 45) q++;
      if (isDigit(src.charCodeAt(q))) {
        p = q;
        while (isDigit(src.charCodeAt(p))) p++;
      }
    }
    const value = Number(src.slice(start, p));
    if (p < src.length && isIdentChar(src.charCodeAt(p))) {
      let q = p;
      while (q < src.length && isIdentChar(src.charCodeAt(q))) q++;
      this.report({
        code: SyntaxCode.invalidNumber,
        message: SyntaxMessage.invalidNumber(src.slice(start, q)),
        span: { start, end: q },
      });
      p = q;
    }
    this.pos = p;
    return this.token("number", start, p, value);
  }

  /** `"..."`; without its closing quote on the same line, reported and ended at the line break. */
  private readString(start: number): Token {
    const src = this.source;
    let p = start + 1;
    for (;;) {
      const c = src.charCodeAt(p);
      if (c === QUOTE) {
        this.pos = p + 1;
        return this.token("string", start, p + 1);
      }
      if (p >= src.length || c === LF || c === CR) {
        this.report({
          code: SyntaxCode.unterminatedString,
          message: SyntaxMessage.unterminatedString(p >= src.length),
          span: { start, end: p },
        });
        this.pos = p;
        return this.token("string", start, p);
      }
      p++;
    }
  }

  private readPunctuator(start: number, c: number): Token | undefined {
    const next = this.source.charCodeAt(start + 1);
    let len = 0;
    switch (c) {
      case 60: case 62: case 61: case 33: // < > = !
        len = next === 61 ? 2 : c === 33 ? 0 : 1;
        break;
      case DOT:
        len = next === DOT ? 2 : 0;
        break;
      case 40: case 91: { // ( [
        this.pos = start + 1;
        const open = this.token("punct", start, start + 1);
        this.depth++;
        return open;
      }
      case 41: case 93: // ) ]
        if (this.depth > 0) this.depth--;
        len = 1;
        break;
      case 43: case 45: case 42: case 47: case 64: case 37: case 94: case 44: case 59: case 58: // + - * / @ % ^ , ; :
        len = 1;
        break;
    }
    if (len === 0) return undefined;
    this.pos = start + len;
    return this.token("punct", start, start + len);
  }

  private skipUnexpected(start: number): void {
    const cp = this.source.codePointAt(start) ?? 0;
    const end = start + (cp > 0xffff ? 2 : 1);
    this.pos = end;
    this.characterErrors++;
    if (this.characterErrors <= MAX_CHARACTER_ERRORS) {
      this.report({
        code: SyntaxCode.unexpectedCharacter,
        message: SyntaxMessage.unexpectedCharacter(showCharacter(cp)),
        span: { start, end },
      });
    } else if (this.characterErrors === MAX_CHARACTER_ERRORS + 1) {
      this.firstUnreported = start;
    }
  }
}

/** All tokens of a source, up to and including `eof` (for tests and tools). */
export function tokenize(source: string): { tokens: Token[]; diagnostics: Diagnostic[] } {
  const diagnostics: Diagnostic[] = [];
  const lexer = new Lexer(source, (d) => diagnostics.push(d));
  const tokens: Token[] = [];
  for (;;) {
    const t = lexer.next();
    tokens.push(t);
    if (t.type === "eof") return { tokens, diagnostics };
  }
}
