// The CS231n sigmoid neuron (neuron.expr) for the peers: its arguments, the tape and TF.js
// versions of its program, and the lecture's published numbers at the lecture's point.
import { sum } from '../tape.mjs';

export const title = 'CS231n sigmoid neuron';
export const output = 'f';
export const inputs = {};
export const params = { w: [3], x: [2] };

export function makeArgs() {
  return { w: Float64Array.of(2, -3, -3), x: Float64Array.of(-1, -2) };
}

/** shared/spec/cs231n.md, to the digits published there. */
export const published = {
  digits: 1e-7,
  outputs: { f: 0.7310585786 },
  grad: { w: [-0.1966119, -0.3932238, 0.1966119], x: [0.3932238, -0.5898357] },
};

export function tape({ w, x }) {
  return sum([w[0].mul(x[0]), w[1].mul(x[1]), w[2]]).sigmoid();
}

export function tfjs(tf, { w, x }) {
  const z = tf.add(tf.sum(tf.mul(tf.slice(w, 0, 2), x)), tf.sum(tf.slice(w, 2, 1)));
  return tf.sigmoid(z);
}
