// Derivatives as values (`npm run bench:derivatives`): what a Jacobian, a Hessian-vector
// product, a dense Hessian and a bundle-adjustment Jacobian cost next to the computation
// they differentiate, each program compiled by gradc (dist/, from `npm run build`) and timed
// by interleaved rounds (lib/timing.mjs), ratios paired within rounds:
//   - a least-squares residual, m = 200 residuals of n = 3 params, and m = 3 of n = 200:
//     jacobian(r, p) over one forward call of r (goal: at most 3 min(m, n));
//   - Rosenbrock, n = 100: a Hessian-vector product, jvp(gradient(f, x), x, v), over one
//     gradient (backward of f) (goal: at most 5);
//   - a dense Hessian, n = 100, of logsumexp(A tanh(x)), over one gradient (goal: at most
//     3n = 300), and whether it is exactly symmetric;
//   - a bundle-adjustment reprojection residual (2 residuals of 15 params: camera 11, point
//     3, weight 1) and its Jacobian, over the residual alone (goal: at most 2); again at a
//     zero rotation, where the Rodrigues rotation takes its small-angle branch (and the
//     full form's divisions by the angle are masked, or not computed at all).
// Every call is the allocation-free form (forwardInto, backwardInto into holders made once),
// as modules.md says benchmarks use: a fresh 30-element Float64Array costs more than the
// residual it would hold. With --baseline PATH (another build's dist/index.js, e.g. of main)
// each derivative is also compiled by that build, checked equal, and timed in the same rounds:
// the column "÷ baseline" is this build's time over that one's. Prints a table with the
// operation counts (`--stats`) of each module; --quick for a smoke run. Writes nothing in the
// repository.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { machineLine, markdownTable, ROOT } from './lib/report.mjs';
import { pairedRatio, timeUnits } from './lib/timing.mjs';
import { makeRng } from './lib/rng.mjs';

const { values: options } = parseArgs({ options: { quick: { type: 'boolean' }, baseline: { type: 'string' } } });
const settings = options.quick
  ? { rounds: 6, batchMs: 5, slowStride: 3, minWarmupMs: 100, maxWarmupMs: 500 }
  : { rounds: 30, batchMs: 10, slowStride: 4, minWarmupMs: 1000, maxWarmupMs: 4000 };

const { compile } = await import(pathToFileURL(path.join(ROOT, 'dist', 'index.js')).href);
const baseline = options.baseline ? (await import(pathToFileURL(path.resolve(options.baseline)).href)).compile : undefined;

// Bundle adjustment's projection: Rodrigues rotation of X - center by the axis-angle r,
// perspective division, radial distortion, focal length and principal point.
const BA_DEFS = `
def rodrigues(r, X) = where(dot(r, r) > 1e-30,
    X * cos(norm(r)) + cross(r / norm(r), X) * sin(norm(r)) + r / norm(r) * (dot(r / norm(r), X) * (1 - cos(norm(r)))),
    X + cross(r, X))
def project(cam, X) = (rodrigues(cam[0:3], X - cam[3:6])[0:2] / rodrigues(cam[0:3], X - cam[3:6])[2]) * (1 + cam[9] * dot(rodrigues(cam[0:3], X - cam[3:6])[0:2] / rodrigues(cam[0:3], X - cam[3:6])[2], rodrigues(cam[0:3], X - cam[3:6])[0:2] / rodrigues(cam[0:3], X - cam[3:6])[2]) + cam[10] * dot(rodrigues(cam[0:3], X - cam[3:6])[0:2] / rodrigues(cam[0:3], X - cam[3:6])[2], rodrigues(cam[0:3], X - cam[3:6])[0:2] / rodrigues(cam[0:3], X - cam[3:6])[2]) ^ 2) * cam[6] + cam[7:9]
def residual(p, f) = p[14] * (project(p[0:11], p[11:14]) - f)
`;

