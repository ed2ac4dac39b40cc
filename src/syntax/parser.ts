// The parser: recursive descent for statements and the tight end of expressions (unary
// signs, `^`, postfix, primaries), and one operator-precedence loop for the binary
// operators, as in acorn. The binary operators and their precedence are data
// (BINARY_OPERATORS); adding one touches the table, not the loop. The loop builds
// left-deep chains (`a+a+...+a`, 100 000 terms) by iterating, and recurses only to climb
// to a higher precedence level, so its depth is bounded by the number of levels.
//
// Everything that does recurse (parentheses, brackets, calls, unary signs, `^`, index
// chains) passes through `enter()`, which stops at MAX_NESTING levels with a diagnostic,
// so no input can overflow the JavaScript stack.
//
// Errors never escape `parse`. A syntax error records one diagnostic and throws an
// internal StatementFailure that unwinds to the statement loop, which skips to the end of
// the statement (a newline or `;` at bracket depth 0) and goes on, so independent errors
// in later statements are all reported and a broken statement reports only once (and not
// at all if the lexer already reported a bad character in it). A bracket left open would
// swallow the rest of the file (newlines are skipped inside brackets); the lexer marks
// tokens that follow a skipped newline, and a line that starts like a statement (`y =`,
// `output`, `def`...) after one ends the broken statement, reported at the open bracket;
// `name =` right after a `,` inside `( )` is taken for a named argument on its own line instead.
//
// Spans follow acorn: a node starts at its first token and ends at the end of the last
// token consumed, so `(a+b)*c` covers the parentheses while the inner `a+b` does not.
// A `def` node's span also covers its `grad` lines.
//
// Two words are keywords only in one position, so that every version 1 program keeps
// its names: `dim` starts a declaration when it opens a statement and a name follows it
// on the same line (`dim = 3`, `param dim`, `f(dim)` use a value named dim), and `int`
// marks an integer input when it follows a declared item (`input y[N] int`), so
// `input int` declares a scalar named int and `input int int` an integer one.

import type { Diagnostic } from "../diagnostics.js";
import type { BinaryOp, Declared, Expr, GradLine, IndexItem, NamedArgument, Program, Span, Statement } from "./ast.js";
import { Lexer, type Token } from "./lexer.js";
import { MAX_DIAGNOSTICS, MAX_NESTING, SyntaxCode, SyntaxMessage, clip } from "./messages.js";

export function parse(source: string): { program: Program; diagnostics: Diagnostic[] } {
  return new Parser(source).parseProgram();
}

interface BinaryInfo {
  /** Higher binds tighter. */
  prec: number;
  /** "none": `a < b < c` is an error. */
  assoc: "left" | "none";
}

/**
 * The binary operators of the precedence loop, lowest first. `^` is not here: it binds
 * tighter than unary minus (`-x^2` is `-(x^2)`) and is right-associative with a unary
 * right operand (`2^-x`), so `parsePower` handles it below the unary level.
 */
export const BINARY_OPERATORS: ReadonlyMap<string, BinaryInfo> = new Map<string, BinaryInfo>([
  ["<", { prec: 1, assoc: "none" }],
  ["<=", { prec: 1, assoc: "none" }],
  [">", { prec: 1, assoc: "none" }],
  [">=", { prec: 1, assoc: "none" }],
  ["==", { prec: 1, assoc: "none" }],
  ["!=", { prec: 1, assoc: "none" }],
  ["+", { prec: 2, assoc: "left" }],
  ["-", { prec: 2, assoc: "left" }],
  ["*", { prec: 3, assoc: "left" }],
  ["/", { prec: 3, assoc: "left" }],
  ["@", { prec: 3, assoc: "left" }],
  ["%", { prec: 3, assoc: "left" }],
]);

/** Keywords that can only start a statement: seeing one after a line break ends a broken statement. */
const STATEMENT_KEYWORDS: ReadonlySet<string> = new Set(["input", "param", "const", "output", "def", "grad"]);

