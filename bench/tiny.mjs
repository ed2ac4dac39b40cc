// The tiny functions benchmark (`npm run bench:tiny`): geometry, physics and vision functions
// of a few dozen operations (bench/tiny/*.expr), called one at a time as constraint solvers and
// least-squares fits call them. Per function, in one process and interleaved rounds
// (lib/timing.mjs), the time of one call with its gradient:
//   - hand-written, struct: points as {x, y} objects in, a new object per gradient out;
//   - hand-written, flat: f(x, g, inputs) (bench/tiny/hand.mjs), the reference;
//   - gradc valueAndGradFlat, compiled as usual and with --no-checks;
//   - gradc backwardInto with Float64Array arguments and with plain arrays (holders made once).
// Every contender is checked against gradc's backward first. Each gradc unit imports its own
// copy of the module, so that its functions see one kind of argument only, as in a program
// that calls them one way (shared copies would mix Float64Array and array feedback).
// Ratios are medians of within-round ratios to the hand-written flat function. Writes its
// table to bench/RESULTS.md unless --quick or --only.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { batchOf } from './lib/contenders.mjs';
import { CLI, failureLine, gradcMissing, runNode } from './lib/gradc.mjs';
import { ROOT, commandLine, formatNs, formatRatio, machineLine, markdownTable, writeResultsSection } from './lib/report.mjs';
import { pairedRatio, timeUnits } from './lib/timing.mjs';
import { FUNCTIONS } from './tiny/hand.mjs';

const { values: options } = parseArgs({ options: { quick: { type: 'boolean' }, only: { type: 'string' } } });
const settings = options.quick
  ? { rounds: 6, batchMs: 3, slowStride: 1, minWarmupMs: 200, maxWarmupMs: 600 }
  : { rounds: 30, batchMs: 4, slowStride: 1, minWarmupMs: 1500, maxWarmupMs: 5000 };
const selected = options.only ? FUNCTIONS.filter((f) => options.only.split(',').includes(f.name)) : FUNCTIONS;
const missing = gradcMissing();
if (missing) {
  console.error(`bench:tiny needs gradc: ${missing}`);
  process.exit(1);
}
const sources = new Set(readdirSync(path.join(ROOT, 'bench', 'tiny')).filter((f) => f.endsWith('.expr')).map((f) => f.slice(0, -5)));
for (const f of FUNCTIONS) if (!sources.has(f.name)) throw new Error(`bench/tiny/${f.name}.expr is missing`);

const COLUMNS = [
  ['struct', 'hand-written, struct'],
  ['flat', 'hand-written, flat'],
  ['gradcFlat', 'gradc valueAndGradFlat'],
  ['gradcFlatUnchecked', 'gradc valueAndGradFlat, --no-checks'],
  ['intoTyped', 'gradc backwardInto, Float64Array'],
  ['intoPlain', 'gradc backwardInto, plain arrays'],
];

console.log(`gradc tiny functions: ${machineLine()}`);
let copies = 0;
/** A module of its own for each timed unit (see the top of the file). */
const importCopy = (file) => import(`${pathToFileURL(path.join(ROOT, file)).href}?copy=${++copies}`);

function compileTo(name, output, extra) {
  const run = runNode(CLI, ['compile', `bench/tiny/${name}.expr`, '-o', output, ...extra]);
  if (!run.ok) throw new Error(`gradc could not compile bench/tiny/${name}.expr: ${failureLine(run)}`);
  return output;
}

/** The largest relative difference of two lists of numbers. */
function difference(a, b) {
  let worst = 0;
  a.forEach((v, k) => (worst = Math.max(worst, Math.abs(v - b[k]) / Math.max(1, Math.abs(b[k])))));
  return a.length === b.length ? worst : Infinity;
}

