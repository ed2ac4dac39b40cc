// The IR: a hash-consed DAG of tensor operations. `Graph` is the only way to make a node,
// and it returns the existing node when the same operation on the same operands was built
// before, so common subexpressions are one node by construction. Operands of commutative
// operations are put in a canonical order first; constants fold and the exact
// simplifications listed in grammar/reference.md apply as nodes are built.
//
// Operands always exist before the node that uses them, so node ids are a topological
// order: passes walk `graph.nodes` forwards or backwards, never recursively.

import { ELEMENTWISE, type ElementwiseName, type ReductionName } from "./ops.js";
import { formatSize, isKnown, mulSize, productOf, type Size } from "./size.js";

export type { Size } from "./size.js";
/** Axis sizes: numbers, or polynomials in run-time sizes (`dim N`); see ir/size.ts. */
export type Shape = readonly Size[];

/**
 * An affine index map: the element at multi-index `idx` of the result reads the operand's
 * flat element `offset + sum(strides[d] * idx[d])`. Indexing, rows, transposes and
 * broadcasts are all gathers.
 */
export interface IndexMap {
  offset: Size;
  strides: readonly Size[];
}

export type Op =
  | "const"
  | "tensor"
  | "input"
  | "loopvar"
  | "iota"
  | ElementwiseName
  | "matmul"
  | ReductionName
  | "prodexcept"
  | "gather"
  | "take"
  | "put"
  | "checkindex"
  | "solve"
  | "det"
  | "scatter"
  | "pack"
  | "gate";

export interface Node {
  readonly id: number;
  readonly op: Op;
  readonly args: readonly Node[];
  readonly shape: Shape;
  readonly size: Size;
  /** const: the value. iota: the first element (element k is value + k). */
  readonly value?: number;
  /** tensor: the elements, row-major (a constant tensor: index tables, tensor consts). */
  readonly values?: readonly number[];
  /**
   * Reductions and prodexcept: how many leading axes are kept (the trailing ones are
   * reduced; 0 reduces every element to a scalar). take, put: the axis indexed.
   */
  readonly keep?: number;
  readonly axis?: number;
  /** loopvar: the loop it stands for (unique per comprehension), its first value and its number of steps. */
  readonly loop?: { id: number; from: number; extent: Size };
  /** input: the argument's name (its role says whether it is differentiated); gate: the def's name. */
  readonly name?: string;
  /** `dim`: the value of a run-time size (`sum(x) / N`), a scalar read from the arguments' lengths. */
  readonly role?: "input" | "param" | "seed" | "dim";
  /** solve: the system is `A^T X = B` rather than `A X = B` (the adjoint of a solve). */
  readonly transposed?: boolean;
  /** input: an integer input (`input y[N] int`), whose elements may index. */
  readonly integer?: boolean;
  /** gather: how result elements read the operand. scatter: one map per operand. */
  readonly map?: IndexMap;
  readonly maps?: readonly IndexMap[];
  /** gate: the number of gate arguments; args are [forward, ...arguments, ...local gradients]. */
  readonly arity?: number;
  /** checkindex: the indices must be in `0..bound-1`. */
  readonly bound?: Size;
  /** The source line whose statement first built this node (comments in generated code). */
  readonly line?: number;
}

/** NumPy's broadcast of two shapes, or undefined when they do not broadcast. */
export function broadcastShapes(a: Shape, b: Shape): Size[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out = new Array<Size>(rank);
  for (let k = 1; k <= rank; k++) {
    const x = a[a.length - k] ?? 1;
    const y = b[b.length - k] ?? 1;
    if (x !== y && x !== 1 && y !== 1) return undefined;
    out[rank - k] = x === 1 ? y : x;
  }
  return out;
}

export const sizeOf = productOf;
export const formatShape = (shape: Shape): string => (shape.length === 0 ? "scalar" : `[${shape.map((d) => formatSize(d)).join(", ")}]`);
/** Whether every size of a shape is a number (no run-time size). */
export const isKnownShape = (shape: Shape): shape is readonly number[] => shape.every(isKnown);

/** A size as a number, for passes that only ever see programs without dims. */
export function knownSize(size: Size): number {
  if (!isKnown(size)) throw new Error(`internal: size ${formatSize(size)} is a run-time size here`);
  return size;
}
export const sameShape = (a: Shape, b: Shape): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** Row-major strides of a shape: `[m, n]` -> `[n, 1]`. */
export function rowMajor(shape: Shape): Size[] {
  const strides = new Array<Size>(shape.length);
  let s: Size = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s = mulSize(s, shape[d]);
  }
  return strides;
}

/** Whether a map and the shapes it relates hold only numbers (no run-time size). */
const isKnownMap = (map: IndexMap, ...shapes: Shape[]): boolean =>
  isKnown(map.offset) && map.strides.every(isKnown) && shapes.every(isKnownShape);

