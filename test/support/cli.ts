// Test support for the command line: the CLI runs from dist/cli/main.js, so tests that
// spawn it first make sure dist/ is not older than src/. Several test files may ask at
// once (vitest runs files in parallel workers), so the build takes a lock folder, and a
// worker that waited re-checks before building again. tsc's exit status is not trusted
// on its own (a type error elsewhere in src/ still emits JavaScript): what matters is
// that dist/cli/main.js is fresh afterwards.

import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const MAIN = join(ROOT, "dist", "cli", "main.js");

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestMtime(path));
    else if (entry.name.endsWith(".ts")) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function fresh(): boolean {
  try {
    return statSync(MAIN).mtimeMs >= newestMtime(join(ROOT, "src"));
  } catch {
    return false;
  }
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Build dist/ with `tsc -p .` unless it is already newer than every file in src/. */
export function ensureBuilt(): void {
  if (fresh()) return;
  const lock = join(ROOT, "dist", ".test-build-lock");
  mkdirSync(join(ROOT, "dist"), { recursive: true });
  const started = Date.now();
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // Another worker is building; a lock older than a minute is left over from a crash.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 60_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        /* gone already */
      }
      if (Date.now() - started > 90_000) throw new Error("timed out waiting for another test worker to build dist/");
      sleep(100);
    }
  }
  try {
    if (fresh()) return;
    const tsc = join(ROOT, "node_modules", ".bin", "tsc");
    const r = spawnSync(tsc, ["-p", "."], { cwd: ROOT, encoding: "utf8", timeout: 120_000 });
    if (!fresh()) throw new Error(`building dist/ with tsc failed (status ${r.status}):\n${r.stdout}\n${r.stderr}`);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

export interface CliRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run `node dist/cli/main.js ...args` and collect its output. */
export function gradc(args: string[], options: { cwd?: string; timeout?: number } = {}): CliRun {
  const r: SpawnSyncReturns<string> = spawnSync(process.execPath, [MAIN, ...args], {
    cwd: options.cwd ?? ROOT,
    encoding: "utf8",
    timeout: options.timeout ?? 30_000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Fresh empty folders for CLI tests, all under one temporary folder: `folder()` makes the
 * next one, `cleanup()` removes them all (call it from afterAll).
 */
export function tempFolders(prefix: string): { folder: () => string; cleanup: () => void } {
  let root: string | undefined;
  let n = 0;
  return {
    folder: () => {
      root ??= mkdtempSync(join(tmpdir(), prefix));
      const d = join(root, `t${n++}`);
      mkdirSync(d);
      return d;
    },
    cleanup: () => {
      if (root) rmSync(root, { recursive: true, force: true });
    },
  };
}
