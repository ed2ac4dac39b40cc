// One sample of the CS231n spiral two-layer net (spiral.expr) for the peers: its arguments and
// the tape and TF.js versions of its program.
import { makeRng, oneHot } from '../lib/rng.mjs';
import { matvec, softmaxCrossEntropy } from '../tape.mjs';

export const title = 'spiral two-layer net, one sample (603 params)';
export const output = 'loss';
export const inputs = { x: [2], y: [3] };
export const params = { W1: [100, 2], b1: [100], W2: [3, 100], b2: [3] };

export function makeArgs() {
  const rng = makeRng(2);
  // A point of class 1 of the spiral data: radius r, angle 4 * (1 + r) plus noise.
  const r = 0.6;
  const t = 4 * (1 + r) + 0.2 * rng.gaussian();
  return {
    x: Float64Array.of(Math.fround(r * Math.sin(t)), Math.fround(r * Math.cos(t))),
    y: oneHot(3, 1),
    W1: rng.array(200, rng.gaussian),
    b1: rng.array(100, () => 0.1 * rng.gaussian()),
    W2: rng.array(300, () => 0.1 * rng.gaussian()),
    b2: rng.array(3, () => 0.01 * rng.gaussian()),
  };
}

export function tape({ x, y, W1, b1, W2, b2 }) {
  const h = matvec(W1, x, 100, 2).map((z, j) => z.add(b1[j]).relu());
  const scores = matvec(W2, h, 3, 100).map((s, k) => s.add(b2[k]));
  return softmaxCrossEntropy(scores, y);
}

export function tfjs(tf, { x, y, W1, b1, W2, b2 }) {
  const h = tf.relu(tf.add(tf.dot(W1, x), b1));
  const scores = tf.add(tf.dot(W2, h), b2);
  return tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(scores))));
}
