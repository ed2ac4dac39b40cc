// Warm-up (`npm run bench:warmup`): every JavaScript function's first calls run in V8's
// interpreter; what gradc must not add is the extra warm-up of huge or unusual functions. Each
// model and form runs in a fresh process (bench/v2/warmup-child.mjs), so V8's state does not carry
// over: the mean time of its first 100 backward calls, of calls 100-9,999 and the steady state,
// and each against the hand-written code's.
// Options: --quick (a smoke run; RESULTS.md untouched).
import { parseArgs } from 'node:util';
import { runNode } from './lib/gradc.mjs';
import { commandLine, formatNs, formatRatio, machineLine, markdownTable, writeResultsSection } from './lib/report.mjs';

const { values: options } = parseArgs({ options: { quick: { type: 'boolean' } } });
const MODELS = [
  ['net', 'spiral net, 300 rows', ['whole', 'perRow']],
  ['chain', 'spring chain, 500 particles', ['rows', 'slices', 'scalar']],
  ['cloth', 'cloth, 16 x 16', ['rows', 'slices', 'scalar']],
];
console.log(`warm-up: ${machineLine()}`);
const rows = [];
for (const [model, title, forms] of MODELS) {
  const results = {};
  for (const form of ['hand', ...forms]) {
    const run = runNode('bench/v2/warmup-child.mjs', [model, form], { timeoutMs: 300_000 });
    if (!run.ok) throw new Error(`${model} ${form}: ${run.failure}\n${run.stderr}`);
    results[form] = JSON.parse(run.stdout.trim().split('\n').pop());
    const r = results[form];
    console.log(`${model} ${form}: first 100 ${formatNs(r.first)} ns, 100-9,999 ${formatNs(r.next)} ns, steady ${formatNs(r.steady)} ns`);
  }
  const h = results.hand;
  for (const form of ['hand', ...forms]) {
    const r = results[form];
    rows.push([`${title}: ${form === 'hand' ? 'hand-written' : `gradc, ${form}`}`, formatNs(r.first / 1000), formatNs(r.next / 1000), formatNs(r.steady / 1000), formatRatio(r.first / h.first), formatRatio(r.next / h.next), formatRatio(r.steady / h.steady)]);
  }
}
const table = markdownTable(
  ['backward, fresh process', 'calls 0-99 us', 'calls 100-9,999 us', 'steady us', 'x hand 0-99', 'x hand 100-9,999', 'x hand steady'],
  rows,
  ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
);
console.log(`\n${table}`);
if (!options.quick) console.log(`wrote ${writeResultsSection('warmup', ['## Warm-up (bench/warmup.mjs)', '', `\`${commandLine()}\`: ${machineLine()}`, '', 'One process per row; times are means over the calls named (steady: the median of 15 later batches).', '', table].join('\n'))}`);