const CLOSER: Readonly<Record<string, string>> = { "(": ")", "[": "]" };

/** Unwinds a broken statement after its diagnostic was recorded; caught in parseProgram. */
class StatementFailure {}
const FAILURE = new StatementFailure();

type DefStatement = Extract<Statement, { kind: "def" }>;
type Parsed = Statement | { kind: "grad"; line: GradLine };

function spanOf(t: Token): Span {
  return { start: t.start, end: t.end };
}

function describe(t: Token): string {
  if (t.type === "eof") return "end of input";
  if (t.type === "newline") return "end of line";
  return `'${clip(t.text)}'`;
}

class Parser {
  private readonly lexer: Lexer;
  private tok: Token;
  private lastTokEnd = 0;
  /** Text of the token before `tok` (a comma before a line break means the line continues). */
  private lastTokText = "";
  /** Current nesting level (see enter()). */
  private nesting = 0;
  /** Brackets opened and not yet closed in the current statement, innermost last. */
  private readonly open: Token[] = [];
  private readonly diagnostics: Diagnostic[] = [];
  private lexerErrors = 0;
  private lexerErrorsAtStatementStart = 0;
  private stopped = false;

  constructor(source: string) {
    this.lexer = new Lexer(source, (d) => {
      this.lexerErrors++;
      this.report(d);
    });
    this.tok = this.lexer.next();
  }

  parseProgram(): { program: Program; diagnostics: Diagnostic[] } {
    const statements: Statement[] = [];
    let def: DefStatement | undefined; // the def that `grad` lines attach to
    let afterBrokenDef = false; // its grads are dropped silently: the def was already reported
    while (this.tok.type !== "eof" && !this.stopped) {
      if (this.tok.type === "newline" || this.isPunct(";")) {
        this.next(); // an empty statement
        continue;
      }
      const first = this.tok;
      this.nesting = 0;
      this.open.length = 0;
      this.lexerErrorsAtStatementStart = this.lexerErrors;
      try {
        const s = this.parseStatement();
        this.expectStatementEnd(s);
        if (s.kind === "grad") {
          if (def !== undefined) {
            def.grads.push(s.line);
            def.span = { start: def.span.start, end: s.line.span.end };
          } else if (!afterBrokenDef) {
            this.report({ code: SyntaxCode.orphanGrad, message: SyntaxMessage.orphanGrad(), span: s.line.span });
          }
        } else {
          statements.push(s);
          def = s.kind === "def" ? s : undefined;
          afterBrokenDef = false;
        }
      } catch (e) {
        if (e !== FAILURE) throw e;
        this.skipStatement();
        if (this.tok === first) this.next();
        // A broken grad line keeps its def for the grad lines after it.
        if (!(first.type === "keyword" && first.text === "grad")) {
          afterBrokenDef = first.type === "keyword" && first.text === "def";
          def = undefined;
        }
      }
    }
    const diagnostics = this.diagnostics.sort((a, b) => a.span.start - b.span.start);
    if (this.stopped) {
      const at = this.tok.start;
      diagnostics.push({
        code: SyntaxCode.tooManyErrors,
        message: SyntaxMessage.tooManyErrors(MAX_DIAGNOSTICS),
        span: { start: at, end: at },
      });
    }
    return { program: { statements }, diagnostics };
  }

  // ---- tokens -------------------------------------------------------------------------

  private next(): void {
    this.lastTokEnd = this.tok.end;
    this.lastTokText = this.tok.text;
    this.tok = this.lexer.next();
  }

  private isPunct(text: string): boolean {
    return this.tok.type === "punct" && this.tok.text === text;
  }

  private isKeyword(text: string): boolean {
    return this.tok.type === "keyword" && this.tok.text === text;
  }

  private finish(start: number): Span {
    return { start, end: this.lastTokEnd };
  }