/** An index map of a program without run-time sizes. */
export interface KnownMap {
  offset: number;
  strides: readonly number[];
}

/**
 * A node whose sizes are all numbers, as every node is in a program without dims (or one
 * specialized to given sizes): what the interpreter and the straight-line forms work on.
 */
export type KnownNode = Omit<Node, "args" | "shape" | "size" | "map" | "maps" | "loop" | "bound"> & {
  readonly bound?: number;
  readonly args: readonly KnownNode[];
  readonly shape: readonly number[];
  readonly size: number;
  readonly map?: KnownMap;
  readonly maps?: readonly KnownMap[];
  readonly loop?: { id: number; from: number; extent: number };
};

/** `n` seen as a KnownNode, after checking that it and its operands have no run-time size. */
export function knownNode(n: Node): KnownNode {
  if (!isKnownNode(n)) throw new Error(`internal: '${n.op}' node ${n.id} has run-time sizes here`);
  return n as KnownNode;
}

/** Whether `n` and its operands have no run-time size (shape, view, loop extent, index bound): knownNode would accept it. */
export function isKnownNode(n: Node): boolean {
  const ok = (m: Node) =>
    isKnownShape(m.shape) &&
    (!m.map || isKnownMap(m.map)) &&
    (!m.maps || m.maps.every((x) => isKnownMap(x))) &&
    (!m.loop || isKnown(m.loop.extent)) &&
    (m.bound === undefined || isKnown(m.bound));
  return ok(n) && n.args.every(ok);
}

/** Flat operand element read by result element `flat` (row-major over `shape`). */
export function mapIndex(map: IndexMap, shape: Shape, flat: number): number {
  let at = knownSize(map.offset);
  for (let d = shape.length - 1; d >= 0; d--) {
    const extent = knownSize(shape[d]);
    const i = flat % extent;
    flat = (flat - i) / extent;
    at += knownSize(map.strides[d]) * i;
  }
  return at;
}

/**
 * The map of `gather(gather(x, inner), outer)` read directly from `x`, when each step of an
 * outer axis moves along one inner axis without wrapping into the next; else undefined.
 */
export function composeMaps(outer0: IndexMap, outerShape0: Shape, inner0: IndexMap, innerShape0: Shape): IndexMap | undefined {
  // Views over run-time sizes stay two views: their offsets cannot be split into axes here.
  if (!isKnownMap(outer0, outerShape0) || !isKnownMap(inner0, innerShape0)) return undefined;
  const [outer, inner] = [outer0, inner0] as { offset: number; strides: number[] }[];
  const [outerShape, innerShape] = [outerShape0, innerShape0] as number[][];
  const own = rowMajor(innerShape) as number[];
  // The inner multi-index of the outer map's first element.
  const start = new Array<number>(innerShape.length);
  let rest = outer.offset;
  for (let a = 0; a < innerShape.length; a++) {
    start[a] = Math.floor(rest / own[a]);
    rest -= start[a] * own[a];
  }
  const low = start.slice();
  const high = start.slice();
  const strides = outerShape.map((extent, d) => {
    const step = outer.strides[d];
    if (step === 0 || extent === 1) return 0;
    let axis = -1;
    for (let a = 0; a < innerShape.length; a++) if (innerShape[a] > 1 && step % own[a] === 0) { axis = a; break; }
    if (axis === -1) return NaN;
    const c = step / own[axis];
    if (c > 0) high[axis] += c * (extent - 1);
    else low[axis] += c * (extent - 1);
    return c * inner.strides[axis];
  });
  if (strides.some(Number.isNaN)) return undefined;
  for (let a = 0; a < innerShape.length; a++) if (low[a] < 0 || high[a] >= innerShape[a]) return undefined;
  const offset = start.reduce((acc, j, a) => acc + j * inner.strides[a], inner.offset);
  return { offset, strides };
}

/**
 * The operands of a guarded product `(-g) l` or `g (-l)` with the negation taken off, else
 * undefined. A reverse pass below a `where` (and every row of a Jacobian) is made of such
 * products, the negations coming from differences and cross products; in a sum, x + (-g) l
 * is x - g l and x - (-g) l is x + g l, the same values but for the sign of a zero result
 * (x = -0 and g = 0), as for (-x) - y above. Each saves a negation.
 */
function negatedGuard(n: Node): [Node, Node] | undefined {
  if (n.op !== "chainmul") return undefined;
  const [g, l] = n.args;
  if (g.op === "neg") return [g.args[0], l];
  if (l.op === "neg") return [g, l.args[0]];
  return undefined;
}

export function powerOfTwo(v: number): boolean {
  if (!Number.isFinite(v) || v === 0) return false;
  const m = Math.abs(v);
  return 2 ** Math.round(Math.log2(m)) === m;
}

