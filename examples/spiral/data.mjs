// The spiral data set of CS231n's "minimal neural network case study", made
// reproducible: a seeded PRNG (mulberry32) and Box-Muller Gaussians instead of
// numpy's global random state. For class j of K, N points:
//   r = linspace(0, 1, N)
//   t = linspace(4j, 4(j+1), N) + 0.2 * gaussian noise
//   point = (r sin t, r cos t)

/** mulberry32: a small, fast 32-bit PRNG; returns uniforms in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return function uniform() {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded random source: uniform() in [0, 1) and gaussian() ~ N(0, 1) (Box-Muller). */
export function makeRng(seed) {
  const uniform = mulberry32(seed);
  let spare = NaN; // Box-Muller makes two Gaussians at a time; keep the second
  function gaussian() {
    if (!Number.isNaN(spare)) {
      const g = spare;
      spare = NaN;
      return g;
    }
    const u1 = 1 - uniform(); // in (0, 1]: log(u1) is finite
    const u2 = uniform();
    const radius = Math.sqrt(-2 * Math.log(u1));
    spare = radius * Math.sin(2 * Math.PI * u2);
    return radius * Math.cos(2 * Math.PI * u2);
  }
  return { uniform, gaussian };
}

/** numpy's linspace(a, b, n): n evenly spaced values, both ends included. */
export function linspace(a, b, n) {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = n === 1 ? a : a + ((b - a) * i) / (n - 1);
  return out;
}

export const SPIRAL_SEED = 231;

/**
 * The spiral data: `X` is flat row-major [N*K, 2] (point i is X[2i], X[2i+1]),
 * `labels` holds each point's class, `count` = N*K.
 */
export function makeSpiral({ N = 100, K = 3, seed = SPIRAL_SEED } = {}) {
  const D = 2;
  const rng = makeRng(seed);
  const count = N * K;
  const X = new Float64Array(count * D);
  const labels = new Uint8Array(count);
  const r = linspace(0, 1, N);
  for (let j = 0; j < K; j++) {
    const t = linspace(4 * j, 4 * (j + 1), N);
    for (let i = 0; i < N; i++) {
      const ix = j * N + i;
      const angle = t[i] + 0.2 * rng.gaussian();
      X[ix * D] = r[i] * Math.sin(angle);
      X[ix * D + 1] = r[i] * Math.cos(angle);
      labels[ix] = j;
    }
  }
  return { X, labels, count, D, K };
}