  /** Does the current token begin a new statement on a line of its own inside an unclosed bracket? */
  private startsStatementAfterBreak(): boolean {
    const t = this.tok;
    if (!t.nlBefore) return false;
    if (t.type === "keyword") return STATEMENT_KEYWORDS.has(t.text);
    if (t.type !== "name") return false;
    if (this.startsDim()) return true;
    // `name =` after a comma inside `( )` continues a call with a named argument (`axis=0`).
    if (this.lastTokText === "," && this.open[this.open.length - 1]?.text === "(") return false;
    const after = this.lexer.peek();
    return after.type === "punct" && after.text === "=";
  }

  /** Is the current token the `dim` of `dim N`, a name (or a misused keyword) following on the same line? */
  private startsDim(): boolean {
    if (this.tok.type !== "name" || this.tok.text !== "dim") return false;
    const after = this.lexer.peek();
    return (after.type === "name" || after.type === "keyword") && !after.nlBefore;
  }

  /** Is the current token the name of a named argument, `axis` in `axis=1`? */
  private startsNamedArgument(): boolean {
    if (this.tok.type !== "name") return false;
    const after = this.lexer.peek();
    return after.type === "punct" && after.text === "=";
  }

  private expectName(what: string): Token {
    const t = this.tok;
    if (t.type === "name") {
      this.next();
      return t;
    }
    if (t.type === "keyword" && !t.nlBefore) this.fail(SyntaxCode.keywordAsName, SyntaxMessage.keywordAsName(t.text), t);
    return this.unexpected(SyntaxCode.expectedToken, what);
  }

  private expectEquals(after: string): void {
    if (this.isPunct("=")) this.next();
    else this.unexpected(SyntaxCode.missingEquals, `'=' after '${clip(after)}'`);
  }

  // ---- diagnostics and recovery -------------------------------------------------------

  private report(d: Diagnostic): void {
    if (this.stopped) return;
    if (this.diagnostics.length >= MAX_DIAGNOSTICS) this.stopped = true;
    else this.diagnostics.push(d);
  }

  /** Record a diagnostic (unless the lexer already reported this statement) and abandon the statement. */
  private fail(code: string, message: string, at: Span): never {
    if (this.lexerErrors === this.lexerErrorsAtStatementStart) {
      this.report({ code, message, span: { start: at.start, end: at.end } });
    }
    throw FAILURE;
  }

  /**
   * The current token is not what the grammar needs. `what` names what was needed
   * ("an expression"), or builds the whole message from the found token's description.
   */
  private unexpected(code: string, what: string | ((found: string) => string)): never {
    const t = this.tok;
    const open = this.open[this.open.length - 1];
    if (open !== undefined && (t.type === "eof" || this.startsStatementAfterBreak())) {
      const message = SyntaxMessage.unclosed(open.text, CLOSER[open.text] ?? "", t.type === "eof");
      this.fail(SyntaxCode.unclosedBracket, message, open);
    }
    if (t.type === "keyword" && t.text === "for") this.fail(SyntaxCode.misplacedFor, SyntaxMessage.misplacedFor(), t);
    if (this.isPunct("..")) this.fail(SyntaxCode.misplacedRange, SyntaxMessage.misplacedRange(), t);
    const message = typeof what === "string" ? SyntaxMessage.expected(what, describe(t)) : what(describe(t));
    return this.fail(code, message, t);
  }

  /** One more level of nesting; past MAX_NESTING the statement is abandoned. */
  private enter(): void {
    if (++this.nesting > MAX_NESTING) {
      this.fail(SyntaxCode.nestedTooDeeply, SyntaxMessage.nestedTooDeeply(), this.tok);
    }
  }

  private leave(): void {
    this.nesting--;
  }

  private openBracket(): void {
    this.enter();
    this.open.push(this.tok);
    this.next();
  }

  private closeBracket(close: string, what: string): void {
    if (!this.isPunct(close)) this.unexpected(SyntaxCode.expectedToken, what);
    this.next();
    this.open.pop();
    this.leave();
  }

