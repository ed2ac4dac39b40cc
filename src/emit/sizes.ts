// The run-time sizes of a module whose program has dims (`dim N`): where each dim is read
// from the arguments, the checks that they agree, and the scratch buffers made again when
// the sizes change (not on every call). The module keeps the sizes of the current call in
// module-level variables `size_N`, set by `readSizes(args)` before anything else runs; the
// function bodies copy them into locals `$N`, the names loop code uses for them.

import { dimReadings, formatSize, isKnown, productOf, type Size } from "../ir/size.js";
import type { SizeRequirement } from "../check/checker.js";
import type { ModuleArg } from "./module.js";

export interface SizeParts {
  dims: string[];
  requirements: SizeRequirement[];
  /** Scratch buffers whose length is a run-time size: made again by `useSizes()` when it changes. */
  resized: { source: string; size: Size }[];
}

/** A size in module-level code (argument and holder checks, holders): `size_N * 2`. */
export const moduleSize = (s: Size): string => formatSize(s, (d) => `size_${d}`);

/** A size from a `sizes` object given by the caller (createOutputs(sizes)). */
export const givenSize = (s: Size): string => formatSize(s, (d) => `sizes.${d}`);

/**
 * The object literal `{ N: size_N, ... }` of the dims' values, one own property per dim:
 * a dim named `__proto__` is a computed key, as `__proto__: v` would set the prototype.
 */
export const sizesLiteral = (dims: readonly string[]): string =>
  `{ ${dims.map((d) => `${d === "__proto__" ? `["${d}"]` : d}: size_${d}`).join(", ")} }`;

/** The first lines of a function body: the sizes as locals, buffers of the right length. */
export const sizeLocals = (parts: SizeParts): string[] => [
  ...(parts.resized.length ? ["useSizes();"] : []),
  ...parts.dims.map((d) => `const $${d} = size_${d};`),
];

/** Module-level code: the size variables, `readSizes`, `useSizes` and the exported `sizesOf`. */
export function printSizeSupport(
  parts: SizeParts,
  args: readonly ModuleArg[],
  file: string,
  out: (...l: string[]) => void,
  T: (a: string) => string,
  doc: (text: string) => void,
) {
  const quote = (s: string) => JSON.stringify(s);
  out(...parts.dims.map((d) => `let size_${d} = 0;`), "");
  // `expected` is the length the argument needs (a number once the dims are read) or, for an
  // argument that gives a dim, its shape's element count as text: a missing argument says so
  // and what it should hold, as a missing tensor of fixed size does.
  out(`function lengthOf(v${T(": unknown")}, name${T(": string")}, expected${T(": number | string")})${T(": number")} {`);
  out(`  if (v instanceof Float64Array || Array.isArray(v) || ArrayBuffer.isView(v)) return (v${T(" as ArrayLike<number>")}).length;`);
  out(`  const numbers = typeof expected === "number" ? expected + " numbers" : expected;`);
  out(`  if (v === undefined) throw new TypeError(${quote(file)} + ": " + name + " is missing: expected a flat array of " + numbers);`);
  out(`  throw new TypeError(${quote(file)} + ": " + name + " must be a Float64Array or an array of " + numbers + ", got " + describe(v));`);
  out("}", "");
  out(`/** Reads the dims from the arguments (each a flat length divided by the other sizes) and checks they agree. */`);
  const notObject = `throw new TypeError(${quote(file)} + ": the arguments must be an object, got " + describe(args));`;
  printSizeReader("readSizes", parts.dims, args, parts.requirements, notObject, file, out, T);
  if (parts.resized.length) {
    out(...parts.dims.map((d) => `let sized_${d} = -1;`));
    out(`/** Scratch buffers of run-time length, made again only when the sizes change. */`);
    out(`function useSizes()${T(": void")} {`);
    out(`  if (${parts.dims.map((d) => `sized_${d} === size_${d}`).join(" && ")}) return;`);
    out(...parts.dims.map((d) => `  sized_${d} = size_${d};`));
    for (const b of parts.resized) out(`  ${b.source} = new Float64Array(${moduleSize(b.size)});`);
    out("}", "");
  }
  doc(`The dims of these arguments: ${parts.dims.join(", ")} (RangeError when the arguments disagree)`);
  out(`export function sizesOf(args${T(": Args")})${T(": Sizes")} {`, `  readSizes(args);`, `  return ${sizesLiteral(parts.dims)};`, "}", "");
  out(`function checkSizes(sizes${T(": unknown")})${T(": void")} {`);
  out(`  if (sizes === null || typeof sizes !== "object") throw new TypeError(${quote(file)} + ": holders need the sizes, as sizesOf(args) gives them: { ${parts.dims.map((d) => `${d}: ...`).join(", ")} }, got " + describe(sizes));`);
  // Each value in a local of our own naming: a dim may be called `default` or `sizes`.
  for (const d of parts.dims) {
    out(`  const given_${d} = (sizes${T(" as Record<string, unknown>")})[${quote(d)}];`);
    out(`  if (typeof given_${d} !== "number" || !Number.isInteger(given_${d}) || given_${d} < 1) throw new RangeError(${quote(file)} + ": sizes.${d} must be a whole number of at least 1, got " + describe(given_${d}));`);
  }
  out("}", "");
}

