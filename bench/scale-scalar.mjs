// How the compiler scales when the graph itself grows (`npm run bench:scale-scalar`): the
// dense layers of scale.mjs have a handful of tensor nodes at any width, so here the
// programs are chains of n scalar statements, x_i = 0.5 x_(i-1) + 0.1 sin(x_(i-1)) + c_(i mod 3),
// whose graph has a node per operation. For each n: compile time and peak memory of the
// CLI (a child process), operation counts, module size, and backward ns per operation.
// Writes its section of bench/RESULTS.md.
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { runNode } from './lib/gradc.mjs';
import { machineLine, markdownTable, writeResultsSection } from './lib/report.mjs';

const SIZES = [300, 1_000, 3_000, 10_000, 30_000, 100_000];
/** When backward's time per operation is taken, in seconds of calling it. */
const MARKS_S = [3, 20, 60];
const dir = mkdtempSync(path.join(os.tmpdir(), 'gradc-scale-scalar-'));
const cli = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'dist', 'cli', 'main.js');
const started = performance.now();
console.log(`gradc scale (scalar chains): ${machineLine()}`);
const rows = [];
for (const n of SIZES) {
  const lines = ['param x0', 'param c[3]'];
  for (let i = 1; i <= n; i++) lines.push(`x${i} = 0.5 * x${i - 1} + 0.1 * sin(x${i - 1}) + c[${i % 3}]`);
  lines.push(`output f = x${n}`);
  const source = path.join(dir, `chain${n}.expr`);
  const out = path.join(dir, `chain${n}.mjs`);
  writeFileSync(source, lines.join('\n') + '\n');
  process.stdout.write(`n = ${n}: compiling... `);
  const run = runNode(cli, ['compile', source, '-o', out, '--stats'], { measureMemory: true, timeoutMs: 300_000 });
  if (!run.ok) {
    console.log(`failed: ${run.failure}`);
    rows.push([n.toLocaleString('en-US'), run.failure, '–', '–', '–', '–', ...MARKS_S.map(() => '–')]);
    continue;
  }
  const stats = /forward (\d+) operations, backward (\d+) operations/.exec(run.stdout);
  const form = /a tape/.test(run.stdout) ? 'tape' : /straight-line/.test(run.stdout) ? 'straight-line' : '?';
  const [forward, backward] = stats ? [Number(stats[1]), Number(stats[2])] : [NaN, NaN];
  const mod = await import(pathToFileURL(out).href);
  const args = { x0: 0.4, c: new Float64Array([0.3, -0.2, 0.7]) };
  const grad = mod.createGrad();
  // Large straight-line programs run in V8's baseline tiers until TurboFan, on one background
  // thread, has compiled their part functions, which can take a minute: the time per op is
  // taken over the second before the 3 s, 20 s and 60 s marks of calling backward.
  const start = performance.now();
  const at = [];
  for (const mark of MARKS_S) {
    while (performance.now() - start < (mark - 1) * 1000) mod.backwardInto(args, undefined, grad);
    const t0 = performance.now();
    let calls = 0;
    while (performance.now() - start < mark * 1000) {
      mod.backwardInto(args, undefined, grad);
      calls++;
    }
    at.push(((performance.now() - t0) * 1e6) / calls / backward);
  }
  console.log(`${(run.ms / 1000).toFixed(1)} s`);
  rows.push([
    n.toLocaleString('en-US'),
    (forward + backward).toLocaleString('en-US'),
    `${(run.ms / 1000).toFixed(2)} s`,
    `${((run.maxRssKiB ?? NaN) / 1024).toFixed(0)} MiB`,
    `${(statSync(out).size / 1024 / 1024).toFixed(1)} MiB`,
    form,
    ...at.map((ns) => ns.toFixed(2)),
  ]);
}
rmSync(dir, { recursive: true, force: true });
const table = markdownTable(
  ['statements', 'scalar operations (forward + backward)', 'compile time (CLI process)', 'compile peak RSS', 'module size', 'code', ...MARKS_S.map((s) => `backward ns/op at ${s} s`)],
  rows,
  ['r', 'r', 'r', 'r', 'r', 'l', ...MARKS_S.map(() => 'r')],
);
console.log('\n' + table);
writeResultsSection(
  'scale-scalar',
  `## Scale: long chains of scalar statements\n\n${machineLine()}. Command: \`npm run bench:scale-scalar\`. ` +
    `Programs of n statements \`x_i = 0.5 * x_(i-1) + 0.1 * sin(x_(i-1)) + c[i % 3]\`: the graph has a node per operation, ` +
    `there is no tensor work for loops, so the code is straight-line (split into part functions of 400 lines) up to ` +
    `20,000 backward operations and a tape beyond (src/emit/tape.ts). ` +
    `Backward ns per operation over the second before each mark of calling it without pause: V8 runs straight-line ` +
    `part functions in its baseline tiers until TurboFan has compiled them, one at a time.\n\n${table}\n`,
);
console.log(`run time: ${((performance.now() - started) / 1000).toFixed(0)} s`);