  /** Skip the rest of a broken statement: to a newline or `;` at depth 0, or a statement start after a skipped newline. */
  private skipStatement(): void {
    for (;;) {
      const t = this.tok;
      if (t.type === "eof" || t.type === "newline") return;
      if (t.type === "punct" && t.text === ";" && t.depth === 0) return;
      if (this.startsStatementAfterBreak()) return;
      this.next();
    }
  }

  private expectStatementEnd(s: Parsed): void {
    const t = this.tok;
    // After an unclosed bracket was reported, line breaks only show as `nlBefore`.
    if (t.type === "newline" || t.type === "eof" || this.isPunct(";") || t.nlBefore) return;
    if (this.isPunct(")") || this.isPunct("]")) this.fail(SyntaxCode.unmatchedBracket, SyntaxMessage.unmatched(t.text), t);
    if (s.kind === "declare" && t.type === "name") {
      this.unexpected(SyntaxCode.expectedStatementEnd, "',' between the declared names");
    }
    this.unexpected(SyntaxCode.expectedStatementEnd, "the end of the statement (a newline or ';')");
  }

  // ---- statements ---------------------------------------------------------------------

  private parseStatement(): Parsed {
    const t = this.tok;
    if (t.type === "keyword") {
      switch (t.text) {
        case "input":
        case "param":
          return this.parseDeclare(t.text);
        case "const":
          return this.parseConst();
        case "output":
          return this.parseOutput();
        case "def":
          return this.parseDef();
        case "grad":
          return this.parseGrad();
      }
      const after = this.lexer.peek();
      if (after.type === "punct" && after.text === "=") {
        this.fail(SyntaxCode.keywordAsName, SyntaxMessage.keywordAsName(t.text), t);
      }
    }
    if (this.startsDim()) return this.parseDeclare("dim");
    if (t.type === "name") return this.parseAssign();
    if (this.isPunct(")") || this.isPunct("]")) this.fail(SyntaxCode.unmatchedBracket, SyntaxMessage.unmatched(t.text), t);
    return this.unexpected(
      SyntaxCode.expectedStatement,
      "a statement (input, param, const, output, def, or 'name = ...')",
    );
  }

  /** `input a, b[3], M[2, 3]`, `input y[N] int`, `param ...` and `dim N, M` */
  private parseDeclare(role: "input" | "param" | "dim"): Statement {
    const start = this.tok.start;
    this.next();
    const items: Declared[] = [];
    for (;;) {
      items.push(this.parseDeclared(role));
      if (!this.isPunct(",")) break;
      this.next();
    }
    return { kind: "declare", role, items, span: this.finish(start) };
  }

  /** One item: a name, its dims of any rank, and for an input `int`. */
  private parseDeclared(role: "input" | "param" | "dim"): Declared {
    const name = this.expectName(`a name to declare after '${role}'`);
    const dims: Expr[] = [];
    if (this.isPunct("[")) {
      if (role === "dim") this.fail(SyntaxCode.dimWithShape, SyntaxMessage.dimWithShape(name.text), this.tok);
      this.openBracket();
      for (;;) {
        dims.push(this.parseExpression());
        if (!this.isPunct(",")) break;
        this.next();
      }
      this.closeBracket("]", "',' or ']' to close '['");
    }
    const declared: Declared = { name: name.text, nameSpan: spanOf(name), dims, span: this.finish(name.start) };
    if (this.tok.type === "name" && this.tok.text === "int") {
      if (role === "param") this.fail(SyntaxCode.misplacedInt, SyntaxMessage.intOnParam(), this.tok);
      if (role === "dim") this.fail(SyntaxCode.misplacedInt, SyntaxMessage.intOnDim(), this.tok);
      this.next();
      if (this.isPunct("[")) this.fail(SyntaxCode.misplacedInt, SyntaxMessage.intBeforeShape(name.text), this.tok);
      declared.integer = true;
      declared.span = this.finish(name.start);
    }
    return declared;
  }

