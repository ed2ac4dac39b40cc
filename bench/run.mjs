// The model benchmarks (`npm run bench`): each model of bench/models/ (a .expr program) timed as
//   - hand-written: bench/hand/NAME.mjs, an expert's loops with the generated-module contract;
//   - gradc: bench/models/NAME.expr compiled by the project's CLI into bench/generated/NAME.mjs
//     (skipped with a note when the CLI is not built or the compile fails);
//   - TF.js on its CPU backend (float32), and a micrograd-style tape (bench/tape.mjs), both fed
//     the same arguments by bench/models/NAME.mjs.
// Every contender is checked against the hand-written module before timing; timing is by
// interleaved rounds (lib/timing.mjs). Prints one table per model and writes them to
// bench/RESULTS.md. Options: --models=a,b (a subset) and --quick (a fast smoke run), neither of
// which writes RESULTS.md; --no-gradc (leave gradc out). Exit status 1 when a check fails.
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { checkContender, checkPublished } from './lib/check.mjs';
import { LABELS, moduleContender, tapeContender, tfjsContender } from './lib/contenders.mjs';
import { compileExpr, failureLine, gradcMissing, importGenerated } from './lib/gradc.mjs';
import { ROOT, commandLine, formatBytes, formatNs, formatRatio, machineLine, markdownTable, writeResultsSection } from './lib/report.mjs';
import { loadTf } from './lib/tfjs.mjs';
import { pairedRatio, timeUnits } from './lib/timing.mjs';

const MODELS = ['neuron', 'spiral', 'softmax', 'rosenbrock', 'chain'];
const OPS = { backward: 'backward', forward: 'forward', backwardAlloc: 'allocating backward' };

const { values: options } = parseArgs({
  options: { models: { type: 'string' }, quick: { type: 'boolean' }, 'no-gradc': { type: 'boolean' } },
});
const selected = options.models ? options.models.split(',') : MODELS;
for (const name of selected) {
  if (!MODELS.includes(name)) {
    console.error(`unknown model '${name}' (models: ${MODELS.join(', ')})`);
    process.exit(2);
  }
}
const settings = options.quick
  ? { rounds: 6, batchMs: 5, slowStride: 3, minWarmupMs: 100, maxWarmupMs: 500 }
  : { rounds: 40, batchMs: 10, slowStride: 4, minWarmupMs: 1000, maxWarmupMs: 5000 };

const started = performance.now();
console.log(`gradc model benchmarks: ${machineLine()}`);
const tf = await loadTf();
const gradcAbsent = options['no-gradc'] ? 'left out by --no-gradc' : gradcMissing();
if (gradcAbsent) console.log(`\nNOTE: gradc is not benchmarked: ${gradcAbsent}. The other contenders run.`);

let failed = false;
const sections = [];
for (const name of selected) {
  const model = await import(`./models/${name}.mjs`);
  const hand = await import(`./hand/${name}.mjs`);
  const args = model.makeArgs();
  const reference = hand.backward(args);
  console.log(`\n## ${model.title} (${name})`);
  const notes = [];

  if (model.published) {
    const wrong = checkPublished(reference, model.published);
    notes.push(wrong.length ? `hand-written DIFFERS from the published numbers: ${wrong.join('; ')}` : 'hand-written matches the published CS231n numbers');
    failed ||= wrong.length > 0;
  }

  const contenders = [moduleContender('hand', hand, args)];
  // Where there is one, the hand-written module with its long loops unrolled by four, as gradc
  // unrolls its innermost loops: what that technique alone is worth, written by hand.
  const unrolled = path.join(ROOT, 'bench', 'hand', `${name}-unrolled.mjs`);
  if (existsSync(unrolled)) contenders.push(moduleContender('handUnrolled', await import(pathToFileURL(unrolled).href), args));
  const gradcNote = await addGradc(name, args, contenders);
  if (gradcNote) notes.push(`gradc: ${gradcNote}`);
  const tensorsBefore = tf.memory().numTensors;
  contenders.push(tfjsContender(tf, model, args), tapeContender(model, args));

  const checked = [];
  const errors = [];
  for (const contender of contenders) {
    const check = checkContender(contender, reference);
    if (contender.key !== 'hand') errors.push(`${contender.label} ${check.error.toExponential(1)}`);
    const tolerance = contender.tolerance.toExponential(0);
    console.log(`check ${contender.label}: ${check.ok ? 'ok' : 'FAILED'}, largest relative error ${check.error.toExponential(1)}${check.ok ? '' : ` at ${check.where}`} (tolerance ${tolerance})`);
    if (check.ok) checked.push(contender);
    else notes.push(`${contender.label} FAILED its check (${check.error.toExponential(1)} at ${check.where}) and was not timed`);
    failed ||= !check.ok;
  }
  notes.push(`checked against hand-written before timing, every form; largest relative error: ${errors.join(', ')}`);

  const units = checked.flatMap((c) =>
    Object.entries(c.timed).map(([op, batch]) => ({ id: `${c.key}.${op}`, batch, slow: c.slow })),
  );
  const stats = timeUnits(units, settings);
  for (const c of contenders) c.dispose?.();
  if (tf.memory().numTensors !== tensorsBefore) notes.push(`TF.js leaked ${tf.memory().numTensors - tensorsBefore} tensors`);

  for (const [id, { drift }] of stats) {
    if (drift < 0.8) {
      const [key, op] = id.split('.');
      notes.push(`${LABELS[key]} ${OPS[op]} got faster while timed, even on a second try (the second half of the rounds took ${drift.toFixed(2)}x the time of the first): still warming up, or the machine's load changed`);
    }
  }
  const table = modelTable(stats);
  console.log(table);
  for (const note of notes) console.log(`- ${note}`);
  sections.push(`### ${model.title} (\`${name}\`)\n\n${table}\n\n${notes.map((n) => `- ${n}`).join('\n')}`);
}

