// The checker turns the syntax tree into the IR: it resolves names in declaration order,
// computes and checks shapes, evaluates compile-time constants, indices and loop bounds,
// unrolls comprehensions, and inlines `def`s at each call (so they are shape-polymorphic),
// building gate nodes for `def`s with `grad` lines. Errors are collected: the operands of
// an expression are each checked even after one fails, so independent mistakes are all
// reported, and a failed expression yields `undefined` so nothing that uses it reports a
// follow-up error.

import type { Diagnostic } from "../diagnostics.js";
import { closest } from "../diagnostics.js";
import type { BinaryOp, Declared, Expr, IndexItem, Program, Span, Statement } from "../syntax/ast.js";
import { broadcastShapes, findUpstream, formatShape, Graph, knownSize, rowMajor, upstream, sameShape, type Node, type Shape } from "../ir/graph.js";
import { addSize, ceilDivideSize, dimReadings, dimSize, dimsOf, formatSize, isKnown, mulSize, productOf, provablyAtLeast, subSize, type Size } from "../ir/size.js";
import type { ElementwiseName } from "../ir/ops.js";
import { batchOver, Unbatchable } from "../ir/batch.js";
import { evaluateGraph } from "../ir/interpret.js";
import { builtin, BUILTIN_NAMES, DERIVATIVES, ELEMENTWISE_N, REDUCERS, UNARY, type BuiltinArg, type NamedArg } from "./builtins.js";
import { broadcastOperands, integerSource, permute, ShapeError } from "./tensor.js";
import { gradient, hessian, jacobian, jvp, NotAtRunTimeSizes, substitute, vjp } from "../diff/operators.js";
import { difference, formRange, linearDifference, linearForm, rectangleRange, type LinearForm, type LoopBounds } from "./loop-bounds.js";

export interface Argument {
  name: string;
  role: "input" | "param";
  shape: Shape;
  node: Node;
  /** `input y[N] int`: whole numbers, which may index. */
  integer?: boolean;
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
  /** The run-time sizes (`dim N, M`) in declaration order, with where; empty for most programs. */
  dims: { name: string; span: Span }[];
  /** Conditions on the dims that the module checks when it runs (`x[5]` needs N >= 6). */
  requirements: SizeRequirement[];
}

/** `size >= atLeast` must hold when the module runs; `what` names the reading that needs it. */
export interface SizeRequirement {
  size: Size;
  atLeast: number;
  what: string;
}

type Kind = "input" | "param" | "const" | "value" | "loop variable" | "parameter" | "dim";

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

/** Thrown instead of reporting while a comprehension is tried batched (see `speculate`). */
class Speculation {}

/** Longest comprehension evaluated step by step (a batched one may be longer). */
const MAX_UNROLLED_STEPS = 100_000;
/** V8's largest typed array length: 2^32 elements (32 GiB of float64). */
const MAX_TENSOR_ELEMENTS = 2 ** 32;

class CheckError {
  constructor(readonly span: Span, readonly message: string, readonly code: string) {}
}