/** A zero constant, or one broadcast to a tensor. */
function isZero(a: Node): boolean {
  return (a.op === "const" && a.value === 0) || (a.op === "gather" && a.args[0].op === "const" && a.args[0].value === 0);
}

function numberKey(v: number): string {
  return Object.is(v, -0) ? "-0" : String(v);
}

function mapKey(m: IndexMap): string {
  return `${m.offset}:${m.strides.join(",")}`;
}

/** Operations whose zeros are conditions or tests (a batched pass's one-hot seed is one). */
const COMPARISONS = new Set<Op>(["lt", "le", "gt", "ge", "eq", "ne"]);

export class Graph {
  readonly nodes: Node[] = [];
  /**
   * Index values computed when the module runs rather than tabulated when batched: the
   * clamped indices of a loop masked over its hull, whose table would grow with its steps.
   */
  readonly runtimeIndices = new Set<number>();
  private readonly table = new Map<string, Node>();
  /** By id: whether the node may hold masked zeros (see mayHoldMaskedZeros). */
  private readonly masked: boolean[] = [];
  /** The source line that new nodes come from; set by whoever builds them. */
  line: number | undefined;

  private make(op: Op, args: readonly Node[], shape: Shape, extra: Partial<Node> = {}, attrKey = ""): Node {
    let key = op;
    for (const a of args) key += " " + a.id;
    if (attrKey) key += " |" + attrKey;
    key += " :" + shape.join("x");
    const found = this.table.get(key);
    if (found) return found;
    const node: Node = { id: this.nodes.length, op, args, shape, size: sizeOf(shape), ...extra, line: this.line };
    this.nodes.push(node);
    this.masked.push(this.masks(node));
    this.table.set(key, node);
    return node;
  }

  /**
   * Whether some element of `n` may be an exact zero that stands for "no gradient here"
   * rather than a computed value: a branch `where` did not select (mask), an inactive relu
   * unit, a seed (an output left out, a one-hot pass: constants with zeros, or a batched
   * pass's comparison), the untouched elements of a scatter or put, a zero constant; or a
   * value computed from one. A chain-rule product `g * local` needs its guard
   * (`g === 0 ? 0 : g * local`) only when `g` may hold one: every other zero upstream is a
   * computed value, which meets an infinite local as it would in any product. Values
   * computed by the program (a `where(c, x, 0)` of its own, a norm's zero) are not masks.
   * One step per node, from its operands, as it is made.
   */
  mayHoldMaskedZeros(n: Node): boolean {
    return this.masked[n.id];
  }

  private masks(n: Node): boolean {
    switch (n.op) {
      case "const":
        return n.value === 0;
      case "input":
        return n.role === "seed";
      case "tensor":
        return n.values!.includes(0);
      case "mask":
      case "reluGrad":
      case "scatter":
      case "put":
        return true;
      // A literal zero branch is the program's value, not a mask.
      case "where":
      case "pick":
        return n.args.slice(1).some((a) => this.masked[a.id] && !isZero(a));
      case "chainmul":
        return this.masked[n.args[0].id];
    }
    return COMPARISONS.has(n.op) || n.args.some((a) => this.masked[a.id]);
  }

  constant(value: number): Node {
    return this.make("const", [], [], { value }, numberKey(value));
  }

  input(name: string, role: "input" | "param" | "seed" | "dim", shape: Shape, integer = false): Node {
    return this.make("input", [], shape, integer ? { name, role, integer } : { name, role }, role + JSON.stringify(name));
  }

  /** A size as a scalar value: a constant, or arithmetic on the dims it names. */
  sizeValue(size: Size): Node {
    if (isKnown(size)) return this.constant(size);
    let sum: Node | undefined;
    for (const [dims, c] of size.terms) {
      let term = this.constant(c);
      for (const d of dims) term = this.elementwise("mul", [term, this.input(d, "dim", [])]);
      sum = sum ? this.elementwise("add", [sum, term]) : term;
    }
    return sum!;
  }

  /** A tensor of `shape` whose elements all equal the scalar `x`. */
  broadcast(x: Node, shape: Shape): Node {
    if (sameShape(x.shape, shape)) return x;
    if (x.size !== 1) throw new Error(`internal: cannot broadcast ${formatShape(x.shape)} to ${formatShape(shape)}`);
    return this.gather(x, shape, { offset: 0, strides: shape.map(() => 0) });
  }

  zeros(shape: Shape): Node {
    return this.broadcast(this.constant(0), shape);
  }

