// bench/hand/softmax.mjs with its backward's one long loop (the outer product d * x into each
// row of W's gradient) unrolled by four, as gradc unrolls its innermost loops: the hand-written
// row that shows what that technique alone is worth. Everything else is softmax.mjs's.
import { seedOf, crossEntropy } from './shared.mjs';
import { D, K, check, createGrad, createOutputs, scores, scoresOf } from './softmax.mjs';

export { createGrad, createOutputs, forward, forwardInto } from './softmax.mjs';

export function backwardInto(args, seed, grad, outputs) {
  check(args);
  const g = seedOf(seed, 'loss');
  const { W: gW, b: gb } = grad;
  scoresOf(args);
  if (g === undefined) {
    if (outputs !== undefined) outputs.loss = crossEntropy(scores, args.y, K);
    gW.fill(0);
    gb.fill(0);
    return grad;
  }
  const loss = crossEntropy(scores, args.y, K, g);
  if (outputs !== undefined) outputs.loss = loss;
  const x = args.x;
  const whole = D - (D % 4);
  for (let k = 0; k < K; k++) {
    const d = scores[k];
    const row = k * D;
    gb[k] = d;
    for (let i = 0; i < whole; i += 4) {
      gW[row + i] = d * x[i];
      gW[row + i + 1] = d * x[i + 1];
      gW[row + i + 2] = d * x[i + 2];
      gW[row + i + 3] = d * x[i + 3];
    }
    for (let i = whole; i < D; i++) gW[row + i] = d * x[i];
  }
  return grad;
}

export function backward(args, seed) {
  const outputs = createOutputs();
  const grad = backwardInto(args, seed, createGrad(), outputs);
  return { outputs, grad };
}
