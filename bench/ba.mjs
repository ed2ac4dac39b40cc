// Indexing with data, measured (`npm run bench:ba`): what integer inputs buy when one call does
// the whole problem instead of one call per observation or per sample.
//   - Bundle adjustment at ADBench's first problem's sizes (49 cameras, 7,776 points, 31,843
//     observations): gradc's whole-problem module (examples/ba/ba.expr, obs[P, 2] int) against
//     the hand-written loop over observations (bench/hand/ba.mjs), and against gradc's own
//     per-observation module (examples/ba/observation.expr) called in a JavaScript loop that
//     scatters each call's gradient into the camera's and point's rows, as a caller had to
//     before integer inputs.
//   - The CS231n spiral step, the two-layer net over all 300 points in one call: the course's
//     integer-label loss (twolayer-labels.expr) against the one-hot form (twolayer-onehot.expr).
// Every contender is checked against the reference before timing; timing is by interleaved
// rounds (lib/timing.mjs), ratios are paired within rounds. Writes its section of RESULTS.md
// unless --quick. Needs the CLI (see lib/gradc.mjs).
import os from 'node:os';
import { parseArgs } from 'node:util';
import { BA1, makeBundleAdjustment, makeBundleArgs } from './hand/ba.mjs';
import { checkContender } from './lib/check.mjs';
import { moduleContender } from './lib/contenders.mjs';
import { compileExpr, failureLine, gradcMissing, importGenerated } from './lib/gradc.mjs';
import { commandLine, formatNs, formatRatio, machineLine, markdownTable, writeResultsSection } from './lib/report.mjs';
import { makeRng } from './lib/rng.mjs';
import { pairedRatio, timeUnits } from './lib/timing.mjs';
import { makeSpiral } from '../examples/spiral/data.mjs';
import { initParams, labelArgs } from '../examples/cs231n/train-labels.mjs';

const { values: options } = parseArgs({ options: { quick: { type: 'boolean' } } });
const settings = options.quick
  ? { rounds: 6, batchMs: 20, slowStride: 1, minWarmupMs: 300, maxWarmupMs: 1000 }
  : { rounds: 30, batchMs: 40, slowStride: 1, minWarmupMs: 2000, maxWarmupMs: 8000 };

const started = performance.now();
console.log(`gradc indexing-with-data benchmark: ${machineLine()}`);
const absent = gradcMissing();
if (absent) {
  console.log(`NOTE: nothing to measure: ${absent}. bench/RESULTS.md left as it is.`);
  process.exit(0);
}

/** Compiles examples/<rel>.expr with the CLI into bench/generated/ and imports it. */
async function compiled(rel) {
  const output = `bench/generated/${rel.replace('/', '-')}.mjs`;
  const run = compileExpr(`examples/${rel}.expr`, output);
  if (!run.ok) throw new Error(`gradc could not compile examples/${rel}.expr: ${failureLine(run)}`);
  console.log(`compiled examples/${rel}.expr in ${run.ms.toFixed(0)} ms`);
  return importGenerated(output);
}

/**
 * The per-observation module in a caller's loop, with the generated-module contract: one
 * backwardInto per observation on views of its camera, point and feature (made once), each
 * call's gradient added into the rows of the whole problem's holders.
 */