  elementwise(op: ElementwiseName, given: readonly Node[]): Node {
    const spec = ELEMENTWISE[op];
    if (given.length !== spec.arity) throw new Error(`internal: ${op} takes ${spec.arity} operands`);
    let shape: Shape = [];
    for (const a of given) {
      if (a.shape.length === 0) continue;
      if (shape.length === 0) shape = a.shape;
      else if (!sameShape(shape, a.shape)) throw new Error(`internal: ${op} on ${formatShape(shape)} and ${formatShape(a.shape)}`);
    }
    // A scalar broadcast to a tensor beside a real tensor operand is just the scalar:
    // elementwise operations broadcast scalars themselves, and constants then fold.
    const broadcastScalar = (a: Node) => a.op === "gather" && a.args[0].shape.length === 0 && a.map!.strides.every((x) => x === 0);
    const full = given.some((a) => a.shape.length > 0 && !broadcastScalar(a));
    const operands = full ? given.map((a) => (broadcastScalar(a) ? a.args[0] : a)) : given;
    const simpler = this.simplify(op, operands, shape);
    if (simpler) return simpler;
    let args = operands;
    if ("commutative" in spec && spec.commutative && args[0].id > args[1].id) args = [args[1], args[0]];
    return this.make(op, args, shape);
  }

  /** Constant folding and the exact simplifications of the reference; undefined when none applies. */
  private simplify(op: ElementwiseName, x: readonly Node[], shape: Shape): Node | undefined {
    if (x.every((a) => a.op === "const")) {
      return this.constant((ELEMENTWISE[op].evaluate as (...v: number[]) => number)(...x.map((a) => a.value!)));
    }
    // A constant broadcast to a tensor (the seed 1 spread over a sum's operand) is that
    // constant for the rules below.
    const valueOf = (a: Node) => (a.op === "const" ? a.value : a.op === "gather" && a.args[0].op === "const" ? a.args[0].value : undefined);
    const is = (a: Node, v: number) => valueOf(a) === v;
    // A scalar operand left over stands for the whole tensor: broadcast it to the result's shape.
    const fit = (a: Node) => this.broadcast(a, shape);
    const [a, b] = x;
    const sunk = this.sinkMask(op, x);
    if (sunk) return sunk;
    switch (op) {
      case "neg":
        if (a.op === "neg") return a.args[0];
        break;
      case "stop":
        if (a.op === "stop") return a;
        break;
      // Negations move outward and turn sums into differences, where IEEE arithmetic allows it
      // exactly (x + -y is x - y; (-x) y is -(x y), signed zeros included): the backward pass
      // of a difference is full of them, and each costs an instruction and a constant load.
      case "add":
        if (is(b, 0)) return fit(a);
        if (is(a, 0)) return fit(b);
        if (a === b) return this.elementwise("mul", [this.constant(2), a]);
        if (b.op === "neg") return this.elementwise("sub", [a, b.args[0]]);
        if (a.op === "neg") return this.elementwise("sub", [b, a.args[0]]);
        {
          const nb = negatedGuard(b);
          if (nb) return this.elementwise("sub", [a, this.elementwise("chainmul", nb)]);
          const na = negatedGuard(a);
          if (na) return this.elementwise("sub", [b, this.elementwise("chainmul", na)]);
        }
        break;
      case "sub":
        if (is(b, 0)) return fit(a);
        if (is(a, 0)) return fit(this.elementwise("neg", [b]));
        if (a === b) return this.zeros(shape);
        if (b.op === "neg") return this.elementwise("add", [a, b.args[0]]);
        {
          const nb = negatedGuard(b);
          if (nb) return this.elementwise("add", [a, this.elementwise("chainmul", nb)]);
        }
        // (-x) - y is -(x + y), but for the sign of a zero result, as x + 0 -> x already is.
        if (a.op === "neg") return this.elementwise("neg", [this.elementwise("add", [a.args[0], b])]);
        break;
      case "mul":
        if (is(b, 1)) return fit(a);
        if (is(a, 1)) return fit(b);
        if (is(a, 0) || is(b, 0)) return this.zeros(shape);
        if (is(b, -1)) return fit(this.elementwise("neg", [a]));
        if (is(a, -1)) return fit(this.elementwise("neg", [b]));
        if (a.op === "neg") return this.elementwise("neg", [this.elementwise("mul", [a.args[0], b])]);
        if (b.op === "neg") return this.elementwise("neg", [this.elementwise("mul", [a, b.args[0]])]);
        {
          // c1 * (c2 * x) -> (c1 c2) * x when either constant is a power of two: scaling by
          // 2^k commutes with rounding, so the product is exact (barring overflow).
          const [c, other] = a.op === "const" ? [a, b] : b.op === "const" ? [b, a] : [undefined, undefined];
          if (c && other && other.op === "mul") {
            const [p, q] = other.args;
            const [c2, x] = p.op === "const" ? [p, q] : q.op === "const" ? [q, p] : [undefined, undefined];
            if (c2 && x && (powerOfTwo(c.value!) || powerOfTwo(c2.value!)) && Number.isFinite(c.value! * c2.value!) && c.value! * c2.value! !== 0)
              return this.elementwise("mul", [this.constant(c.value! * c2.value!), x]);
          }
          // c1 * (c2 / y) -> (c1 c2) / y and c1 * (x * (c2 / y)) -> x * ((c1 c2) / y) when c1 is a
          // power of two, exact for the same reason. The chain rule through sqrt and a square
          // gives 2 * (x * (0.5 / s)): one shared 1 / s and a product per use instead.
          const scaled = (q: Node | undefined) =>
            c && q && q.op === "div" && q.args[0].op === "const" && powerOfTwo(c.value!) && Number.isFinite(c.value! * q.args[0].value!) && c.value! * q.args[0].value! !== 0
              ? this.elementwise("div", [this.constant(c.value! * q.args[0].value!), q.args[1]])
              : undefined;
          const direct = scaled(other);
          if (direct) return direct;
          if (other && other.op === "mul") {
            const [p, q] = other.args;
            const left = scaled(p);
            if (left) return this.elementwise("mul", [q, left]);
            const right = scaled(q);
            if (right) return this.elementwise("mul", [p, right]);
          }
        }
        break;
      case "reluGrad": {
        if (is(a, 0)) return this.zeros(shape);
        const v = valueOf(b);
        if (v !== undefined) return v > 0 ? fit(a) : this.zeros(shape);
        break;
      }
      case "chainmul": {
        if (is(a, 0)) return this.zeros(shape);
        // A guard is needed only where one factor may be a zero and the other infinite: a
        // finite constant, or a constant upstream that is not zero (a one-hot seed's 1), has none.
        const v = valueOf(b);
        if (v !== undefined && Number.isFinite(v)) return this.elementwise("mul", [a, b]);
        const u = valueOf(a);
        if (u !== undefined && u !== 0 && !Number.isNaN(u)) return this.elementwise("mul", [a, b]);
        // An upstream that holds no masked zero has nothing to guard.
        if (!this.masked[a.id]) return this.elementwise("mul", [a, b]);
        break;
      }
      case "div":
        if (is(b, 1)) return fit(a);
        if (a.op === "neg") return this.elementwise("neg", [this.elementwise("div", [a.args[0], b])]);
        if (b.op === "neg") return this.elementwise("neg", [this.elementwise("div", [a, b.args[0]])]);
        break;
      case "pow":
        if (is(b, 1)) return fit(a);
        if (is(b, 0)) return this.broadcast(this.constant(1), shape);
        if (is(b, 2)) return this.elementwise("mul", [a, a]);
        break;
      // A table of constants (atan2's scale) compared with a constant none of its values
      // equals: a masked zero's guard testing the scale for 0 in a Hessian.
      case "eq":
      case "ne": {
        const k = valueOf(a) ?? valueOf(b);
        const values = k === undefined ? undefined : tableValues(valueOf(a) === undefined ? a : b);
        if (values && !values.includes(k!)) return fit(this.constant(op === "eq" ? 0 : 1));
        break;
      }
      case "where":
      case "mask":
      case "pick": {
        const [c, t, f] = x;
        if (c.op === "const") {
          const pick = c.value !== 0 ? t : f;
          return fit(pick);
        }
        if (t === f) return fit(t);
        if (op === "mask") {
          const swapped = this.outerMaskFirst(c, t, f);
          if (swapped) return swapped;
        }
        break;
      }
    }
    return undefined;
  }

