// The gradc contender: compiles a .expr program with the project's CLI into a module and imports
// it. The CLI is dist/cli/main.js (built by `npm run build`), or the file named by the GRADC_CLI
// environment variable, to benchmark another build.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './report.mjs';

export const CLI = path.resolve(ROOT, process.env.GRADC_CLI ?? 'dist/cli/main.js');

/** Why gradc cannot be used (a sentence), or undefined when its CLI is there. */
export function gradcMissing() {
  if (existsSync(CLI)) return undefined;
  return `${path.relative(ROOT, CLI)} not found (run \`npm run build\` first)`;
}

const MAX_RSS = /\n@max-rss-kib (\d+)\n$/;

/**
 * Runs `node [--import lib/max-rss.mjs] <script> <args>` from the repository root. Returns
 * { ok, ms, maxRssKiB, stdout, stderr, failure }: ms is the wall time of the whole child process,
 * maxRssKiB its peak memory (with `measureMemory`), failure a few words on why it failed.
 */
export function runNode(script, args, { timeoutMs = 120_000, measureMemory = false } = {}) {
  const preload = measureMemory ? ['--import', new URL('./max-rss.mjs', import.meta.url).href] : [];
  const start = performance.now();
  const run = spawnSync(process.execPath, [...preload, script, ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 * 1024 * 1024,
  });
  const ms = performance.now() - start;
  const rss = MAX_RSS.exec(run.stderr ?? '');
  const stderr = (rss ? run.stderr.slice(0, rss.index) : run.stderr ?? '').trim();
  let failure;
  if (run.error) failure = run.error.code === 'ETIMEDOUT' ? `timed out after ${timeoutMs / 1000} s` : String(run.error);
  else if (run.status !== 0) failure = `exit status ${run.status ?? run.signal}`;
  return { ok: !failure, ms, maxRssKiB: rss ? Number(rss[1]) : undefined, stdout: run.stdout, stderr, failure };
}

/** A failed run in one line: why, and the first line of what it printed on stderr. */
export const failureLine = (run) => `${run.failure}${run.stderr ? `: ${run.stderr.split('\n')[0]}` : ''}`;

/** `gradc compile <input> -o <output>` (paths relative to the repository root): see runNode. */
export function compileExpr(input, output, options) {
  mkdirSync(path.dirname(path.resolve(ROOT, output)), { recursive: true });
  return runNode(CLI, ['compile', input, '-o', output], options);
}

/** Imports a generated module (a path relative to the repository root). */
export function importGenerated(file) {
  return import(pathToFileURL(path.resolve(ROOT, file)).href);
}
