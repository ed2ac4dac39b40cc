// The checker turns the syntax tree into the IR: it resolves names in declaration order,
// computes and checks shapes, evaluates compile-time constants, indices and loop bounds,
// unrolls comprehensions, and inlines `def`s at each call (so they are shape-polymorphic),
// building gate nodes for `def`s with `grad` lines. Errors are collected, one per broken
// statement or expression, and a failed expression yields `undefined` so it reports once
// instead of cascading.

import type { Diagnostic } from "../diagnostics.js";
import { closest } from "../diagnostics.js";
import type { BinaryOp, Declared, Expr, Program, Span, Statement } from "../syntax/ast.js";
import { formatShape, Graph, sameShape, type Node, type Shape } from "../ir/graph.js";
import type { ElementwiseName } from "../ir/ops.js";
import { applyOther, BUILTIN_NAMES, ELEMENTWISE_N, OTHERS, REDUCERS, reduceAll, UNARY } from "./builtins.js";

export interface Argument {
  name: string;
  role: "input" | "param";
  shape: Shape;
  node: Node;
}

export interface Output {
  name: string;
  node: Node;
  span: Span;
}

export interface CheckedProgram {
  graph: Graph;
  /** Inputs and params in declaration order. */
  args: Argument[];
  outputs: Output[];
}

type Kind = "input" | "param" | "const" | "value" | "loop variable" | "parameter";

interface Binding {
  node: Node;
  kind: Kind;
  /** Statement index of the declaration (top level), for "declared before" checks. */
  order: number;
  span: Span;
}

interface Def {
  statement: Extract<Statement, { kind: "def" }>;
  order: number;
}

/** Innermost last; a def body's scope starts from the top level as it was at the def. */
interface Scope {
  locals: Map<string, Binding>[];
  /** Top-level bindings visible here: those with order < visibleBefore. */
  visibleBefore: number;
  /** The def being inlined, for messages. */
  inDef?: string;
}

/** A comprehension body that vectorize() cannot express as whole-vector operations. */
class Unbatchable {}

/** Longest comprehension unrolled step by step (a vectorized one may be longer). */
const MAX_UNROLLED_STEPS = 100_000;
/** V8's largest typed array length: 2^32 elements (32 GiB of float64). */
const MAX_TENSOR_ELEMENTS = 2 ** 32;

/** Comprehensions at least this long become vector operations when their body allows it. */
const VECTORIZE_MIN = 16;

class CheckError {
  constructor(readonly span: Span, readonly message: string, readonly code: string) {}
}

const VERB: Partial<Record<BinaryOp, string>> = {
  "+": "add", "-": "subtract", "*": "multiply", "/": "divide", "^": "raise",
  "<": "compare", "<=": "compare", ">": "compare", ">=": "compare", "==": "compare", "!=": "compare",
};
const BINARY_OP: Partial<Record<BinaryOp, ElementwiseName>> = {
  "+": "add", "-": "sub", "*": "mul", "/": "div", "^": "pow",
  "<": "lt", "<=": "le", ">": "gt", ">=": "ge", "==": "eq", "!=": "ne",
};

export function check(program: Program): { checked?: CheckedProgram; diagnostics: Diagnostic[] } {
  return new Checker().run(program);
}

class Checker {
  readonly graph = new Graph();
  readonly diagnostics: Diagnostic[] = [];
  private readonly reported = new Set<string>();
  private readonly top = new Map<string, Binding>();
  private readonly defs = new Map<string, Def>();
  /** Every top-level value name and where it is declared, to say "used before its declaration". */
  private readonly declaredAnywhere = new Map<string, Span>();
  private readonly calls = new Map<string, Node | undefined>();
  private readonly poisoned = new Map<string, number>();
  /** Every def name and where it is defined, to say "used before its definition". */
  private readonly defsAnywhere = new Map<string, Span>();
  private readonly brokenDefs = new Set<string>();
  private readonly args: Argument[] = [];
  private readonly outputs: Output[] = [];
  private order = 0;
  /** Elements of the tensor params declared so far (their gradients share one buffer). */
  private paramElements = 0;
  private source = "";

