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
  /** `f(a, b)`; a reduction's single argument may be a `generator`. */
  | { kind: "call"; callee: string; calleeSpan: Span; args: Expr[]; span: Span }
  /** `v[i]`, `M[i, j]`, `M[i]` (a row). */
  | { kind: "index"; target: Expr; indices: Expr[]; span: Span }
  /** `[e, ...]` */
  | { kind: "array"; elements: Expr[]; span: Span }
  /** `[body for variable in from..to]` */
  | { kind: "comprehension"; body: Expr; variable: string; variableSpan: Span; from: Expr; to: Expr; span: Span }
  /** `body for variable in from..to`, only as the sole argument of a call: `sum(w[i] for i in 0..3)`. */
  | { kind: "generator"; body: Expr; variable: string; variableSpan: Span; from: Expr; to: Expr; span: Span };

export interface Declared {
  name: string;
  nameSpan: Span;
  /** Empty for a scalar, one expression for a vector, two for a matrix. */
  dims: Expr[];
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
  /** `input a, b[3]` or `param w[3], M[2, 3]` */
  | { kind: "declare"; role: "input" | "param"; items: Declared[]; span: Span }
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