const ROSENBROCK = 'sum(100 * (x[1:] - x[:-1] ^ 2) ^ 2 + (1 - x[:-1]) ^ 2)';
const PROGRAMS = {
  tall: 'input t[200], y[200]\nparam p[3]\noutput r = p[0] * exp(-p[1] * t) + p[2] - y\n',
  tallJ: 'input t[200], y[200]\nparam p[3]\noutput J = jacobian(p[0] * exp(-p[1] * t) + p[2] - y, p)\n',
  wide: 'input A[3, 200]\nparam x[200]\noutput r = tanh(A @ sin(x))\n',
  wideJ: 'input A[3, 200]\nparam x[200]\noutput J = jacobian(tanh(A @ sin(x)), x)\n',
  rosen: `param x[100]\noutput f = ${ROSENBROCK}\n`,
  rosenHvp: `param x[100]\ninput v[100]\noutput hv = jvp(gradient(${ROSENBROCK}, x), x, v)\n`,
  rosenH: `param x[100]\noutput H = hessian(${ROSENBROCK}, x)\n`,
  lse: 'input A[100, 100]\nparam x[100]\noutput f = logsumexp(A @ tanh(x))\n',
  lseH: 'input A[100, 100]\nparam x[100]\noutput H = hessian(logsumexp(A @ tanh(x)), x)\n',
  ba: `${BA_DEFS}param p[15]\ninput f[2]\noutput r = residual(p, f)\n`,
  baJ: `${BA_DEFS}param p[15]\ninput f[2]\noutput J = jacobian(residual(p, f), p)\n`,
};
// The same modules at another point: the bundle adjustment at a zero rotation.
PROGRAMS.ba0 = PROGRAMS.ba;
PROGRAMS.ba0J = PROGRAMS.baJ;

