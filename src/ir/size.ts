// Sizes of tensor axes: a number, or a polynomial in the program's run-time sizes (`dim N`)
// with integer coefficients, such as `N`, `N - 1` or `2*N*M`. Polynomials are interned, so
// two sizes are equal exactly when they are the same value (`===`), as numbers are; the
// arithmetic here folds back to a plain number whenever no dim is left. Shapes, index maps
// and loop extents hold sizes, so one compiled program serves every value of the dims.

/** A polynomial in dims: each term a coefficient and a product of dim names (sorted). */
export class Poly {
  private constructor(
    /** Canonical text, also the interning key: `2*N*M+N-1`. */
    readonly key: string,
    /** Non-zero terms, the constant (empty product) last. */
    readonly terms: readonly (readonly [readonly string[], number])[],
  ) {}

  private static readonly interned = new Map<string, Poly>();

  /** The size with these terms (zero coefficients dropped); a number when no dim is left. */
  static of(terms: Map<string, number>): Size {
    const list: [string[], number][] = [];
    let constant = 0;
    for (const [monomial, c] of terms) {
      if (c === 0) continue;
      if (monomial === "") constant = c;
      else list.push([monomial.split("*"), c]);
    }
    if (list.length === 0) return constant;
    list.sort((a, b) => b[0].length - a[0].length || (a[0].join("*") < b[0].join("*") ? -1 : 1));
    if (constant !== 0) list.push([[], constant]);
    let key = "";
    for (const [dims, c] of list) {
      const sign = c < 0 ? "-" : key ? "+" : "";
      const magnitude = Math.abs(c);
      const product = dims.join("*");
      key += sign + (product ? (magnitude === 1 ? product : `${magnitude}*${product}`) : String(magnitude));
    }
    let found = Poly.interned.get(key);
    if (!found) Poly.interned.set(key, (found = new Poly(key, list)));
    return found;
  }

  toString(): string {
    return this.key;
  }
}

export type Size = number | Poly;

const termsOf = (s: Size): Map<string, number> => {
  if (typeof s === "number") return new Map([["", s]]);
  return new Map(s.terms.map(([dims, c]) => [dims.join("*"), c]));
};

/** The size of dim `name`. */
export const dimSize = (name: string): Size => Poly.of(new Map([[name, 1]]));

export const isKnown = (s: Size): s is number => typeof s === "number";

/** A size as a count of operations: a run-time size counts as one large axis (programs with dims are loop code anyway). */
const RUNTIME_SIZE_ESTIMATE = 1000;
export const estimateSize = (s: Size): number => (isKnown(s) ? s : RUNTIME_SIZE_ESTIMATE);

export function addSize(a: Size, b: Size, k = 1): Size {
  if (typeof a === "number" && typeof b === "number") return a + k * b;
  const out = termsOf(a);
  for (const [m, c] of termsOf(b)) out.set(m, (out.get(m) ?? 0) + k * c);
  return Poly.of(out);
}

export const subSize = (a: Size, b: Size): Size => addSize(a, b, -1);

export function mulSize(a: Size, b: Size): Size {
  if (typeof a === "number" && typeof b === "number") return a * b;
  if (a === 0 || b === 0) return 0;
  const out = new Map<string, number>();
  for (const [ma, ca] of termsOf(a))
    for (const [mb, cb] of termsOf(b)) {
      const m = [...(ma ? ma.split("*") : []), ...(mb ? mb.split("*") : [])].sort().join("*");
      out.set(m, (out.get(m) ?? 0) + ca * cb);
    }
  return Poly.of(out);
}

/** The product of a shape's sizes: its number of elements. */
export const productOf = (sizes: readonly Size[]): Size => sizes.reduce<Size>((a, b) => mulSize(a, b), 1);

/** `a` divided by the number `k` when every coefficient divides exactly, else undefined. */
export function divideSize(a: Size, k: number): Size | undefined {
  if (typeof a === "number") return a % k === 0 ? a / k : undefined;
  const out = new Map<string, number>();
  for (const [m, c] of termsOf(a)) {
    if (c % k !== 0) return undefined;
    out.set(m, c / k);
  }
  return Poly.of(out);
}

