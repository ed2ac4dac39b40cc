// Seeded random numbers for the benchmark data, so that every run times the same arguments.
// Values are rounded to float32 so that the float32 peer (TF.js) sees exactly the same inputs.

/** mulberry32: a small, fast 32-bit generator; returns uniform numbers in [0, 1). */
export function makeRng(seed) {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
  return {
    uniform,
    gaussian,
    /** A Float64Array of n float32-representable values drawn by `draw`. */
    array: (n, draw) => Float64Array.from({ length: n }, () => Math.fround(draw())),
  };
}

/** A one-hot Float64Array of length n with a 1 at index `hot`. */
export function oneHot(n, hot) {
  const y = new Float64Array(n);
  y[hot] = 1;
  return y;
}