  run(program: Program): { checked?: CheckedProgram; diagnostics: Diagnostic[] } {
    for (const s of program.statements) {
      if (s.kind === "declare") for (const item of s.items) this.noteDeclared(item.name, item.nameSpan);
      else if (s.kind === "const" || s.kind === "assign") this.noteDeclared(s.name, s.nameSpan);
      else if (s.kind === "def" && !this.defsAnywhere.has(s.name)) this.defsAnywhere.set(s.name, s.nameSpan);
    }
    const lineStarts = [0];
    for (let i = this.source.indexOf("\n"); i !== -1; i = this.source.indexOf("\n", i + 1)) lineStarts.push(i + 1);
    const lineOf = (offset: number) => {
      let lo = 0;
      let hi = lineStarts.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (lineStarts[mid] <= offset) lo = mid;
        else hi = mid - 1;
      }
      return lo + 1;
    };
    for (const s of program.statements) {
      this.order++;
      this.graph.line = lineOf(s.span.start);
      const before = this.diagnostics.length;
      try {
        this.statement(s);
      } catch (e) {
        if (e instanceof CheckError) {
          if (e.message) this.report(e.code, e.message, e.span);
        } else throw e;
      }
      // Names a broken statement meant to declare are poisoned: later uses fail silently,
      // so one mistake gives one diagnostic.
      for (const name of declaredBy(s)) if (!this.top.has(name)) this.poisoned.set(name, this.order);
      if (s.kind === "def" && (this.diagnostics.length > before || !this.defs.has(s.name))) this.brokenDefs.add(s.name);
    }
    if (this.outputs.length === 0 && this.diagnostics.length === 0) {
      const end = program.statements.length ? program.statements[program.statements.length - 1].span : { start: 0, end: 0 };
      this.report("E0230", "the program has no 'output': declare at least one with 'output name = expression'", end);
    }
    if (this.diagnostics.length) return { diagnostics: this.diagnostics };
    return { checked: { graph: this.graph, args: this.args, outputs: this.outputs }, diagnostics: [] };
  }

  private noteDeclared(name: string, span: Span) {
    if (!this.declaredAnywhere.has(name)) this.declaredAnywhere.set(name, span);
  }

  private report(code: string, message: string, span: Span) {
    const key = `${span.start}:${message}`;
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.diagnostics.push({ code, message, span });
  }

  private fail(span: Span, message: string, code: string): never {
    throw new CheckError(span, message, code);
  }

  // ---- statements ----

  private statement(s: Statement) {
    const topScope: Scope = { locals: [], visibleBefore: this.order };
    switch (s.kind) {
      case "declare":
        if (s.role === "dim") this.fail(s.span, "'dim' is not supported yet", "E0299");
        for (const item of s.items) {
          try {
            this.declare(s.role, item);
          } catch (e) {
            if (!(e instanceof CheckError)) throw e;
            if (e.message) this.report(e.code, e.message, e.span);
          }
        }
        return;
      case "const": {
        this.checkNewName(s.name, s.nameSpan);
        const value = this.constant(s.value, topScope, "a const");
        this.bind(s.name, this.graph.constant(value), "const", s.nameSpan);
        return;
      }
      case "assign": {
        this.checkNewName(s.name, s.nameSpan);
        const node = this.expr(s.value, topScope);
        if (!node) return;
        this.bind(s.name, node, "value", s.nameSpan);
        if (s.output) this.addOutput(s.name, node, s.nameSpan);
        return;
      }
      case "export": {
        const b = this.top.get(s.name);
        if (!b && this.poisoned.has(s.name)) throw new CheckError(s.nameSpan, "", "");
        if (!b) this.fail(s.nameSpan, this.unknownName(s.name, topScope), "E0201");
        this.addOutput(s.name, b.node, s.nameSpan);
        return;
      }
      case "def":
        return this.define(s);
    }
  }

  private declare(role: "input" | "param", item: Declared) {
    this.checkNewName(item.name, item.nameSpan);
    if (item.integer) this.fail(item.span, "'int' is not supported yet", "E0299");
    if (item.dims.length > 2) this.fail(item.dims[2].span, `'${item.name}' has ${item.dims.length} dimensions; shapes are scalars, vectors [n] or matrices [m, n]`, "E0210");
    const scope: Scope = { locals: [], visibleBefore: this.order };
    const shape = item.dims.map((d) => {
      const v = this.constant(d, scope, "a dimension");
      if (!Number.isInteger(v) || v < 1) this.fail(d.span, `a dimension must be a positive integer, got ${v}`, "E0211");
      return v;
    });
    // The generated module holds each tensor, and all param gradients together, in one
    // Float64Array: past V8's limit it would fail when it runs, not here.
    const size = shape.reduce((a, b) => a * b, 1);
    const count = (n: number) => n.toLocaleString("en-US");
    if (size > MAX_TENSOR_ELEMENTS)
      this.fail(item.nameSpan, `'${item.name}' has ${count(size)} elements; a tensor can have at most ${count(MAX_TENSOR_ELEMENTS)} (the most a Float64Array holds)`, "E0218");
    if (role === "param" && shape.length > 0) {
      this.paramElements += size;
      if (this.paramElements > MAX_TENSOR_ELEMENTS)
        this.fail(item.nameSpan, `the params have ${count(this.paramElements)} elements in all with '${item.name}'; their gradients share one Float64Array of at most ${count(MAX_TENSOR_ELEMENTS)}`, "E0218");
    }
    const node = this.graph.input(item.name, role, shape);
    this.args.push({ name: item.name, role, shape, node });
    this.bind(item.name, node, role, item.nameSpan);
  }

  private checkNewName(name: string, span: Span) {
    const previous = this.top.get(name);
    if (previous) this.fail(span, `'${name}' is already declared (${this.where(previous.span)}); names are bound once`, "E0202");
  }

  private bind(name: string, node: Node, kind: Kind, span: Span) {
    this.top.set(name, { node, kind, order: this.order, span });
  }

  private addOutput(name: string, node: Node, span: Span) {
    if (this.outputs.some((o) => o.name === name)) this.fail(span, `'${name}' is exported twice`, "E0231");
    this.outputs.push({ name, node, span });
  }

  private define(s: Extract<Statement, { kind: "def" }>) {
    if (BUILTIN_NAMES.has(s.name)) this.fail(s.nameSpan, `'${s.name}' is a built-in function and cannot be redefined`, "E0240");
    const previous = this.defs.get(s.name);
    if (previous) this.fail(s.nameSpan, `function '${s.name}' is already defined (${this.where(previous.statement.nameSpan)})`, "E0241");
    const seen = new Set<string>();
    for (const p of s.params) {
      if (seen.has(p.name)) this.fail(p.span, `'${s.name}' has two parameters named '${p.name}'`, "E0242");
      seen.add(p.name);
    }
    if (s.grads.length) {
      const out = s.params.find((p) => p.name === "out");
      if (out) this.fail(out.span, `a gate cannot name an argument 'out': in its 'grad' lines 'out' is the gate's value`, "E0243");
      const given = new Set<string>();
      for (const g of s.grads) {
        // With one parameter, it is what the grad line meant.
        const meant = seen.size === 1 ? ` (did you mean '${[...seen][0]}'?)` : suggest(g.name, seen);
        if (!seen.has(g.name)) this.fail(g.nameSpan, `'${g.name}' is not a parameter of '${s.name}'${meant}`, "E0244");
        if (given.has(g.name)) this.fail(g.nameSpan, `'${s.name}' has two 'grad' lines for '${g.name}'`, "E0245");
        given.add(g.name);
      }
      const missing = s.params.filter((p) => !given.has(p.name)).map((p) => `'${p.name}'`);
      if (missing.length) this.fail(s.nameSpan, `gate '${s.name}' has no 'grad' line for ${missing.join(", ")}: a gate needs one for every argument`, "E0246");
    }
    this.defs.set(s.name, { statement: s, order: this.order });
    // Names are resolved now, so a def that is never called still reports unknown names.
    const params = new Set(s.params.map((p) => p.name));
    this.resolveNames(s.body, params, this.order);
    for (const g of s.grads) this.resolveNames(g.value, new Set([...params, "out"]), this.order);
  }

  /** Report unknown names and functions in a def body (shapes are checked at each call). */
  private resolveNames(root: Expr, bound: Set<string>, visibleBefore: number) {
    const stack: { e: Expr; bound: Set<string> }[] = [{ e: root, bound }];
    while (stack.length) {
      const { e, bound: names } = stack.pop()!;
      switch (e.kind) {
        case "number":
          break;
        case "name":
          if (!names.has(e.name) && !this.visibleTop(e.name, visibleBefore))
            this.report("E0201", this.unknownName(e.name, { locals: [new Map([...names].map((n) => [n, undefined as never]))], visibleBefore }), e.span);
          break;
        case "unary":
          stack.push({ e: e.operand, bound: names });
          break;
        case "binary":
          stack.push({ e: e.left, bound: names }, { e: e.right, bound: names });
          break;
        case "call":
          if (!BUILTIN_NAMES.has(e.callee) && !this.defs.has(e.callee)) this.report("E0220", this.unknownFunction(e.callee), e.calleeSpan);
          for (const a of e.args) stack.push({ e: a, bound: names });
          for (const a of e.named) stack.push({ e: a.value, bound: names });
          break;
        case "index":
          stack.push({ e: e.target, bound: names });
          for (const i of e.indices) {
            if (i.kind !== "slice") stack.push({ e: i, bound: names });
            else for (const part of [i.from, i.to, i.step]) if (part) stack.push({ e: part, bound: names });
          }
          break;
        case "array":
          for (const x of e.elements) stack.push({ e: x, bound: names });
          break;
        case "comprehension":
        case "generator": {
          stack.push({ e: e.from, bound: names }, { e: e.to, bound: names });
          stack.push({ e: e.body, bound: new Set([...names, e.variable]) });
          break;
        }
      }
    }
  }

  private visibleTop(name: string, visibleBefore: number): boolean {
    const b = this.top.get(name);
    return b !== undefined && b.order < visibleBefore;
  }

  // ---- names ----

  private lookup(name: string, scope: Scope): Binding | undefined {
    for (let i = scope.locals.length - 1; i >= 0; i--) {
      const b = scope.locals[i].get(name);
      if (b) return b;
    }
    const b = this.top.get(name);
    return b && b.order < scope.visibleBefore ? b : undefined;
  }

  private unknownName(name: string, scope: Scope): string {
    const declared = this.declaredAnywhere.get(name);
    if (declared && !this.top.has(name)) return `'${name}' is used before its declaration (${this.where(declared)})`;
    if (declared && scope.inDef) return `'${name}' is declared after the def '${scope.inDef}' and is not visible in it`;
    if (BUILTIN_NAMES.has(name) || this.defs.has(name)) return `'${name}' is a function; call it with arguments, as in ${name}(x)`;
    const candidates = new Set<string>();
    for (const m of scope.locals) for (const k of m.keys()) candidates.add(k);
    for (const [k, b] of this.top) if (b.order < scope.visibleBefore) candidates.add(k);
    return `unknown name '${name}'${suggest(name, candidates)}`;
  }

  private unknownFunction(name: string): string {
    const later = this.defsAnywhere.get(name);
    if (later && !this.defs.has(name)) return `'${name}' is used before its definition (${this.where(later)})`;
    if (this.top.has(name) || this.declaredAnywhere.has(name)) return `'${name}' is a value, not a function`;
    return `unknown function '${name}'${suggest(name, [...BUILTIN_NAMES, ...this.defs.keys()])}`;
  }

  private where(span: Span): string {
    let line = 1;
    for (let i = this.source.indexOf("\n"); i !== -1 && i < span.start; i = this.source.indexOf("\n", i + 1)) line++;
    return this.source ? `line ${line}` : "earlier";
  }

  setSource(source: string) {
    this.source = source;
  }

  // ---- compile-time values ----

  /** A number known at compile time: numbers, consts, loop variables and arithmetic on them. */
  private constant(e: Expr, scope: Scope, what: string): number {
    const node = this.expr(e, scope, true);
    if (!node) throw new CheckError(e.span, "", "");
    if (node.op !== "const") this.fail(e.span, `${what} must be known at compile time: use numbers, consts and loop variables`, "E0212");
    if (!Number.isFinite(node.value!)) this.fail(e.span, `${what} must be a finite number, got ${node.value}`, "E0213");
    return node.value!;
  }

  private integer(e: Expr, scope: Scope, what: string): number {
    const v = this.constant(e, scope, what);
    if (!Number.isInteger(v)) this.fail(e.span, `${what} must be an integer, got ${v}`, "E0214");
    return v;
  }

  // ---- expressions ----

  /**
   * The IR node of an expression, or undefined after reporting an error. `compileTime`
   * rejects inputs and params early with a message about constants.
   */
  expr(e: Expr, scope: Scope, compileTime = false): Node | undefined {
    try {
      return this.evaluate(e, scope, compileTime);
    } catch (err) {
      if (err instanceof CheckError) {
        if (err.message) this.report(err.code, scope.inDef ? `${err.message} (in '${scope.inDef}')` : err.message, err.span);
        return undefined;
      }
      throw err;
    }
  }

  private evaluate(e: Expr, scope: Scope, compileTime: boolean): Node {
    switch (e.kind) {
      case "number":
        if (!Number.isFinite(e.value)) this.fail(e.span, `the number ${e.text} is too large to represent`, "E0215");
        return this.graph.constant(e.value);
      case "name": {
        const b = this.lookup(e.name, scope);
        if (!b && (this.poisoned.get(e.name) ?? Infinity) < scope.visibleBefore) throw new CheckError(e.span, "", "");
        if (!b) this.fail(e.span, this.unknownName(e.name, scope), "E0201");
        if (compileTime && (b.kind === "input" || b.kind === "param" || b.kind === "value" || b.kind === "parameter") && b.node.op !== "const")
          this.fail(e.span, `'${e.name}' is ${b.kind === "value" ? "a computed value" : `a${b.kind === "input" ? "n" : ""} ${b.kind}`}, not a compile-time constant`, "E0212");
        return b.node;
      }
      case "unary": {
        const x = this.evaluate(e.operand, scope, compileTime);
        return e.op === "-" ? this.graph.elementwise("neg", [x]) : x;
      }
      case "binary":
        return this.binaryChain(e, scope, compileTime);
      case "call":
        return this.call(e, scope, compileTime);
      case "index":
        return this.index(e, scope, compileTime);
      case "array":
        return this.array(e, scope, compileTime);
      case "comprehension":
        return this.comprehension(e, scope, compileTime);
      case "generator":
        this.fail(e.span, "a generator 'e for i in a..b' can only be the argument of sum, prod, max, min or mean", "E0221");
      case "string":
        this.fail(e.span, "'string' is not supported yet", "E0299");
    }
  }

  /** Left-deep chains (`a + b + c + ...`, 100 000 terms) are walked with a loop, not recursion. */
  private binaryChain(e: Extract<Expr, { kind: "binary" }>, scope: Scope, compileTime: boolean): Node {
    const spine: Extract<Expr, { kind: "binary" }>[] = [];
    let left: Expr = e;
    while (left.kind === "binary") {
      spine.push(left);
      left = left.left;
    }
    let acc = this.evaluate(left, scope, compileTime);
    for (let i = spine.length - 1; i >= 0; i--) {
      const b = spine[i];
      acc = this.binary(b, acc, this.evaluate(b.right, scope, compileTime));
    }
    return acc;
  }

  private binary(e: Extract<Expr, { kind: "binary" }>, a: Node, b: Node): Node {
    if (e.op === "@") return this.matmul(e, a, b);
    if (e.op === "%") {
      if (a.op !== "const" || b.op !== "const" || !Number.isInteger(a.value) || !Number.isInteger(b.value))
        this.fail(e.opSpan, "'%' is only for compile-time integers (index arithmetic)", "E0216");
      if (b.value === 0) this.fail(e.opSpan, "'%' by zero", "E0217");
      return this.graph.constant(a.value! - b.value! * Math.floor(a.value! / b.value!));
    }
    if (a.shape.length && b.shape.length && !sameShape(a.shape, b.shape)) {
      const verb = VERB[e.op]!;
      const phrase = verb === "raise" ? `raise shape ${formatShape(a.shape)} to the power of shape ${formatShape(b.shape)}` : `${verb} shapes ${formatShape(a.shape)} and ${formatShape(b.shape)}`;
      this.fail(e.opSpan, `cannot ${phrase}`, "E0203");
    }
    return this.graph.elementwise(BINARY_OP[e.op]!, [a, b]);
  }

  private matmul(e: Extract<Expr, { kind: "binary" }>, a: Node, b: Node): Node {
    if (a.shape.length === 0 || b.shape.length === 0) this.fail(e.opSpan, `'@' multiplies vectors and matrices, got ${formatShape(a.shape)} @ ${formatShape(b.shape)}; use '*' to scale`, "E0204");
    const inner = a.shape[a.shape.length - 1];
    const other = b.shape[0];
    if (inner !== other) this.fail(e.opSpan, `cannot multiply ${formatShape(a.shape)} @ ${formatShape(b.shape)}: inner dimensions ${inner} and ${other} differ`, "E0205");
    return this.graph.matmul(a, b);
  }

  private index(e: Extract<Expr, { kind: "index" }>, scope: Scope, compileTime: boolean): Node {
    const target = this.evaluate(e.target, scope, compileTime);
    const label = e.target.kind === "name" ? e.target.name : undefined;
    const rank = target.shape.length;
    if (rank === 0) this.fail(e.span, `cannot index ${label ? `'${label}', a scalar` : "a scalar"}`, "E0206");
    if (e.indices.length > rank) this.fail(e.indices[rank].span, `too many indices: ${label ? `'${label}'` : "the value"} is ${formatShape(target.shape)}`, "E0207");
    const at = e.indices.map((ix, d) => {
      if (ix.kind === "slice") this.fail(ix.span, "'slice' is not supported yet", "E0299");
      const v = this.integer(ix, scope, "an index");
      if (v < 0 || v >= target.shape[d]) {
        const named = label ? `${label}${formatShape(target.shape)}` : `shape ${formatShape(target.shape)}`;
        this.fail(ix.span, `index ${v} out of range for ${named}`, "E0208");
      }
      return v;
    });
    if (rank === 2 && at.length === 1) {
      const cols = target.shape[1];
      return this.graph.gather(target, [cols], { offset: at[0] * cols, strides: [1] });
    }
    const offset = rank === 2 ? at[0] * target.shape[1] + at[1] : at[0];
    return this.graph.gather(target, [], { offset, strides: [] });
  }

  private array(e: Extract<Expr, { kind: "array" }>, scope: Scope, compileTime: boolean): Node {
    if (e.elements.length === 0) this.fail(e.span, "an array needs at least one element", "E0209");
    const parts = e.elements.map((x) => this.evaluate(x, scope, compileTime));
    return this.stack(parts, e.elements.map((x) => x.span), "array");
  }

  private stack(parts: Node[], spans: Span[], what: "array" | "comprehension"): Node {
    const first = parts[0].shape;
    if (first.length > 1) this.fail(spans[0], `${what} elements must be scalars or vectors, got a matrix ${formatShape(first)}`, "E0250");
    parts.forEach((p, i) => {
      if (!sameShape(p.shape, first))
        this.fail(spans[i], `${what} elements must all have the same shape: ${formatShape(first)} and ${formatShape(p.shape)}`, "E0251");
    });
    return this.graph.pack(parts);
  }

  private range(e: { from: Expr; to: Expr; span: Span }, scope: Scope): [number, number] {
    const from = this.integer(e.from, scope, "a range bound");
    const to = this.integer(e.to, scope, "a range bound");
    if (to <= from) this.fail(e.span, `the range ${from}..${to} is empty ('a..b' runs from a up to b - 1)`, "E0252");
    if (to - from > 10_000_000) this.fail(e.span, `the range ${from}..${to} is too long`, "E0253");
    return [from, to];
  }

  /**
   * A comprehension becomes whole-vector operations when its body is elementwise arithmetic
   * and built-ins over reads at affine indices (`x[i+1] - x[i]^2`); otherwise each step
   * evaluates the body with the loop variable bound to a compile-time integer.
   */
  private unroll(e: Extract<Expr, { kind: "comprehension" | "generator" }>, scope: Scope, compileTime: boolean): Node {
    const [from, to] = this.range(e, scope);
    if (!compileTime && to - from >= VECTORIZE_MIN) {
      try {
        const { node, batched } = this.batch(e.body, scope, e.variable, from, to - from);
        return batched ? node : this.graph.broadcast(node, [to - from]);
      } catch (err) {
        // Whatever the vectorizer cannot read (a `%` index, a name it resolves without the
        // loop variable in scope) is left to unrolling, which reports real errors exactly.
        if (!(err instanceof Unbatchable) && !(err instanceof CheckError)) throw err;
      }
    }
    if (to - from > MAX_UNROLLED_STEPS)
      this.fail(e.span, `this loop of ${to - from} steps would be unrolled (its body is not elementwise arithmetic over affine indices, which becomes a vector operation), and at most ${MAX_UNROLLED_STEPS} steps are unrolled`, "E0253");
    const parts: Node[] = [];
    const locals = new Map<string, Binding>();
    const inner: Scope = { ...scope, locals: [...scope.locals, locals] };
    for (let i = from; i < to; i++) {
      locals.set(e.variable, { node: this.graph.constant(i), kind: "loop variable", order: 0, span: e.variableSpan });
      parts.push(this.evaluate(e.body, inner, compileTime));
    }
    return this.stack(parts, parts.map(() => e.body.span), "comprehension");
  }

  /** The body over all steps at once: a node of shape [n] when it depends on the loop variable. */
  private batch(e: Expr, scope: Scope, variable: string, from: number, n: number): { node: Node; batched: boolean } {
    const whole = (x: Expr) => this.batch(x, scope, variable, from, n);
    const plain = (node: Node) => {
      if (node.shape.length) throw new Unbatchable();
      return { node, batched: false };
    };
    switch (e.kind) {
      case "number":
        return plain(this.evaluate(e, scope, false));
      case "name":
        if (e.name === variable) throw new Unbatchable();
        return plain(this.evaluate(e, scope, false));
      case "unary": {
        const x = whole(e.operand);
        return { node: e.op === "-" ? this.graph.elementwise("neg", [x.node]) : x.node, batched: x.batched };
      }
      case "binary": {
        const op = BINARY_OP[e.op];
        if (!op) throw new Unbatchable();
        const [a, b] = [whole(e.left), whole(e.right)];
        return { node: this.graph.elementwise(op, [a.node, b.node]), batched: a.batched || b.batched };
      }
      case "call": {
        const op = UNARY[e.callee] ?? ELEMENTWISE_N[e.callee];
        if (!op || this.defs.has(e.callee) || e.named.length > 0 || e.args.length !== (op === "where" ? 3 : e.callee in UNARY ? 1 : 2)) throw new Unbatchable();
        const args = e.args.map(whole);
        return { node: this.graph.elementwise(op, args.map((a) => a.node)), batched: args.some((a) => a.batched) };
      }
      case "index": {
        if (e.target.kind !== "name" || e.target.name === variable) throw new Unbatchable();
        const target = this.evaluate(e.target, scope, false);
        if (e.indices.length !== target.shape.length) throw new Unbatchable();
        const forms = e.indices.map((ix) => {
          if (ix.kind === "slice") throw new Unbatchable();
          return this.affine(ix, scope, variable);
        });
        if (forms.every((f) => f.coef === 0)) return plain(this.evaluate(e, scope, false));
        // Every step's index must be in range; if not, unrolling reports the exact step.
        forms.forEach((f, d) => {
          const first = f.coef * from + f.offset;
          const last = f.coef * (from + n - 1) + f.offset;
          if (Math.min(first, last) < 0 || Math.max(first, last) >= target.shape[d]) throw new Unbatchable();
        });
        const strides = target.shape.length === 2 ? [target.shape[1], 1] : [1];
        const offset = forms.reduce((s, f, d) => s + (f.coef * from + f.offset) * strides[d], 0);
        const stride = forms.reduce((s, f, d) => s + f.coef * strides[d], 0);
        return { node: this.graph.gather(target, [n], { offset, strides: [stride] }), batched: true };
      }
      default:
        throw new Unbatchable();
    }
  }

  /** An index expression as `coef * variable + offset`, or Unbatchable. */
  private affine(e: Expr, scope: Scope, variable: string): { coef: number; offset: number } {
    switch (e.kind) {
      case "name":
        if (e.name === variable) return { coef: 1, offset: 0 };
        break;
      case "unary": {
        const x = this.affine(e.operand, scope, variable);
        return e.op === "-" ? { coef: -x.coef, offset: -x.offset } : x;
      }
      case "binary": {
        if (e.op !== "+" && e.op !== "-" && e.op !== "*") break;
        const [a, b] = [this.affine(e.left, scope, variable), this.affine(e.right, scope, variable)];
        if (e.op === "+") return { coef: a.coef + b.coef, offset: a.offset + b.offset };
        if (e.op === "-") return { coef: a.coef - b.coef, offset: a.offset - b.offset };
        if (a.coef !== 0 && b.coef !== 0) throw new Unbatchable();
        return { coef: a.coef * b.offset + b.coef * a.offset, offset: a.offset * b.offset };
      }
    }
    const v = this.evaluate(e, scope, true);
    if (v.op !== "const" || !Number.isInteger(v.value)) throw new Unbatchable();
    return { coef: 0, offset: v.value! };
  }

  private comprehension(e: Extract<Expr, { kind: "comprehension" }>, scope: Scope, compileTime: boolean): Node {
    return this.unroll(e, scope, compileTime);
  }

  private call(e: Extract<Expr, { kind: "call" }>, scope: Scope, compileTime: boolean): Node {
    const name = e.callee;
    if (e.named.length > 0) this.fail(e.named[0].span, `'${e.named[0].name}=' is not supported yet`, "E0299");
    const generator = e.args.length === 1 && e.args[0].kind === "generator" ? e.args[0] : undefined;
    if (generator) {
      if (!(REDUCERS as readonly string[]).includes(name) || name === "norm" || name === "logsumexp") {
        if (!(REDUCERS as readonly string[]).includes(name))
          this.fail(generator.span, `a generator 'e for i in a..b' can only be the argument of sum, prod, max, min, mean, norm or logsumexp`, "E0221");
      }
      const packed = this.unroll(generator, scope, compileTime);
      return reduceAll(this.graph, name as (typeof REDUCERS)[number], packed);
    }
    if (this.brokenDefs.has(name) && !BUILTIN_NAMES.has(name)) throw new CheckError(e.span, "", "");
    const def = this.defs.get(name);
    if (def && def.order < scope.visibleBefore) return this.inline(def, e, scope, compileTime);
    if (!BUILTIN_NAMES.has(name)) {
      if (def && scope.inDef === name) this.fail(e.calleeSpan, `'${name}' cannot call itself: defs are inlined, so recursion would never end`, "E0224");
      const later = def?.statement.nameSpan ?? this.defsAnywhere.get(name);
      if (later) this.fail(e.calleeSpan, `'${name}' is used before its definition (${this.where(later)})`, "E0220");
      this.fail(e.calleeSpan, this.unknownFunction(name), "E0220");
    }
    const args = e.args.map((a) => this.evaluate(a, scope, compileTime));
    const argc = args.length;
    const needs = (n: number) => {
      if (argc !== n) this.fail(e.span, `'${name}' takes ${n} argument${n > 1 ? "s" : ""}, got ${argc}`, "E0222");
    };
    if (name in UNARY) {
      needs(1);
      return this.graph.elementwise(UNARY[name], args);
    }
    if ((name === "max" || name === "min") && argc === 1) return reduceAll(this.graph, name, args[0]);
    if ((REDUCERS as readonly string[]).includes(name) && name !== "max" && name !== "min") {
      needs(1);
      return reduceAll(this.graph, name as (typeof REDUCERS)[number], args[0]);
    }
    if (name in ELEMENTWISE_N) {
      const op = ELEMENTWISE_N[name];
      if (op === "max" || op === "min") {
        if (argc !== 1 && argc !== 2) this.fail(e.span, `'${name}' takes one argument (reduce) or two (elementwise), got ${argc}`, "E0222");
      } else needs(op === "where" ? 3 : 2);
      let shape: Shape = [];
      args.forEach((a, i) => {
        if (a.shape.length === 0) return;
        if (shape.length && !sameShape(shape, a.shape))
          this.fail(e.args[i].span, `'${name}' needs equal shapes or scalars, got ${formatShape(shape)} and ${formatShape(a.shape)}`, "E0203");
        shape = a.shape;
      });
      return this.graph.elementwise(op, args);
    }
    const result = applyOther(this.graph, name as (typeof OTHERS)[number], args);
    if (typeof result === "string") this.fail(e.span, result, "E0223");
    return result;
  }

  /**
   * A gate's backward sends gradient only to its arguments, so a param that its body reads
   * directly would silently get none: that is an error, with the fix in the message.
   */
  private checkGateInputs(name: string, span: Span, forward: Node, args: readonly Node[]) {
    const lost = paramsBehind(forward, args);
    if (lost.length)
      this.fail(span, `gate '${name}' reads the param '${lost[0].name}' directly, so backward would give it no gradient; pass it as an argument with its own 'grad' line`, "E0248");
  }

  /** Inline a def at a call: its body sees its parameters and the names declared before it. */
  private inline(def: Def, e: Extract<Expr, { kind: "call" }>, scope: Scope, compileTime: boolean): Node {
    const s = def.statement;
    if (e.args.length !== s.params.length)
      this.fail(e.span, `'${s.name}' takes ${s.params.length} argument${s.params.length === 1 ? "" : "s"}, got ${e.args.length}`, "E0222");
    const args = e.args.map((a) => this.evaluate(a, scope, compileTime));
    const key = `${s.name}(${args.map((a) => a.id).join(",")})`;
    if (this.calls.has(key)) {
      const memo = this.calls.get(key);
      if (!memo) throw new CheckError(e.span, "", "");
      return memo;
    }
    this.calls.set(key, undefined);
    const locals = new Map<string, Binding>();
    s.params.forEach((p, i) => locals.set(p.name, { node: args[i], kind: "parameter", order: 0, span: p.span }));
    const inner: Scope = { locals: [locals], visibleBefore: def.order, inDef: s.name };
    const forward = this.expr(s.body, inner, compileTime);
    if (!forward) throw new CheckError(e.span, "", "");
    let result = forward;
    if (s.grads.length) {
      const withOut = new Map(locals);
      withOut.set("out", { node: forward, kind: "value", order: 0, span: s.nameSpan });
      const gradScope: Scope = { locals: [withOut], visibleBefore: def.order, inDef: s.name };
      const locs = s.params.map((p, i) => {
        const line = s.grads.find((g) => g.name === p.name)!;
        const local = this.expr(line.value, gradScope, compileTime);
        if (!local) throw new CheckError(e.span, "", "");
        const arg = args[i];
        const lShape = local.shape.length ? local.shape : forward.shape;
        if (local.shape.length && forward.shape.length && !sameShape(local.shape, forward.shape) ) {
          this.fail(line.value.span, `the local gradient of '${p.name}' is ${formatShape(local.shape)} but the gate's value is ${formatShape(forward.shape)}`, "E0247");
        }
        if (arg.shape.length && !sameShape(lShape, arg.shape))
          this.fail(line.value.span, `the local gradient of '${p.name}' is ${formatShape(lShape)} but '${p.name}' is ${formatShape(arg.shape)} here`, "E0247");
        return local;
      });
      if (!compileTime) this.checkGateInputs(s.name, s.nameSpan, forward, args);
      result = compileTime ? forward : this.graph.gate(s.name, forward, args, locs);
    }
    this.calls.set(key, result);
    return result;
  }
}

