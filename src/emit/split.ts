// Splitting long function bodies. A straight-line body of hundreds of thousands of
// statements (a long chain of scalar statements has no loop to become) is never optimized
// by V8 (61,440 bytes of bytecode at most) and can even overflow the stack on entry, one
// register per local. So a long body becomes a sequence of part functions of at most
// PART_LINES lines, called in order; a value computed in one part and used in another lives
// in a module-level Float64Array (the register file) instead of a local.
//
// The body comes from our own emitters, whose top-level statements are `const t.. = ...;`,
// `let t.. = ...;`, assignments and braced loops, and whose names are t<n>[_suffix] for
// values, a<n>/s<n> for arguments and seeds, a<n>_<k> for hoisted argument reads and
// b<n>/h<n> for buffer and holder aliases: this pass relies on exactly that.

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

const ALIAS = /^const ([bhog]\d+|[as]\d+_\d+) = /;
const DECLARATION = /^(?:const|let) (t\w+) = /;
const VALUE_NAME = /\bt\d+\w*\b/g;

/**
 * `body`: the function's statements; `tail`: how many final lines must stay in the function
 * (the stores); `name`: a prefix for the part functions; `context`: the names the parts may
 * take as parameters (argument and seed locals, `grad`, `outputs`).
 */
export function splitBody(body: string[], tail: number, name: string, context: string[]): SplitBody | undefined {
  if (body.length <= SPLIT_LINES) return undefined;
  let start = 0;
  while (start < body.length && ALIAS.test(body[start])) start++;
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
      const m = DECLARATION.exec(line);
      if (m) declaredIn.set(m[1], p);
    }
  });
  const register = new Map<string, number>();
  const shared = (n: string) => {
    if (!register.has(n)) register.set(n, register.size);
  };
  const valueNames = (line: string) => {
    const found: string[] = [];
    codeOnly(line, (code) => {
      for (const m of code.matchAll(VALUE_NAME)) found.push(m[0]);
      return code;
    });
    return found;
  };
  parts.forEach((lines, p) => {
    for (const line of lines) for (const n of valueNames(line)) if (declaredIn.has(n) && declaredIn.get(n) !== p) shared(n);
  });
  for (const line of stores) for (const n of valueNames(line)) if (declaredIn.has(n)) shared(n);

  const file = `${name}Registers`;
  const rewrite = (line: string) =>
    codeOnly(line.replace(DECLARATION, (whole, n: string) => (register.has(n) ? `${file}[${register.get(n)}] = ` : whole)), (code) =>
      code.replace(VALUE_NAME, (n) => (register.has(n) ? `${file}[${register.get(n)}]` : n)),
    );
  const declarations = [`const ${file} = new Float64Array(${Math.max(1, register.size)});`, ""];
  const functions: Part[] = [];
  const calls: string[] = [];
  parts.forEach((lines, p) => {
    const text = lines.join("\n");
    const used = context.filter((c) => new RegExp(`\\b${c}\\b`).test(text) || aliases.some((a) => a.includes(` = ${c}`) && text.includes(a.slice(6, a.indexOf(" =", 6)))));
    const neededAliases = aliases.filter((a) => new RegExp(`\\b${a.slice(6, a.indexOf(" =", 6))}\\b`).test(text));
    const params = context.filter((c) => used.includes(c) || neededAliases.some((a) => new RegExp(`\\b${c}\\b`).test(a.slice(a.indexOf("=")))));
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
