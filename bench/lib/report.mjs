// Output of the benchmark scripts: number formats, Markdown tables, the machine description,
// and bench/RESULTS.md, in which each script owns one section between two marker comments.
import { existsSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BENCH_DIR = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
export const ROOT = path.dirname(BENCH_DIR);
const RESULTS = path.join(BENCH_DIR, 'RESULTS.md');

/** 1234567.8 -> "1,234,568"; below 100 one decimal ("18.3"). */
export function formatNs(ns) {
  if (!Number.isFinite(ns)) return '–';
  return ns < 100 ? ns.toFixed(1) : Math.round(ns).toLocaleString('en-US');
}

/** A ratio with three significant digits and no exponent: 0.00123, 1.23, 1,230. */
export function formatRatio(r) {
  if (!Number.isFinite(r)) return '–';
  if (r >= 1000) return Math.round(r).toLocaleString('en-US');
  return r.toPrecision(3);
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** A Markdown table; `align` has one 'l' or 'r' per column. */
export function markdownTable(header, rows, align) {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => String(row[c]).length)));
  const line = (cells) =>
    `| ${cells.map((cell, c) => (align[c] === 'r' ? String(cell).padStart(widths[c]) : String(cell).padEnd(widths[c]))).join(' | ')} |`;
  const rule = `| ${widths.map((w, c) => (align[c] === 'r' ? `${'-'.repeat(w - 1)}:` : '-'.repeat(w))).join(' | ')} |`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** One line describing the machine, Node and the date. */
export function machineLine() {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? 'unknown CPU';
  return `${model}, ${cpus.length} cores (${os.platform()} ${os.arch()}), Node ${process.version} (V8 ${process.versions.v8}), ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

/** The command that ran this script, as typed (npm run NAME when npm started it). */
export function commandLine() {
  const own = `node ${path.relative(ROOT, process.argv[1])}${process.argv.length > 2 ? ` ${process.argv.slice(2).join(' ')}` : ''}`;
  const script = process.env.npm_lifecycle_event;
  return script ? `npm run ${script} (${own})` : own;
}

/**
 * Replaces the section `id` of bench/RESULTS.md (between `<!-- id:begin -->` and `<!-- id:end -->`)
 * with `markdown`, keeping the other sections; creates the file when missing. Written whole.
 */
export function writeResultsSection(id, markdown) {
  const begin = `<!-- ${id}:begin -->`;
  const end = `<!-- ${id}:end -->`;
  const block = `${begin}\n${markdown.trim()}\n${end}`;
  let text = existsSync(RESULTS)
    ? readFileSync(RESULTS, 'utf8')
    : '# gradc benchmark results\n\nWritten by the scripts in bench/: each run replaces its own section. Do not edit by hand.\n';
  const from = text.indexOf(begin);
  const to = text.indexOf(end);
  text = from >= 0 && to > from ? text.slice(0, from) + block + text.slice(to + end.length) : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(`${RESULTS}.tmp`, text);
  renameSync(`${RESULTS}.tmp`, RESULTS);
  return path.relative(ROOT, RESULTS);
}