const seconds = (performance.now() - started) / 1000;
console.log(`\nsuite run time: ${seconds.toFixed(0)} s`);
if (options.models || options.quick) {
  console.log('(a partial or quick run: bench/RESULTS.md left as it is)');
} else {
  const written = writeResultsSection('models', resultsText(seconds));
  console.log(`written: ${written}`);
}
if (failed) {
  console.log('\nA correctness check FAILED (see above).');
  process.exitCode = 1;
}

/** Compiles and imports gradc's module for `name` into `contenders`; returns a note on it. */
async function addGradc(name, args, contenders) {
  if (gradcAbsent) return `not benchmarked: ${gradcAbsent}`;
  const output = `bench/generated/${name}.mjs`;
  const compiled = compileExpr(`bench/models/${name}.expr`, output);
  if (!compiled.ok) {
    console.log(`NOTE: gradc could not compile bench/models/${name}.expr (${compiled.failure}):\n${compiled.stderr}`);
    return `compile FAILED (${failureLine(compiled)})`;
  }
  const size = formatBytes(statSync(path.join(ROOT, output)).size);
  console.log(`gradc compiled bench/models/${name}.expr in ${compiled.ms.toFixed(0)} ms: ${output}, ${size}`);
  try {
    contenders.push(moduleContender('gradc', await importGenerated(output), args));
  } catch (e) {
    console.log(`NOTE: ${output} could not be imported: ${e}`);
    return `import FAILED (${e})`;
  }
  return `compiled in ${compiled.ms.toFixed(0)} ms (the whole CLI process) into ${size}`;
}

/** The table of one model: a row per contender, times in ns per call. */
function modelTable(stats) {
  const get = (key, op) => stats.get(`${key}.${op}`);
  const ratio = (a, b) => (a && b ? formatRatio(pairedRatio(a, b)) : '–');
  const rows = Object.keys(LABELS).filter((key) => key !== 'handUnrolled' || get(key, 'backward')).map((key) => {
    const bwd = get(key, 'backward');
    const fwd = get(key, 'forward');
    const peers = ['tfjs', 'tape'].map(
      (peer) => `${ratio(get(peer, 'backward'), bwd)} / ${ratio(get(peer, 'forward'), fwd)}`,
    );
    return [
      LABELS[key],
      formatNs(bwd?.median),
      formatNs(fwd?.median),
      ratio(bwd, fwd),
      formatNs(get(key, 'backwardAlloc')?.median),
      ratio(bwd, get('hand', 'backward')),
      ratio(fwd, get('hand', 'forward')),
      ...peers,
      bwd ? `±${(((bwd.q3 - bwd.q1) / 2 / bwd.median) * 100).toFixed(0)}%` : '–',
      bwd ? String(bwd.rounds) : '–',
    ];
  });
  return markdownTable(
    ['contender', 'backward ns', 'forward ns', 'bwd/fwd', 'allocating backward ns', 'bwd ÷ hand', 'fwd ÷ hand', 'TF.js ÷ this (bwd / fwd)', 'tape ÷ this (bwd / fwd)', 'bwd spread', 'rounds'],
    rows,
    ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
  );
}

function resultsText(seconds) {
  return `## Models (\`npm run bench\`)

Machine: ${machineLine()}.
Command: \`${commandLine()}\`; the whole suite took ${seconds.toFixed(0)} s.

How to read the tables: times are ns per call, medians over ${settings.rounds} interleaved rounds
(TF.js and the tape: one round in ${settings.slowStride}), each round timing every contender once on a
batch of calls worth about ${settings.batchMs} ms, after interleaved warm-up rounds (${settings.minWarmupMs / 1000} s at least, then
until the times settle, ${settings.maxWarmupMs / 1000} s at most). hand-written and gradc
(and, for the models with a \`bench/hand/NAME-unrolled.mjs\`, the hand-written code with its long
loops unrolled by four, as gradc unrolls its innermost loops) are timed in the allocation-free form (\`backwardInto(args, undefined, grad, outputs)\`,
\`forwardInto(args, outputs)\`); "allocating backward" is their \`backward(args)\`. TF.js:
params are \`tf.variable\`s made once, inputs are converted from the arrays on every call,
backward is \`tf.variableGrads\` (gradients left as tensors, then disposed), forward reads the
loss back. Tape: leaf Values made from the arrays on every call, graph built, \`backward()\`,
gradients read into arrays. Ratios are medians of the ratios within a round (the two timed
within milliseconds of each other; this shared machine has spells at half speed that a ratio of
medians would carry), so they need not equal the ratio of the medians shown. Arguments, gradient
holders and outputs reach each call as parameters (see bench/lib/contenders.mjs: V8 would
otherwise fold constant arrays into the code of whichever module is small enough to inline). "X ÷ this" > 1
means this row is faster than X. "bwd spread" is half
the interquartile range of the backward rounds, relative to the median: the noise of this run.

${sections.join('\n\n')}
`;
}