/**
 * `ceil(a / k)` as a size, when it is one: every coefficient but the constant divides by
 * `k` (`2*N - 1` over 2 is `N`), so the rounding falls on the constant alone; otherwise
 * undefined (`ceil(N / 2)` is no polynomial).
 */
export function ceilDivideSize(a: Size, k: number): Size | undefined {
  if (typeof a === "number") return Math.ceil(a / k);
  const constant = a.terms.find(([names]) => names.length === 0)?.[1] ?? 0;
  const rest = divideSize(subSize(a, constant), k);
  return rest === undefined ? undefined : addSize(rest, Math.ceil(constant / k));
}

/** The dims a size depends on, sorted. */
export function dimsOf(s: Size): string[] {
  if (typeof s === "number") return [];
  return [...new Set(s.terms.flatMap(([dims]) => dims))].sort();
}

/** The value of a size when every dim it names has a value in `dims`. */
export function evaluateSize(s: Size, dims: Readonly<Record<string, number>>): number {
  if (typeof s === "number") return s;
  let v = 0;
  for (const [names, c] of s.terms) v += names.reduce((p, d) => p * dims[d], c);
  return v;
}

/**
 * Whether `a >= b` for every value of the dims (each at least 1): true when every
 * coefficient of `a - b` but the constant is positive and the value at all dims = 1 is
 * not negative. Sound, not complete; enough for `i + 1 < N` when i < N - 1.
 */
export function provablyAtLeast(a: Size, b: Size): boolean {
  const d = subSize(a, b);
  if (typeof d === "number") return d >= 0;
  let atOne = 0;
  for (const [names, c] of d.terms) {
    if (names.length && c < 0) return false;
    atOne += c;
  }
  return atOne >= 0;
}

/**
 * A size as it reads in messages (`N - 1`, `2 * N`), or in generated code when `nameOf`
 * gives each dim's variable there.
 */
export function formatSize(s: Size, nameOf: (dim: string) => string = (d) => d): string {
  if (typeof s === "number") return String(s);
  let text = "";
  for (const [names, c] of s.terms) {
    const magnitude = Math.abs(c);
    const factors = names.map(nameOf);
    if (magnitude !== 1 || factors.length === 0) factors.unshift(String(magnitude));
    const term = factors.join(" * ");
    text += text ? (c < 0 ? " - " : " + ") + term : (c < 0 ? "-" : "") + term;
  }
  return text;
}

/** Where a dim is read: `arg`'s length over `rest` is the dim to the `power`. */
export interface Reading<A> {
  dim: string;
  arg: A;
  rest: Size;
  power: number;
}

/**
 * Where each dim is read: the first argument that has it as an axis whose other axes are
 * known by then (numbers, or dims read before). Every other argument with dims is checked
 * against the sizes found. Undefined for a dim no argument can give (the checker reports it).
 */
export function dimReadings<A extends { readonly shape: readonly Size[] }>(dims: readonly string[], args: readonly A[]): Reading<A>[] | undefined {
  const known = new Set<string>();
  const order: Reading<A>[] = [];
  while (known.size < dims.length) {
    let found = false;
    for (const arg of args) {
      const open = [...new Set(arg.shape.filter((d) => !isKnown(d) && !known.has(d.key)))];
      const dim = open[0];
      if (open.length !== 1 || isKnown(dim) || dim !== dimSize(dim.key) || !dims.includes(dim.key)) continue;
      if (!arg.shape.every((d) => isKnown(d) || d === dim || d.terms.every(([names]) => names.every((n) => known.has(n))))) continue;
      // A dim on several axes (`p[S, S, 3]`) is the root of their product.
      const power = arg.shape.filter((d) => d === dim).length;
      order.push({ dim: dim.key, arg, rest: productOf(arg.shape.filter((d) => d !== dim)), power });
      known.add(dim.key);
      found = true;
    }
    if (!found) return undefined;
  }
  return order;
}