let failed = false;
const units = [];
const operations = new Map();
for (const fn of selected) {
  const checked = compileTo(fn.name, `bench/generated/tiny/${fn.name}.mjs`, []);
  const unchecked = compileTo(fn.name, `bench/generated/tiny/${fn.name}.nochecks.mjs`, ['--no-checks']);
  const stats = runNode(CLI, ['compile', `bench/tiny/${fn.name}.expr`, '-o', `bench/generated/tiny/${fn.name}.stats.mjs`, '--stats']);
  operations.set(fn.name, /backward (\d+) operations/.exec(stats.stdout)?.[1] ?? '?');

  const plainArgs = { ...fn.params, ...fn.inputs };
  const typedArgs = Object.fromEntries(Object.entries(plainArgs).map(([k, v]) => [k, Array.isArray(v) ? Float64Array.from(v) : v]));
  const typedInputs = Object.fromEntries(Object.entries(fn.inputs).map(([k, v]) => [k, Array.isArray(v) ? Float64Array.from(v) : v]));
  const reference = await importCopy(checked);
  const x = reference.packParams(fn.params);
  const { outputs, grad } = reference.backward(plainArgs);
  const objective = Object.keys(outputs)[0];
  const expected = [outputs[objective], ...flatGrad(reference, grad)];

  const results = {};
  const g = new Float64Array(x.length);
  results.flat = [fn.flat(x, g, typedInputs), ...g];
  const s = fn.struct(...fn.structArgs());
  results.struct = [s.value, ...fn.structFlat(s)];
  const modules = {};
  for (const key of ['gradcFlat', 'gradcFlatUnchecked', 'intoTyped', 'intoPlain']) modules[key] = await importCopy(key === 'gradcFlatUnchecked' ? unchecked : checked);
  for (const key of ['gradcFlat', 'gradcFlatUnchecked']) {
    const h = new Float64Array(x.length);
    results[key] = [modules[key].valueAndGradFlat(x, h, typedInputs), ...h];
  }
  for (const [key, args] of [['intoTyped', typedArgs], ['intoPlain', plainArgs]]) {
    const m = modules[key];
    const o = m.createOutputs();
    const h = m.backwardInto(args, undefined, m.createGrad(), o);
    results[key] = [o[objective], ...flatGrad(m, h)];
  }
  for (const [key, label] of COLUMNS) {
    const error = difference(results[key], expected);
    if (!(error <= 1e-9)) {
      console.log(`CHECK FAILED: ${fn.name}, ${label}: relative difference ${error} (${results[key].join(', ')} against ${expected.join(', ')})`);
      failed = true;
    }
  }

  const id = (key) => `${fn.name}.${key}`;
  const structArgs = fn.structArgs();
  const call = `f(${structArgs.map((_, k) => `a[${k}]`).join(', ')})`;
  units.push({ id: id('struct'), batch: batchOf({ f: fn.struct }, call, { a: structArgs }) });
  units.push({ id: id('flat'), batch: batchOf({ f: fn.flat }, 'f(a, g, o)', { a: x, g: new Float64Array(x.length), o: typedInputs }) });
  for (const key of ['gradcFlat', 'gradcFlatUnchecked']) {
    units.push({ id: id(key), batch: batchOf({ m: modules[key] }, 'm.valueAndGradFlat(a, g, o)', { a: x, g: new Float64Array(x.length), o: typedInputs }) });
  }
  units.push({ id: id('intoTyped'), batch: batchOf({ m: modules.intoTyped }, 'm.backwardInto(a, undefined, g)', { a: typedArgs, g: modules.intoTyped.createGrad() }) });
  units.push({ id: id('intoPlain'), batch: batchOf({ m: modules.intoPlain }, 'm.backwardInto(a, undefined, g)', { a: plainArgs, g: modules.intoPlain.createGrad() }) });
}

/** A gradient holder's numbers in the flat layout (params in declaration order). */
function flatGrad(m, grad) {
  const out = new Float64Array(m.paramSize);
  m.packParams(grad, out);
  return [...out];
}

if (failed) {
  console.log('A correctness check FAILED: nothing timed.');
  process.exit(1);
}
console.log(`timing ${units.length} units (${selected.length} functions) ...`);
const stats = timeUnits(units, settings);
const rows = selected.map((fn) => {
  const base = stats.get(`${fn.name}.flat`);
  const cell = (key) => {
    const r = stats.get(`${fn.name}.${key}`);
    return key === 'flat' ? formatNs(r.median) : `${formatNs(r.median)} (${formatRatio(pairedRatio(r, base))}x)`;
  };
  return [`${fn.title} (\`${fn.name}\`)`, operations.get(fn.name), ...COLUMNS.map(([key]) => cell(key))];
});
const header = ['function', 'ops', ...COLUMNS.map(([, label]) => `${label}, ns`)];
const table = markdownTable(header, rows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']);
const drifting = [...stats].filter(([, r]) => r.drift < 0.8).map(([id]) => id);
console.log(table);
if (drifting.length) console.log(`- still getting faster while timed: ${drifting.join(', ')}`);
if (!options.quick && !options.only) {
  const text = [
    '## Tiny functions',
    '',
    `\`${commandLine()}\` on ${machineLine()}. Time of one call with the gradient, median over ${settings.rounds} interleaved rounds; in parentheses the median within-round ratio to the hand-written flat function. "ops": scalar operations of gradc's backward.`,
    '',
    table,
  ].join('\n');
  console.log(`written: ${writeResultsSection('tiny', text)}`);
}
