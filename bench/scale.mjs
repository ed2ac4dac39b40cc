// How gradc scales with program size (`npm run bench:scale`): dense layers
// `total = sum(tanh(W @ x + b))` of growing width n, from about 1e3 to 1e6 scalar operations
// (2n^2 + 2n - 1 in the forward pass), written as .expr text into a temporary directory. For each:
// compile time and peak memory of the compiler (a child process, its max RSS read at exit),
// generated module size, then in another child (lib/scale-child.mjs) import time, first call,
// a check against the hand-written dense layer (hand/dense.mjs) and the time per scalar operation
// of backwardInto/forwardInto, beside the hand-written one's. Writes its section of RESULTS.md.
// Options: --max=OPS (skip the sizes above OPS), --timeout=SECONDS (per compile and per timing child,
// default 300), --keep (keep the temporary directory). Needs the CLI (see lib/gradc.mjs).
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { denseOperations, denseSource } from './hand/dense.mjs';
import { compileExpr, failureLine, gradcMissing, runNode } from './lib/gradc.mjs';
import { commandLine, formatBytes, machineLine, markdownTable, writeResultsSection } from './lib/report.mjs';

const TARGETS = [1e3, 3e3, 1e4, 3e4, 1e5, 3e5, 1e6];

const { values: options } = parseArgs({
  options: { max: { type: 'string' }, timeout: { type: 'string', default: '300' }, keep: { type: 'boolean' } },
});
const maxOps = options.max ? Number(options.max) : Infinity;
const timeoutMs = Number(options.timeout) * 1000;

const started = performance.now();
console.log(`gradc scale benchmark: ${machineLine()}`);
const absent = gradcMissing();
if (absent) {
  console.log(`NOTE: nothing to measure: ${absent}. bench/RESULTS.md left as it is.`);
  process.exit(0);
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'gradc-scale-'));
const baseline = runNode('-e', ['0'], { measureMemory: true });
console.log(`node startup alone: ${baseline.ms.toFixed(0)} ms, ${(baseline.maxRssKiB / 1024).toFixed(0)} MiB peak RSS`);

const ms = (x) => (x >= 10_000 ? `${(x / 1000).toFixed(1)} s` : `${x.toFixed(x < 10 ? 1 : 0)} ms`);
const perOp = (ns, ops) => (ns === undefined ? '–' : (ns / ops).toPrecision(3));
const ratio = (a, b) => (a === undefined || b === undefined ? '–' : (a / b).toPrecision(3));
const rows = [];
const notes = [];
for (const target of TARGETS) {
  const n = Math.round(Math.sqrt(target / 2));
  const ops = denseOperations(n);
  if (target > maxOps) break;
  const source = path.join(dir, `dense${n}.expr`);
  const output = path.join(dir, `dense${n}.mjs`);
  writeFileSync(source, denseSource(n));
  process.stdout.write(`width ${n} (${ops.toLocaleString('en-US')} ops): compiling... `);
  const compiled = compileExpr(source, output, { timeoutMs, measureMemory: true });
  const row = [ops.toLocaleString('en-US'), String(n), ms(compiled.ms), compiled.maxRssKiB ? `${(compiled.maxRssKiB / 1024).toFixed(0)} MiB` : '–'];
  if (!compiled.ok) {
    console.log(`FAILED (${compiled.failure}):\n${compiled.stderr}`);
    notes.push(`width ${n}: compile FAILED (${failureLine(compiled)})`);
    rows.push([...row, ...Array(8).fill('–')]);
    continue;
  }
  row.push(formatBytes(statSync(output).size));
  process.stdout.write(`${ms(compiled.ms)}; timing... `);
  const timed = runNode('bench/lib/scale-child.mjs', [output, String(n)], { timeoutMs });
  let figures;
  try {
    figures = timed.ok ? JSON.parse(timed.stdout.trim().split('\n').pop()) : undefined;
  } catch {
    figures = undefined;
  }
  if (!figures) {
    console.log(`FAILED (${timed.failure ?? 'no figures printed'}):\n${timed.stderr}`);
    notes.push(`width ${n}: timing FAILED (${timed.ok ? 'no figures printed' : failureLine(timed)})`);
    rows.push([...row, ...Array(7).fill('–')]);
    continue;
  }
  const { importMs, firstCallMs, check, ns, drift } = figures;
  if (!check.ok) notes.push(`width ${n}: gradc's module FAILED its check (${check.error} at ${check.where}), not timed`);
  for (const [id, d] of Object.entries(drift)) {
    if (d < 0.8) notes.push(`width ${n}: ${id} got faster while timed, even on a second try (second half of the rounds ${d.toFixed(2)}x the first): still warming up, or the load changed`);
  }
  rows.push([
    ...row,
    ms(importMs),
    ms(firstCallMs),
    perOp(ns['gradc.backward'], ops),
    perOp(ns['gradc.forward'], ops),
    perOp(ns['hand.backward'], ops),
    ratio(ns['gradc.backward'], ns['hand.backward']),
    ratio(ns['gradc.forward'], ns['hand.forward']),
  ]);
  console.log(check.ok ? 'done' : `check FAILED: ${check.where}`);
}
if (options.keep) console.log(`programs and modules kept in ${dir}`);
else rmSync(dir, { recursive: true, force: true });

const table = markdownTable(
  ['forward scalar ops', 'width', 'compile time', 'compile peak RSS', 'module size', 'import', 'first backward', 'backward ns/op', 'forward ns/op', 'hand backward ns/op', 'bwd ÷ hand', 'fwd ÷ hand'],
  rows,
  ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
);
console.log(`\n${table}`);
for (const note of notes) console.log(`- ${note}`);
const seconds = (performance.now() - started) / 1000;
console.log(`\nrun time: ${seconds.toFixed(0)} s`);

const written = writeResultsSection(
  'scale',
  `## Scale (\`npm run bench:scale\`)

Machine: ${machineLine()}.
Command: \`${commandLine()}\`; the run took ${seconds.toFixed(0)} s.

Programs: \`output total = sum(tanh(W @ x + b))\` with \`input x[n]\`, \`param W[n, n], b[n]\`
(2n² + 2n − 1 scalar operations forward). Compile time is the wall time of the whole
\`gradc compile\` process, including Node's own start-up (${baseline.ms.toFixed(0)} ms and
${(baseline.maxRssKiB / 1024).toFixed(0)} MiB peak RSS for \`node -e 0\` alone); peak RSS is the
compiler process's maximum resident set size. Import and first backward are measured in a fresh
process; ns/op is the median time per call (allocation-free forms, 15 interleaved rounds) divided
by the forward operation count, for gradc and for the hand-written dense layer.

${table}
${notes.map((n) => `\n- ${n}`).join('')}
`,
);
console.log(`written: ${written}`);