  /** `const N = expr` */
  private parseConst(): Statement {
    const start = this.tok.start;
    this.next();
    const name = this.expectName("a name after 'const'");
    this.expectEquals(`const ${name.text}`);
    const value = this.parseExpression();
    return { kind: "const", name: name.text, nameSpan: spanOf(name), value, span: this.finish(start) };
  }

  /** `output name = expr` or `output name` */
  private parseOutput(): Statement {
    const start = this.tok.start;
    this.next();
    const name = this.expectName("a name after 'output'");
    if (!this.isPunct("=")) return { kind: "export", name: name.text, nameSpan: spanOf(name), span: this.finish(start) };
    this.next();
    const value = this.parseExpression();
    return { kind: "assign", name: name.text, nameSpan: spanOf(name), value, output: true, span: this.finish(start) };
  }

  /** `name = expr` */
  private parseAssign(): Statement {
    const name = this.tok;
    this.next();
    this.expectEquals(name.text);
    const value = this.parseExpression();
    return { kind: "assign", name: name.text, nameSpan: spanOf(name), value, output: false, span: this.finish(name.start) };
  }

  /** `def f(a, b) = expr`; the `grad` lines are attached by parseProgram. */
  private parseDef(): Statement {
    const start = this.tok.start;
    this.next();
    const name = this.expectName("a function name after 'def'");
    if (!this.isPunct("(")) this.unexpected(SyntaxCode.expectedToken, `'(' and the parameters after 'def ${clip(name.text)}'`);
    this.openBracket();
    const params: { name: string; span: Span }[] = [];
    if (!this.isPunct(")")) {
      for (;;) {
        const p = this.expectName("a parameter name");
        params.push({ name: p.text, span: spanOf(p) });
        if (!this.isPunct(",")) break;
        this.next();
      }
    }
    this.closeBracket(")", "',' or ')' after a parameter");
    this.expectEquals(`def ${name.text}(${params.map((p) => p.name).join(", ")})`);
    const body = this.parseExpression();
    return { kind: "def", name: name.text, nameSpan: spanOf(name), params, body, grads: [], span: this.finish(start) };
  }

  /** `grad a = expr` */
  private parseGrad(): Parsed {
    const start = this.tok.start;
    this.next();
    const name = this.expectName("a parameter name after 'grad'");
    this.expectEquals(`grad ${name.text}`);
    const value = this.parseExpression();
    return { kind: "grad", line: { name: name.text, nameSpan: spanOf(name), value, span: this.finish(start) } };
  }

  // ---- expressions --------------------------------------------------------------------

  private parseExpression(): Expr {
    const start = this.tok.start;
    return this.parseExprOp(this.parseMaybeUnary(), start, 0);
  }

  /**
   * The precedence loop: extends `left` with every operator binding tighter than
   * `minPrec`. Same-level operators are folded left by iterating; a tighter operator
   * after the right operand is absorbed by one recursive call at its level.
   */
  private parseExprOp(left: Expr, leftStart: number, minPrec: number): Expr {
    let lastPrec = -1;
    for (;;) {
      const opTok = this.tok;
      const info = opTok.type === "punct" ? BINARY_OPERATORS.get(opTok.text) : undefined;
      if (info === undefined || info.prec <= minPrec) return left;
      if (info.assoc === "none" && lastPrec === info.prec) {
        this.fail(SyntaxCode.chainedComparison, SyntaxMessage.chainedComparison(opTok.text), opTok);
      }
      this.next();
      if (opTok.text === "*" && this.isPunct("*") && this.tok.start === opTok.end) {
        this.fail(SyntaxCode.powerOperator, SyntaxMessage.powerOperator(), { start: opTok.start, end: this.tok.end });
      }
      const rightStart = this.tok.start;
      const right = this.parseExprOp(this.parseMaybeUnary(), rightStart, info.prec);
      left = {
        kind: "binary",
        op: opTok.text as BinaryOp,
        left,
        right,
        span: this.finish(leftStart),
        opSpan: spanOf(opTok),
      };
      lastPrec = info.prec;
    }
  }

