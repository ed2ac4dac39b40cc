// Run-time sizes against fixed sizes (`npm run bench:dims`): each model compiled twice, once
// with its row count a const and once with `dim N`, one backwardInto call each, in one
// process (interleaved rounds, medians, paired ratios), then again after the dim modules ran
// at another size and came back (N -> M -> N). The dim form's code does not depend on N; what
// it gives up is what needs the number (see the text written with the tables). A second table
// times other forms of scratch buffers of run-time size (bench/lib/dim-forms.mjs) on a model
// that needs them. Options: --quick (a smoke run; RESULTS.md untouched).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { dimBufferForms } from './lib/dim-forms.mjs';
import { batchOf } from './lib/contenders.mjs';
import { commandLine, formatNs, formatRatio, machineLine, markdownTable, writeResultsSection } from './lib/report.mjs';
import { pairedRatio, timeUnits } from './lib/timing.mjs';
import { CHAIN, chainArgs, chainRows, chainScalar, chainSlices, compileAndImport, netArgs, netPerRow, netWhole } from './v2/models.mjs';
import { makeRng } from './lib/rng.mjs';

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

// [title, source, arguments at a given N, N, the other N of the resize]
const MODELS = [
  ['CS231n net, whole matrices, N = 300', netWhole(300), netArgs, 300, 200],
  ['CS231n net, a def per row, N = 300', netPerRow(300), netArgs, 300, 200],
  [`spring chain, rows and a def, N = ${CHAIN}`, chainRows(), (n) => chainArgs(n).rows, CHAIN, 300],
  [`spring chain, slices, N = ${CHAIN}`, chainSlices(), (n) => chainArgs(n).rows, CHAIN, 300],
  [`spring chain, scalar coordinates, N = ${CHAIN}`, chainScalar(), (n) => chainArgs(n).scalar, CHAIN, 300],
];

/** Holders for these arguments, and a batch of backwardInto calls. */
const unitOf = (id, mod, args) => {
  const n = mod.sizesOf ? mod.sizesOf(args) : undefined;
  const h = { g: mod.createGrad(n), o: mod.createOutputs(n) };
  return { id, batch: batchOf({ m: mod }, 'm.backwardInto(a, undefined, g, o)', { a: args, ...h }), holders: h };
};

/** Runs a dim module at `m` for a while (V8 sees the other size: buffers remade, code reoptimized), then once at `n`. */
const resizeAndBack = (mod, argsAt, n, m) => {
  for (const size of [m, n]) {
    const a = argsAt(size);
    const s = mod.sizesOf(a);
    const g = mod.createGrad(s);
    const o = mod.createOutputs(s);
    const start = performance.now();
    do mod.backwardInto(a, undefined, g, o);
    while (size === m && performance.now() - start < 200);
  }
};

/** Largest relative difference between two gradient holders. */
const worstDifference = (ga, gb) => {
  let worst = 0;
  for (const name of Object.keys(ga)) {
    const [a, b] = [ga[name], gb[name]];
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1e-9, Math.abs(a[i])));
  }
  return worst;
};

const units = [];
const sized = [];
const sizes = new Map();
for (const [k, [title, source, argsAt, n]] of MODELS.entries()) {
  const args = argsAt(n);
  const fixed = await compileAndImport(source, `model${k}-fixed`);
  const dim = await compileAndImport(withDim(source), `model${k}-dim`);
  sizes.set(k, [fixed.code.length, dim.code.length]);
  const [uf, ud] = [unitOf(`${k}-fixed`, fixed.mod, args), unitOf(`${k}-dim`, dim.mod, args)];
  fixed.mod.backwardInto(args, undefined, uf.holders.g, uf.holders.o);
  dim.mod.backwardInto(args, undefined, ud.holders.g, ud.holders.o);
  const worst = worstDifference(uf.holders.g, ud.holders.g);
  console.log(`check ${title}: largest relative difference of the gradients ${worst.toExponential(1)}`);
  if (!(worst < 1e-9)) throw new Error(`${title}: the dim form disagrees with the fixed one`);
  units.push(uf, ud);
  sized.push(dim.mod);
}
const first = timeUnits(units, settings);
MODELS.forEach(([, , argsAt, n, m], k) => resizeAndBack(sized[k], argsAt, n, m));
const again = timeUnits(units, settings);
const rows = MODELS.map(([title, , , n, m], k) => [
  title,
  sizes.get(k).map((b) => b.toLocaleString('en-US')).join(' / '),
  formatNs(first.get(`${k}-fixed`).median),
  formatNs(first.get(`${k}-dim`).median),
  formatRatio(pairedRatio(first.get(`${k}-dim`), first.get(`${k}-fixed`))),
  `${formatRatio(pairedRatio(again.get(`${k}-dim`), again.get(`${k}-fixed`)))} (N = ${m}, then ${n})`,
]);
const table = markdownTable(['backward', 'module bytes (fixed / dim)', 'fixed N', 'dim N', 'dim / fixed', 'after a resize'], rows, ['l', 'r', 'r', 'r', 'r', 'r']);
console.log(`\n${table}`);

// ---- forms of scratch buffers of run-time size, on a model that needs them ----------------

