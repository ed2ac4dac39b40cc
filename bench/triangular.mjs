// Loops whose bounds read an outer loop variable (`npm run bench:triangular`): a pair
// potential over i < j, `sum(sum(exp(-(x[i] - x[j])^2) for j in i+1..n) for i in 0..n-1)`,
// as gradc batches it (one loop over the hull, the steps j <= i masked), as the user could
// mask it over the square by hand (`where(j > i, ..., 0)` for j in 0..n), with the outer
// loop written out (what the checker made of it before: one fixed inner loop per i), and
// as hand-written triangular loops; one backward call each, in one process (interleaved
// rounds, medians, paired ratios). Options: --quick (a smoke run; RESULTS.md untouched).
import { parseArgs } from 'node:util';
import { batchOf } from './lib/contenders.mjs';
import { commandLine, formatNs, formatRatio, machineLine, markdownTable, writeResultsSection } from './lib/report.mjs';
import { pairedRatio, timeUnits } from './lib/timing.mjs';
import { compileAndImport } from './v2/models.mjs';

const { values: options } = parseArgs({ options: { quick: { type: 'boolean' } } });
const settings = options.quick
  ? { rounds: 6, batchMs: 5, slowStride: 1, minWarmupMs: 200, maxWarmupMs: 1000 }
  : { rounds: 30, batchMs: 20, slowStride: 1, minWarmupMs: 1500, maxWarmupMs: 6000 };
console.log(`triangular loops: ${machineLine()}`);

const pair = (i, j) => `exp(-(x[${i}] - x[${j}]) ^ 2)`;
const FORMS = [
  ['masked', 'gradc, for j in i+1..n (masked hull)', (n) => `const n = ${n}\nparam x[n]\noutput e = sum(sum(${pair('i', 'j')} for j in i+1..n) for i in 0..n-1)\n`],
  ['square', 'gradc, where(j > i, ...) over 0..n', (n) => `const n = ${n}\nparam x[n]\noutput e = sum(sum(where(j > i, ${pair('i', 'j')}, 0) for j in 0..n) for i in 0..n)\n`],
  ['written', 'gradc, outer loop written out', (n) => `const n = ${n}\nparam x[n]\noutput e = ${Array.from({ length: n - 1 }, (_, i) => `sum(${pair(i, 'j')} for j in ${i + 1}..n)`).join(' + ')}\n`],
  ['hand', 'hand-written triangular loops'],
];

/** The hand-written module: the triangle only, forward and backward in one sweep. */
function handModule(n) {
  return {
    createOutputs: () => ({ e: NaN }),
    createGrad: () => ({ x: new Float64Array(n) }),
    forwardInto(args, outputs) {
      const x = args.x;
      let e = 0;
      for (let i = 0; i < n - 1; i++) {
        const xi = x[i];
        for (let j = i + 1; j < n; j++) {
          const d = xi - x[j];
          e += Math.exp(-d * d);
        }
      }
      outputs.e = e;
      return outputs;
    },
    backwardInto(args, seed, grad, outputs) {
      const x = args.x;
      const g = grad.x;
      g.fill(0);
      let e = 0;
      for (let i = 0; i < n - 1; i++) {
        const xi = x[i];
        let gi = 0;
        for (let j = i + 1; j < n; j++) {
          const d = xi - x[j];
          const k = Math.exp(-d * d);
          e += k;
          const c = -2 * d * k;
          gi += c;
          g[j] -= c;
        }
        g[i] += gi;
      }
      if (outputs) outputs.e = e;
      return grad;
    },
  };
}

const sections = [];
for (const n of options.quick ? [300] : [300, 1000]) {
  const args = { x: Float64Array.from({ length: n }, (_, k) => Math.sin(k * 0.7) * 3) };
  const hand = handModule(n);
  const mods = { hand };
  const sizes = {};
  const compileMs = {};
  for (const [form, , source] of FORMS) {
    if (!source) continue;
    const compiled = await compileAndImport(source(n), `tri-${form}-${n}`);
    mods[form] = compiled.mod;
    sizes[form] = compiled.code.length;
    compileMs[form] = compiled.ms;
  }
  const want = { g: hand.createGrad(), o: hand.createOutputs() };
  hand.backwardInto(args, undefined, want.g, want.o);
  const units = [];
  for (const [form] of FORMS) {
    const mod = mods[form];
    const g = mod.createGrad(), o = mod.createOutputs();
    mod.backwardInto(args, undefined, g, o);
    let worst = Math.abs(o.e - want.o.e) / Math.abs(want.o.e);
    for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(g.x[i] - want.g.x[i]) / Math.max(1e-9, Math.abs(want.g.x[i])));
    console.log(`check n = ${n} ${form}: largest relative error ${worst.toExponential(1)}`);
    if (!(worst < 1e-8)) throw new Error(`${form} disagrees with the hand-written loops`);
    units.push({ id: form, batch: batchOf({ m: mod }, 'm.backwardInto(a, undefined, g, o)', { a: args, g, o }) });
    units.push({ id: `${form}-fwd`, batch: batchOf({ m: mod }, 'm.forwardInto(a, o)', { a: args, g, o }) });
  }
  const t = timeUnits(units, settings);
  const rows = FORMS.map(([form, label]) => [
    label,
    sizes[form] ? sizes[form].toLocaleString('en-US') : '–',
    compileMs[form] ? compileMs[form].toFixed(0) : '–',
    formatNs(t.get(form).median),
    formatRatio(pairedRatio(t.get(form), t.get('hand'))),
    formatRatio(pairedRatio(t.get(form), t.get(`${form}-fwd`))),
  ]);
  const table = markdownTable([`pair potential, n = ${n.toLocaleString('en-US')}: backward`, 'module bytes', 'compile ms', 'ns/call', 'x hand-written', 'backward / forward'], rows, ['l', 'r', 'r', 'r', 'r', 'r']);
  console.log(`\n${table}`);
  sections.push(table);
}
if (!options.quick) {
  const file = writeResultsSection('triangular', ['## Loops whose bounds read an outer loop variable (bench/triangular.mjs)', '', `\`${commandLine()}\`: ${machineLine()}`, '', ...sections.flatMap((s) => [s, ''])].join('\n'));
  console.log(`wrote ${file}`);
}
