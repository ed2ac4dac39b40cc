// Run-time sizes against fixed sizes (`npm run bench:dims`): each model compiled twice, once
// with its row count a const and once with `dim N`, one backwardInto call each, in one
// process (interleaved rounds, medians, paired ratios). The dim form's code does not depend
// on N; what it gives up is what needs the number (short dim axes written out, unrolling by
// 4 and carried sums on dim axes). Options: --quick (a smoke run; RESULTS.md untouched).
import { parseArgs } from 'node:util';
import { batchOf } from './lib/contenders.mjs';
import { commandLine, formatNs, formatRatio, machineLine, markdownTable, writeResultsSection } from './lib/report.mjs';
import { pairedRatio, timeUnits } from './lib/timing.mjs';
import { CHAIN, chainArgs, chainRows, chainScalar, chainSlices, compileAndImport, netArgs, netPerRow, netWhole } from './v2/models.mjs';

const { values: options } = parseArgs({ options: { quick: { type: 'boolean' } } });
const settings = options.quick
  ? { rounds: 6, batchMs: 5, slowStride: 1, minWarmupMs: 200, maxWarmupMs: 1000 }
  : { rounds: 30, batchMs: 10, slowStride: 1, minWarmupMs: 1500, maxWarmupMs: 6000 };
console.log(`run-time sizes: ${machineLine()}`);

/** The same program with its `const N = n` made a `dim N`. */
const withDim = (source) => {
  const sized = source.replace(/^const N = \d+$/m, 'dim N');
  if (sized === source) throw new Error('no const N to make a dim');
  return sized;
};

const MODELS = [
  ['CS231n net, whole matrices, N = 300', netWhole(300), netArgs(300)],
  ['CS231n net, a def per row, N = 300', netPerRow(300), netArgs(300)],
  [`spring chain, rows and a def, N = ${CHAIN}`, chainRows(), chainArgs().rows],
  [`spring chain, slices, N = ${CHAIN}`, chainSlices(), chainArgs().rows],
  [`spring chain, scalar coordinates, N = ${CHAIN}`, chainScalar(), chainArgs().scalar],
];

const units = [];
const sizes = new Map();
for (const [k, [title, source, args]] of MODELS.entries()) {
  const fixed = await compileAndImport(source, `model${k}-fixed`);
  const sized = await compileAndImport(withDim(source), `model${k}-dim`);
  sizes.set(k, [fixed.code.length, sized.code.length]);
  const holders = (mod) => {
    const n = mod.sizesOf ? mod.sizesOf(args) : undefined;
    return { g: mod.createGrad(n), o: mod.createOutputs(n) };
  };
  const [hf, hs] = [holders(fixed.mod), holders(sized.mod)];
  fixed.mod.backwardInto(args, undefined, hf.g, hf.o);
  sized.mod.backwardInto(args, undefined, hs.g, hs.o);
  let worst = 0;
  for (const name of Object.keys(hf.g)) {
    const [a, b] = [hf.g[name], hs.g[name]];
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1e-9, Math.abs(a[i])));
  }
  console.log(`check ${title}: largest relative difference of the gradients ${worst.toExponential(1)}`);
  if (!(worst < 1e-9)) throw new Error(`${title}: the dim form disagrees with the fixed one`);
  units.push({ id: `${k}-fixed`, batch: batchOf({ m: fixed.mod }, 'm.backwardInto(a, undefined, g, o)', { a: args, ...hf }) });
  units.push({ id: `${k}-dim`, batch: batchOf({ m: sized.mod }, 'm.backwardInto(a, undefined, g, o)', { a: args, ...hs }) });
}
const t = timeUnits(units, settings);
const rows = MODELS.map(([title], k) => [
  title,
  sizes.get(k).map((n) => n.toLocaleString('en-US')).join(' / '),
  formatNs(t.get(`${k}-fixed`).median),
  formatNs(t.get(`${k}-dim`).median),
  formatRatio(pairedRatio(t.get(`${k}-dim`), t.get(`${k}-fixed`))),
]);
const table = markdownTable(['backward', 'module bytes (fixed / dim)', 'fixed N', 'dim N', 'dim / fixed'], rows, ['l', 'r', 'r', 'r', 'r']);
console.log(`\n${table}`);
if (!options.quick) {
  const file = writeResultsSection('dims', ['## Run-time sizes against fixed sizes (bench/dims.mjs)', '', `\`${commandLine()}\`: ${machineLine()}`, '', table, ''].join('\n'));
  console.log(`wrote ${file}`);
}