  /** Prefix `-` and `+`, binding looser than `^`. */
  private parseMaybeUnary(): Expr {
    const t = this.tok;
    if (t.type === "punct" && (t.text === "-" || t.text === "+")) {
      this.enter();
      this.next();
      const operand = this.parseMaybeUnary();
      this.leave();
      return { kind: "unary", op: t.text, operand, span: this.finish(t.start) };
    }
    return this.parsePower();
  }

  /** `base ^ exponent`: right-associative, and the exponent may carry a sign (`2^-x`). */
  private parsePower(): Expr {
    const start = this.tok.start;
    const base = this.parsePostfix();
    if (!this.isPunct("^")) return base;
    const opTok = this.tok;
    this.enter();
    this.next();
    const exponent = this.parseMaybeUnary();
    this.leave();
    return { kind: "binary", op: "^", left: base, right: exponent, span: this.finish(start), opSpan: spanOf(opTok) };
  }

  /** Index chains `v[i]`, `M[i, j]`, `M[i][j]` (calls are parsed with their name in parsePrimary). */
  private parsePostfix(): Expr {
    const start = this.tok.start;
    let expr = this.parsePrimary();
    let chain = 0;
    for (;;) {
      if (this.isPunct("[")) {
        if (this.nesting + ++chain > MAX_NESTING) {
          this.fail(SyntaxCode.nestedTooDeeply, SyntaxMessage.nestedTooDeeply(), this.tok);
        }
        expr = this.parseIndex(expr, start);
      } else if (this.isPunct("(")) {
        this.fail(SyntaxCode.notCallable, SyntaxMessage.notCallable(), this.tok);
      } else {
        return expr;
      }
    }
  }

  /** `t[item, ...]`, any number of items (the checker compares them with the rank). */
  private parseIndex(target: Expr, start: number): Expr {
    this.openBracket();
    const indices = [this.parseIndexItem()];
    while (this.isPunct(",")) {
      this.next();
      indices.push(this.parseIndexItem());
    }
    this.closeBracket("]", "',' or ']' to close '['");
    return { kind: "index", target, indices, span: this.finish(start) };
  }

  /** An index `e`, or a slice `from:to:step` whose parts may each be left out (`:`, `::2`, `1:`). */
  private parseIndexItem(): IndexItem {
    const start = this.tok.start;
    const from = this.isPunct(":") ? undefined : this.parseExpression();
    if (!this.isPunct(":")) return from!;
    this.next();
    const to = this.endsSlicePart() ? undefined : this.parseExpression();
    let step: Expr | undefined;
    if (this.isPunct(":")) {
      this.next();
      if (!this.endsSlicePart()) step = this.parseExpression();
    }
    return { kind: "slice", ...(from && { from }), ...(to && { to }), ...(step && { step }), span: this.finish(start) };
  }

  private endsSlicePart(): boolean {
    return this.isPunct(":") || this.isPunct(",") || this.isPunct("]");
  }

  private parsePrimary(): Expr {
    const t = this.tok;
    switch (t.type) {
      case "number":
        this.next();
        return { kind: "number", value: t.value, text: t.text, span: spanOf(t) };
      case "string": {
        this.next();
        const closed = t.text.length > 1 && t.text.endsWith('"');
        return { kind: "string", value: t.text.slice(1, closed ? -1 : undefined), span: spanOf(t) };
      }
      case "name": {
        const after = this.lexer.peek();
        if (after.type === "punct" && after.text === "(") return this.parseCall();
        this.next();
        return { kind: "name", name: t.text, span: spanOf(t) };
      }
      case "keyword":
        if (t.text !== "for" && t.text !== "in" && !t.nlBefore) {
          this.fail(SyntaxCode.keywordAsName, SyntaxMessage.keywordAsName(t.text), t);
        }
        break;
      case "punct":
        if (t.text === "(") {
          this.openBracket();
          const inner = this.parseExpression();
          this.closeBracket(")", "')' to close '('");
          return inner;
        }
        if (t.text === "[") return this.parseArray();
        break;
    }
    return this.unexpected(SyntaxCode.expectedExpression, "an expression");
  }

