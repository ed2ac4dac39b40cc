// Rosenbrock's function in 1000 dimensions (rosenbrock.expr) for the peers: its argument and the
// tape and TF.js versions of its program.
import { makeRng } from '../lib/rng.mjs';
import { sum } from '../tape.mjs';

const N = 1000;

export const title = 'Rosenbrock, 1000 dimensions';
export const output = 'f';
export const inputs = {};
export const params = { x: [N] };

export function makeArgs() {
  const rng = makeRng(4);
  return { x: rng.array(N, () => 4 * rng.uniform() - 2) };
}

export function tape({ x }) {
  const terms = [];
  for (let i = 0; i < N - 1; i++) {
    terms.push(x[i + 1].sub(x[i].pow(2)).pow(2).mul(100).add(x[i].neg().add(1).pow(2)));
  }
  return sum(terms);
}

export function tfjs(tf, { x }) {
  const head = tf.slice(x, 0, N - 1);
  const tail = tf.slice(x, 1, N - 1);
  const t = tf.sub(tail, tf.square(head));
  return tf.sum(tf.add(tf.mul(100, tf.square(t)), tf.square(tf.sub(1, head))));
}
