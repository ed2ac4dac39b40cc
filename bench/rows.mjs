// Physics written with rows (`npm run bench:rows`): the spring chain (500 particles) and the
// 16 x 16 cloth, each as gradc compiles it from rows and a def, from slices of neighbours
// (p[1:] - p[:-1]) and from scalar coordinates (x[i], y[i]), against hand-written loops, one
// backward call each, in one process (interleaved rounds, medians, paired ratios).
// Options: --quick (a smoke run; RESULTS.md untouched).
import { parseArgs } from 'node:util';
import { batchOf } from './lib/contenders.mjs';
import { commandLine, formatNs, formatRatio, machineLine, markdownTable, writeResultsSection } from './lib/report.mjs';
import { pairedRatio, timeUnits } from './lib/timing.mjs';
import { CHAIN, CLOTH, chainArgs, chainRows, chainScalar, chainSlices, clothArgs, clothRows, clothScalar, clothSlices, compileAndImport, handSprings } from './v2/models.mjs';

const { values: options } = parseArgs({ options: { quick: { type: 'boolean' } } });
const settings = options.quick
  ? { rounds: 6, batchMs: 5, slowStride: 1, minWarmupMs: 200, maxWarmupMs: 1000 }
  : { rounds: 40, batchMs: 10, slowStride: 1, minWarmupMs: 1500, maxWarmupMs: 6000 };
console.log(`physics with rows: ${machineLine()}`);

const FORMS = [
  ['rows', 'gradc, rows and a def'],
  ['slices', 'gradc, slices p[1:] - p[:-1]'],
  ['scalar', 'gradc, scalar coordinates'],
  ['hand', 'hand-written loops'],
];

/** The rows layout's gradient, from x, y (and z) apart. */
function interleave(grad, names) {
  const n = grad[names[0]].length;
  const p = new Float64Array(n * names.length);
  names.forEach((name, c) => { for (let i = 0; i < n; i++) p[i * names.length + c] = grad[name][i]; });
  return p;
}

const sections = [];
for (const [model, title, sources, makeArgs, coords] of [
  ['chain', `spring chain, ${CHAIN} particles`, [chainRows(), chainSlices(), chainScalar()], chainArgs, ['x', 'y']],
  ['cloth', `cloth, ${CLOTH} x ${CLOTH} particles`, [clothRows(), clothSlices(), clothScalar()], clothArgs, ['x', 'y', 'z']],
]) {
  const args = makeArgs();
  const hand = handSprings(model, model === 'chain' ? CHAIN : CLOTH);
  const mods = { hand };
  const sizes = {};
  for (const [k, source] of sources.entries()) {
    const form = FORMS[k][0];
    const compiled = await compileAndImport(source, `${model}-${form}`);
    mods[form] = compiled.mod;
    sizes[form] = compiled.code.length;
  }
  const want = { g: hand.createGrad(), o: hand.createOutputs() };
  hand.backwardInto(args.rows, undefined, want.g, want.o);
  const units = [];
  for (const [form] of FORMS) {
    const mod = mods[form];
    const a = form === 'scalar' ? args.scalar : args.rows;
    const g = mod.createGrad(), o = mod.createOutputs();
    mod.backwardInto(a, undefined, g, o);
    const gp = form === 'scalar' ? interleave(g, coords) : g.p;
    let worst = Math.abs(o.energy - want.o.energy) / Math.abs(want.o.energy);
    for (let i = 0; i < gp.length; i++) worst = Math.max(worst, Math.abs(gp[i] - want.g.p[i]) / Math.max(1e-9, Math.abs(want.g.p[i])));
    console.log(`check ${model} ${form}: largest relative error ${worst.toExponential(1)}`);
    if (!(worst < 1e-8)) throw new Error(`${model} ${form} disagrees with the hand-written loops`);
    units.push({ id: form, batch: batchOf({ m: mod }, 'm.backwardInto(a, undefined, g, o)', { a, g, o }) });
    units.push({ id: `${form}-fwd`, batch: batchOf({ m: mod }, 'm.forwardInto(a, o)', { a, g, o }) });
  }
  const t = timeUnits(units, settings);
  const rows = FORMS.map(([form, label]) => [
    label,
    sizes[form] ? sizes[form].toLocaleString('en-US') : '–',
    formatNs(t.get(form).median),
    formatRatio(pairedRatio(t.get(form), t.get('hand'))),
    formatRatio(pairedRatio(t.get(form), t.get('scalar'))),
    formatRatio(pairedRatio(t.get(form), t.get(`${form}-fwd`))),
  ]);
  const table = markdownTable([`${title}: backward`, 'module bytes', 'ns/call', 'x hand-written', 'x scalar form', 'backward / forward'], rows, ['l', 'r', 'r', 'r', 'r', 'r']);
  console.log(`\n${table}`);
  sections.push(table);
}
if (!options.quick) {
  const file = writeResultsSection('rows', ['## Physics written with rows (bench/rows.mjs)', '', `\`${commandLine()}\`: ${machineLine()}`, '', ...sections.flatMap((s) => [s, ''])].join('\n'));
  console.log(`wrote ${file}`);
}
