// What the hand-written reference modules in this folder share: the argument and seed handling
// that the generated-module contract (shared/spec/modules.md) asks of forward/backward, and two
// kernels an expert would keep in a small library (a dot product, softmax cross-entropy).

// The callers read the argument (`args.w`) themselves: a property name fixed at the call site
// keeps that load monomorphic, where `args[name]` here would turn megamorphic across models.

/** `value`, the tensor argument `name`, after checking that it is an array of `length` numbers. */
export function tensorArg(value, name, length) {
  if (value == null || typeof value.length !== 'number') {
    throw new TypeError(`argument '${name}' is missing: expected an array of ${length} numbers`);
  }
  if (value.length !== length) {
    throw new RangeError(`argument '${name}' has length ${value.length}, expected ${length}`);
  }
  return value;
}

/** `value`, the scalar argument `name`, after checking that it is a number. */
export function scalarArg(value, name) {
  if (typeof value !== 'number') throw new TypeError(`argument '${name}' must be a number`);
  return value;
}

/**
 * The upstream gradient of the scalar output `output`: 1 when `seed` is left out (the loss
 * case), undefined when `seed` leaves the output out (its terms then contribute nothing).
 */
export function seedOf(seed, output) {
  if (seed === undefined) return 1;
  const value = seed[output];
  if (value !== undefined && typeof value !== 'number') {
    throw new TypeError(`seed '${output}' must be a number`);
  }
  return value;
}

/** `W[row .. row+n) . x[0 .. n)`, with four accumulators (V8 does not vectorize). */
export function dotRow(W, row, x, n) {
  const tail = n - (n % 4);
  let a0 = 0;
  let a1 = 0;
  let a2 = 0;
  let a3 = 0;
  for (let j = 0; j < tail; j += 4) {
    a0 += W[row + j] * x[j];
    a1 += W[row + j + 1] * x[j + 1];
    a2 += W[row + j + 2] * x[j + 2];
    a3 += W[row + j + 3] * x[j + 3];
  }
  for (let j = tail; j < n; j++) a0 += W[row + j] * x[j];
  return a0 + a1 + (a2 + a3);
}

/**
 * Softmax cross-entropy `-sum(y * log_softmax(s))` over n classes, stable for any finite s:
 * `sum(y) * logsumexp(s) - sum(y * s)`, with the max subtracted inside logsumexp. Returns it.
 * The scores s are scratch: when an upstream gradient g is given, they are overwritten with
 * g times the gradient, g * (softmax(s) * sum(y) - y).
 */
export function crossEntropy(s, y, n, g) {
  let max = -Infinity;
  let ysum = 0;
  let ys = 0;
  for (let k = 0; k < n; k++) {
    if (s[k] > max) max = s[k];
    ysum += y[k];
    ys += y[k] * s[k];
  }
  let z = 0;
  for (let k = 0; k < n; k++) {
    const e = Math.exp(s[k] - max);
    s[k] = e;
    z += e;
  }
  if (g !== undefined) {
    const scale = (g * ysum) / z;
    for (let k = 0; k < n; k++) s[k] = s[k] * scale - g * y[k];
  }
  return ysum * (max + Math.log(z)) - ys;
}
