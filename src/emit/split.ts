// Splitting long function bodies. A straight-line body of hundreds of thousands of
// statements (a long chain of scalar statements has no loop to become) is never optimized
// by V8 (61,440 bytes of bytecode at most) and can even overflow the stack on entry, one
// register per local. So a long body becomes a sequence of part functions of at most
// PART_LINES lines, called in order; a value computed in one part and used in another lives
// in a module-level Float64Array (the register file) instead of a local.
//
// The body comes from the straight-line emitter (emit/straight.ts; loop code is split on its
// IR, loops/passes/split.ts), whose top-level statements are `const t.. = ...;` and whose
// names are t<n>[_suffix] for values, a<n>/s<n> for arguments and seeds, a<n>_<k> for
// argument reads and b<n>/h<n> for aliases: this pass relies on exactly that, and reads
// names with a small identifier scanner (no regular expressions over generated code).

/** Bodies longer than this many lines are split. */
export const SPLIT_LINES = 1500;
/** Lines per part function. */
export const PART_LINES = 400;

export interface Part {
  name: string;
  /**
   * Names from the calling function it takes (argument and seed locals, `grad`, `outputs`), or
   * the tape interpreter's `tapeCode`, `tapeRegisters` and `first` (emit/tape.ts).
   */
  params: string[];
  lines: string[];
}

export interface SplitBody {
  /** Module-level declaration of the register file. */
  declarations: string[];
  /** The part functions, printed by the module printer (which knows the parameter types). */
  parts: Part[];
  /** The new body: the part calls, then the tail. */
  body: string[];
}

