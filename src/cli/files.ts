// File handling for the CLI: reading sources (bytes checked as UTF-8, so a bad byte is a
// diagnostic with a position, not mojibake) and writing outputs whole or not at all
// (a temporary file in the same folder, then a rename).

import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, basename, join } from "node:path";
import { renderDiagnostic } from "../diagnostics.js";

export type ReadResult = { ok: true; text: string } | { ok: false; message: string; offset?: number; text?: string };

export function readSource(path: string): ReadResult {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : code === "EACCES" ? "permission denied" : String(code ?? e);
    return { ok: false, message: `cannot read '${path}': ${why}` };
  }
  const bad = firstInvalidUtf8(bytes);
  if (bad !== -1) {
    const text = bytes.subarray(0, bad).toString("utf8");
    return { ok: false, message: `invalid UTF-8 (byte 0x${bytes[bad].toString(16).padStart(2, "0")}); .expr files are UTF-8 text`, offset: text.length, text: bytes.toString("utf8") };
  }
  return { ok: true, text: bytes.toString("utf8") };
}

/** Index of the first byte that is not part of a well-formed UTF-8 sequence, or -1. */
function firstInvalidUtf8(b: Uint8Array): number {
  let i = 0;
  while (i < b.length) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    let n: number;
    let min: number;
    if (c >= 0xc2 && c <= 0xdf) (n = 1), (min = 0x80);
    else if (c >= 0xe0 && c <= 0xef) (n = 2), (min = 0x800);
    else if (c >= 0xf0 && c <= 0xf4) (n = 3), (min = 0x10000);
    else return i;
    if (i + n >= b.length) return i;
    let cp = c & (0x3f >> n);
    for (let k = 1; k <= n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return -1;
}

let temporaries = 0;

/** An output that cannot be written: a message naming it, not a crash. */
export class WriteError extends Error {}

/**
 * Write each file whole: all to temporaries first, then renames, so a failure leaves the
 * old outputs. Ctrl-C during the writes is held until they are done and the temporaries
 * removed (a compile before them stops at once: nothing has been written yet).
 */
export function writeAll(files: readonly { path: string; text: string }[]): void {
  const staged: { temp: string; path: string }[] = [];
  let interrupted = false;
  const hold = () => {
    interrupted = true;
  };
  process.on("SIGINT", hold);
  process.on("SIGTERM", hold);
  let current = "";
  try {
    for (const f of files) {
      current = f.path;
      mkdirSync(dirname(f.path) || ".", { recursive: true });
      const temp = join(dirname(f.path), `.${basename(f.path)}.${process.pid}.${temporaries++}.tmp`);
      staged.push({ temp, path: f.path });
      writeFileSync(temp, f.text);
    }
    for (const s of staged) {
      current = s.path;
      renameSync(s.temp, s.path);
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new WriteError(`cannot write '${current}'${code ? ` (${code === "ENOTDIR" || code === "EEXIST" ? "a part of the path is a file, not a folder" : code === "EACCES" ? "permission denied" : code})` : ""}; nothing was written`);
  } finally {
    for (const s of staged) rmSync(s.temp, { force: true });
    process.off("SIGINT", hold);
    process.off("SIGTERM", hold);
    if (interrupted) process.exit(130);
  }
}

/** The message for a source that could not be read, with its position when it is bad UTF-8. */
export function readFailure(path: string, failure: Extract<ReadResult, { ok: false }>): string {
  if (failure.offset !== undefined && failure.text !== undefined)
    return renderDiagnostic(path, failure.text, { code: "E0100", message: failure.message, span: { start: failure.offset, end: failure.offset + 1 } });
  return `gradc: error: ${failure.message}`;
}
