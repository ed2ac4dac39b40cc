// A hand-written batched step of the spiral two-layer net (the course's code in plain JS loops,
// W1 [2, H], W2 [H, 3] as in twolayer-batched.expr): what an expert writes without a compiler,
// the yardstick of the batched bench. Specialized as bench/hand/spiral.mjs is (2 features, 3
// classes in locals); one pass over the hidden units per row forward, one backward. One call
// computes the mean loss and every gradient.

export function makeHandNet(N, D, H, K) {
  if (D !== 2 || K !== 3) throw new Error('the hand-written net is written for 2 features and 3 classes');
  const hidden = new Float64Array(N * H); // relu(X W1 + b1), kept for the backward pass
  const dscores = new Float64Array(N * 3); // d loss / d scores, row by row

  function backwardInto(a, _seed, g, o) {
    const { X, Y, reg, W1, b1, W2, b2 } = a;
    const gW1 = g.W1, gb1 = g.b1, gW2 = g.W2, gb2 = g.b2;
    let loss = 0;
    for (let n = 0; n < N; n++) {
      const x0 = X[2 * n], x1 = X[2 * n + 1], hn = n * H;
      let s0 = b2[0], s1 = b2[1], s2 = b2[2];
      for (let j = 0; j < H; j++) {
        const z = x0 * W1[j] + x1 * W1[H + j] + b1[j];
        const h = z > 0 ? z : 0;
        hidden[hn + j] = h;
        s0 += h * W2[3 * j];
        s1 += h * W2[3 * j + 1];
        s2 += h * W2[3 * j + 2];
      }
      const m = Math.max(s0, s1, s2);
      const e0 = Math.exp(s0 - m), e1 = Math.exp(s1 - m), e2 = Math.exp(s2 - m);
      const sum = e0 + e1 + e2, logZ = m + Math.log(sum);
      const y0 = Y[3 * n], y1 = Y[3 * n + 1], y2 = Y[3 * n + 2];
      loss -= y0 * (s0 - logZ) + y1 * (s1 - logZ) + y2 * (s2 - logZ);
      const ys = (y0 + y1 + y2) / sum;
      dscores[3 * n] = (e0 * ys - y0) / N;
      dscores[3 * n + 1] = (e1 * ys - y1) / N;
      dscores[3 * n + 2] = (e2 * ys - y2) / N;
    }
    let r1 = 0, r2 = 0;
    for (let i = 0; i < 2 * H; i++) { const w = W1[i]; r1 += w * w; gW1[i] = reg * w; }
    for (let i = 0; i < 3 * H; i++) { const w = W2[i]; r2 += w * w; gW2[i] = reg * w; }
    gb1.fill(0);
    let c0 = 0, c1 = 0, c2 = 0;
    for (let n = 0; n < N; n++) {
      const d0 = dscores[3 * n], d1 = dscores[3 * n + 1], d2 = dscores[3 * n + 2];
      const x0 = X[2 * n], x1 = X[2 * n + 1], hn = n * H;
      c0 += d0; c1 += d1; c2 += d2;
      for (let j = 0; j < H; j++) {
        const h = hidden[hn + j];
        if (h > 0) {
          gW2[3 * j] += h * d0;
          gW2[3 * j + 1] += h * d1;
          gW2[3 * j + 2] += h * d2;
          const dh = d0 * W2[3 * j] + d1 * W2[3 * j + 1] + d2 * W2[3 * j + 2];
          gb1[j] += dh;
          gW1[j] += x0 * dh;
          gW1[H + j] += x1 * dh;
        }
      }
    }
    gb2[0] = c0; gb2[1] = c1; gb2[2] = c2;
    o.loss = loss / N + 0.5 * reg * r1 + 0.5 * reg * r2;
    return g;
  }

  return {
    backwardInto,
    createGrad: () => ({ W1: new Float64Array(2 * H), b1: new Float64Array(H), W2: new Float64Array(3 * H), b2: new Float64Array(3) }),
    createOutputs: () => ({ loss: 0 }),
  };
}
