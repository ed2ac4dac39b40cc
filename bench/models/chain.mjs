// The hanging chain of 500 masses and springs (chain.expr) for the peers: its arguments (a chain
// laid out roughly straight, springs stretched by about 20%) and the tape and TF.js versions.
import { makeRng } from '../lib/rng.mjs';
import { sum } from '../tape.mjs';

const N = 500;

export const title = 'hanging chain energy, 500 masses (1000 params)';
export const output = 'energy';
export const inputs = { k: [], rest: [], mg: [] };
export const params = { x: [N], y: [N] };

export function makeArgs() {
  const rng = makeRng(5);
  const x = new Float64Array(N);
  for (let i = 0; i < N; i++) x[i] = Math.fround(1.2 * i + 0.1 * rng.gaussian());
  return { k: 50, rest: 1, mg: 0.25, x, y: rng.array(N, () => 0.3 * rng.gaussian()) };
}

export function tape({ k, rest, mg, x, y }) {
  const springs = [];
  for (let i = 0; i < N - 1; i++) {
    const dx = x[i + 1].sub(x[i]);
    const dy = y[i + 1].sub(y[i]);
    const length = dx.pow(2).add(dy.pow(2)).sqrt();
    springs.push(length.sub(rest).pow(2).mul(0.5 * k));
  }
  return sum(springs).add(sum(y).mul(mg));
}

export function tfjs(tf, { k, rest, mg, x, y }) {
  const dx = tf.sub(tf.slice(x, 1, N - 1), tf.slice(x, 0, N - 1));
  const dy = tf.sub(tf.slice(y, 1, N - 1), tf.slice(y, 0, N - 1));
  const stretch = tf.sub(tf.sqrt(tf.add(tf.square(dx), tf.square(dy))), rest);
  const springs = tf.sum(tf.mul(tf.mul(0.5, k), tf.square(stretch)));
  return tf.add(springs, tf.mul(mg, tf.sum(y)));
}
