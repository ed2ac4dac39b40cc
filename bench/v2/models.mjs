// The programs of the version 2 benchmarks (bench/batched.mjs, rows.mjs, warmup.mjs, sizes.mjs):
// the spiral net written per row and as whole matrices, the spring chain and the cloth written
// with rows, with slices and with scalar coordinates, their arguments, and hand-written loops
// for the physics models. Compiled in process with dist/index.js (npm run build).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { makeRng } from '../lib/rng.mjs';

let compileFn;
/** compile() from the built compiler, or a sentence saying how to build it. */
export async function compiler() {
  if (!compileFn) {
    try {
      compileFn = (await import('../../dist/index.js')).compile;
    } catch (e) {
      throw new Error(`dist/index.js cannot be imported (run \`npm run build\` first): ${e.message}`);
    }
  }
  return compileFn;
}

/** Compiles `source` and imports the module; returns { mod, code, ms } (ms: the compile alone). */
export async function compileAndImport(source, name) {
  const compile = await compiler();
  const start = performance.now();
  const result = compile(source, { filename: `${name}.expr`, format: 'js' });
  const ms = performance.now() - start;
  if (!result.ok) throw new Error(`${name} does not compile:\n${result.diagnostics.map((d) => d.text).join('\n')}`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gradc-bench-'));
  try {
    const file = path.join(dir, `${name}.mjs`);
    writeFileSync(file, result.code);
    return { mod: await import(pathToFileURL(file).href), code: result.code, ms };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- the spiral two-layer net over the batch ---------------------------------------------------

const netHead = (N) => `const N = ${N}\ninput X[N, 2], Y[N, 3], reg\nparam W1[2, 100], b1[100], W2[100, 3], b2[3]\n`;
const l2 = '0.5 * reg * sum(W1 * W1) + 0.5 * reg * sum(W2 * W2)';

/** The net with a per-row comprehension: a def for one row's loss, a generator over rows. */
export const netPerRow = (N) =>
  `${netHead(N)}def row_loss(x, y) = -sum(y * log_softmax(relu(x @ W1 + b1) @ W2 + b2))\n` +
  `output loss = sum(row_loss(X[n], Y[n]) for n in 0..N) / N + ${l2}\n`;

/** The net with whole-matrix operations, as the course writes it (twolayer-batched.expr). */
export const netWhole = (N) => `${netHead(N)}output loss = -sum(Y * log_softmax(relu(X @ W1 + b1) @ W2 + b2, axis=1)) / N + ${l2}\n`;

/** `[b for i in 0..N]`, a body that ignores its variable, in a loss. */
export const broadcastRows = (N) => `const N = ${N}\nparam b[4]\ninput M[N, 4]\noutput l = sum(M * [b for i in 0..N])\n`;

/** A ring over a const N: each element times the next, the last wrapping to the first by a remainder. */
export const ringNext = (N) => `const N = ${N}\nparam x[N]\nparam w\noutput s = sum([x[(i + 1) % N] * x[i] * w for i in 0..N])\n`;

/** The spiral data and the course's initial weights (0.01 randn), for a batch of N rows. */
export function netArgs(N = 300, seed = 3) {
  const rng = makeRng(seed);
  const X = new Float64Array(N * 2), Y = new Float64Array(N * 3);
  for (let i = 0; i < N; i++) {
    const j = i % 3, r = (i / N), t = 4 * j + 4 * r + 0.2 * rng.gaussian();
    X[2 * i] = r * Math.sin(t);
    X[2 * i + 1] = r * Math.cos(t);
    Y[3 * i + j] = 1;
  }
  const randn = (n, s) => Float64Array.from({ length: n }, () => s * rng.gaussian());
  return { X, Y, reg: 1e-3, W1: randn(200, 0.5), b1: randn(100, 0.1), W2: randn(300, 0.5), b2: randn(3, 0.1) };
}

// ---- the spring chain -------------------------------------------------------------------------

export const CHAIN = 500;
const spring = 'def spring(a, b) = 0.5 * k * (sqrt(sum((b - a) * (b - a))) - rest) ^ 2';

/** Rows and a def: particle i is p[i]. */
export const chainRows = (N = CHAIN) =>
  `const N = ${N}\ninput k, rest, mg\nparam p[N, 2]\n${spring}\noutput energy = sum(spring(p[i], p[i + 1]) for i in 0..N-1) + mg * sum(p[:, 1])\n`;

/** Rows with slices: every spring at once from p[1:] - p[:-1]. */
export const chainSlices = (N = CHAIN) =>
  `const N = ${N}\ninput k, rest, mg\nparam p[N, 2]\nd = p[1:] - p[:-1]\n` +
  `output energy = 0.5 * k * sum((sqrt(sum(d * d, axis=1)) - rest) ^ 2) + mg * sum(p[:, 1])\n`;

/** Scalar coordinates (bench/models/chain.expr). */
export const chainScalar = (N = CHAIN) =>
  `const N = ${N}\ninput k, rest, mg\nparam x[N], y[N]\n` +
  `springs = sum(0.5 * k * (sqrt((x[i+1] - x[i])^2 + (y[i+1] - y[i])^2) - rest)^2 for i in 0..N-1)\noutput energy = springs + mg * sum(y)\n`;

/** A chain laid out roughly straight, springs stretched by about 20%: rows p, and x, y apart. */
export function chainArgs(N = CHAIN) {
  const rng = makeRng(5);
  const p = new Float64Array(2 * N), x = new Float64Array(N), y = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    x[i] = p[2 * i] = 1.2 * i + 0.1 * rng.gaussian();
    y[i] = p[2 * i + 1] = 0.3 * rng.gaussian();
  }
  return { rows: { k: 50, rest: 1, mg: 0.25, p }, scalar: { k: 50, rest: 1, mg: 0.25, x, y } };
}

// ---- the cloth ---------------------------------------------------------------------------------

export const CLOTH = 16;

/** Rows and a def, one generator per direction (examples/v2/cloth16.expr). */
export const clothRows = (S = CLOTH) =>
  `const S = ${S}\ninput k, rest, mg\nparam p[S, S, 3]\n${spring}\n` +
  `across = sum(sum(spring(p[r, c], p[r, c + 1]) for c in 0..S-1) for r in 0..S)\n` +
  `down = sum(sum(spring(p[r, c], p[r + 1, c]) for c in 0..S) for r in 0..S-1)\n` +
  `output energy = across + down + mg * sum(p[:, :, 2])\n`;

/** Slices of neighbours (examples/v2/cloth.expr). */
export const clothSlices = (S = CLOTH) =>
  `const S = ${S}\ninput k, rest, mg\nparam p[S, S, 3]\n` +
  `def stretch(d) = sum((sqrt(sum(d * d, axis=-1)) - rest) ^ 2)\n` +
  `output energy = 0.5 * k * (stretch(p[1:] - p[:-1]) + stretch(p[:, 1:] - p[:, :-1])) + mg * sum(p[:, :, 2])\n`;

/** Scalar coordinates x, y, z, each [S, S]. */
export const clothScalar = (S = CLOTH) => {
  const len = (a, b) => `sqrt((x[${b}] - x[${a}])^2 + (y[${b}] - y[${a}])^2 + (z[${b}] - z[${a}])^2)`;
  return (
    `const S = ${S}\ninput k, rest, mg\nparam x[S, S], y[S, S], z[S, S]\n` +
    `across = sum(sum(0.5 * k * (${len('r, c', 'r, c + 1')} - rest)^2 for c in 0..S-1) for r in 0..S)\n` +
    `down = sum(sum(0.5 * k * (${len('r, c', 'r + 1, c')} - rest)^2 for c in 0..S) for r in 0..S-1)\n` +
    `output energy = across + down + mg * sum(z)\n`
  );
};

export function clothArgs(S = CLOTH) {
  const rng = makeRng(6);
  const n = S * S;
  const p = new Float64Array(3 * n), x = new Float64Array(n), y = new Float64Array(n), z = new Float64Array(n);
  for (let r = 0; r < S; r++) for (let c = 0; c < S; c++) {
    const i = r * S + c;
    x[i] = p[3 * i] = 1.2 * c + 0.05 * rng.gaussian();
    y[i] = p[3 * i + 1] = 1.2 * r + 0.05 * rng.gaussian();
    z[i] = p[3 * i + 2] = 0.1 * rng.gaussian();
  }
  return { rows: { k: 40, rest: 1, mg: 0.3, p }, scalar: { k: 40, rest: 1, mg: 0.3, x, y, z } };
}

// ---- hand-written loops for the physics models (rows layout) -----------------------------------
// Written as an expert would for this one layout: straight loops over neighbours, the
// coordinates of a spring in locals, energy and force in one pass.

/** One spring between particles at offsets a and b (3 coordinates); adds its force into g. */
function spring3(p, g, a, b, k, rest) {
  const dx = p[b] - p[a], dy = p[b + 1] - p[a + 1], dz = p[b + 2] - p[a + 2];
  const len = Math.sqrt(dx * dx + dy * dy + dz * dz), stretch = len - rest;
  if (g) {
    const f = (k * stretch) / len;
    g[b] += f * dx; g[b + 1] += f * dy; g[b + 2] += f * dz;
    g[a] -= f * dx; g[a + 1] -= f * dy; g[a + 2] -= f * dz;
  }
  return 0.5 * k * stretch * stretch;
}

function chainEnergy(p, g, n, k, rest, mg) {
  let e = 0;
  for (let i = 0; i + 1 < n; i++) {
    const a = 2 * i;
    const dx = p[a + 2] - p[a], dy = p[a + 3] - p[a + 1];
    const len = Math.sqrt(dx * dx + dy * dy), stretch = len - rest;
    e += 0.5 * k * stretch * stretch;
    if (g) {
      const f = (k * stretch) / len;
      g[a + 2] += f * dx; g[a + 3] += f * dy; g[a] -= f * dx; g[a + 1] -= f * dy;
    }
  }
  for (let i = 0; i < n; i++) { e += mg * p[2 * i + 1]; if (g) g[2 * i + 1] += mg; }
  return e;
}

function clothEnergy(p, g, s, k, rest, mg) {
  let e = 0;
  for (let r = 0; r < s; r++) for (let c = 0; c < s; c++) {
    const a = 3 * (r * s + c);
    if (c + 1 < s) e += spring3(p, g, a, a + 3, k, rest);
    if (r + 1 < s) e += spring3(p, g, a, a + 3 * s, k, rest);
    e += mg * p[a + 2];
    if (g) g[a + 2] += mg;
  }
  return e;
}

/** The chain or the cloth as a module with backwardInto/forwardInto, hand-written. */
export function handSprings(kind, size) {
  const energy = kind === 'chain' ? chainEnergy : clothEnergy;
  const length = kind === 'chain' ? 2 * size : 3 * size * size;
  return {
    createGrad: () => ({ p: new Float64Array(length) }),
    createOutputs: () => ({ energy: 0 }),
    forwardInto(a, o) {
      o.energy = energy(a.p, null, size, a.k, a.rest, a.mg);
      return o;
    },
    backwardInto(a, _seed, g, o) {
      g.p.fill(0);
      const e = energy(a.p, g.p, size, a.k, a.rest, a.mg);
      if (o) o.energy = e;
      return g;
    },
  };
}
