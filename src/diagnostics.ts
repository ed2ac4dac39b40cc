// Diagnostics are data: collected, never thrown across stages, rendered once at the edge
// (CLI, library). A stage reports with `report(code, message, span)`; `renderDiagnostic`
// turns the span into `file:line:col`, the source line and a caret.

import type { Span } from "./syntax/ast.js";

export interface Diagnostic {
  /** Stable code, e.g. `E0101`; see the catalogue in grammar/reference.md. */
  code: string;
  message: string;
  span: Span;
}

export interface Location {
  line: number; // from 1
  column: number; // from 1, in Unicode code points, a tab counting as one
  lineText: string;
}

/** Line and column of a UTF-16 offset. Lines end at "\n" (a preceding "\r" is dropped from the text). */
export function locate(source: string, offset: number): Location {
  const at = Math.max(0, Math.min(offset, source.length));
  let lineStart = source.lastIndexOf("\n", at - 1) + 1;
  let line = 1;
  for (let i = source.indexOf("\n"); i !== -1 && i < lineStart; i = source.indexOf("\n", i + 1)) line++;
  let lineEnd = source.indexOf("\n", lineStart);
  if (lineEnd === -1) lineEnd = source.length;
  if (lineEnd > lineStart && source.charCodeAt(lineEnd - 1) === 13) lineEnd--;
  // A byte-order mark at the start of the file is not a column.
  const textStart = lineStart === 0 && source.charCodeAt(0) === 0xfeff ? 1 : lineStart;
  const column = countCodePoints(source, textStart, Math.max(textStart, at)) + 1;
  return { line, column, lineText: source.slice(textStart, lineEnd) };
}

function countCodePoints(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < to) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** Longest source line echoed under a diagnostic; a 1 MB line is cut around the caret. */
const MAX_ECHO = 200;

export function renderDiagnostic(file: string, source: string, d: Diagnostic): string {
  const loc = locate(source, d.span.start);
  // Only a window of the line around the caret is split into code points and echoed, so a
  // 1 MB line costs no more than a short one.
  const at = Math.max(0, Math.min(d.span.start, source.length));
  let lineStart = source.lastIndexOf("\n", at - 1) + 1;
  if (lineStart === 0 && source.charCodeAt(0) === 0xfeff) lineStart = 1;
  const caretUnits = Math.min(at - lineStart, loc.lineText.length);
  let from = Math.max(0, caretUnits - 2 * MAX_ECHO);
  if (from > 0 && isLowSurrogate(loc.lineText.charCodeAt(from))) from--;
  const around = Array.from(loc.lineText.slice(from, Math.min(loc.lineText.length, caretUnits + 2 * MAX_ECHO)));
  const caretInAround = countCodePoints(loc.lineText, from, caretUnits);
  const start = Math.max(0, Math.min(caretInAround - MAX_ECHO / 2, around.length - MAX_ECHO));
  const text = around.slice(start, start + MAX_ECHO);
  const caretAt = caretInAround - start;
  const prefix = from > 0 || start > 0 ? "..." : "";
  // Control characters (NUL, escapes) are shown as a visible placeholder so a diagnostic
  // never writes raw terminal escapes.
  const shown = text.map((ch) => (ch === "\t" ? " " : /[\u0000-\u001f\u007f]/.test(ch) ? "\u00b7" : ch)).join("");
  const spanWidth = countCodePoints(source, at, Math.min(d.span.end, source.length, at + 400));
  const width = Math.max(1, Math.min(text.length - caretAt, spanWidth, 80));
  return (
    `${file}:${loc.line}:${loc.column}: error: ${d.message}\n` +
    `  ${prefix}${shown}\n` +
    `  ${" ".repeat(prefix.length + caretAt)}${"^".repeat(width)}`
  );
}

const isLowSurrogate = (c: number) => c >= 0xdc00 && c <= 0xdfff;

/**
 * The candidate a misspelt name most likely meant, for "did you mean" suggestions: the same
 * name in another case, or the closest by edit distance (a swap of two neighbouring letters
 * counts as one edit) within 1 edit for names of 3 to 5 letters and 2 for longer ones.
 * Names of one or two letters get no guess: any other short name would be one edit away.
 */
export function closest(name: string, candidates: Iterable<string>): string | undefined {
  const limit = name.length <= 2 ? 0 : name.length <= 5 ? 1 : 2;
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    if (c === name) continue;
    const d = c.toLowerCase() === name.toLowerCase() ? 0 : editDistance(name, c, limit + 1);
    if (d > limit && d !== 0) continue;
    if (d < bestDistance || (d === bestDistance && best !== undefined && c < best)) {
      best = c;
      bestDistance = d;
    }
  }
  return best;
}

/** Optimal string alignment distance (Levenshtein plus adjacent swaps), capped at `cap`. */
function editDistance(a: string, b: string, cap: number): number {
  if (Math.abs(a.length - b.length) >= cap) return cap;
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, rows[i - 2][j - 2] + 1);
      row[j] = d;
    }
    rows.push(row);
  }
  return Math.min(cap, rows[a.length][b.length]);
}
