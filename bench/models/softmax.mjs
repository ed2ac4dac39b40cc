// The softmax linear classifier on 784 inputs and 10 classes (softmax.expr) for the peers: its
// arguments (an image of uniform noise) and the tape and TF.js versions of its program.
import { makeRng, oneHot } from '../lib/rng.mjs';
import { matvec, softmaxCrossEntropy } from '../tape.mjs';

export const title = 'softmax classifier, 784 inputs, 10 classes (7850 params)';
export const output = 'loss';
export const inputs = { x: [784], y: [10] };
export const params = { W: [10, 784], b: [10] };

export function makeArgs() {
  const rng = makeRng(3);
  return {
    x: rng.array(784, rng.uniform),
    y: oneHot(10, 7),
    W: rng.array(7840, () => 0.01 * rng.gaussian()),
    b: rng.array(10, () => 0.01 * rng.gaussian()),
  };
}

export function tape({ x, y, W, b }) {
  const scores = matvec(W, x, 10, 784).map((s, k) => s.add(b[k]));
  return softmaxCrossEntropy(scores, y);
}

export function tfjs(tf, { x, y, W, b }) {
  const scores = tf.add(tf.dot(W, x), b);
  return tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(scores))));
}