/** An error that no other way of compiling the loop avoids: reported even while speculating. */
class DefiniteError extends CheckError {}

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
  /** Loop variables made so far (each comprehension gets its own). */
  private loops = 0;
  /** Loops whose bounds read outer loop variables, batched over their hull (see `boundedLoop`). */
  private readonly loopBounds = new Map<Node, LoopBounds>();
  /** Generators made from ragged slices (`raggedSliceRows`), with the slice as the user wrote it. */
  private readonly sliceRows = new WeakMap<Expr, string>();
  /** Above 0 while a comprehension is tried batched: diagnostics then abort the attempt. */
  private speculating = 0;
  /** Placeholders made for def parameters that are differentiated with respect to. */
  private placeholders = 0;
  private readonly differentiating = new Map<string, boolean>();
  /** Elements of the tensor params declared so far (their gradients share one buffer). */
  private paramElements = 0;
  /** Dims in an axis written as an expression of them (E0212): not also reported as never read. */
  private readonly dimsInBadAxes = new Set<string>();
  /** The dims declared so far, with where. */
  private readonly dims = new Map<string, Span>();
  private readonly requirements: SizeRequirement[] = [];
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
    this.checkDimsAreRead();
    if (this.outputs.length === 0 && this.diagnostics.length === 0) {
      const end = program.statements.length ? program.statements[program.statements.length - 1].span : { start: 0, end: 0 };
      this.report("E0230", "the program has no 'output': declare at least one with 'output name = expression'", end);
    }
    if (this.diagnostics.length) return { diagnostics: this.diagnostics };
    return { checked: { graph: this.graph, args: this.args, outputs: this.outputs, dims: [...this.dims].map(([name, span]) => ({ name, span })), requirements: this.requirements }, diagnostics: [] };
  }

  private noteDeclared(name: string, span: Span) {
    if (!this.declaredAnywhere.has(name)) this.declaredAnywhere.set(name, span);
  }

  private report(code: string, message: string, span: Span) {
    if (this.speculating) throw new Speculation();
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
        for (const item of s.items) {
          try {
            if (s.role === "dim") this.declareDim(item);
            else this.declare(s.role, item);
          } catch (e) {
            if (!(e instanceof CheckError)) throw e;
            if (e.message) this.report(e.code, e.message, e.span);
          }
        }
        return;
      case "const": {
        this.checkNewName(s.name, s.nameSpan);
        this.bind(s.name, this.constTensor(s.value, topScope), "const", s.nameSpan);
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

  /** `dim N`: a size known when the module runs, a scalar value where it is used as one. */
  private declareDim(item: Declared) {
    this.checkNewName(item.name, item.nameSpan);
    this.dims.set(item.name, item.nameSpan);
    this.bind(item.name, this.graph.input(item.name, "dim", []), "dim", item.nameSpan);
  }

  /** Every dim must be the size of an axis of some input or param, so a call can read it. */
  private checkDimsAreRead() {
    const read = new Set(this.args.flatMap((a) => a.shape.filter((d) => !isKnown(d) && dimsOf(d).length === 1 && d === dimSize(dimsOf(d)[0])).flatMap(dimsOf)));
    for (const [name, span] of this.dims)
      if (!read.has(name) && !this.dimsInBadAxes.has(name)) this.report("E0269", `dim '${name}' is not the size of any input or param: a call could not tell its value`, span);
    // A call knows each argument's length only: a dim is read from an argument whose other
    // dims are read first (y[N, M] alone tells N * M, not N and M). The dims so readable:
    const names = [...this.dims.keys()].filter((n) => read.has(n));
    const readable = new Set<string>();
    for (let grew = true; grew; ) {
      grew = false;
      for (const n of names)
        if (!readable.has(n) && dimReadings([...readable, n], this.args)) {
          readable.add(n);
          grew = true;
        }
    }
    for (const name of names.filter((n) => !readable.has(n))) {
      const holders = this.args.filter((a) => a.shape.some((d) => !isKnown(d) && dimsOf(d).includes(name))).map((a) => `'${a.name}' ${formatShape(a.shape)}`);
      this.report("E0269", `dim '${name}' cannot be told apart from the other dims of ${holders.join(", ")}: a call knows only each argument's length; give '${name}' an axis in an argument whose other sizes are known`, this.dims.get(name)!);
    }
  }

  private requireSize(size: Size, atLeast: number, what: string) {
    if (!this.requirements.some((r) => r.size === size && r.atLeast >= atLeast)) this.requirements.push({ size, atLeast, what });
  }

  private declare(role: "input" | "param", item: Declared) {
    this.checkNewName(item.name, item.nameSpan);
    const scope: Scope = { locals: [], visibleBefore: this.order };
    const shape = item.dims.map((d): Size => {
      if (d.kind === "name" && this.lookup(d.name, scope)?.kind === "dim") return dimSize(d.name);
      // A call reads each dim from an axis that is that dim alone (a length divided by the other sizes).
      const given = this.expr(d, scope, true);
      if (!given) throw new CheckError(d.span, "", "");
      const dim = dimRead(given);
      if (dim) {
        this.dimsInBadAxes.add(dim);
        this.fail(d.span, `an axis of an input or param is a number, a const or a dim by itself, not an expression of the dim '${dim}': declare another dim for it, or split it into axes ([${dim}, 2] holds 2 * ${dim} elements)`, "E0212");
      }
      const v = this.constantOf(given, d.span, "a dimension");
      if (!Number.isInteger(v) || v < 1) this.fail(d.span, `a dimension must be a positive integer, got ${v}`, "E0211");
      return v;
    });
    // The generated module holds each tensor, and all param gradients together, in one
    // Float64Array: past V8's limit it would fail when it runs, not here.
    const size = productOf(shape.filter(isKnown));
    const count = (n: number) => n.toLocaleString("en-US");
    if (!isKnown(size)) throw new Error("internal: known sizes multiply to a number");
    if (size > MAX_TENSOR_ELEMENTS)
      this.fail(item.nameSpan, `'${item.name}' has ${count(size)} elements; a tensor can have at most ${count(MAX_TENSOR_ELEMENTS)} (the most a Float64Array holds)`, "E0218");
    if (role === "param" && shape.length > 0) {
      this.paramElements += size;
      if (this.paramElements > MAX_TENSOR_ELEMENTS)
        this.fail(item.nameSpan, `the params have ${count(this.paramElements)} elements in all with '${item.name}'; their gradients share one Float64Array of at most ${count(MAX_TENSOR_ELEMENTS)}`, "E0218");
    }
    const node = this.graph.input(item.name, role, shape, item.integer === true);
    this.args.push({ name: item.name, role, shape, node, ...(item.integer ? { integer: true } : {}) });
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

  /** Report unknown names and functions in a def body (shapes are checked at each call), in source order. */
  private resolveNames(root: Expr, bound: Set<string>, visibleBefore: number) {
    const stack: { e: Expr; bound: Set<string> }[] = [{ e: root, bound }];
    while (stack.length) {
      const { e, bound: names } = stack.pop()!;
      // Children in source order, pushed reversed so that the first is checked first.
      const children: Expr[] = [];
      let inner = names;
      switch (e.kind) {
        case "number":
          break;
        case "name":
          if (!names.has(e.name) && !this.visibleTop(e.name, visibleBefore))
            this.report("E0201", this.unknownName(e.name, { locals: [new Map([...names].map((n) => [n, undefined as never]))], visibleBefore }), e.span);
          break;
        case "unary":
          children.push(e.operand);
          break;
        case "binary":
          children.push(e.left, e.right);
          break;
        case "call":
          if (!BUILTIN_NAMES.has(e.callee) && !this.defs.has(e.callee)) this.report("E0220", this.unknownFunction(e.callee), e.calleeSpan);
          children.push(...e.args, ...e.named.map((a) => a.value));
          break;
        case "index":
          children.push(e.target);
          for (const i of e.indices) {
            if (i.kind !== "slice") children.push(i);
            else for (const part of [i.from, i.to, i.step]) if (part) children.push(part);
          }
          break;
        case "array":
          children.push(...e.elements);
          break;
        case "comprehension":
        case "generator": {
          // `[body for i in from..to]`: the body, then the range; only the body sees `i`.
          stack.push({ e: e.to, bound: names }, { e: e.from, bound: names });
          inner = new Set([...names, e.variable]);
          children.push(e.body);
          break;
        }
      }
      for (let k = children.length - 1; k >= 0; k--) stack.push({ e: children[k], bound: inner });
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
    const given = this.expr(e, scope, true);
    if (!given) throw new CheckError(e.span, "", "");
    return this.constantOf(given, e.span, what);
  }

  /** The number of an evaluated expression that must be known at compile time. */
  private constantOf(given: Node, span: Span, what: string): number {
    const node = this.fold(given);
    if (node.op !== "const") this.fail(span, `${what} must be known at compile time: use numbers, consts and loop variables`, "E0212");
    if (!Number.isFinite(node.value!)) this.fail(span, `${what} must be a finite number, got ${node.value}`, "E0213");
    return node.value!;
  }

  /**
   * A scalar that no argument, loop variable or dim reaches, as one constant: the graph keeps
   * an element of a tensor const (`e[1]`, `sum(e) - 2`) as a view of it, and sizes, range
   * bounds and slice bounds need its number.
   */
  private fold(node: Node): Node {
    if (node.op === "const" || node.shape.length || !isCompileTime(node) || readsLoopVariable(node) || dimRead(node)) return node;
    return this.graph.constant(evaluateGraph(this.graph, new Map(), [node])[0][0]);
  }

  /** A const's value: a number, or a tensor of numbers folded now (`const R = [[0, -1], [1, 0]]`). */
  private constTensor(e: Expr, scope: Scope): Node {
    const node = this.expr(e, scope, true);
    if (!node) throw new CheckError(e.span, "", "");
    const dim = dimRead(node);
    if (dim) this.fail(e.span, `a const must be known at compile time, but this one reads the dim '${dim}', known only when the module runs: use '${dim}' itself where its value is needed`, "E0212");
    const values = node.op === "const" ? [node.value!] : Array.from(evaluateGraph(this.graph, new Map(), [node])[0]);
    const bad = values.find((v) => !Number.isFinite(v));
    if (bad !== undefined) this.fail(e.span, `a const must be a finite number, got ${bad}`, "E0213");
    return this.graph.tensor(values, node.shape);
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
        if (!b && (e.name === "true" || e.name === "false"))
          this.fail(e.span, `'${e.name}' is only a value of a named argument, as in keepdims=${e.name}`, "E0261");
        if (!b) this.fail(e.span, this.unknownName(e.name, scope), "E0201");
        if (compileTime && (b.kind === "input" || b.kind === "param" || b.kind === "value" || b.kind === "parameter") && !isCompileTime(b.node))
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
        this.fail(e.span, "a generator 'e for i in a..b' can only be the argument of sum, prod, max, min, mean, norm or logsumexp", "E0221");
      case "string":
        this.fail(e.span, "a string can only be an argument of a built-in that takes one, as in einsum(\"ij,jk->ik\", A, B)", "E0265");
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
    const operands = this.independently(scope);
    let acc = operands.attempt(() => this.evaluate(left, scope, compileTime));
    for (let i = spine.length - 1; i >= 0; i--) {
      const b = spine[i];
      const right = operands.attempt(() => this.evaluate(b.right, scope, compileTime));
      if (acc && right) acc = operands.attempt(() => this.binary(b, acc!, right));
    }
    return operands.result(e.span, acc);
  }

  /**
   * Operands of one expression checked one after another: once one fails (reported at
   * once), the later ones are still checked for their own errors, which are independent
   * (`y + z` with both unknown reports both), and the expression then fails silently. While
   * speculating, the first error ends the attempt as before.
   */
  private independently(scope: Scope) {
    let failed = false;
    const attempt = (f: () => Node): Node | undefined => {
      if (failed && this.speculating) return undefined;
      try {
        return f();
      } catch (err) {
        if (!(err instanceof CheckError) || this.speculating) throw err;
        if (err.message) this.report(err.code, scope.inDef ? `${err.message} (in '${scope.inDef}')` : err.message, err.span);
        failed = true;
        return undefined;
      }
    };
    const result = (span: Span, node: Node | undefined): Node => {
      if (failed || !node) throw new CheckError(span, "", "");
      return node;
    };
    return { attempt, result, failed: () => failed };
  }

  private binary(e: Extract<Expr, { kind: "binary" }>, a: Node, b: Node): Node {
    if (e.op === "@") return this.matmul(e, a, b);
    if (e.op === "%") {
      // Index arithmetic: compile-time integers, or loop variables (a value at each step).
      if (a.op === "const" && b.op === "const" && Number.isInteger(a.value) && Number.isInteger(b.value)) {
        if (b.value === 0) this.fail(e.opSpan, "'%' by zero", "E0217");
        return this.graph.constant(a.value! - b.value! * Math.floor(a.value! / b.value!));
      }
      const fraction = (x: Node) => x.op === "const" && !Number.isInteger(x.value);
      if (a.shape.length || b.shape.length || !isIndexValue(a) || !isIndexValue(b) || fraction(a) || fraction(b) || (b.op === "const" && b.value === 0))
        this.fail(e.opSpan, "'%' is only for compile-time integers (index arithmetic)", "E0216");
      return this.graph.elementwise("mod", [a, b]);
    }
    const verb = VERB[e.op]!;
    const operands = this.shapes(e.opSpan, () =>
      broadcastOperands(this.graph, [a, b], (x, y) =>
        verb === "raise"
          ? `cannot raise shape ${formatShape(x)} to the power of shape ${formatShape(y)}: cannot broadcast shapes ${formatShape(x)} and ${formatShape(y)}`
          : `cannot ${verb} shapes ${formatShape(x)} and ${formatShape(y)}: cannot broadcast shapes ${formatShape(x)} and ${formatShape(y)}`,
      ),
    );
    return this.graph.elementwise(BINARY_OP[e.op]!, operands);
  }

  /** Runs a shape rule of check/tensor.ts or builtins.ts, turning its errors into diagnostics at `span`. */
  private shapes<T>(span: Span, rule: () => T, spans?: (at: number | string) => Span | undefined): T {
    try {
      return rule();
    } catch (err) {
      if (!(err instanceof ShapeError)) throw err;
      this.fail((err.at !== undefined && spans?.(err.at)) || span, err.message, err.code);
    }
  }

  /** NumPy's matmul: vectors and matrices, and stacks of matrices whose leading axes broadcast. */
  private matmul(e: Extract<Expr, { kind: "binary" }>, a: Node, b: Node): Node {
    if (a.shape.length === 0 || b.shape.length === 0) this.fail(e.opSpan, `'@' multiplies vectors and matrices, got ${formatShape(a.shape)} @ ${formatShape(b.shape)}; use '*' to scale`, "E0204");
    const inner = a.shape[a.shape.length - 1];
    const other = b.shape.length === 1 ? b.shape[0] : b.shape[b.shape.length - 2];
    if (inner !== other) this.fail(e.opSpan, `cannot multiply ${formatShape(a.shape)} @ ${formatShape(b.shape)}: inner dimensions ${inner} and ${other} differ`, "E0205");
    const aBatch = a.shape.slice(0, Math.max(0, a.shape.length - 2));
    const bBatch = b.shape.slice(0, Math.max(0, b.shape.length - 2));
    if (!broadcastShapes(aBatch, bBatch))
      this.fail(e.opSpan, `cannot multiply ${formatShape(a.shape)} @ ${formatShape(b.shape)}: cannot broadcast shapes ${formatShape(aBatch)} and ${formatShape(bBatch)} of the stacked matrices`, "E0205");
    return this.graph.matmul(a, b);
  }

  /**
   * `t[...]`: indices remove their axis, slices keep it, missing trailing items are `:`.
   * Compile-time items make one view of `t`; an index or a slice start that depends on a
   * loop variable picks along its axis with `take`, which batching turns back into a view
   * (or a gather through a table of indices when it is not affine).
   */
  private index(e: Extract<Expr, { kind: "index" }>, scope: Scope, compileTime: boolean): Node {
    const target = this.evaluate(e.target, scope, compileTime);
    const label = e.target.kind === "name" ? e.target.name : undefined;
    const shape = target.shape;
    const rank = shape.length;
    const named = label ? `${label}${formatShape(shape)}` : `shape ${formatShape(shape)}`;
    if (rank === 0) this.fail(e.span, `cannot index ${label ? `'${label}', a scalar` : "a scalar"}`, "E0206");
    if (e.indices.length > rank) this.fail(e.indices[rank].span, `too many indices: ${label ? `'${label}'` : "the value"} is ${formatShape(shape)}`, "E0207");
    const own = rowMajor(shape);
    let offset: Size = 0;
    const viewShape: Size[] = [];
    const viewStrides: Size[] = [];
    /** Picks that wait for the view: the view axis they act on, and what they do. */
    const later: { axis: number; index?: Node; data?: boolean; window?: { start: Node; length: number; step: number } }[] = [];
    /** A negative compile-time index counts from the end (not one that a loop variable makes negative). */
    const fromEnd = (v: Size, x: Expr, n: Size): Size => (isKnown(v) && v < 0 && !this.mentionsLoopVariable(x, scope) ? addSize(v, n) : v);
    // NumPy pairs several arrays of indices element by element (t[a, b] is [t[a[0], b[0]], ...]);
    // taking each along its axis would give every combination instead, so one is the limit.
    let arrays = 0;
    e.indices.forEach((item, d) => {
      const n = shape[d];
      if (item.kind !== "slice") {
        const { node, fixed, data } = this.indexValue(item, scope);
        if (node.shape.length && ++arrays > 1)
          this.fail(item.span, `only one array of indices per index: NumPy would pair the arrays element by element, so pick the pairs in a comprehension, as in [t[a[i], b[i]] for i in 0..n]`, "E0273");
        if (fixed !== undefined) {
          const at = fromEnd(fixed, item, n);
          if (!provablyAtLeast(at, 0)) this.fail(item.span, `index ${formatSize(fixed)} out of range for ${named}`, "E0208");
          if (!provablyAtLeast(n, addSize(at, 1))) {
            // `x[5]` into an axis of run-time size N: checked when the module runs (N > 5).
            if (isKnown(n) || !isKnown(at)) this.fail(item.span, `index ${formatSize(fixed)} out of range for ${named}`, "E0208");
            this.requireSize(n, at + 1, exprText(this.source, e));
          }
          offset = addSize(offset, mulSize(at, own[d]));
          return;
        }
        if (data) {
          // Elements of an integer input: checked against this axis when the module runs.
          later.push({ axis: viewShape.length, index: this.graph.checkIndex(node, n, data.name!), data: true });
        } else if (node.shape.length > 0) {
          // An array of integers known at compile time: one take along this axis.
          const values = this.integerTable(node, item.span, n, named);
          later.push({ axis: viewShape.length, index: this.graph.tensor(values, node.shape) });
        } else {
          const clamp = this.checkLoopIndex(node, item.span, 0, n, named);
          later.push({ axis: viewShape.length, index: clamp ? this.clampIndex(node, 0, subSize(n, 1)) : node });
        }
        viewShape.push(n);
        viewStrides.push(own[d]);
        return;
      }
      const step = item.step ? this.integer(item.step, scope, "a slice step") : 1;
      if (step < 1) this.fail(item.step!.span, `a slice step must be a positive integer, got ${step}`, "E0266");
      const bound = (x: Expr | undefined, fallback: Size) => {
        if (!x) return { fixed: fallback };
        const v = this.indexValue(x, scope);
        if (v.node.shape.length) this.fail(x.span, "a slice bound must be a single integer", "E0266");
        if (v.fixed === undefined) return { node: v.node };
        return { fixed: fromEnd(v.fixed, x, n) };
      };
      const from = bound(item.from, 0);
      const to = bound(item.to, n);
      const text = `${item.from ? exprText(this.source, item.from) : ""}:${item.to ? exprText(this.source, item.to) : ""}${item.step ? `:${step}` : ""}`;
      if (from.fixed !== undefined && to.fixed !== undefined) {
        const inRange = (v: Size) => provablyAtLeast(v, 0) && provablyAtLeast(n, v);
        if (!inRange(from.fixed) || !inRange(to.fixed)) this.fail(item.span, `slice ${text} is out of range for ${named}`, "E0267");
        // Over a run-time size a slice may be empty when the module runs (x[1:N] at N = 1).
        const span = subSize(to.fixed, from.fixed);
        if (isKnown(span) ? span <= 0 : provablyAtLeast(0, span)) this.fail(item.span, `slice ${text} of ${named} is empty`, "E0267");
        // A size is a polynomial in the dims: x[::2] of [2 * N] has N elements, of [N] ceil(N / 2), which is none.
        const length = ceilDivideSize(span, step);
        if (length === undefined) {
          const spanText = /^[\w* ]+$/.test(formatSize(span)) ? formatSize(span) : `(${formatSize(span)})`;
          const dim = dimsOf(span)[0] ?? "N";
          this.fail(
            item.span,
            `slice ${text} of ${named} would have ceil(${spanText} / ${step}) elements, which is not a size: sizes are polynomials in the dims, so a step needs a length that is a multiple of it (an axis of ${step} * ${dim}), or the step as an axis of its own ([${dim}, ${step}], then [:, 0])`,
            "E0267",
          );
        }
        offset = addSize(offset, mulSize(from.fixed, own[d]));
        viewShape.push(length);
        viewStrides.push(mulSize(own[d], step));
        return;
      }
      // A window that moves with a loop variable: its length must not.
      const start = from.node ?? this.graph.sizeValue(from.fixed!);
      const end = to.node ?? this.graph.sizeValue(to.fixed!);
      const span = linearDifference(end, start);
      if (span === undefined || !isKnown(span))
        this.fail(item.span, `the slice ${text} must have the same length at every step: write its end as its start plus a compile-time length, as in x[i:i+3]`, "E0267");
      if (span <= 0) this.fail(item.span, `slice ${text} of ${named} is empty`, "E0267");
      const length = Math.ceil(span / step);
      const last = subSize(n, (length - 1) * step);
      const clamp = this.checkLoopIndex(start, item.span, 0, last, named, `slice ${text}`);
      later.push({ axis: viewShape.length, window: { start: clamp ? this.clampIndex(start, 0, subSize(last, 1)) : start, length, step } });
      viewShape.push(n);
      viewStrides.push(own[d]);
    });
    for (let d = e.indices.length; d < rank; d++) {
      viewShape.push(shape[d]);
      viewStrides.push(own[d]);
    }
    let result = this.graph.gather(target, viewShape, { offset, strides: viewStrides });
    // Several single indices, one of them data (`L[i, y[i]]`): one pick through the flat
    // index of those axes, so batching reads one element per step, not a row per step.
    if (later.length > 1 && later.every((l) => l.index && l.index.shape.length === 0) && later.some((l) => l.data)) {
      const axes = later.map((l) => l.axis);
      const rest = result.shape.map((_, d) => d).filter((d) => !axes.includes(d));
      const lengths = axes.map((a) => result.shape[a]);
      const moved = permute(this.graph, result, [...axes, ...rest]);
      const flatShape = [productOf(lengths), ...rest.map((d) => result.shape[d])];
      let flat: Node | undefined;
      later.forEach((l, k) => {
        const scale = productOf(lengths.slice(k + 1));
        const term = scale === 1 ? l.index! : this.graph.elementwise("mul", [l.index!, this.graph.sizeValue(scale)]);
        flat = flat ? this.graph.elementwise("add", [flat, term]) : term;
      });
      return this.graph.take(this.graph.reshape(moved, flatShape), flat!, 0);
    }
    // From the last axis to the first, so the axis numbers of the earlier ones stay valid.
    for (let k = later.length - 1; k >= 0; k--) {
      const { axis, index, window } = later[k];
      if (index) {
        result = this.graph.take(result, index, axis);
        continue;
      }
      // All windows of the axis stacked on a new first axis, then the one at `start` taken.
      const { start, length, step } = window!;
      const s = result.shape;
      const strides = rowMajor(s);
      const starts = subSize(s[axis], (length - 1) * step);
      const windows = this.graph.gather(result, [starts, ...s.slice(0, axis), length, ...s.slice(axis + 1)], {
        offset: 0,
        strides: [strides[axis], ...strides.slice(0, axis), mulSize(strides[axis], step), ...strides.slice(axis + 1)],
      });
      result = this.graph.take(windows, start, 0);
    }
    return result;
  }

  /** An index or slice bound: its node, and its value when it is a compile-time integer. */
  private indexValue(x: Expr, scope: Scope): { node: Node; fixed?: Size; data?: Node } {
    const node = this.fold(this.evaluate(x, scope, false));
    if (node.op === "const") {
      if (!Number.isInteger(node.value)) this.fail(x.span, `an index must be an integer, got ${node.value}`, "E0214");
      return { node, fixed: node.value };
    }
    const size = sizeOfValue(node);
    if (size !== undefined) return { node, fixed: size };
    if (isCompileTime(node) || isIndexValue(node)) return { node };
    const data = integerSource(node);
    if (data) return { node, data };
    const named = x.kind === "name" ? x.name : undefined;
    const b = named !== undefined ? this.lookup(named, scope) : undefined;
    if (b && (b.kind === "param" || b.kind === "input"))
      this.fail(x.span, `'${named}' is a${b.kind === "input" ? "n" : ""} ${b.kind}, not a compile-time constant${b.kind === "input" ? ` (declare it 'input ${named}${b.node.shape.length ? formatShape(b.node.shape) : ""} int' to index with it)` : ""}`, "E0212");
    this.fail(x.span, "an index must be known at compile time (numbers, consts, loop variables) or be elements of an integer input ('input y[N] int')", "E0212");
  }

  /** Whether an index expression names a loop variable in scope (negative values then never count from the end). */
  private mentionsLoopVariable(x: Expr, scope: Scope): boolean {
    const stack: Expr[] = [x];
    while (stack.length) {
      const y = stack.pop()!;
      if (y.kind === "name") {
        if (this.lookup(y.name, scope)?.kind === "loop variable") return true;
      } else if (y.kind === "unary") stack.push(y.operand);
      else if (y.kind === "binary") stack.push(y.left, y.right);
      else if (y.kind === "call") stack.push(...y.args);
    }
    return false;
  }

  /** The integers of a compile-time index array, each in `0..n-1`. */
  private integerTable(node: Node, span: Span, n: Size, named: string): number[] {
    const dim = dimRead(node);
    if (dim) this.fail(span, `an array of indices must be known at compile time, but this one reads the dim '${dim}': index with one value at a time (x[${dim} - 1]) or with an integer input`, "E0212");
    const values = Array.from(evaluateGraph(this.graph, new Map(), [node])[0]);
    for (const v of values) {
      if (!Number.isInteger(v)) this.fail(span, `an index must be an integer, got ${v}`, "E0214");
      if (v < 0 || !provablyAtLeast(n, v + 1)) this.fail(span, `index ${v} out of range for ${named}`, "E0208");
    }
    return values;
  }

  /**
   * An index that depends on loop variables must be an integer in `low..high-1` at every
   * step: checked from its affine form, or else step by step. Under a loop with bounds that
   * read an outer variable, only the steps that run must be in range; the masked steps of
   * its hull may not be, and true says the index must then be clamped where it is read.
   */
  private checkLoopIndex(node: Node, span: Span, low: number, high: Size, named: string, what?: string): boolean {
    // `e % n` into an axis of n (a dim, or a number): in 0..n-1 for every integer e (the
    // floored remainder), whatever the steps, so none is evaluated; e must be an integer.
    const remainder = low === 0 && node.op === "mod" && sizeOfValue(node.args[1]) === high ? linearForm(node.args[0]) : undefined;
    if (remainder) {
      if (![...remainder.terms.values()].every(Number.isInteger) || !integralSize(remainder.constant)) this.fail(span, `an index must be an integer at every step`, "E0214");
      return false;
    }
    const loops = loopVariablesOf(node);
    const form = linearForm(node);
    let min: Size;
    let max: Size;
    let integral: boolean;
    const inRange = (min: Size, max: Size) => provablyAtLeast(min, low) && provablyAtLeast(subSize(high, 1), max);
    if (form) {
      ({ min, max } = rectangleRange(form));
      integral = (!isKnown(form.constant) || Number.isInteger(form.constant)) && [...form.terms.values()].every(Number.isInteger);
      if (integral && !inRange(min, max) && loops.some((l) => this.loopBounds.has(l))) {
        const steps = formRange(form, this.loopBounds);
        if (steps === "empty") return true;
        if (steps) {
          ({ min, max } = steps);
          if (inRange(min, max)) return true;
        }
      }
    } else {
      // The steps are tabulated below at compile time, which a dim's value is not.
      const dim = dimRead(node);
      if (dim) this.fail(span, `an index that reads the dim '${dim}' must be affine in it and in the loop variables (as in x[${dim} - 1] or x[i + 1]), or a remainder by the size of its axis ((i + 1) % ${dim})`, "E0268");
      const extents = loops.map((l) => l.loop!.extent);
      if (!extents.every(isKnown))
        this.fail(span, "an index inside a loop over a run-time size must be affine in the loop variables (as in x[i + 1]); '%' with the dim is allowed too", "E0268");
      const steps = extents.reduce((n, e) => n * e, 1);
      if (steps > 10_000_000) this.fail(span, "this index is too complex to check at every step: write it as an affine expression of the loop variables", "E0268");
      let all = node;
      for (const loop of [...loops].sort((a, b) => b.id - a.id)) all = batchOver(this.graph, loop, all);
      const values = evaluateGraph(this.graph, new Map(), [all])[0];
      min = Infinity;
      max = -Infinity;
      integral = true;
      for (const v of values) {
        min = Math.min(min, v);
        max = Math.max(max, v);
        integral &&= Number.isInteger(v);
      }
    }
    if (!integral) this.fail(span, `an index must be an integer at every step`, "E0214");
    const tooLow = !provablyAtLeast(min, low);
    if (tooLow || !provablyAtLeast(subSize(high, 1), max)) {
      const bad = formatSize(tooLow ? min : max);
      this.fail(span, what ? `${what} starts at ${bad} at some step, out of range for ${named}` : `index ${bad} out of range for ${named} (at some step of the loop)`, "E0208");
    }
    return false;
  }

  /**
   * An index held in `low..high` where it is read: the masked steps of a loop's hull then
   * read an element that exists (their values are discarded). The graph marks it so that
   * batching computes it when the module runs instead of tabulating it.
   */
  private clampIndex(node: Node, low: number, high: Size): Node {
    const g = this.graph;
    const clamped = g.elementwise("max", [g.elementwise("min", [node, g.sizeValue(high)]), g.constant(low)]);
    g.runtimeIndices.add(clamped.id);
    return clamped;
  }

  private array(e: Extract<Expr, { kind: "array" }>, scope: Scope, compileTime: boolean): Node {
    if (e.elements.length === 0) this.fail(e.span, "an array needs at least one element", "E0209");
    const parts = e.elements.map((x) => this.evaluate(x, scope, compileTime));
    return this.stack(parts, e.elements.map((x) => x.span), "array");
  }

  private stack(parts: Node[], spans: Span[], what: "array" | "comprehension"): Node {
    const first = parts[0].shape;
    parts.forEach((p, i) => {
      if (!sameShape(p.shape, first))
        this.fail(spans[i], `${what} elements must all have the same shape: ${formatShape(first)} and ${formatShape(p.shape)}`, "E0251");
    });
    return this.graph.pack(parts);
  }

  /** `a..b`: the first value and the number of steps (a size in the dims for `0..N-1`). */
  private range(e: { from: Expr; to: Expr; span: Span }, scope: Scope): [number, Size] {
    const from = this.integer(e.from, scope, "a range bound");
    const to = this.rangeEnd(e.to, scope);
    const extent = subSize(to, from);
    const text = `${from}..${formatSize(to)}`;
    // Over a run-time size the range may be empty when the module runs (1..N at N = 1).
    if (isKnown(extent) ? extent <= 0 : provablyAtLeast(0, extent)) this.fail(e.span, `the range ${text} is empty ('a..b' runs from a up to b - 1)`, "E0252");
    if (isKnown(extent) && extent > 10_000_000) this.fail(e.span, `the range ${text} is too long`, "E0253");
    return [from, extent];
  }

  /** A range's end: a compile-time integer, or a size built from dims (`N - 1`). */
  private rangeEnd(e: Expr, scope: Scope): Size {
    const node = this.expr(e, scope, false);
    if (!node) throw new CheckError(e.span, "", "");
    const size = sizeOfValue(node);
    if (size !== undefined && (isKnown(size) || !findUpstream(node, (n) => n.op === "loopvar"))) return size;
    return this.integer(e, scope, "a range bound");
  }

  /**
   * `[body for i in a..b]`: the body is built once over a symbolic loop variable and batched
   * over every step (ir/batch.ts), so the program stays one tensor operation per body
   * operation, whatever the number of steps. Bounds that read an outer loop variable keep
   * it batched: a fixed length is a shifted loop (`shiftedLoop`); a length that changes is
   * ragged, an error here, and a masked loop in a reduction (`maskedReduction`). A body no
   * batching rule covers (a shape that depends on `i`) is evaluated step by step instead.
   */
  private comprehension(e: Extract<Expr, { kind: "comprehension" | "generator" }>, scope: Scope, compileTime: boolean): Node {
    const dependent = this.dependentRange(e, scope);
    if (dependent) {
      const length = linearDifference(dependent.to, dependent.from);
      if (length === undefined) {
        const text = `${exprText(this.source, e.from)}..${exprText(this.source, e.to)}`;
        throw new DefiniteError(e.span, `comprehension elements must all have the same shape, and the number of steps of ${text} changes with an outer loop variable (a ragged array); reduce it with a generator (as in sum(... for ${e.variable} in ${text})) or give the range a fixed length`, "E0251");
      }
      return this.shiftedLoop(e, scope, dependent.from, length);
    }
    const [from, extent] = this.range(e, scope);
    const batch = () => {
      const loop = this.graph.loopVariable(this.loops++, from, extent);
      const locals = new Map<string, Binding>([[e.variable, { node: loop, kind: "loop variable", order: 0, span: e.variableSpan }]]);
      const body = this.evaluate(e.body, { ...scope, locals: [...scope.locals, locals] }, false);
      return batchOver(this.graph, loop, body);
    };
    if (!isKnown(extent)) {
      // A loop over a run-time size cannot be unrolled: its body's own errors are the ones to report.
      try {
        return batch();
      } catch (err) {
        if (!(err instanceof Unbatchable)) throw err;
        this.fail(e.span, `this loop runs ${formatSize(extent)} steps, known only when the module runs, so its body must be batched, and it cannot be: ${err.message}`, "E0253");
      }
    }
    if (!compileTime) {
      const batched = this.speculate(batch);
      if (batched) return batched;
    }
    const to = from + extent;
    if (extent > MAX_UNROLLED_STEPS)
      this.fail(e.span, `this loop of ${extent} steps would be unrolled (its body cannot be batched: a shape depends on '${e.variable}'), and at most ${MAX_UNROLLED_STEPS} steps are unrolled`, "E0253");
    const parts: Node[] = [];
    const locals = new Map<string, Binding>();
    const inner: Scope = { ...scope, locals: [...scope.locals, locals] };
    for (let i = from; i < to; i++) {
      locals.set(e.variable, { node: this.graph.constant(i), kind: "loop variable", order: 0, span: e.variableSpan });
      parts.push(this.evaluate(e.body, inner, compileTime));
    }
    return this.stack(parts, parts.map(() => e.body.span), "comprehension");
  }

  /**
   * The bounds of a loop when they read an outer loop variable (`for j in i+1..n`), each
   * an affine form in the loop variables; undefined for bounds known at compile time, and
   * for bounds not affine in the loop variables (evaluated step by step, as before).
   */
  private dependentRange(e: Extract<Expr, { kind: "comprehension" | "generator" }>, scope: Scope): { from: Node; to: Node; bounds: LoopBounds } | undefined {
    const from = this.evaluate(e.from, scope, false);
    const to = this.evaluate(e.to, scope, false);
    if (!readsLoopVariable(from) && !readsLoopVariable(to)) return undefined;
    const [lower, upper] = [linearForm(from), linearForm(to)];
    if (!lower || !upper) return undefined;
    const integral = (f: LinearForm) => (!isKnown(f.constant) || Number.isInteger(f.constant)) && [...f.terms.values()].every(Number.isInteger);
    if (!integral(lower) || !integral(upper)) this.fail(e.span, "the bounds of a range must be integers at every step", "E0214");
    return { from, to, bounds: { lower, upper } };
  }

  /**
   * A loop whose bounds move with an outer variable but whose length does not
   * (`for j in i..i+3`): batched over `0..length` with the variable bound to `from + k`.
   */
  private shiftedLoop(e: Extract<Expr, { kind: "comprehension" | "generator" }>, scope: Scope, from: Node, length: Size): Node {
    if (isKnown(length) ? length <= 0 : provablyAtLeast(0, length))
      this.fail(e.span, `the range ${exprText(this.source, e.from)}..${exprText(this.source, e.to)} is empty ('a..b' runs from a up to b - 1)`, "E0252");
    const loop = this.graph.loopVariable(this.loops++, 0, length);
    const at = this.graph.elementwise("add", [from, loop]);
    const locals = new Map<string, Binding>([[e.variable, { node: at, kind: "loop variable", order: 0, span: e.variableSpan }]]);
    const body = this.evaluate(e.body, { ...scope, locals: [...scope.locals, locals] }, false);
    return batchOver(this.graph, loop, body);
  }

  /**
   * `sum(e for j in a..b)` where the number of steps changes with an outer loop variable
   * (`for j in i+1..n`): the body is batched over the hull of every step's range, the steps
   * outside `a..b` replaced by the reduction's identity (0 for sum, 1 for prod, -inf for
   * max and logsumexp, +inf for min), so they add nothing and get a zero gradient; `mean`
   * divides by the steps that run. Reads at masked steps are clamped into range (see
   * `checkLoopIndex`), so none is out of range. One loop, whatever the number of steps.
   */
  private maskedReduction(e: Extract<Expr, { kind: "call" }>, name: string, generator: Extract<Expr, { kind: "generator" }>, range: { from: Node; to: Node; bounds: LoopBounds }, scope: Scope, compileTime: boolean): Node {
    const { from, to, bounds } = range;
    // A generator made from a ragged slice (raggedSliceRows) is named as the slice the user wrote.
    const slice = this.sliceRows.get(generator);
    const text = slice ?? `${exprText(this.source, generator.from)}..${exprText(this.source, generator.to)}`;
    const range_ = slice ? `the slice ${slice}` : `the range ${text}`;
    const low = formRange(bounds.lower, this.loopBounds);
    const high = formRange(bounds.upper, this.loopBounds);
    if (low === "empty" || high === "empty") this.fail(generator.span, `${range_} is empty at every step`, "E0252");
    if (!low || !high || !isKnown(low.min))
      this.fail(generator.span, `${range_} reads an outer loop variable over a run-time size in a way not supported yet: its first value must be known at compile time`, "E0299");
    // An empty range is an error (language.md), at whichever step of the outer loops.
    const length = formRange(difference(bounds.upper, bounds.lower), this.loopBounds);
    if (length !== "empty" && !(length && provablyAtLeast(length.min, 1)))
      throw new DefiniteError(generator.span, `${range_} is empty at some step of the outer loop ('${slice ? "a:b" : "a..b"}' runs from a up to b - 1)`, "E0252");
    const first = low.min;
    const extent = subSize(high.max, first);
    const g = this.graph;
    const loop = g.loopVariable(this.loops++, first, extent);
    this.loopBounds.set(loop, bounds);
    const locals = new Map<string, Binding>([[generator.variable, { node: loop, kind: "loop variable", order: 0, span: generator.variableSpan }]]);
    const body = this.evaluate(generator.body, { ...scope, locals: [...scope.locals, locals] }, false);
    const axisArg = e.named.find((a) => a.name === "axis");
    if (axisArg) {
      // Reducing other axes only would leave the loop's axis, whose length changes.
      const rank = body.shape.length + 1;
      const items = axisArg.value.kind === "array" ? axisArg.value.elements : [axisArg.value];
      const axes = items.map((x) => this.integer(x, scope, "an axis")).map((k) => (k < 0 ? k + rank : k));
      if (!axes.includes(0))
        throw new DefiniteError(axisArg.span, `the number of steps of ${text} changes with an outer loop variable, so the steps do not all have the same shape along axis 0, which must be among the axes reduced (axis=0)`, "E0251");
    }
    const conditions: Node[] = [];
    if (bounds.lower.terms.size || bounds.lower.constant !== first) conditions.push(g.elementwise("ge", [loop, from]));
    if (bounds.upper.terms.size || bounds.upper.constant !== high.max) conditions.push(g.elementwise("lt", [loop, to]));
    const runs = conditions.length === 1 ? conditions[0] : g.elementwise("mul", conditions);
    const identity: Record<string, number> = { sum: 0, mean: 0, norm: 0, prod: 1, max: -Infinity, logsumexp: -Infinity, min: Infinity };
    const masked = g.elementwise("where", [runs, body, g.constant(identity[name])]);
    const reduced = this.applyBuiltin(e, name, [{ node: batchOver(g, loop, masked) }], scope, compileTime);
    if (name !== "mean") return reduced;
    // The mean over the hull, times hull steps over the steps that run.
    return g.elementwise("mul", [reduced, g.elementwise("div", [g.sizeValue(extent), g.elementwise("sub", [to, from])])]);
  }

  /**
   * `sum(x[0:i+1])`, `mean(w[i:] * x[i:])`: a reduction of every element of slices whose
   * length changes with a loop variable, rewritten as the same reduction, over `j in a..b`,
   * of the expression at row j of each slice: a masked loop over the hull of the steps
   * (`maskedReduction`), where batching the slice itself cannot be done (its shape changes)
   * and the outer loop would be written out step by step. Only when the expression is
   * elementwise down to those slices (other parts are taken whole), the slices share their
   * bounds, slice the first axis they keep and have one rank R, and every other part has a
   * lower rank (or a first axis of 1), so that it broadcasts against a row as against the
   * whole: then row j of the expression is the expression of the rows j, and reducing each
   * row and then the rows is reducing all elements (sum, prod, max, min, logsumexp and norm
   * compose, and the rows of a mean have equal counts). Otherwise undefined: the slices are
   * evaluated as before (step by step, or an error over a dim).
   */
  private raggedSliceRows(e: Extract<Expr, { kind: "call" }>, scope: Scope): Extract<Expr, { kind: "call" }> | undefined {
    type Slice = Extract<IndexItem, { kind: "slice" }>;
    const movesWithLoop = (x: Expr | undefined) => x !== undefined && this.mentionsLoopVariable(x, scope);
    const elementwise = (x: Expr) =>
      x.kind === "unary" ||
      (x.kind === "binary" && x.op !== "@") ||
      (x.kind === "call" && x.named.length === 0 && !this.defs.has(x.callee) && (x.callee in UNARY || (x.callee in ELEMENTWISE_N && x.args.length >= 2)));
    const ragged = new Set<Slice>();
    const walked = new Set<Expr>();
    const others: Expr[] = [];
    let rank: number | undefined;
    let bounds: { from: Expr; to: Expr; key: string; text: string; span: Span } | undefined;
    const stack: Expr[] = [e.args[0]];
    while (stack.length) {
      const x = stack.pop()!;
      if (elementwise(x)) {
        walked.add(x);
        if (x.kind === "unary") stack.push(x.operand);
        else if (x.kind === "binary") stack.push(x.left, x.right);
        else if (x.kind === "call") stack.push(...x.args);
        continue;
      }
      const at = x.kind === "index" ? x.indices.findIndex((item) => item.kind === "slice" && (movesWithLoop(item.from) || movesWithLoop(item.to))) : -1;
      if (x.kind !== "index" || at === -1) {
        others.push(x);
        continue;
      }
      // The moving slice: no step, the only one that moves, after scalar indices only.
      const item = x.indices[at] as Slice;
      if (item.step) return undefined;
      const target = this.evaluate(x.target, scope, false);
      let leafRank = target.shape.length - x.indices.length;
      for (const [d, other] of x.indices.entries()) {
        if (other.kind === "slice") {
          if (d !== at && (movesWithLoop(other.from) || movesWithLoop(other.to) || d < at)) return undefined;
          leafRank++;
        } else if (this.evaluate(other, scope, false).shape.length !== 0) return undefined;
      }
      if (rank !== undefined && rank !== leafRank) return undefined;
      rank = leafRank;
      // A slice to the end: its axis length, written as a number or a dim's name.
      const n = target.shape[at];
      let to = item.to;
      if (!to) {
        const text = formatSize(n);
        if (!/^\w+$/.test(text)) return undefined;
        to = isKnown(n) ? { kind: "number", value: n, text, span: item.span } : { kind: "name", name: text, span: item.span };
      }
      const from: Expr = item.from ?? { kind: "number", value: 0, text: "0", span: item.span };
      const key = `${exprText(this.source, from)}:${item.to ? exprText(this.source, item.to) : formatSize(n)}`;
      if (bounds && bounds.key !== key) return undefined;
      bounds ??= { from, to, key, text: `${exprText(this.source, x.target)}[${exprText(this.source, item)}]`, span: item.span };
      ragged.add(item);
    }
    if (!bounds || rank === undefined) return undefined;
    // A window of fixed length (x[i:i+3]) is batched as it is.
    const [from, to] = [this.evaluate(bounds.from, scope, false), this.evaluate(bounds.to, scope, false)];
    if (linearDifference(to, from) !== undefined) return undefined;
    for (const other of others) {
      const shape = this.evaluate(other, scope, false).shape;
      if (shape.length > rank || (shape.length === rank && shape[0] !== 1)) return undefined;
    }
    // The row variable: a name no program can write, so it shadows nothing.
    const row = `$row${this.loops}`;
    const span = e.args[0].span;
    const copy = (y: Expr): Expr => {
      if (!walked.has(y) && y.kind !== "index") return y;
      const c = { ...y } as Expr;
      copies.push(c);
      return c;
    };
    const copies: Expr[] = [];
    const body = copy(e.args[0]);
    while (copies.length) {
      const x = copies.pop()!;
      if (x.kind === "unary") x.operand = copy(x.operand);
      else if (x.kind === "binary") [x.left, x.right] = [copy(x.left), copy(x.right)];
      else if (x.kind === "call") x.args = x.args.map(copy);
      else if (x.kind === "index") x.indices = x.indices.map((item) => (item.kind === "slice" && ragged.has(item) ? { kind: "name", name: row, span: item.span } : item));
    }
    const reduce = (arg: Expr): Extract<Expr, { kind: "call" }> => ({ kind: "call", callee: e.callee, calleeSpan: e.calleeSpan, args: [arg], named: [], span: e.span });
    const generator: Expr = { kind: "generator", body: reduce(body), variable: row, variableSpan: span, from: bounds.from, to: bounds.to, span: bounds.span };
    this.sliceRows.set(generator, bounds.text);
    return reduce(generator);
  }

  /**
   * Runs `attempt` with diagnostics held back; on any error (or a body that cannot be
   * batched) undoes what it memoized and returns undefined, so the caller can take the
   * step-by-step path, which reports real mistakes exactly.
   */
  private speculate(attempt: () => Node): Node | undefined {
    const memoized = this.calls.size;
    this.speculating++;
    try {
      return attempt();
    } catch (err) {
      if (err instanceof DefiniteError || (!(err instanceof CheckError) && !(err instanceof Unbatchable) && !(err instanceof Speculation))) throw err;
      const added = [...this.calls.keys()].slice(memoized);
      for (const k of added) this.calls.delete(k);
      return undefined;
    } finally {
      this.speculating--;
    }
  }

  private call(e: Extract<Expr, { kind: "call" }>, scope: Scope, compileTime: boolean): Node {
    const name = e.callee;
    const generator = e.args.length === 1 && e.args[0].kind === "generator" ? e.args[0] : undefined;
    if (generator) {
      if (!(REDUCERS as readonly string[]).includes(name))
        this.fail(generator.span, `a generator 'e for i in a..b' can only be the argument of sum, prod, max, min, mean, norm or logsumexp`, "E0221");
      const dependent = compileTime ? undefined : this.dependentRange(generator, scope);
      if (dependent && linearDifference(dependent.to, dependent.from) === undefined) return this.maskedReduction(e, name, generator, dependent, scope, compileTime);
      const packed = this.comprehension(generator, scope, compileTime);
      return this.applyBuiltin(e, name, [{ node: packed }], scope, compileTime);
    }
    if (!compileTime && e.args.length === 1 && e.named.length === 0 && (REDUCERS as readonly string[]).includes(name) && !this.defs.has(name)) {
      const rows = this.raggedSliceRows(e, scope);
      if (rows) return this.call(rows, scope, compileTime);
    }
    if (this.brokenDefs.has(name) && !BUILTIN_NAMES.has(name)) throw new CheckError(e.span, "", "");
    const def = this.defs.get(name);
    if (def && def.order < scope.visibleBefore) {
      if (e.named.length) this.fail(e.named[0].span, `'${name}' takes no named arguments`, "E0264");
      return this.inline(def, e, scope, compileTime);
    }
    if (!BUILTIN_NAMES.has(name)) {
      if (def && scope.inDef === name) this.fail(e.calleeSpan, `'${name}' cannot call itself: defs are inlined, so recursion would never end`, "E0224");
      const later = def?.statement.nameSpan ?? this.defsAnywhere.get(name);
      if (later) this.fail(e.calleeSpan, `'${name}' is used before its definition (${this.where(later)})`, "E0220");
      this.fail(e.calleeSpan, this.unknownFunction(name), "E0220");
    }
    if ((DERIVATIVES as readonly string[]).includes(name)) return this.derivative(e, scope);
    const operands = this.independently(scope);
    const args: BuiltinArg[] = e.args.map((a) => {
      if (a.kind === "string") return { text: a.value };
      if (a.kind === "array" && a.elements.length > 0 && (name === "concat" || name === "stack")) {
        const list = a.elements.map((x) => operands.attempt(() => this.evaluate(x, scope, compileTime)));
        if (operands.failed()) return {};
        const parts = list as Node[];
        const node = parts.every((p) => sameShape(p.shape, parts[0].shape)) ? this.graph.pack(parts) : undefined;
        return { list: parts, node };
      }
      return { node: operands.attempt(() => this.evaluate(a, scope, compileTime)) };
    });
    if (operands.failed()) throw new CheckError(e.span, "", "");
    return this.applyBuiltin(e, name, args, scope, compileTime);
  }

  private applyBuiltin(e: Extract<Expr, { kind: "call" }>, name: string, args: BuiltinArg[], scope: Scope, compileTime: boolean): Node {
    const entry = builtin(name)!;
    const argc = args.length;
    const [fewest, most] = entry.arity;
    if (argc < fewest || argc > most) {
      if (name === "max" || name === "min") this.fail(e.span, `'${name}' takes one argument (reduce) or two (elementwise), got ${argc}`, "E0222");
      const takes = fewest === most ? `${fewest} argument${fewest === 1 ? "" : "s"}` : most === Infinity ? `at least ${fewest} arguments` : `${fewest} or ${most} arguments`;
      const hint = argc === 2 && entry.named?.includes("axis") ? `; an axis is a named argument: ${name}(${exprText(this.source, e.args[0])}, axis=${exprText(this.source, e.args[1])})` : "";
      this.fail(e.span, `'${name}' takes ${takes}, got ${argc}${hint}`, "E0222");
    }
    // Two positional arguments make max/min elementwise, which has no axis to reduce.
    if ((name === "max" || name === "min") && argc === 2 && e.named.length)
      this.fail(e.named[0].nameSpan, `'${name}' of two arguments is elementwise and takes no named arguments; to reduce one tensor along an axis, write ${name}(t, axis=k)`, "E0264");
    const named = new Map<string, NamedArg>();
    for (const a of e.named) {
      if (!entry.named?.includes(a.name)) {
        const options = entry.named ?? [];
        const meant = options.length ? suggest(a.name, options) || ` (it takes ${options.map((o) => `${o}=`).join(", ")})` : ` (it takes none)`;
        this.fail(a.nameSpan, `'${name}' has no named argument '${a.name}'${meant}`, "E0264");
      }
      if (a.value.kind === "name" && (a.value.name === "true" || a.value.name === "false") && !this.lookup(a.value.name, scope)) named.set(a.name, { flag: a.value.name === "true" });
      else if (a.value.kind === "array" && a.value.elements.length > 0) named.set(a.name, { node: this.graph.pack(a.value.elements.map((x) => this.evaluate(x, scope, compileTime))) });
      else named.set(a.name, { node: this.evaluate(a.value, scope, compileTime) });
    }
    const spanOf = (at: number | string) => (typeof at === "number" ? e.args[at]?.span : e.named.find((a) => a.name === at)?.value.span);
    return this.shapes(e.span, () => entry.apply({ graph: this.graph, name, args, named }), spanOf);
  }

  /**
   * A gate's backward sends gradient only to its arguments, so a param that its body reads
   * directly would silently get none: that is an error, with the fix in the message.
   */
  /** Whether a def's body or grad lines call a derivative operator (its parameters are then independent variables). */
  private differentiates(def: Def): boolean {
    const memo = this.differentiating.get(def.statement.name);
    if (memo !== undefined) return memo;
    const stack: Expr[] = [def.statement.body, ...def.statement.grads.map((g) => g.value)];
    let found = false;
    while (stack.length && !found) {
      const x = stack.pop()!;
      switch (x.kind) {
        case "call":
          if ((DERIVATIVES as readonly string[]).includes(x.callee)) found = true;
          stack.push(...x.args, ...x.named.map((a) => a.value));
          break;
        case "unary":
          stack.push(x.operand);
          break;
        case "binary":
          stack.push(x.left, x.right);
          break;
        case "index":
          stack.push(x.target);
          for (const i of x.indices) if (i.kind === "slice") stack.push(...[i.from, i.to, i.step].filter((p): p is Expr => p !== undefined));
          else stack.push(i);
          break;
        case "array":
          stack.push(...x.elements);
          break;
        case "comprehension":
        case "generator":
          stack.push(x.body, x.from, x.to);
          break;
      }
    }
    this.differentiating.set(def.statement.name, found);
    return found;
  }

  /**
   * `gradient(y, x)`, `jacobian(y, x)`, `hessian(y, x)`, `jvp(y, x, v)`, `vjp(y, x, u)`: `x`
   * names a param, an input, or a parameter of the enclosing def; everything else is held fixed.
   */
  private derivative(e: Extract<Expr, { kind: "call" }>, scope: Scope): Node {
    const name = e.callee as (typeof DERIVATIVES)[number];
    const want = name === "jvp" || name === "vjp" ? 3 : 2;
    if (e.named.length) this.fail(e.named[0].span, `'${name}' takes no named arguments`, "E0264");
    if (e.args.length !== want) {
      const form = { gradient: "gradient(y, x)", jacobian: "jacobian(y, x)", hessian: "hessian(y, x)", jvp: "jvp(y, x, v)", vjp: "vjp(y, x, u)" }[name];
      this.fail(e.span, `'${name}' takes ${want} arguments, as in ${form}; got ${e.args.length}`, "E0222");
    }
    const xExpr = e.args[1];
    const binding = xExpr.kind === "name" ? this.lookup(xExpr.name, scope) : undefined;
    if (binding?.kind === "dim")
      this.fail(xExpr.span, `'${name}' cannot differentiate with respect to the dim '${binding.node.name}': a size is a whole number, not a variable; name a param, an input or a parameter of the enclosing def`, "E0270");
    if (!binding || binding.node.op !== "input" || binding.node.role === "seed")
      this.fail(xExpr.span, `'${name}' differentiates with respect to a param, an input or a parameter of the enclosing def, named as it is declared`, "E0270");
    const x = binding.node;
    const y = this.evaluate(e.args[0], scope, false);
    const extra = want === 3 ? this.evaluate(e.args[2], scope, false) : undefined;
    if ((name === "gradient" || name === "hessian") && y.shape.length)
      this.fail(e.args[0].span, `'${name}' needs a scalar y, got ${formatShape(y.shape)}; for a tensor use jacobian(y, x) or vjp(y, x, u)`, "E0271");
    if (name === "jvp" && !sameShape(extra!.shape, x.shape))
      this.fail(e.args[2].span, `the direction v of 'jvp' must be shaped like ${xExpr.kind === "name" ? `'${xExpr.name}'` : "x"} ${formatShape(x.shape)}, got ${formatShape(extra!.shape)}`, "E0271");
    if (name === "vjp" && !sameShape(extra!.shape, y.shape))
      this.fail(e.args[2].span, `the seed u of 'vjp' must be shaped like y ${formatShape(y.shape)}, got ${formatShape(extra!.shape)}`, "E0271");
    switch (name) {
      case "gradient":
        return gradient(this.graph, y, x);
      case "hessian":
      case "jacobian":
        try {
          return name === "hessian" ? hessian(this.graph, y, x) : jacobian(this.graph, y, x);
        } catch (error) {
          // Over run-time sizes the passes must be batched into one loop; a form that is not
          // cannot be written out either, as their number is known only at run time.
          if (!(error instanceof NotAtRunTimeSizes)) throw error;
          this.fail(e.span, `'${name}' of ${formatShape(y.shape)} with respect to ${formatShape(x.shape)} over run-time sizes: ${error.message}; use jvp or vjp in a comprehension, or give the sizes as consts`, "E0299");
        }
      case "jvp":
        return jvp(this.graph, y, x, extra!);
      case "vjp":
        return vjp(this.graph, y, x, extra!);
    }
  }

  private checkGateInputs(name: string, span: Span, forward: Node, args: readonly Node[]) {
    const lost = paramsBehind(forward, args);
    if (lost.length)
      this.fail(span, `gate '${name}' reads the param '${lost[0].name}' directly, so backward would give it no gradient; pass it as an argument with its own 'grad' line`, "E0248");
  }

  /**
   * A gate's body that reads a param by name loses that param's gradient even when the
   * param is also an argument (`def f(a) = a * x` called as `f(x)`): backward sends the
   * gradient only through the argument's local gradient. The body over placeholders shows
   * what it reads by itself; a body that needs its arguments' values to build (a range
   * bound) is left to checkGateInputs.
   */
  private checkDirectReads(def: Def, built: Node, args: readonly Node[], independent: boolean) {
    const s = def.statement;
    let body: Node | undefined = independent ? built : undefined;
    if (!body) {
      if (paramsBehind(built, []).length === 0 || [...args].every((a) => paramsBehind(a, []).length === 0)) return;
      const locals = new Map<string, Binding>();
      s.params.forEach((p, i) => locals.set(p.name, { node: this.graph.input(`#${s.name}.${this.placeholders++}`, "input", args[i].shape), kind: "parameter", order: 0, span: p.span }));
      this.speculating++;
      try {
        body = this.evaluate(s.body, { locals: [locals], visibleBefore: def.order, inDef: s.name }, false);
      } catch (err) {
        if (!(err instanceof CheckError) && !(err instanceof Speculation) && !(err instanceof Unbatchable)) throw err;
        return;
      } finally {
        this.speculating--;
      }
    }
    const read = paramsBehind(body, []);
    if (read.length)
      this.fail(s.nameSpan, `gate '${s.name}' reads the param '${read[0].name}' directly, so backward would give it no gradient; pass it as an argument with its own 'grad' line`, "E0248");
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
    // A def that differentiates with respect to its parameters sees each as an independent
    // variable: a placeholder while its body is built, replaced by the argument afterwards,
    // so `gradient(energy(q), q)` holds everything else fixed even when the argument is `p[i]`.
    const independent = !compileTime && this.differentiates(def);
    const bound = independent ? args.map((a) => this.graph.input(`#${s.name}.${this.placeholders++}`, "input", a.shape)) : args;
    const locals = new Map<string, Binding>();
    s.params.forEach((p, i) => locals.set(p.name, { node: bound[i], kind: "parameter", order: 0, span: p.span }));
    const inner: Scope = { locals: [locals], visibleBefore: def.order, inDef: s.name };
    const built = this.expr(s.body, inner, compileTime);
    if (!built) throw new CheckError(e.span, "", "");
    const actual = (x: Node) => (independent ? bound.reduce((acc, b, i) => substitute(this.graph, acc, b, args[i]), x) : x);
    const forward = actual(built);
    let result = forward;
    if (s.grads.length) {
      const withOut = new Map(locals);
      withOut.set("out", { node: built, kind: "value", order: 0, span: s.nameSpan });
      const gradScope: Scope = { locals: [withOut], visibleBefore: def.order, inDef: s.name };
      const locs = s.params.map((p, i) => {
        const line = s.grads.find((g) => g.name === p.name)!;
        const builtLocal = this.expr(line.value, gradScope, compileTime);
        if (!builtLocal) throw new CheckError(e.span, "", "");
        const local = actual(builtLocal);
        const arg = args[i];
        const lShape = local.shape.length ? local.shape : forward.shape;
        if (local.shape.length && !forward.shape.length && !arg.shape.length)
          this.fail(line.value.span, `the local gradient of '${p.name}' is ${formatShape(local.shape)} but '${p.name}' and the gate's value are scalars here`, "E0247");
        if (local.shape.length && forward.shape.length && !sameShape(local.shape, forward.shape) ) {
          this.fail(line.value.span, `the local gradient of '${p.name}' is ${formatShape(local.shape)} but the gate's value is ${formatShape(forward.shape)}`, "E0247");
        }
        if (arg.shape.length && !sameShape(lShape, arg.shape))
          this.fail(line.value.span, `the local gradient of '${p.name}' is ${formatShape(lShape)} but '${p.name}' is ${formatShape(arg.shape)} here`, "E0247");
        return local;
      });
      if (!compileTime) {
        this.checkGateInputs(s.name, s.nameSpan, forward, args);
        this.checkDirectReads(def, built, args, independent);
      }
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

/** Whether `x` is index arithmetic: known at compile time, at each step of its loops, or from the dims. */
function isIndexValue(x: Node): boolean {
  return findUpstream(x, (n) => (n.op === "input" && n.role !== "dim") || n.op === "gate") === undefined;
}

/** Whether `x` is known at compile time, or at each step of its loops (no argument reaches it). */
function isCompileTime(x: Node): boolean {
  return findUpstream(x, (n) => n.op === "input" || n.op === "gate") === undefined;
}

/** The name of a dim that `x` reads, if any: such a value is known only when the module runs. */
function dimRead(x: Node): string | undefined {
  return findUpstream(x, (n) => n.op === "input" && n.role === "dim")?.name;
}

/** Whether `x` depends on a loop variable. */
const readsLoopVariable = (x: Node): boolean => findUpstream(x, (n) => n.op === "loopvar") !== undefined;

/** The loop variables `x` depends on. */
function loopVariablesOf(x: Node): Node[] {
  return upstream(x).filter((n) => n.op === "loopvar");
}

/** The size a value stands for, when it is built from integers and dims with + - *. */
function sizeOfValue(x: Node): Size | undefined {
  const form = x.shape.length === 0 ? linearForm(x) : undefined;
  if (!form || form.terms.size || (isKnown(form.constant) && !Number.isInteger(form.constant))) return undefined;
  return form.constant;
}

/** Whether a size is an integer for every value of its dims (integer coefficients). */
function integralSize(s: Size): boolean {
  return isKnown(s) ? Number.isInteger(s) : s.terms.every(([, c]) => Number.isInteger(c));
}

/** The source text of an expression, for messages (`slice 0:12`). */
function exprText(source: string, e: { span: Span }): string {
  return source.slice(e.span.start, e.span.end);
}

/**
 * For each integer input, the number of values its elements may take: the smallest axis
 * any of its elements indexes (tools that make up arguments, `gradc check` and `gradc
 * graph`, draw integers below it). An integer input that never indexes gets 10.
 */
export function integerRanges(program: CheckedProgram): Map<string, number> {
  const ranges = new Map<string, number>();
  for (const a of program.args) if (a.integer) ranges.set(a.name, Infinity);
  for (const n of program.graph.nodes) {
    if (n.op !== "checkindex") continue;
    const source = integerSource(n);
    if (source && ranges.has(source.name!)) ranges.set(source.name!, Math.min(ranges.get(source.name!)!, knownSize(n.bound!)));
  }
  for (const [name, r] of ranges) if (r === Infinity) ranges.set(name, 10);
  return ranges;
}
