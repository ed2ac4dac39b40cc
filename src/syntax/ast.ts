// The syntax tree of a `.expr` program. Every node keeps the span of source it came from
// (UTF-16 offsets into the source string); line and column are computed only when a
// diagnostic is rendered (see ../diagnostics.ts).

export interface Span {
  start: number;
  end: number;
}

export type BinaryOp =
  | "+" | "-" | "*" | "/" | "@" | "%" | "^"
  | "<" | "<=" | ">" | ">=" | "==" | "!=";

export type Expr =
  | { kind: "number"; value: number; text: string; span: Span }
  | { kind: "name"; name: string; span: Span }
  | { kind: "unary"; op: "-" | "+"; operand: Expr; span: Span }
  | { kind: "binary"; op: BinaryOp; left: Expr; right: Expr; span: Span; opSpan: Span }
  /** `"ij,jk->ik"` (only meaningful as a call argument; `value` is the text between the quotes). */
  | { kind: "string"; value: string; span: Span }
  /**
   * `f(a, b, axis=1)`: positional arguments, then named ones (`named` is empty when there
   * are none). A reduction's only positional argument may be a `generator`.
   */
  | { kind: "call"; callee: string; calleeSpan: Span; args: Expr[]; named: NamedArgument[]; span: Span }
  /** `v[i]`, `M[i, j]`, `M[i]` (a row), `M[:, j]`, `x[1:]`, `T[i, 1:3, :]`: any number of items. */
  | { kind: "index"; target: Expr; indices: IndexItem[]; span: Span }
  /** `[e, ...]` */
  | { kind: "array"; elements: Expr[]; span: Span }
  /** `[body for variable in from..to]` */
  | { kind: "comprehension"; body: Expr; variable: string; variableSpan: Span; from: Expr; to: Expr; span: Span }
  /** `body for variable in from..to`, only as the sole argument of a call: `sum(w[i] for i in 0..3)`. */
  | { kind: "generator"; body: Expr; variable: string; variableSpan: Span; from: Expr; to: Expr; span: Span };

/** `a:b:s` inside an index; every part may be left out (`x[:]`, `x[::2]`, `x[1:]`). */
export interface Slice {
  kind: "slice";
  from?: Expr;
  to?: Expr;
  step?: Expr;
  span: Span;
}

/** One item between the brackets of an index: an expression (removes its axis) or a slice (keeps it). */
export type IndexItem = Expr | Slice;

/** `axis=1` in a call, after the positional arguments. */
export interface NamedArgument {
  name: string;
  nameSpan: Span;
  value: Expr;
  span: Span;
}

export interface Declared {
  name: string;
  nameSpan: Span;
  /** One expression per axis, any number of them; empty for a scalar (and always for a `dim`). */
  dims: Expr[];
  /** `input y[N] int`: an integer input (only inputs; never set on a param or a dim). */
  integer?: true;
  span: Span;
}

export interface GradLine {
  /** The `def` parameter this line gives the local gradient of. */
  name: string;
  nameSpan: Span;
  value: Expr;
  span: Span;
}

export type Statement =
  /** `input a, b[3]`, `param w[3], M[2, 3]`, or `dim N, M` (run-time sizes: items without dims). */
  | { kind: "declare"; role: "input" | "param" | "dim"; items: Declared[]; span: Span }
  /** `const N = 100` */
  | { kind: "const"; name: string; nameSpan: Span; value: Expr; span: Span }
  /** `name = expr` or `output name = expr` */
  | { kind: "assign"; name: string; nameSpan: Span; value: Expr; output: boolean; span: Span }
  /** `output name` (exports an existing name) */
  | { kind: "export"; name: string; nameSpan: Span; span: Span }
  /** `def f(a, b) = expr`, with the `grad` lines that directly follow it. */
  | {
      kind: "def";
      name: string;
      nameSpan: Span;
      params: { name: string; span: Span }[];
      body: Expr;
      grads: GradLine[];
      span: Span;
    };

export interface Program {
  statements: Statement[];
}
