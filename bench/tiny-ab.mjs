// Before and after for the tiny functions' flat kernels: valueAndGradFlat as compiled by this
// checkout's gradc and by another build (`--base path/to/dist/cli/main.js`, e.g. main's), timed
// in one process by bench/tiny.mjs's method (lib/timing.mjs: interleaved rounds, each module
// imported once per unit), with ratios as medians of within-round ratios to the hand-written
// flat function. A change to the arithmetic is judged this way: two runs of bench/tiny.mjs on
// this shared machine differ by more than most such changes do. `--forms` adds the other
// columns of bench/tiny.mjs: `unchecked` (valueAndGradFlat, --no-checks), `typed` and `plain`
// (backwardInto with Float64Array or plain array arguments), each in a module copy of its own;
// `--no-checks` alone is `--forms unchecked`.
//
//   node bench/tiny-ab.mjs --base /tmp/main/dist/cli/main.js --only angle,bend [--no-checks]
//   node bench/tiny-ab.mjs --base /tmp/main/dist/cli/main.js --only point-segment --forms flat,unchecked,plain
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { batchOf } from './lib/contenders.mjs';
import { CLI, failureLine, runNode } from './lib/gradc.mjs';
import { ROOT, formatNs, formatRatio, machineLine, markdownTable } from './lib/report.mjs';
import { pairedRatio, timeUnits } from './lib/timing.mjs';
import { FUNCTIONS } from './tiny/hand.mjs';

const { values: options } = parseArgs({ options: { base: { type: 'string' }, only: { type: 'string' }, rounds: { type: 'string' }, forms: { type: 'string' }, 'no-checks': { type: 'boolean' } } });
const FORMS = {
  flat: 'valueAndGradFlat',
  unchecked: 'valueAndGradFlat, --no-checks',
  typed: 'backwardInto, Float64Array',
  plain: 'backwardInto, plain arrays',
};
const forms = (options.forms ?? (options['no-checks'] ? 'unchecked' : 'flat')).split(',');
if (!options.base || forms.some((f) => !(f in FORMS))) {
  console.error(`usage: node bench/tiny-ab.mjs --base <other gradc dist/cli/main.js> [--only a,b] [--rounds 30] [--forms ${Object.keys(FORMS).join(',')} | --no-checks]`);
  process.exit(2);
}
const builds = [
  ['base', path.resolve(options.base)],
  ['this', CLI],
];
const selected = options.only ? FUNCTIONS.filter((f) => options.only.split(',').includes(f.name)) : FUNCTIONS;
let copies = 0;

const units = [];
for (const fn of selected) {
  const inputs = Object.fromEntries(Object.entries(fn.inputs).map(([k, v]) => [k, Array.isArray(v) ? Float64Array.from(v) : v]));
  const plainArgs = { ...fn.params, ...fn.inputs };
  const typedArgs = Object.fromEntries(Object.entries(plainArgs).map(([k, v]) => [k, Array.isArray(v) ? Float64Array.from(v) : v]));
  let x;
  for (const [key, cli] of builds) {
    for (const form of forms) {
      const file = `bench/generated/tiny-ab/${fn.name}.${key}${form === 'unchecked' ? '.nochecks' : ''}.mjs`;
      const run = runNode(cli, ['compile', `bench/tiny/${fn.name}.expr`, '-o', file, ...(form === 'unchecked' ? ['--no-checks'] : [])]);
      if (!run.ok) throw new Error(`${key} gradc could not compile ${fn.name}: ${failureLine(run)}`);
      const m = await import(`${pathToFileURL(path.join(ROOT, file)).href}?copy=${++copies}`);
      x = m.packParams(fn.params);
      const g = new Float64Array(x.length);
      const h = new Float64Array(x.length);
      const hand = fn.flat(x, h, inputs);
      const id = `${fn.name}.${key}.${form}`;
      if (form === 'flat' || form === 'unchecked') {
        const worst = Math.max(Math.abs(m.valueAndGradFlat(x, g, inputs) - hand), ...g.map((v, k) => Math.abs(v - h[k])));
        if (!(worst <= 1e-9)) throw new Error(`${fn.name} (${key}, ${form}): differs from the hand-written function by ${worst}`);
        units.push({ id, batch: batchOf({ m }, 'm.valueAndGradFlat(a, g, o)', { a: x, g, o: inputs }) });
      } else {
        const args = form === 'typed' ? typedArgs : plainArgs;
        const outputs = m.createOutputs();
        m.packParams(m.backwardInto(args, undefined, m.createGrad(), outputs), g);
        const worst = Math.max(Math.abs(Object.values(outputs)[0] - hand), ...g.map((v, k) => Math.abs(v - h[k])));
        if (!(worst <= 1e-9)) throw new Error(`${fn.name} (${key}, ${form}): differs from the hand-written function by ${worst}`);
        units.push({ id, batch: batchOf({ m }, 'm.backwardInto(a, undefined, g)', { a: args, g: m.createGrad() }) });
      }
    }
  }
  units.push({ id: `${fn.name}.hand`, batch: batchOf({ f: fn.flat }, 'f(a, g, o)', { a: x, g: new Float64Array(x.length), o: inputs }) });
}

console.log(`gradc tiny functions, before and after: ${machineLine()}`);
const rounds = Number(options.rounds ?? 30);
const stats = timeUnits(units, { rounds, batchMs: 4, slowStride: 1, minWarmupMs: 1500, maxWarmupMs: 5000 });
const rows = selected.map((fn) => {
  const hand = stats.get(`${fn.name}.hand`);
  const cell = (id) => `${formatNs(stats.get(`${fn.name}.${id}`).median)} (${formatRatio(pairedRatio(stats.get(`${fn.name}.${id}`), hand))}x)`;
  return [fn.name, formatNs(hand.median), ...forms.flatMap((form) => [cell(`base.${form}`), cell(`this.${form}`)])];
});
const header = ['function', 'hand-written, flat, ns', ...forms.flatMap((form) => [`base ${FORMS[form]}, ns`, `this ${FORMS[form]}, ns`])];
console.log(markdownTable(header, rows, header.map((_, k) => (k ? 'r' : 'l'))));