  /**
   * One-sided masks nested in one another test their conditions in id order, the earliest
   * condition outermost: `mask(c, mask(d, w, 0), 0)` with `d` older than `c` is
   * `mask(d, mask(c, w, 0), 0)` (both are `w` where both conditions hold, a masked zero
   * elsewhere; the same with zeros on the true sides). So the masks of one condition meet at
   * the same depth, where sinkMask merges them, and straight-line code can compute what only
   * their selected branches need in one `if` (emit/branches.ts): a norm's mask inside a
   * `where`'s would otherwise keep that `where`'s whole branch outside the `if`.
   */
  private outerMaskFirst(c: Node, t: Node, f: Node): Node | undefined {
    if (isZero(t) === isZero(f)) return undefined;
    const [outerTrue, v] = isZero(f) ? [true, t] : [false, f];
    if (v.op !== "mask" || v.args[0].id >= c.id) return undefined;
    const [d, vt, vf] = v.args;
    if (isZero(vt) === isZero(vf)) return undefined;
    const [innerTrue, w] = isZero(vf) ? [true, vt] : [false, vf];
    const zero = this.constant(0);
    const inner = this.elementwise("mask", outerTrue ? [c, w, zero] : [c, zero, w]);
    return this.elementwise("mask", innerTrue ? [d, inner, zero] : [d, zero, inner]);
  }