function perObservation(one, args, { C, M, P }) {
  const view = (a, n, k) => a.subarray(n * k, n * k + n);
  const cams = Array.from({ length: C }, (_, c) => view(args.cams, 11, c));
  const pts = Array.from({ length: M }, (_, m) => view(args.pts, 3, m));
  const feats = Array.from({ length: P }, (_, i) => view(args.feat, 2, i));
  const a = { f: feats[0], cam: cams[0], X: pts[0], wi: 0 };
  const g = one.createGrad();
  const o = one.createOutputs();
  const createOutputs = () => ({ err: NaN });
  const createGrad = () => ({ cams: new Float64Array(11 * C), pts: new Float64Array(3 * M), w: new Float64Array(P) });
  function run(given, grad) {
    const { obs, w } = given;
    let err = 0;
    if (grad) {
      grad.cams.fill(0);
      grad.pts.fill(0);
    }
    for (let i = 0; i < P; i++) {
      const c = obs[2 * i];
      const m = obs[2 * i + 1];
      a.cam = cams[c];
      a.X = pts[m];
      a.f = feats[i];
      a.wi = w[i];
      if (!grad) {
        err += one.forwardInto(a, o).err;
        continue;
      }
      one.backwardInto(a, undefined, g, o);
      err += o.err;
      const gc = grad.cams;
      const gcam = g.cam;
      for (let k = 0; k < 11; k++) gc[11 * c + k] += gcam[k];
      const gp = grad.pts;
      const gX = g.X;
      gp[3 * m] += gX[0];
      gp[3 * m + 1] += gX[1];
      gp[3 * m + 2] += gX[2];
      grad.w[i] = g.wi;
    }
    return err;
  }
  const forwardInto = (given, outputs) => ((outputs.err = run(given)), outputs);
  const backwardInto = (given, seed, grad, outputs) => {
    const err = run(given, grad);
    if (outputs) outputs.err = err;
    return grad;
  };
  return {
    createOutputs,
    createGrad,
    forwardInto,
    backwardInto,
    forward: (given) => forwardInto(given, createOutputs()),
    backward(given) {
      const outputs = createOutputs();
      return { outputs, grad: backwardInto(given, undefined, createGrad(), outputs) };
    },
  };
}

/** Checks the contenders against `reference`, times their backward and forward; returns stats. */
function measure(contenders, reference) {
  for (const c of contenders) {
    delete c.timed.backwardAlloc;
    const check = checkContender(c, reference);
    console.log(`check ${c.label}: ${check.ok ? 'ok' : 'FAILED'}, largest relative error ${check.error.toExponential(1)}${check.ok ? '' : ` at ${check.where}`}`);
    if (!check.ok) throw new Error(`${c.label} FAILED its check: not timed`);
  }
  const units = contenders.flatMap((c) => Object.entries(c.timed).map(([op, batch]) => ({ id: `${c.key}.${op}`, batch })));
  return timeUnits(units, settings);
}

const renamed = (contender, key, label) => ({ ...contender, key, label });
const ms = (ns) => `${(ns / 1e6).toFixed(2)} ms`;
const spread = (s) => `±${(((s.q3 - s.q1) / 2 / s.median) * 100).toFixed(0)}%`;
const notes = [];

// ---- bundle adjustment -------------------------------------------------------------------------
console.log(`\n## Bundle adjustment, ADBench ba1 (${BA1.C} cameras, ${BA1.M} points, ${BA1.P} observations)`);
const args = makeBundleArgs(BA1, makeRng(2026).uniform);
const hand = makeBundleAdjustment(BA1);
const whole = await compiled('ba/ba');
const one = await compiled('ba/observation');
const baContenders = [
  moduleContender('hand', hand, args),
  renamed(moduleContender('gradc', whole, args), 'gradc', 'gradc, whole problem (obs int)'),
  renamed(moduleContender('gradc', perObservation(one, args, BA1), args), 'loop', 'gradc per observation, JS loop'),
];
baContenders[0].label = 'hand-written loop over observations';
const ba = measure(baContenders, hand.backward(args));
const baRows = baContenders.map((c) => {
  const b = ba.get(`${c.key}.backward`);
  const f = ba.get(`${c.key}.forward`);
  return [c.label, ms(b.median), ms(f.median), formatNs(b.median / BA1.P), formatRatio(pairedRatio(b, ba.get('hand.backward'))), formatRatio(pairedRatio(b, ba.get('gradc.backward'))), formatRatio(pairedRatio(f, ba.get('gradc.forward'))), spread(b)];
});
const baTable = markdownTable(
  ['contender', 'objective + gradient', 'objective', 'ns per observation (grad)', 'grad ÷ hand', 'grad ÷ gradc whole', 'objective ÷ gradc whole', 'spread'],
  baRows,
  ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
);
console.log(baTable);
const goal = pairedRatio(ba.get('gradc.backward'), ba.get('hand.backward'));
notes.push(`bundle adjustment: gradc's whole-problem gradient is ${formatRatio(goal)}x the hand-written loop (goal: within 1.2x, ${goal <= 1.2 ? 'met' : 'NOT met'}); the per-observation module in a JavaScript loop is ${formatRatio(pairedRatio(ba.get('loop.backward'), ba.get('gradc.backward')))}x the whole-problem module`);