const isDigits = (x: string) => x.length > 0 && [...x].every((c) => c >= "0" && c <= "9");
/** `b12`, `h3`, `o0`, `g1` (buffer, holder, output and gradient aliases) or `a0_3`, `s1_0` (argument and seed reads). */
const isAliasName = (n: string) => ("bhog".includes(n[0]) && isDigits(n.slice(1))) || ("as".includes(n[0]) && n.includes("_") && isDigits(n.slice(1, n.indexOf("_"))) && isDigits(n.slice(n.indexOf("_") + 1)));
/** A value temporary: t<digits>, then any identifier characters. */
const isValueName = (n: string) => n[0] === "t" && n[1] >= "0" && n[1] <= "9";
const isIdentifierChar = (c: string) => (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || c === "_" || c === "$";

/** The name a line declares (`const x = ...` or `let x = ...`), or undefined. */
function declared(line: string, keywords = ["const ", "let "]): string | undefined {
  const keyword = keywords.find((k) => line.startsWith(k));
  if (!keyword) return undefined;
  let end = keyword.length;
  while (end < line.length && isIdentifierChar(line[end])) end++;
  return line.startsWith(" = ", end) && end > keyword.length ? line.slice(keyword.length, end) : undefined;
}
const aliasOf = (line: string) => {
  const n = declared(line, ["const "]);
  return n !== undefined && isAliasName(n) ? n : undefined;
};
const declarationOf = (line: string) => {
  const n = declared(line);
  return n !== undefined && isValueName(n) ? n : undefined;
};

/** `code` with each identifier replaced by `f`'s answer (the identifiers, when `f` only records). */
function mapIdentifiers(code: string, f: (name: string) => string): string {
  let out = "";
  for (let i = 0; i < code.length; ) {
    const c = code[i];
    if (isIdentifierChar(c) && !(i > 0 && isIdentifierChar(code[i - 1]))) {
      let end = i;
      while (end < code.length && isIdentifierChar(code[end])) end++;
      const word = code.slice(i, end);
      // A number (`1e5`, `0`) is not a name.
      out += c >= "0" && c <= "9" ? word : f(word);
      i = end;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}
/** The identifiers of the code of a line (not of its string literals and comment). */
function identifiers(line: string): string[] {
  const found: string[] = [];
  codeOnly(line, (code) => mapIdentifiers(code, (n) => (found.push(n), n)));
  return found;
}

/**
 * `body`: the function's statements; `tail`: how many final lines must stay in the function
 * (the stores); `name`: a prefix for the part functions; `context`: the names the parts may
 * take as parameters (argument and seed locals, `grad`, `outputs`).
 */
export function splitBody(body: string[], tail: number, name: string, context: string[]): SplitBody | undefined {
  if (body.length <= SPLIT_LINES) return undefined;
  let start = 0;
  while (start < body.length && aliasOf(body[start]) !== undefined) start++;
  const aliases = body.slice(0, start);
  const work = body.slice(start, body.length - tail);
  const stores = body.slice(body.length - tail);

  // Top-level statements (a braced loop is one), gathered into parts.
  const parts: string[][] = [[]];
  let depth = 0;
  for (const line of work) {
    const last = parts[parts.length - 1];
    if (depth === 0 && last.length >= PART_LINES) parts.push([]);
    parts[parts.length - 1].push(line);
    for (const ch of line) {
      if (ch === "{") depth++;
      else if (ch === "}") depth--;
    }
  }

  // Where each value is declared and where it is used.
  const declaredIn = new Map<string, number>();
  parts.forEach((lines, p) => {
    for (const line of lines) {
      const n = declarationOf(line);
      if (n !== undefined) declaredIn.set(n, p);
    }
  });
  const register = new Map<string, number>();
  const shared = (n: string) => {
    if (!register.has(n)) register.set(n, register.size);
  };
  const valueNames = (line: string) => identifiers(line).filter(isValueName);
  parts.forEach((lines, p) => {
    for (const line of lines) for (const n of valueNames(line)) if (declaredIn.has(n) && declaredIn.get(n) !== p) shared(n);
  });
  for (const line of stores) for (const n of valueNames(line)) if (declaredIn.has(n)) shared(n);

  const file = `${name}Registers`;
  const rewrite = (line: string) => {
    const n = declarationOf(line);
    const head = n !== undefined && register.has(n) ? `${file}[${register.get(n)}] = ${line.slice(line.indexOf(" = ") + 3)}` : line;
    return codeOnly(head, (code) => mapIdentifiers(code, (x) => (isValueName(x) && register.has(x) ? `${file}[${register.get(x)}]` : x)));
  };
  const declarations = [`const ${file} = new Float64Array(${Math.max(1, register.size)});`, ""];
  const functions: Part[] = [];
  const calls: string[] = [];
  const aliasNames = aliases.map((a) => aliasOf(a)!);
  const aliasTargets = aliases.map((a) => new Set(identifiers(a.slice(a.indexOf(" = ") + 3))));
  parts.forEach((lines, p) => {
    const names = new Set(lines.flatMap(identifiers));
    const neededAliases = aliases.filter((_, k) => names.has(aliasNames[k]));
    const params = context.filter((c) => names.has(c) || aliases.some((_, k) => names.has(aliasNames[k]) && aliasTargets[k].has(c)));
    functions.push({ name: `${name}Part${p}`, params, lines: [...neededAliases, ...lines.map(rewrite)] });
    calls.push(`${name}Part${p}(${params.join(", ")});`);
  });
  return { declarations, parts: functions, body: [...aliases, ...calls, ...stores.map(rewrite)] };
}

/**
 * Apply `f` to the code of a line, not to its string literals (source names are quoted
 * property keys, and may look like temporaries: `outputs["t1"]`) nor its `//` comment.
 */
function codeOnly(line: string, f: (code: string) => string): string {
  let result = "";
  let code = "";
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"') {
      let end = i + 1;
      while (end < line.length && line[end] !== '"') end += line[end] === "\\" ? 2 : 1;
      result += f(code) + line.slice(i, end + 1);
      code = "";
      i = end;
    } else if (c === "/" && line[i + 1] === "/") {
      return result + f(code) + line.slice(i);
    } else code += c;
  }
  return result + f(code);
}
