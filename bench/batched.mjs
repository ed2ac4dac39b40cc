// The batched spiral net (`npm run bench:batched`): one training step's gradient over the 300
// spiral points, side by side in one process (interleaved rounds, medians, paired ratios):
//   - gradc, per-row comprehension: sum(row_loss(X[n], Y[n]) for n in 0..N) with a def;
//   - gradc, whole-matrix form: relu(X @ W1 + b1), log_softmax(scores, axis=1) (the demo's model);
//   - 300 per-sample backwardInto calls of generated/cs231n/twolayer.mjs, gradients summed
//     (the demo's --per-sample path);
//   - a hand-written JS batched step (bench/v2/hand-net.mjs).
// Then 10,000 training steps of the demo's batched model against numpy's version of the course's
// code (bench/numpy_spiral.py, same data and initial weights), each timed whole.
// Options: --quick (a smoke run; RESULTS.md untouched), --steps N (numpy comparison, default 10000).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { batchOf } from './lib/contenders.mjs';
import { ROOT, commandLine, formatNs, formatRatio, machineLine, markdownTable, writeResultsSection } from './lib/report.mjs';
import { pairedRatio, timeUnits } from './lib/timing.mjs';
import { compileAndImport, netArgs, netPerRow, netWhole } from './v2/models.mjs';
import { makeHandNet } from './v2/hand-net.mjs';
import { makeSpiral } from '../examples/spiral/data.mjs';
import { batchArgs, trainBatched, transposed } from '../examples/spiral/model.mjs';

const { values: options } = parseArgs({ options: { quick: { type: 'boolean' }, steps: { type: 'string' } } });
const settings = options.quick
  ? { rounds: 6, batchMs: 5, slowStride: 1, minWarmupMs: 200, maxWarmupMs: 1000 }
  : { rounds: 30, batchMs: 20, slowStride: 1, minWarmupMs: 1500, maxWarmupMs: 6000 };
const trainSteps = Number(options.steps ?? (options.quick ? 1000 : 10000));
const N = 300;
console.log(`batched spiral net: ${machineLine()}`);

const args = netArgs(N);
const perRow = await compileAndImport(netPerRow(N), 'net-per-row');
const whole = await compileAndImport(netWhole(N), 'net-whole');
const perSampleMod = await import('../generated/cs231n/twolayer.mjs');
const hand = makeHandNet(N, 2, 100, 3);

// The per-sample path: its W1 [H, D] and W2 [K, H] are the transposes of the batched layout; its
// loss counts the L2 term per sample, so the mean over samples is the batched loss.
const sampleArgs = [];
const sampleParams = { W1: transposed(args.W1, 2, 100), b1: args.b1, W2: transposed(args.W2, 100, 3), b2: args.b2 };
for (let i = 0; i < N; i++) sampleArgs.push({ x: args.X.subarray(2 * i, 2 * i + 2), y: args.Y.subarray(3 * i, 3 * i + 3), reg: args.reg, ...sampleParams });
const perSample = {
  grad: perSampleMod.createGrad(),
  outputs: perSampleMod.createOutputs(),
  sum: { W1: new Float64Array(200), b1: new Float64Array(100), W2: new Float64Array(300), b2: new Float64Array(3) },
  step() {
    const { grad, outputs, sum } = this;
    for (const v of Object.values(sum)) v.fill(0);
    let loss = 0;
    for (let i = 0; i < N; i++) {
      perSampleMod.backwardInto(sampleArgs[i], undefined, grad, outputs);
      loss += outputs.loss;
      for (const name in sum) { const s = sum[name], g = grad[name]; for (let k = 0; k < s.length; k++) s[k] += g[k]; }
    }
    return loss / N;
  },
};

// Every contender's loss and gradient against the hand-written step.
const want = { grad: hand.createGrad(), outputs: hand.createOutputs() };
hand.backwardInto(args, undefined, want.grad, want.outputs);
function check(label, loss, grad) {
  let worst = Math.abs(loss - want.outputs.loss) / Math.max(1e-12, Math.abs(want.outputs.loss));
  for (const [p, w] of Object.entries(want.grad)) for (let k = 0; k < w.length; k++) worst = Math.max(worst, Math.abs(grad[p][k] - w[k]) / Math.max(1e-9, Math.abs(w[k])));
  console.log(`check ${label}: largest relative error ${worst.toExponential(1)}`);
  if (!(worst < 1e-7)) throw new Error(`${label} disagrees with the hand-written step`);
}
const units = [];
for (const [id, mod] of [['perRow', perRow.mod], ['whole', whole.mod], ['hand', hand]]) {
  const g = mod.createGrad(), o = mod.createOutputs();
  mod.backwardInto(args, undefined, g, o);
  check(id, o.loss, g);
  units.push({ id, batch: batchOf({ m: mod }, 'm.backwardInto(a, undefined, g, o)', { a: args, g, o }) });
}
{
  const loss = perSample.step();
  const s = perSample.sum;
  check('perSample', loss, { W1: transposed(s.W1, 100, 2).map((v) => v / N), b1: s.b1.map((v) => v / N), W2: transposed(s.W2, 3, 100).map((v) => v / N), b2: s.b2.map((v) => v / N) });
  units.push({ id: 'perSample', batch: batchOf({ s: perSample }, 's.step()') });
}

