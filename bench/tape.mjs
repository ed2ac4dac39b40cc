// A tape-based scalar autograd in the style of micrograd (karpathy/micrograd, engine.py), the
// "tape" peer of the benchmarks. Every scalar operation makes a Value node that remembers its
// operands and a backward closure (upstream gradient times local gradient, accumulated into the
// operands); backward() sorts the graph topologically and walks it in reverse. Numbers mixed into
// an operation are wrapped in Value nodes, as micrograd does. The sort is iterative so that deep
// graphs (long sums) cannot overflow the call stack.

const NO_OPERANDS = [];
const nothing = () => {};

const wrap = (v) => (v instanceof Value ? v : new Value(v));

export class Value {
  constructor(data, operands = NO_OPERANDS) {
    this.data = data;
    this.grad = 0;
    this.operands = operands;
    this.backwardStep = nothing;
  }

  add(other) {
    const o = wrap(other);
    const out = new Value(this.data + o.data, [this, o]);
    out.backwardStep = () => {
      this.grad += out.grad;
      o.grad += out.grad;
    };
    return out;
  }

  mul(other) {
    const o = wrap(other);
    const out = new Value(this.data * o.data, [this, o]);
    out.backwardStep = () => {
      this.grad += o.data * out.grad;
      o.grad += this.data * out.grad;
    };
    return out;
  }

  /** `this ** n` for a constant number n. */
  pow(n) {
    const out = new Value(this.data ** n, [this]);
    out.backwardStep = () => {
      this.grad += n * this.data ** (n - 1) * out.grad;
    };
    return out;
  }

  exp() {
    const out = new Value(Math.exp(this.data), [this]);
    out.backwardStep = () => {
      this.grad += out.data * out.grad;
    };
    return out;
  }

  log() {
    const out = new Value(Math.log(this.data), [this]);
    out.backwardStep = () => {
      this.grad += out.grad / this.data;
    };
    return out;
  }

  sqrt() {
    const out = new Value(Math.sqrt(this.data), [this]);
    out.backwardStep = () => {
      this.grad += out.grad / (2 * out.data);
    };
    return out;
  }

  relu() {
    const out = new Value(this.data > 0 ? this.data : 0, [this]);
    out.backwardStep = () => {
      if (out.data > 0) this.grad += out.grad;
    };
    return out;
  }

  /** The CS231n sigmoid gate: one node, local gradient out * (1 - out), stable for any input. */
  sigmoid() {
    const z = this.data;
    const e = Math.exp(-Math.abs(z));
    const out = new Value(z >= 0 ? 1 / (1 + e) : e / (1 + e), [this]);
    out.backwardStep = () => {
      this.grad += out.data * (1 - out.data) * out.grad;
    };
    return out;
  }

  neg() {
    return this.mul(-1);
  }

  sub(other) {
    return this.add(wrap(other).neg());
  }

  /** Sets this node's gradient to 1 and back-propagates through everything it depends on. */
  backward() {
    const order = [];
    const seen = new Set([this]);
    const path = [this];
    const next = [0];
    while (path.length > 0) {
      const top = path.length - 1;
      const node = path[top];
      if (next[top] < node.operands.length) {
        const child = node.operands[next[top]++];
        if (!seen.has(child)) {
          seen.add(child);
          path.push(child);
          next.push(0);
        }
      } else {
        order.push(node);
        path.pop();
        next.pop();
      }
    }
    this.grad = 1;
    for (let i = order.length - 1; i >= 0; i--) order[i].backwardStep();
  }
}

/** Sum of Values (or numbers) as a chain of binary additions, as micrograd's `sum` builds it. */
export function sum(values) {
  let total = wrap(values[0]);
  for (let i = 1; i < values.length; i++) total = total.add(values[i]);
  return total;
}

/** `W @ x` for a flat row-major [m, n] matrix W and a vector x, both arrays of Values or numbers. */
export function matvec(W, x, m, n) {
  const out = new Array(m);
  for (let i = 0; i < m; i++) {
    const terms = new Array(n);
    for (let j = 0; j < n; j++) terms[j] = wrap(W[i * n + j]).mul(x[j]);
    out[i] = sum(terms);
  }
  return out;
}

/**
 * `-sum(y * log_softmax(s))`: softmax cross-entropy. The max of the scores is shifted out as a
 * constant (log-sum-exp does not depend on it, so no gradient is lost) to keep exp finite.
 */
export function softmaxCrossEntropy(scores, y) {
  let max = -Infinity;
  for (const s of scores) max = Math.max(max, s.data);
  const lse = sum(scores.map((s) => s.sub(max).exp())).log().add(max);
  return sum(scores.map((s, k) => s.sub(lse).mul(y[k]))).neg();
}