/** The top-level names a statement binds. */
function declaredBy(s: Statement): string[] {
  if (s.kind === "declare") return s.items.map((i) => i.name);
  if (s.kind === "const" || s.kind === "assign") return [s.name];
  return [];
}

/**
 * The params a gate's forward value depends on that none of its arguments depends on:
 * backward, which sends gradient only to the arguments, would give them none. (Comparing
 * the two sets, not walking "around" the arguments, because simplification may rewrite
 * `-(-x)` inside the body to the `x` behind an argument `-x`.)
 */
function paramsBehind(forward: Node, args: readonly Node[]): Node[] {
  const paramsOf = (roots: readonly Node[]) => {
    const seen = new Set<number>();
    const found = new Map<number, Node>();
    const stack = [...roots];
    while (stack.length) {
      const n = stack.pop()!;
      if (seen.has(n.id)) continue;
      seen.add(n.id);
      if (n.op === "input" && n.role === "param") found.set(n.id, n);
      stack.push(...(n.op === "gate" ? n.args.slice(0, 1 + n.arity!) : n.args));
    }
    return found;
  };
  const reached = paramsOf([forward]);
  const passed = paramsOf(args);
  return [...reached.values()].filter((p) => !passed.has(p.id));
}

function suggest(name: string, candidates: Iterable<string>): string {
  const best = closest(name, candidates);
  return best ? ` (did you mean '${best}'?)` : "";
}

export function checkSource(program: Program, source: string): { checked?: CheckedProgram; diagnostics: Diagnostic[] } {
  const c = new Checker();
  c.setSource(source);
  return c.run(program);
}