  /**
   * A mask moved past the arithmetic on it, so that the selection happens once, where the
   * masked values meet others, and the products in between need no guard:
   * `mask(c, x, 0) * l -> mask(c, x l, 0)` (the same for the guarded product, `/ l` and
   * negation) when `x` holds no masked zero, and masks by one condition added or subtracted are one mask,
   * `mask(c, x, 0) + mask(c, u, v) -> mask(c, x + u, v)`. Exact but for a zero's sign, and for
   * the product of a masked zero with an infinite local gradient, which becomes the 0 the
   * guard would give.
   */
  private sinkMask(op: ElementwiseName, x: readonly Node[]): Node | undefined {
    const maskOf = (a: Node) => (a.op === "mask" ? { c: a.args[0], t: a.args[1], f: a.args[2] } : undefined);
    // The operation on each branch, a zero branch kept zero (what the mask promises).
    const onBranches = (m: { c: Node; t: Node; f: Node }, f: (v: Node) => Node) =>
      this.elementwise("mask", [m.c, isZero(m.t) ? this.constant(0) : f(m.t), isZero(m.f) ? this.constant(0) : f(m.f)]);
    // Moving a mask pays when the value it masks holds no masked zero itself: the products
    // then lose their guard. Past an upstream that keeps its guard anyway (a seed), it would
    // only add a selection where values of several masks meet. Masks in masks (a where in a
    // where's branch) move out one after the other.
    const plain = (v: Node): boolean => {
      for (;;) {
        if (!this.masked[v.id]) return true;
        const inner = maskOf(v);
        if (!inner || isZero(inner.t) === isZero(inner.f)) return false;
        v = isZero(inner.t) ? inner.f : inner.t;
      }
    };
    const oneSided = (m: { t: Node; f: Node } | undefined) => m && (isZero(m.t) ? !isZero(m.f) && plain(m.f) : isZero(m.f) && plain(m.t));
    const [a, b] = x;
    const [m, n] = [maskOf(a), b && maskOf(b)];
    switch (op) {
      // Only a one-sided mask moves past an operation: on both branches it would be
      // computed twice wherever the branches are not inlined into the selection.
      case "neg":
        return oneSided(m) ? onBranches(m!, (v) => this.elementwise("neg", [v])) : undefined;
      case "mul":
      case "chainmul":
      case "div":
        if (oneSided(m)) return onBranches(m!, (v) => this.elementwise(op, [v, b]));
        // A masked local gradient (chainmul's second operand) moves out alike.
        if (op !== "div" && oneSided(n)) return onBranches(n!, (v) => this.elementwise(op, [a, v]));
        return undefined;
      case "add":
      case "sub":
        if (!m || !n || m.c !== n.c) return undefined;
        return this.elementwise("mask", [m.c, this.elementwise(op, [m.t, n.t]), this.elementwise(op, [m.f, n.f])]);
    }
    return undefined;
  }

  /**
   * NumPy's matmul. Vectors and matrices are one `matmul` node (its loops are tuned); stacks of
   * matrices are a contraction: both operands gathered onto the iteration space
   * `[...batch, m, p, k]`, multiplied, and summed over `k`, which loop code fuses into one nest.
   */
  matmul(a: Node, b: Node): Node {
    const [ra, rb] = [a.shape.length, b.shape.length];
    if (ra > 2 || rb > 2) return this.stackedMatmul(a, b);
    let shape: Shape;
    if (ra === 2 && rb === 2) shape = [a.shape[0], b.shape[1]];
    else if (ra === 2 && rb === 1) shape = [a.shape[0]];
    else if (ra === 1 && rb === 2) shape = [b.shape[1]];
    else shape = [];
    return this.make("matmul", [a, b], shape);
  }

  /**
   * Reduce the trailing axes of `x` after the first `keep` (0: every element, to a scalar).
   * Reducing other axes is a transposing gather first, so one op covers `axis=`.
   */
  private stackedMatmul(a: Node, b: Node): Node {
    const aMat = a.shape.length >= 2;
    const bMat = b.shape.length >= 2;
    const k = a.shape[a.shape.length - 1];
    const m = aMat ? a.shape[a.shape.length - 2] : undefined;
    const p = bMat ? b.shape[b.shape.length - 1] : undefined;
    const aBatch = a.shape.slice(0, Math.max(0, a.shape.length - 2));
    const bBatch = b.shape.slice(0, Math.max(0, b.shape.length - 2));
    const batch = broadcastShapes(aBatch, bBatch);
    if (!batch) throw new Error(`internal: matmul batch shapes ${formatShape(aBatch)} and ${formatShape(bBatch)}`);
    const space = [...batch, ...(m !== undefined ? [m] : []), ...(p !== undefined ? [p] : []), k];
    const batchStrides = (x: Node, own: Shape) => {
      const strides = rowMajor(x.shape);
      const lead = batch.length - own.length;
      return batch.map((d, i) => (i < lead || own[i - lead] === 1 ? 0 : strides[i - lead]));
    };
    const aStrides = [...batchStrides(a, aBatch), ...(m !== undefined ? [k] : []), ...(p !== undefined ? [0] : []), 1];
    const bStrides = [...batchStrides(b, bBatch), ...(m !== undefined ? [0] : []), ...(p !== undefined ? [1] : []), p ?? 1];
    const product = this.elementwise("mul", [this.gather(a, space, { offset: 0, strides: aStrides }), this.gather(b, space, { offset: 0, strides: bStrides })]);
    return this.reduce("sum", product, space.length - 1);
  }