// The derivative programs (the others are what they are measured against).
const DERIVED = ['tallJ', 'wideJ', 'rosenHvp', 'rosenH', 'lseH', 'baJ', 'ba0J'];
const dir = mkdtempSync(path.join(tmpdir(), 'gradc-bench-derivs-'));
const modules = {};
const stats = {};
async function load(key, name, compiler) {
  const result = compiler(PROGRAMS[name], { filename: `${name}.expr`, format: 'js' });
  if (!result.ok) {
    console.error(`${key}: ${result.diagnostics.map((d) => d.text).join('\n')}`);
    process.exit(1);
  }
  const file = path.join(dir, `${key}.mjs`);
  writeFileSync(file, result.code);
  modules[key] = await import(pathToFileURL(file).href);
  stats[key] = result.stats;
}
try {
  for (const name of Object.keys(PROGRAMS)) await load(name, name, compile);
  if (baseline) for (const name of DERIVED) await load(`base:${name}`, name, baseline);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const random = makeRng(7).uniform;
const vector = (n, lo = -1, hi = 1) => Float64Array.from({ length: n }, () => lo + (hi - lo) * random());
const args = {
  tall: { t: Float64Array.from({ length: 200 }, (_, i) => i / 40), y: vector(200), p: Float64Array.of(2, 0.7, 0.1) },
  wide: { A: vector(600), x: vector(200) },
  rosen: { x: vector(100, -1.5, 1.5), v: vector(100) },
  lse: { A: vector(10000), x: vector(100) },
  // A camera 5 units from a point near the origin, looking at it; focal 500.
  ba: { p: Float64Array.of(0.1, -0.2, 0.05, 0.3, -0.2, -5, 500, 320, 240, 1e-3, 1e-6, 0.2, 0.1, 0.3, 0.9), f: Float64Array.of(340, 250) },
  ba0: { p: Float64Array.of(0, 0, 0, 0.3, -0.2, -5, 500, 320, 240, 1e-3, 1e-6, 0.2, 0.1, 0.3, 0.9), f: Float64Array.of(340, 250) },
};
const argsOf = (name) => args[name.replace(/^base:/, '').replace(/(J|Hvp|H)$/, '')];

// Values: the Jacobians against forward differences would be the check's business; here only
// what the bench claims: the dense Hessian is exactly symmetric.
const H = modules.lseH.forward(argsOf('lseH')).H;
let symmetric = true;
for (let i = 0; i < 100; i++) for (let j = 0; j < i; j++) if (H[i * 100 + j] !== H[j * 100 + i]) symmetric = false;
const Hr = modules.rosenH.forward(argsOf('rosenH')).H;
for (let i = 0; i < 100; i++) for (let j = 0; j < i; j++) if (Hr[i * 100 + j] !== Hr[j * 100 + i]) symmetric = false;

// The baseline's derivatives must give the same values (up to the rounding of a different order).
if (baseline)
  for (const name of DERIVED) {
    const [a, b] = [modules[name], modules[`base:${name}`]].map((m) => Object.values(m.forward(argsOf(name)))[0]);
    for (let k = 0; k < a.length; k++)
      if (!(Math.abs(a[k] - b[k]) <= 1e-9 * (1 + Math.abs(b[k])))) {
        console.error(`${name}: element ${k} is ${a[k]} here and ${b[k]} in the baseline`);
        process.exit(1);
      }
  }

const forwardBatch = (name) => {
  const m = modules[name];
  const a = argsOf(name);
  const o = m.createOutputs();
  return (n) => {
    for (let k = 0; k < n; k++) m.forwardInto(a, o);
    return o;
  };
};
const backwardBatch = (name) => {
  const m = modules[name];
  const a = argsOf(name);
  const g = m.createGrad();
  return (n) => {
    for (let k = 0; k < n; k++) m.backwardInto(a, undefined, g);
    return g;
  };
};
const units = [
  ...Object.keys(modules).map((name) => ({ id: `${name}.forward`, batch: forwardBatch(name) })),
  { id: 'rosen.backward', batch: backwardBatch('rosen') },
  { id: 'lse.backward', batch: backwardBatch('lse') },
];
console.log(`gradc derivative benchmarks: ${machineLine()}`);
const timed = timeUnits(units, settings);
const ns = (id) => timed.get(id).median;
const ratio = (a, b) => pairedRatio(timed.get(a), timed.get(b));
const ops = (name) => `${stats[name].forwardOperations} (${stats[name].emitted})`;
const us = (id) => `${(ns(id) / 1000).toFixed(2)} us`;

const versus = (name) => (baseline ? [`${ratio(`${name}.forward`, `base:${name}.forward`).toFixed(2)} (${stats[`base:${name}`].forwardOperations} operations)`] : []);
const rows = [
  ['Jacobian, m = 200, n = 3', us('tallJ.forward'), `${ratio('tallJ.forward', 'tall.forward').toFixed(2)}x a forward call`, '<= 9x', ops('tallJ'), ops('tall'), ...versus('tallJ')],
  ['Jacobian, m = 3, n = 200', us('wideJ.forward'), `${ratio('wideJ.forward', 'wide.forward').toFixed(2)}x a forward call`, '<= 9x', ops('wideJ'), ops('wide'), ...versus('wideJ')],
  ['HVP, Rosenbrock n = 100', us('rosenHvp.forward'), `${ratio('rosenHvp.forward', 'rosen.backward').toFixed(2)}x a gradient`, '<= 5x', ops('rosenHvp'), `${stats.rosen.backwardOperations} (backward)`, ...versus('rosenHvp')],
  ['Hessian, Rosenbrock n = 100 (tridiagonal)', us('rosenH.forward'), `${ratio('rosenH.forward', 'rosen.backward').toFixed(2)}x a gradient`, '<= 300x', ops('rosenH'), `${stats.rosen.backwardOperations} (backward)`, ...versus('rosenH')],
  ['Hessian, dense n = 100', us('lseH.forward'), `${ratio('lseH.forward', 'lse.backward').toFixed(2)}x a gradient`, '<= 300x', ops('lseH'), `${stats.lse.backwardOperations} (backward)`, ...versus('lseH')],
  ['Bundle adjustment residual, 2 x 15 Jacobian', us('baJ.forward'), `${ratio('baJ.forward', 'ba.forward').toFixed(2)}x the residual`, '<= 2x', ops('baJ'), ops('ba'), ...versus('baJ')],
  ['the same at a zero rotation (small-angle branch)', us('ba0J.forward'), `${ratio('ba0J.forward', 'ba0.forward').toFixed(2)}x the residual`, '<= 2x', ops('ba0J'), ops('ba0'), ...versus('ba0J')],
];
const header = ['derivative', 'time per call', 'ratio', 'goal', 'operations', 'operations of the reference', ...(baseline ? ['÷ baseline (its operations)'] : [])];
const table = markdownTable(header, rows, ['l', 'r', 'l', 'l', 'r', 'r', 'r'].slice(0, header.length));
console.log(`\n${table}\n`);
console.log(`Hessians exactly symmetric: ${symmetric ? 'yes' : 'NO'}`);
if (!symmetric) process.exitCode = 1;