/** The `Sizes` type: one number per dim. */
export const sizesType = (parts: SizeParts): string[] => [
  "/** The run-time sizes: one number per `dim`, as sizesOf(args) reads them. */",
  `export type Sizes = { ${parts.dims.map((d) => `${d}: number;`).join(" ")} };`,
];

/**
 * `name(args)`: sets `size_<dim>` for each of `dims` from the lengths of the arguments of
 * `list` that give them, then checks every other argument of `list` and the requirements
 * against those sizes (RangeErrors that name the argument, its shape, the dims and where they
 * came from). `notObject` is the statement for an `args` that is not an object.
 */
export function printSizeReader(
  name: string,
  dims: readonly string[],
  list: readonly ModuleArg[],
  requirements: readonly SizeRequirement[],
  notObject: string,
  file: string,
  out: (...l: string[]) => void,
  T: (a: string) => string,
) {
  const order = dimReadings(dims, list);
  if (!order) throw new Error("internal: a dim that no argument gives");
  const quote = (s: string) => JSON.stringify(s);
  const what = (a: ModuleArg) => `${a.role} '${a.name}'`;
  const shapeText = (a: ModuleArg) => `[${a.shape.map((d) => formatSize(d)).join(", ")}]`;
  const found = (dims: readonly string[]) => dims.map((d) => `"${d} = " + size_${d}`).join(' + ", " + ');
  out(`function ${name}(args${T(": unknown")})${T(": void")} {`);
  out(`  if (args === null || typeof args !== "object") ${notObject}`);
  out(`  const given = args${T(" as Record<string, unknown>")};`);
  for (const { dim, arg, rest, power } of order) {
    const name = quote(what(arg));
    const count = `${formatSize(productOf(arg.shape))} numbers (shape ${shapeText(arg)}, row-major)`;
    out(`  {`, `    const n = lengthOf(given[${quote(arg.name)}], ${name}, ${quote(count)});`);
    const r = moduleSize(rest);
    const notOfShape = `throw new RangeError(${quote(file)} + ": ${what(arg)} has " + n + " elements, which its shape ${shapeText(arg)} cannot have");`;
    if (power > 1) {
      out(`    size_${dim} = Math.round(Math.pow(n / (${r}), ${1 / power}));`);
      out(`    if (${Array(power).fill(`size_${dim}`).join(" * ")} * (${r}) !== n) ${notOfShape}`);
    } else if (rest !== 1) {
      out(`    if (n % (${r}) !== 0) throw new RangeError(${quote(file)} + ": ${what(arg)} has " + n + " elements, not a multiple of " + (${r}) + " as its shape ${shapeText(arg)} needs");`);
      out(`    size_${dim} = n / (${r});`);
    } else out(`    size_${dim} = n;`);
    out(`    if (size_${dim} < 1) throw new RangeError(${quote(file)} + ": ${what(arg)} has " + n + " elements, so ${dim} = " + size_${dim} + "; a dim must be at least 1");`);
    out(`  }`);
  }
  for (const arg of list) {
    if (arg.shape.every(isKnown) || order.some((o) => o.arg === arg)) continue;
    const dims = [...new Set(arg.shape.flatMap((d) => (isKnown(d) ? [] : d.terms.flatMap(([names]) => names))))].sort();
    const sources = dims.map((d) => `'${order.find((o) => o.dim === d)!.arg.name}'`).join(", ");
    const size = moduleSize(productOf(arg.shape));
    out(
      `  {`,
      `    const n = lengthOf(given[${quote(arg.name)}], ${quote(what(arg))}, ${size});`,
      `    if (n !== ${size}) throw new RangeError(${quote(file)} + ": ${what(arg)} has " + n + " elements, but its shape ${shapeText(arg)} needs " + (${size}) + " with " + ${found(dims)} + " (from ${sources})");`,
      `  }`,
    );
  }
  for (const r of requirements) {
    const size = moduleSize(r.size);
    const dims = [...new Set(isKnown(r.size) ? [] : r.size.terms.flatMap(([names]) => names))].sort();
    out(`  if (${size} < ${r.atLeast}) throw new RangeError(${quote(file)} + ": ${r.what} needs ${formatSize(r.size)} >= ${r.atLeast}, got " + ${found(dims)});`);
  }
  out("}", "");
}