  reduce(kind: ReductionName, x: Node, keep = 0): Node {
    if (keep >= x.shape.length) return x;
    return this.make(kind, [x], x.shape.slice(0, keep), keep ? { keep } : {}, keep ? String(keep) : "");
  }

  /**
   * The product of the other elements of its group at each position (the adjoint of
   * `prod`); groups are the trailing axes after `keep`, as in `reduce`.
   */
  prodExcept(x: Node, keep = 0): Node {
    return this.make("prodexcept", [x], x.shape, keep ? { keep } : {}, keep ? String(keep) : "");
  }

  /** The same elements in row-major order under another shape (a view). */
  reshape(x: Node, shape: Shape): Node {
    return this.gather(x, shape, { offset: 0, strides: rowMajor(shape) });
  }

  /** `x` (shaped like a prefix of `shape`) repeated along the trailing axes of `shape`. */
  expand(x: Node, shape: Shape): Node {
    if (x.shape.length === shape.length) return x;
    if (x.shape.length === 0) return this.broadcast(x, shape);
    const strides = [...rowMajor(x.shape), ...shape.slice(x.shape.length).map(() => 0)];
    return this.gather(x, shape, { offset: 0, strides });
  }

  /**
   * NumPy broadcasting of `x` to `shape`: axes aligned at the end, a missing leading axis or
   * an axis of size 1 stretched. The caller has checked that the shapes broadcast.
   */
  broadcastTo(x: Node, shape: Shape): Node {
    if (sameShape(x.shape, shape)) return x;
    if (x.size === 1) return this.broadcast(x.shape.length ? this.gather(x, [], { offset: 0, strides: [] }) : x, shape);
    const own = rowMajor(x.shape);
    const lead = shape.length - x.shape.length;
    const strides = shape.map((d, k) => (k < lead || x.shape[k - lead] === 1 ? 0 : own[k - lead]));
    return this.gather(x, shape, { offset: 0, strides });
  }

  /** A compile-time tensor (index tables, tensor consts); a single element is a `const`. */
  tensor(values: readonly number[], shape: Shape): Node {
    if (shape.length === 0) return this.constant(values[0]);
    return this.make("tensor", [], shape, { values }, values.map(numberKey).join(","));
  }

  /** The variable of a comprehension while its body is built once (check/ batches it away). */
  loopVariable(id: number, from: number, extent: Size): Node {
    return this.make("loopvar", [], [], { loop: { id, from, extent } }, String(id));
  }

  /** `[from, from + 1, ..., from + n - 1]`: a batched loop variable. */
  iota(from: number, n: Size): Node {
    return this.make("iota", [], [n], { value: from }, numberKey(from));
  }

  /**
   * Elements of `x` picked along `axis` by an integer-valued `index` (NumPy's `take`): the
   * result is `x.shape[:axis] ++ index.shape ++ x.shape[axis+1:]`. Indices must be in range.
   */
  take(x: Node, index: Node, axis: number): Node {
    const shape = [...x.shape.slice(0, axis), ...index.shape, ...x.shape.slice(axis + 1)];
    return this.make("take", [x, index], shape, { axis }, String(axis));
  }

  /**
   * Elements of an integer input used as indices: the same values, each to be in
   * `0..bound-1` when the module runs. The generated module checks them all before it
   * computes anything (so a bad index leaves every holder as it was), naming the input
   * `name`, the element and its value.
   */
  checkIndex(x: Node, bound: Size, name: string): Node {
    return this.make("checkindex", [x], x.shape, { bound, name }, `${bound} ${JSON.stringify(name)}`);
  }

  /**
   * `X` with `A X = B` (`A^T X = B` when `transposed`), by LU factorization with partial
   * pivoting when the module runs: `A` is `[...stack, n, n]`, `B` is `[...stack, n, k]` with
   * the same stack axes (the built-ins broadcast and reshape to this form). A singular `A`
   * gives non-finite values. Loop code factors each `A` once for all its solves.
   */
  solve(a: Node, b: Node, transposed = false): Node {
    return this.make("solve", [a, b], b.shape, transposed ? { transposed } : {}, transposed ? "T" : "");
  }

