// Loop IR -> JavaScript statements: the only place the loop form becomes text. Elementwise
// operations print through ELEMENTWISE[op].print, so an operation prints the same in loops,
// straight-line code and the tape. Loops and blocks nest as deep as a tensor's rank (plus the
// unrolled step), and expressions as deep as fusion allows, so the recursion here is bounded.

import { ELEMENTWISE, type ElementwiseOp } from "../ir/ops.js";
import { literal, stripOuter } from "../emit/straight.js";
import { type Affine, type Buffer, type Dynamic, type Expr, type Stmt } from "./ir.js";
import { knownSize } from "../ir/graph.js";
import { addSize, formatSize, isKnown, Poly, subSize, type Size } from "../ir/size.js";

export function affineText(x: Affine): string {
  const factor = (c: Size) => (isKnown(c) ? String(c) : `(${sizeText(c)})`);
  const parts = x.terms.map(([n, c]) => (c === 1 ? n : `${n} * ${factor(c)}`));
  if (x.c !== 0 || parts.length === 0) parts.push(factor(x.c));
  return parts.join(" + ");
}

/** A loop bound or a buffer length: a number, or in the function's locals of the dims (`$N - 1`). */
export const sizeText = (s: Size): string => formatSize(s, (d) => `$${d}`);

const bound = sizeText;

/** The name of element `c` of a small tensor kept in locals. */
export const localElement = (b: Buffer, c: number): string => `${b.name}_${c}`;

export class Printer {
  /** Module-level helper functions the printed code calls. */
  readonly helpers = new Set<string>();

  expr(e: Expr): string {
    switch (e.k) {
      case "num":
        return literal(e.value);
      case "local":
        return e.name;
      case "load":
        if (e.buffer.kind === "local") {
          if (e.index.terms.length || e.dynamic) throw new Error(`internal: small tensor ${e.buffer.name} read at a variable index`);
          return localElement(e.buffer, knownSize(e.index.c));
        }
        return `${e.buffer.name}[${this.index(e.index, e.dynamic)}]`;
      case "index":
        return e.index.terms.length === 0 && isKnown(e.index.c) ? literal(e.index.c) : `(${affineText(e.index)})`;
      case "op": {
        const op = ELEMENTWISE[e.op] as ElementwiseOp;
        for (const h of op.helpers ?? []) this.helpers.add(h);
        // A selection on a comparison tests it directly: `i <= j ? a : b`, not
        // `(i <= j ? 1 : 0) !== 0 ? a : b`, which V8 does not fold (the Hessian's mirror took
        // 1.16x the time of reading its mask from a table).
        const c = e.args[0];
        const test = c?.k === "op" ? (ELEMENTWISE[c.op] as ElementwiseOp).test : undefined;
        if (op.choose && test && c.k === "op") return op.choose(`${this.expr(c.args[0])} ${test} ${this.expr(c.args[1])}`, this.expr(e.args[1]), this.expr(e.args[2]));
        return op.print(...e.args.map((a) => this.expr(a)));
      }
      case "dot":
        return `(${e.terms.map(([a, b]) => `${this.expr(a)} * ${this.expr(b)}`).join(" + ")})`;
    }
  }

  /** An element index: the affine part, plus a run-time part (`a0[i * 3 + 3 * t5[i]]`). */
  index(x: Affine, dynamic?: Dynamic): string {
    if (!dynamic) return affineText(x);
    const at = this.expr(dynamic.at);
    const run = dynamic.stride === 1 ? at : `${isKnown(dynamic.stride) ? dynamic.stride : `(${sizeText(dynamic.stride)})`} * ${at}`;
    return x.terms.length === 0 && x.c === 0 ? run : `${affineText(x)} + ${run}`;
  }

  /** The lines of `body`, indented by `indent`. */
  stmts(body: readonly Stmt[], indent = "", out: string[] = []): string[] {
    for (const s of body) this.stmt(s, indent, out);
    return out;
  }

  stmt(s: Stmt, indent: string, out: string[]): void {
    switch (s.k) {
      case "loop": {
        const { v, from, extent, step } = s;
        const test = step > 0 ? `${v} < ${bound(addSize(extent, from))}` : `${v} >= ${bound(subSize(from + 1, extent))}`;
        const next = step === 1 ? `${v}++` : step === -1 ? `${v}--` : step > 0 ? `${v} += ${step}` : `${v} -= ${-step}`;
        out.push(`${indent}for (${s.resume ? "" : `let ${v} = ${from}`}; ${test}; ${next}) {`);
        this.stmts(s.body, indent + "  ", out);
        out.push(`${indent}}`);
        return;
      }
      case "store": {
        const value = this.expr(s.value);
        if (s.buffer.kind === "local") {
          if (s.index.terms.length || s.dynamic) throw new Error(`internal: small tensor ${s.buffer.name} written at a variable index`);
          const name = localElement(s.buffer, knownSize(s.index.c));
          out.push(s.op === "=" ? `${indent}const ${name} = ${value};` : `${indent}${name} ${s.op} ${value};`);
        } else out.push(`${indent}${s.buffer.name}[${this.index(s.index, s.dynamic)}] ${s.op} ${value};`);
        return;
      }
      case "let":
        out.push(`${indent}${s.mutable ? "let" : "const"} ${s.name} = ${stripOuter(this.expr(s.value))};`);
        return;
      case "assign":
        out.push(`${indent}${s.name} ${s.op} ${s.op === "=" ? stripOuter(this.expr(s.value)) : this.expr(s.value)};`);
        return;
      case "fill": {
        const value = stripOuter(this.expr(s.value));
        if (s.buffer.kind === "local") for (let k = 0; k < knownSize(s.buffer.size); k++) out.push(`${indent}let ${localElement(s.buffer, k)} = ${value};`);
        else out.push(`${indent}${s.buffer.name}.fill(${value});`);
        return;
      }
      case "copy":
        out.push(`${indent}${s.to.name}.set(${s.from.name});`);
        return;
      case "result":
        out.push(`${indent}${s.target} = ${stripOuter(this.expr(s.value))};`);
        return;
      case "block":
        out.push(s.when ? `${indent}if (${this.expr(s.when)} !== 0) {` : `${indent}{`);
        for (const a of s.aliases ?? []) out.push(`${indent}  const ${a.name} = ${a.source};`);
        if (s.bind) out.push(`${indent}  const ${s.bind.v} = ${affineText(s.bind.value)};`);
        this.stmts(s.body, indent + "  ", out);
        out.push(`${indent}}`);
        return;
      case "comment":
        out.push(`${indent}// ${s.text}`);
        return;
      case "call":
        out.push(`${indent}${s.name}(${s.args.join(", ")});`);
        return;
      case "kernel":
        this.helpers.add(s.name);
        out.push(`${indent}${s.name}(${s.args.map((a) => (a instanceof Poly ? sizeText(a) : typeof a === "object" ? a.name : String(a))).join(", ")});`);
        return;
    }
  }
}

/** Alias lines of module buffers and holders: `const b12 = buf12;`. */
export const aliasLine = (b: Buffer): string => `const ${b.name} = ${b.source};`;

/** The module-level declaration of a scratch buffer (a constant tensor's with its elements). */
export const scratchDeclaration = (b: Buffer): string =>
  b.values
    ? `const ${b.source} = new Float64Array([${b.values.map(literal).join(", ")}]);`
    : isKnown(b.size)
      ? `const ${b.source} = new Float64Array(${b.size});`
      : `let ${b.source} = new Float64Array(0); // ${formatSize(b.size)} elements, made by useSizes()`;