// A softmax over the rows: every row's exponentials are made before any can be divided, so
// the backward keeps buffers of 3 * N elements.
const FORMS_N = 500;
const FORMS_M = 300;
const columns = (head) => `${head}\nparam x[N, 3]\ninput y[N, 3]\noutput l = sum(softmax(x, axis=0) * y) + sum(x * x)\n`;
const columnArgs = (n) => {
  const rng = makeRng(11);
  return { x: Float64Array.from({ length: 3 * n }, () => rng.gaussian()), y: Float64Array.from({ length: 3 * n }, () => rng.uniform()) };
};
const FORMS = [
  ['let', 'module-level lets, remade by useSizes (what gradc prints)'],
  ['object', 'one state object of fixed shape, read into locals at entry'],
  ['kernel', 'buffers passed as arguments to an inner kernel'],
  ['closure', 'a closure per size, the buffers its consts'],
  ['resizable', 'const views of resizable ArrayBuffers'],
  ['constAt', `const buffers of the length at N = ${FORMS_N} (one size only)`],
];
const dir = mkdtempSync(path.join(os.tmpdir(), 'gradc-dim-forms-'));
const importCode = async (code, name) => {
  const file = path.join(dir, `${name}.mjs`);
  writeFileSync(file, code);
  return import(pathToFileURL(file).href);
};
const formArgs = columnArgs(FORMS_N);
const columnsFixed = await compileAndImport(columns(`const N = ${FORMS_N}`), 'columns-fixed');
const columnsDim = await compileAndImport(columns('dim N'), 'columns-dim');
const variants = dimBufferForms(columnsDim.code, FORMS_N);
const formUnits = [unitOf('fixed', columnsFixed.mod, formArgs)];
const formMods = {};
for (const [key] of FORMS) {
  formMods[key] = await importCode(variants[key], `columns-${key}`);
  const unit = unitOf(key, formMods[key], formArgs);
  formMods[key].backwardInto(formArgs, undefined, unit.holders.g, unit.holders.o);
  const worst = worstDifference(columnsFixed.mod.backward(formArgs).grad, unit.holders.g);
  if (!(worst < 1e-9)) throw new Error(`buffer form ${key} disagrees with the fixed module`);
  formUnits.push(unit);
}
rmSync(dir, { recursive: true, force: true });
const formsFirst = timeUnits(formUnits, settings);
for (const [key] of FORMS) if (key !== 'constAt') resizeAndBack(formMods[key], columnArgs, FORMS_N, FORMS_M);
const formsAgain = timeUnits(formUnits, settings);
const formRows = FORMS.map(([key, label]) => [
  label,
  formatNs(formsFirst.get(key).median),
  formatRatio(pairedRatio(formsFirst.get(key), formsFirst.get('fixed'))),
  key === 'constAt' ? '–' : formatRatio(pairedRatio(formsAgain.get(key), formsAgain.get('fixed'))),
]);
const formsTable = markdownTable(
  [`softmax over rows, N = ${FORMS_N}: backward, scratch buffers as`, 'dim N', 'x fixed', `after N = ${FORMS_M}, then ${FORMS_N}`],
  [['fixed N (const N = 500)', formatNs(formsFirst.get('fixed').median), '1.00', '1.00'], ...formRows],
  ['l', 'r', 'r', 'r'],
);
console.log(`\n${formsTable}`);

const TEXT = [
  'What a dim costs. The dim form runs the same loops with their bounds read from the arguments; what needs the number is',
  'given up: an axis whose size is a dim is a loop even when it would be short enough to write out (at most 4 steps), blocks',
  'and carried sums whose stride is a dim are not formed, the steps of a loop over a dim cannot be counted, so every loop',
  'long enough is unrolled by 4 (the fixed net keeps its 100-step L2 loop rolled as cold), `1 / N` is a division per call,',
  'and the module checks and reads the sizes at each call. How the compiler keeps that small: axes of fixed size inside',
  'a dim loop (the net\'s 100 hidden units, a particle\'s coordinates) are unrolled and strided as in the fixed form,',
  'loops over a dim are merged, carried and unrolled by 4 with a remainder loop like fixed ones, and the columns of an',
  '[N, 3] tensor laid end to end (`b[i + N]`, `b[i + 2 * N]`) keep to their iteration as with a const N. The largest cost is',
  'scratch buffers of dim size: they must be remade when N changes, so they are module-level `let`s, and V8 optimizes',
  'reads of a module-level `const` typed array better. No form we tried keeps the `const` speed across a resize (second',
  'table): a state object or a kernel taking the buffers as arguments runs as the `let`s do, a closure per size matches',
  '`const` at the first size but loses it for good once a second closure exists, and resizable ArrayBuffers are slower',
  'still. So the compiler avoids the buffers instead: loops are merged so that values stay in locals (a chain of',
  'constants moves ahead of the loop that needs it), a buffer that a row loop writes and reads in its own row becomes',
  'locals or one row (the net\'s hidden layer: 100 elements, a `const`), and only values that cross rows (a softmax over',
  'the rows) keep a buffer of dim size.',
];

if (!options.quick) {
  const file = writeResultsSection(
    'dims',
    ['## Run-time sizes against fixed sizes (bench/dims.mjs)', '', `\`${commandLine()}\`: ${machineLine()}`, '', table, '', formsTable, '', ...TEXT, ''].join('\n'),
  );
  console.log(`wrote ${file}`);
}