  /**
   * `f(a, b)`, `f(x, axis=1, keepdims=true)`, or `f(e for i in a..b)` where the generator
   * is the only positional argument (named ones may follow it: `sum(X[i] for i in 0..n, axis=0)`).
   */
  private parseCall(): Expr {
    const callee = this.tok;
    this.next();
    this.openBracket();
    const args: Expr[] = [];
    const named: NamedArgument[] = [];
    const names = new Set<string>();
    let generator = false;
    if (!this.isPunct(")")) {
      for (;;) {
        if (this.startsNamedArgument()) {
          const name = this.tok;
          if (names.has(name.text)) this.fail(SyntaxCode.repeatedNamedArgument, SyntaxMessage.repeatedNamedArgument(name.text), name);
          names.add(name.text);
          this.next();
          this.next(); // =
          const value = this.parseExpression();
          named.push({ name: name.text, nameSpan: spanOf(name), value, span: this.finish(name.start) });
        } else {
          const argStart = this.tok.start;
          const arg = this.parseExpression();
          if (named.length > 0) {
            const last = named[named.length - 1].name;
            this.fail(SyntaxCode.positionalAfterNamed, SyntaxMessage.positionalAfterNamed(last), this.finish(argStart));
          }
          if (this.isKeyword("for")) {
            if (args.length > 0) this.fail(SyntaxCode.misplacedFor, SyntaxMessage.generatorNotAlone(), this.tok);
            args.push({ kind: "generator", body: arg, ...this.parseForClause(), span: this.finish(argStart) });
            generator = true;
          } else {
            args.push(arg);
          }
        }
        if (!this.isPunct(",")) break;
        const comma = this.tok;
        this.next();
        if (generator && !this.startsNamedArgument()) this.fail(SyntaxCode.misplacedFor, SyntaxMessage.generatorNotAlone(), comma);
      }
    }
    this.closeBracket(")", "',' or ')' to close '('");
    return { kind: "call", callee: callee.text, calleeSpan: spanOf(callee), args, named, span: this.finish(callee.start) };
  }

  /** `[e, ...]` (a trailing comma is allowed) or `[e for i in a..b]`. */
  private parseArray(): Expr {
    const start = this.tok.start;
    this.openBracket();
    if (this.isPunct("]")) {
      this.unexpected(SyntaxCode.expectedExpression, (found) => `expected an expression, found ${found}: an array needs at least one element`);
    }
    const first = this.parseExpression();
    if (this.isKeyword("for")) {
      const loop = this.parseForClause();
      this.closeBracket("]", "']' to close '['");
      return { kind: "comprehension", body: first, ...loop, span: this.finish(start) };
    }
    const elements = [first];
    while (this.isPunct(",")) {
      this.next();
      if (this.isPunct("]")) break;
      elements.push(this.parseExpression());
    }
    this.closeBracket("]", "',' or ']' to close '['");
    return { kind: "array", elements, span: this.finish(start) };
  }

  /** `for i in a..b`, after a comprehension's or generator's body; `..` binds loosest. */
  private parseForClause(): { variable: string; variableSpan: Span; from: Expr; to: Expr } {
    this.next(); // for
    const variable = this.expectName("a loop variable after 'for'");
    if (!this.isKeyword("in")) this.unexpected(SyntaxCode.expectedToken, `'in' after 'for ${clip(variable.text)}'`);
    this.next();
    const from = this.parseExpression();
    if (!this.isPunct("..")) this.unexpected(SyntaxCode.expectedRange, SyntaxMessage.expectedRange);
    this.next();
    const to = this.parseExpression();
    return { variable: variable.text, variableSpan: spanOf(variable), from, to };
  }
}
