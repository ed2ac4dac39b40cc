// Long bodies split into part functions. V8 never optimizes a function over 61,440 bytes of
// bytecode, and a body of hundreds of thousands of statements can overflow the stack on
// entry, so a long body becomes part functions of at most PART_LINES printed lines, called
// in order. A top-level local declared in one part and used in another (or by the stores
// that stay in the calling function) lives in a module-level register file instead:
// `backwardRegisters[3]`. What each part reads and declares comes from the IR's read and
// write sets; the printer only counts the lines of each statement.

import { PART_LINES, SPLIT_LINES, type Part } from "../../emit/split.js";
import { accesses, lit, load, mapExpr, mapStmts, type Buffer, type Expr, type Stmt } from "../ir.js";
import type { Printer } from "../print.js";

export interface SplitInput {
  /** Aliases of module buffers and holders (kept in the calling function, copied into parts that use them). */
  aliases: readonly Buffer[];
  /** Locals read once per call (argument elements), likewise. */
  prelude: readonly Stmt[];
  body: readonly Stmt[];
  /** What stays after the part calls. */
  stores: readonly Stmt[][];
}

export interface SplitResult {
  body: Stmt[];
  stores: Stmt[][];
  parts: { name: string; params: string[]; aliases: Buffer[]; body: Stmt[] }[];
  /** The register file, when a value crosses parts. */
  registers: Buffer;
}

/**
 * `name`: the function's name (parts are `${name}Part${k}`); `context`: the calling
 * function's locals a part may take as parameters (`a0`, `s0`, `grad`, `outputs`, dims `$N`).
 */
export function splitLongBody(f: SplitInput, name: string, context: readonly string[], printer: Printer): SplitResult | undefined {
  const lines = f.body.map((s) => {
    const out: string[] = [];
    printer.stmt(s, "", out);
    return out.length;
  });
  const total = lines.reduce((a, b) => a + b, 0);
  if (total <= SPLIT_LINES) return undefined;
  // Top-level statements gathered into parts.
  const groups: Stmt[][] = [[]];
  let size = 0;
  f.body.forEach((s, k) => {
    if (size >= PART_LINES) {
      groups.push([]);
      size = 0;
    }
    groups[groups.length - 1].push(s);
    size += lines[k];
  });

  // Where each top-level local is declared, and which parts (or the stores) use it.
  const declaredIn = new Map<string, number>();
  groups.forEach((g, p) => {
    for (const s of g) if (s.k === "let") declaredIn.set(s.name, p);
  });
  const register = new Map<string, number>();
  const share = (n: string) => {
    if (!register.has(n)) register.set(n, register.size);
  };
  const usedBy = groups.map((g) => accesses(g));
  usedBy.forEach((a, p) => {
    for (const n of [...a.readLocals, ...a.writtenLocals]) if (declaredIn.has(n) && declaredIn.get(n) !== p) share(n);
  });
  const storeUses = accesses(f.stores.flat());
  for (const n of storeUses.readLocals) if (declaredIn.has(n)) share(n);

  const registers: Buffer = { name: `${name}Registers`, kind: "holder", size: Math.max(1, register.size) };
  const viaRegister = (e: Expr): Expr => (e.k === "local" && register.has(e.name) ? load(registers, lit(register.get(e.name)!)) : e);
  const rewrite = (body: readonly Stmt[]): Stmt[] =>
    mapStmts(
      body,
      (e) => mapExpr(e, viaRegister),
      (s): Stmt =>
        (s.k === "let" || s.k === "assign") && register.has(s.name)
          ? { k: "store", buffer: registers, index: lit(register.get(s.name)!), value: s.value, op: s.k === "let" ? "=" : s.op }
          : s,
    );

  const preludeNames = new Map(f.prelude.map((s) => [(s as { name: string }).name, s]));
  const parts = groups.map((g, p) => {
    const a = usedBy[p];
    const buffers = new Set(a.buffers.map((x) => x.buffer.name));
    const prelude = [...a.readLocals].filter((n) => preludeNames.has(n)).map((n) => preludeNames.get(n)!);
    for (const x of accesses(prelude).buffers) buffers.add(x.buffer.name);
    const aliases = f.aliases.filter((b) => buffers.has(b.name));
    // Dims (`$N`) go to every part: loop bounds, sizes and index strides read them as
    // sizes, not as locals, so the read sets do not show them.
    const params = context.filter((c) => c.startsWith("$") || buffers.has(c) || a.readLocals.has(c) || aliases.some((b) => b.source?.startsWith(`${c}[`)));
    return { name: `${name}Part${p}`, params, aliases, body: [...prelude, ...rewrite(g)] };
  });
  const calls: Stmt[] = parts.map((p) => ({ k: "call", name: p.name, args: p.params }));
  return { body: calls, stores: f.stores.map(rewrite), parts, registers };
}

export type { Part };