  /** The determinant of each matrix of `[...stack, n, n]`, from the same factorization. */
  det(a: Node): Node {
    return this.make("det", [a], a.shape.slice(0, -2));
  }

  /** The adjoint of `take`: zeros of `shape`, with `values` added at the indices (repeated ones add up). */
  put(values: Node, index: Node, axis: number, shape: Shape): Node {
    return this.make("put", [values, index], shape, { axis }, String(axis));
  }

  gather(x: Node, shape: Shape, map: IndexMap): Node {
    // Reading one element through gathers and packs: follow them to the source element.
    if (shape.length === 0 && isKnown(map.offset)) {
      let source = x;
      let at = map.offset;
      for (;;) {
        if (source.op === "gather" && isKnownMap(source.map!, source.shape)) {
          at = mapIndex(source.map!, source.shape, at);
          source = source.args[0];
        } else if (source.op === "pack" && isKnown(source.args[0].size)) {
          const part = source.args[0].size;
          const k = Math.floor(at / part);
          at -= k * part;
          source = source.args[k];
        } else break;
      }
      if (source.size === 1) return source.shape.length === 0 ? source : this.make("gather", [source], [], { map: { offset: 0, strides: [] } }, "0:");
      x = source;
      map = { offset: at, strides: [] };
    } else if (sameShape(shape, x.shape) && map.offset === 0 && map.strides.every((s, d) => s === rowMajor(shape)[d])) {
      return x;
    } else if (x.op === "gather") {
      // A view of a view is one view when the outer one walks whole axes of the inner one.
      const composed = composeMaps(map, shape, x.map!, x.shape);
      if (composed) return this.gather(x.args[0], shape, composed);
    }
    return this.make("gather", [x], shape, { map }, mapKey(map));
  }

  /** The adjoint of gathers: each part's elements are added into a zero tensor of `shape`. */
  scatter(parts: readonly { values: Node; map: IndexMap }[], shape: Shape): Node {
    const maps = parts.map((p) => p.map);
    return this.make("scatter", parts.map((p) => p.values), shape, { maps }, maps.map(mapKey).join(";"));
  }

  /** Stack equal-shaped parts along a new leading axis (array literals, comprehensions). */
  pack(parts: readonly Node[]): Node {
    return this.make("pack", parts, [parts.length, ...parts[0].shape]);
  }

  /**
   * A user function with analytic local gradients: its value is `forward`; backward sends
   * `upstream * locals[k]` to `args[k]`.
   */
  gate(name: string, forward: Node, args: readonly Node[], locals: readonly Node[]): Node {
    return this.make("gate", [forward, ...args, ...locals], forward.shape, { arity: args.length, name }, `${args.length} ${JSON.stringify(name)}`);
  }
}

/**
 * The first node that `x` depends on (itself included) for which `found` holds, or
 * undefined; an explicit stack, stopping at the first.
 */
export function findUpstream(x: Node, found: (n: Node) => boolean): Node | undefined {
  const stack = [x];
  const seen = new Set<number>();
  while (stack.length) {
    const y = stack.pop()!;
    if (seen.has(y.id)) continue;
    seen.add(y.id);
    if (found(y)) return y;
    stack.push(...y.args);
  }
  return undefined;
}

/** Every node that `x` depends on, itself included, in id order (a topological order). */
export function upstream(x: Node): Node[] {
  const all: Node[] = [];
  findUpstream(x, (n) => {
    all.push(n);
    return false;
  });
  return all.sort((a, b) => a.id - b.id);
}

/** Marks (by id) the nodes that `roots` depend on; an explicit stack, never recursion. */
export function reachable(graph: Graph, roots: readonly Node[]): Uint8Array {
  const seen = new Uint8Array(graph.nodes.length);
  const stack = [...roots];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen[n.id]) continue;
    seen[n.id] = 1;
    // A gate's value is its first operand; its local gradients are reached, when backward
    // needs them, through the adjoint nodes that use them.
    const operands = n.op === "gate" ? n.args.slice(0, 1) : n.args;
    for (const x of operands) if (!seen[x.id]) stack.push(x);
  }
  return seen;
}

/**
 * The values a selection can take when they are all constants (a table: `r < 1e-100 ? (r <
 * 1e-300 ? a : b) : 1`), else undefined; at most 16 selections are looked at.
 */
function tableValues(n: Node): number[] | undefined {
  const values: number[] = [];
  const stack = [n];
  for (let seen = 0; stack.length; ) {
    const m = stack.pop()!;
    if (m.op === "const") values.push(m.value!);
    else if ((m.op === "where" || m.op === "mask") && ++seen <= 16) stack.push(m.args[1], m.args[2]);
    else return undefined;
  }
  return n.op === "const" ? undefined : values;
}