const t = timeUnits(units, settings);
const labels = {
  perRow: 'gradc, per-row comprehension (def + generator)',
  whole: 'gradc, whole-matrix form (the demo)',
  perSample: `gradc, ${N} per-sample backwardInto calls`,
  hand: 'hand-written JS batched step',
};
const rows = units.map(({ id }) => [labels[id], formatNs(t.get(id).median / 1000), formatRatio(pairedRatio(t.get(id), t.get('hand'))), formatRatio(pairedRatio(t.get(id), t.get('whole')))]);
const table = markdownTable(['one step (gradient over 300 points)', 'us/step', 'x hand-written', 'x whole-matrix'], rows, ['l', 'r', 'r', 'r']);
console.log(`\n${table}`);

// 10,000 steps: gradc's demo model against numpy, same data and initial weights.
const data = makeSpiral();
const init = netArgs(N, 11);
const json = { N, D: 2, H: 100, K: 3, X: Array.from(data.X), labels: Array.from(data.labels), W1: Array.from(init.W1.map((v) => v / 50)), b1: new Array(100).fill(0), W2: Array.from(init.W2.map((v) => v / 50)), b2: [0, 0, 0], reg: 1e-3, stepSize: 1, steps: trainSteps };
const dir = mkdtempSync(path.join(os.tmpdir(), 'gradc-numpy-'));
let numpy;
try {
  writeFileSync(path.join(dir, 'data.json'), JSON.stringify(json));
  const run = spawnSync('python3', [path.join(ROOT, 'bench', 'numpy_spiral.py'), path.join(dir, 'data.json')], { encoding: 'utf8' });
  if (run.error) numpy = { skipped: `python3 cannot run (${run.error.code})` };
  else if (run.status !== 0) numpy = { skipped: `numpy_spiral.py failed: ${run.stderr.trim().split('\n').pop()}` };
  else numpy = JSON.parse(run.stdout.trim().split('\n').pop());
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const params = { W1: Float64Array.from(json.W1), b1: new Float64Array(100), W2: Float64Array.from(json.W2), b2: new Float64Array(3) };
const started = performance.now();
const losses = trainBatched(whole.mod, data, params, { steps: trainSteps, stepSize: 1, reg: 1e-3 });
const gradcMs = performance.now() - started;
const gradcLoss = losses[trainSteps - 1];
let numpyLine;
if (numpy.skipped) numpyLine = `numpy: skipped (${numpy.skipped}). gradc: ${trainSteps} steps in ${gradcMs.toFixed(0)} ms, last loss ${gradcLoss.toFixed(6)}.`;
else {
  numpyLine = markdownTable(
    [`${trainSteps} training steps, spiral data`, 'ms', 'ms/step', 'last loss', 'x gradc'],
    [
      ['gradc, whole-matrix form (one backwardInto + update)', gradcMs.toFixed(0), (gradcMs / trainSteps).toFixed(3), gradcLoss.toFixed(6), '1.00'],
      [`numpy ${numpy.numpy} (the course's code)`, numpy.ms.toFixed(0), (numpy.ms / trainSteps).toFixed(3), numpy.loss.toFixed(6), formatRatio(numpy.ms / gradcMs)],
    ],
    ['l', 'r', 'r', 'r', 'r'],
  );
  // Both run the same arithmetic in different orders; over thousands of steps a ReLU that flips
  // on a rounding difference moves the trajectories apart by a little (1.4e-4 at 10,000 steps).
  const apart = Math.abs(numpy.loss - gradcLoss) / Math.abs(gradcLoss);
  numpyLine += `\n\nLast losses ${apart < 1e-9 ? 'agree' : `differ by ${apart.toExponential(1)} relative (rounding, amplified over the steps)`}.`;
  if (apart > 1e-2) throw new Error(`gradc and numpy trained apart: last losses ${gradcLoss} and ${numpy.loss}`);
}
console.log(`\n${numpyLine}`);

const sizes = `Module sizes: per-row ${perRow.code.length.toLocaleString('en-US')} bytes (compiled in ${perRow.ms.toFixed(0)} ms), whole-matrix ${whole.code.length.toLocaleString('en-US')} bytes (${whole.ms.toFixed(0)} ms).`;
console.log(`\n${sizes}`);
if (!options.quick) {
  const file = writeResultsSection('batched', [`## Batched spiral net (bench/batched.mjs)`, '', `\`${commandLine()}\`: ${machineLine()}`, '', table, '', numpyLine, '', sizes].join('\n'));
  console.log(`wrote ${file}`);
}