// ---- spiral step ---------------------------------------------------------------------------------
console.log('\n## CS231n spiral, one full-batch step of the two-layer net (300 points)');
const data = makeSpiral();
const params = initParams(1);
for (const v of Object.values(params)) for (let k = 0; k < v.length; k++) v[k] = v[k] * 100 + 0.01 * Math.sin(k); // a point away from the start
const labels = await compiled('cs231n/twolayer-labels');
const onehot = await compiled('cs231n/twolayer-onehot');
const labelArgsAll = { X: data.X, reg: 1e-3, ...params, ...labelArgs(data, false) };
const hotArgs = { X: data.X, reg: 1e-3, ...params, ...labelArgs(data, true) };
const spiralContenders = [
  renamed(moduleContender('gradc', labels, labelArgsAll), 'labels', 'integer labels, y[N] int'),
  renamed(moduleContender('gradc', onehot, hotArgs), 'onehot', 'one-hot labels, Y[N, K]'),
];
const spiral = measure(spiralContenders, onehot.backward(hotArgs));
const spiralRows = spiralContenders.map((c) => {
  const b = spiral.get(`${c.key}.backward`);
  const f = spiral.get(`${c.key}.forward`);
  return [c.label, formatNs(b.median), formatNs(f.median), formatRatio(pairedRatio(b, spiral.get('onehot.backward'))), formatRatio(pairedRatio(f, spiral.get('onehot.forward'))), spread(b)];
});
const spiralTable = markdownTable(
  ['loss', 'step (backwardInto) ns', 'loss only (forwardInto) ns', 'step ÷ one-hot', 'loss ÷ one-hot', 'spread'],
  spiralRows,
  ['l', 'r', 'r', 'r', 'r', 'r'],
);
console.log(spiralTable);
notes.push(`spiral: the integer-label step is ${formatRatio(pairedRatio(spiral.get('labels.backward'), spiral.get('onehot.backward')))}x the one-hot step`);
for (const stats of [ba, spiral])
  for (const [id, { drift }] of stats) if (drift < 0.8) notes.push(`${id} got faster while timed, even on a second try (${drift.toFixed(2)}x): still warming up, or the load changed`);

const seconds = (performance.now() - started) / 1000;
// Other work on this shared machine moves every figure; the ratios are paired within rounds,
// but the load is worth knowing when two runs disagree.
notes.push(`load average (1 min) at the end of the run: ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores`);
for (const note of notes) console.log(`- ${note}`);
console.log(`\nrun time: ${seconds.toFixed(0)} s`);
if (options.quick) {
  console.log('(a quick run: bench/RESULTS.md left as it is)');
} else {
  const written = writeResultsSection(
    'ba',
    `## Indexing with data (\`npm run bench:ba\`)

Machine: ${machineLine()}.
Command: \`${commandLine()}\`; the run took ${seconds.toFixed(0)} s.

Times per call, medians over ${settings.rounds} interleaved rounds of batches worth about
${settings.batchMs} ms, after interleaved warm-up; ratios are medians of the ratios within a round.
Every contender was checked against the reference (the hand-written module; for the spiral, the
one-hot module) before timing, outputs and gradients, every form. gradc's modules are compiled by
the CLI from examples/ (with their argument and index checks: the whole-problem module checks all
63,686 entries of \`obs\` on each call); the per-observation loop makes one \`backwardInto\` per
observation on views of its camera and point made once, and adds each gradient into the rows.

Bundle adjustment, ADBench's first problem's sizes (${BA1.C} cameras, ${BA1.M} points, ${BA1.P} observations, synthetic data):

${baTable}

The CS231n spiral, one full-batch step of the two-layer net over the 300 points:

${spiralTable}

${notes.map((n) => `- ${n}`).join('\n')}
`,
  );
  console.log(`written: ${written}`);
}
