// Module sizes and compile times (`npm run bench:sizes`): the batched net (per-row comprehension
// and whole-matrix form), `[b for i in 0..N]`, the spring chain with rows and a ring read through
// `(i + 1) % N`, at N = 10 to 100,000. A batched program's module must not grow with N (within
// 10%) and must compile in under a second; test/scale-v2.test.ts checks the same at N = 100,000.
// Options: --quick (a smoke run; RESULTS.md untouched).
import { parseArgs } from 'node:util';
import { commandLine, machineLine, markdownTable, writeResultsSection } from './lib/report.mjs';
import { broadcastRows, chainRows, compiler, netPerRow, netWhole, ringNext } from './v2/models.mjs';

const { values: options } = parseArgs({ options: { quick: { type: 'boolean' } } });
const SIZES = [10, 300, 3000, 100000];
const PROGRAMS = [
  ['net, per-row comprehension', netPerRow],
  ['net, whole-matrix form', netWhole],
  ['[b for i in 0..N]', broadcastRows],
  ['spring chain, rows and a def', chainRows],
  ['ring, x[(i + 1) % N] * x[i]', ringNext],
];
const compile = await compiler();
console.log(`sizes: ${machineLine()}`);
const rows = [];
let failed = false;
for (const [label, program] of PROGRAMS) {
  const sizes = [];
  const cells = [label];
  for (const N of SIZES) {
    const source = program(N);
    compile(source, { filename: 'size.expr', format: 'js' }); // warm the compiler itself
    const start = performance.now();
    const result = compile(source, { filename: 'size.expr', format: 'js' });
    const ms = performance.now() - start;
    if (!result.ok) throw new Error(`${label} at N = ${N}: ${result.diagnostics.map((d) => d.text).join('\n')}`);
    sizes.push(result.code.length);
    cells.push(`${(result.code.length / 1024).toFixed(1)} KiB, ${ms.toFixed(0)} ms`);
    failed ||= ms >= 1000;
  }
  const spread = Math.max(...sizes) / Math.min(...sizes) - 1;
  failed ||= spread > 0.1;
  cells.push(`${(100 * spread).toFixed(1)}%`);
  rows.push(cells);
}
const table = markdownTable(['program', ...SIZES.map((n) => `N = ${n.toLocaleString('en-US')}`), 'size spread'], rows, ['l', 'r', 'r', 'r', 'r', 'r']);
console.log(`\n${table}`);
if (failed) console.log('\nGOAL MISSED: a compile took a second or more, or sizes spread by more than 10%.');
if (!options.quick) console.log(`wrote ${writeResultsSection('sizes', ['## Module sizes and compile times (bench/sizes.mjs)', '', `\`${commandLine()}\`: ${machineLine()}`, '', 'Each cell: the module\'s size and the time of one compile (the second; the first warms the compiler).', '', table].join('\n'))}`);
process.exitCode = failed ? 1 : 0;
