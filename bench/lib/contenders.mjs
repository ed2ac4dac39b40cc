// The contenders of the model benchmarks, each in a common shape: what it computes (for the
// correctness check) and batch functions to time (`batch(n)` makes n calls).
//
// Each batch function is compiled on its own (new Function, with a unique source), so its call
// site sees one callee only and V8 can inline it, as in a user's own loop; a shared timing loop
// would turn megamorphic and add several ns to every call of the fast contenders.
//
// The arguments, gradient holders and outputs reach the call as parameters of the batch
// function, not as variables it closes over: V8 treats a closed-over value that never changes as
// a constant, and once the module's function is inlined it folds those arrays' addresses and
// lengths into the code (no loads, no bounds checks). That would favour whichever module is
// small enough to be inlined (V8 inlines up to 460 bytes of bytecode) and time a case no
// training loop has: its arguments change from call to call.
import { Value } from '../tape.mjs';
import { tfjsRunner } from './tfjs.mjs';

/** The contenders by key, in table order, with their names in the tables. */
export const LABELS = {
  hand: 'hand-written',
  handUnrolled: 'hand-written, unrolled by 4',
  gradc: 'gradc',
  tfjs: 'TF.js (cpu, float32)',
  tape: 'tape autograd',
};

let batchCount = 0;

/**
 * A function `batch(n, a, g, o)` that evaluates `call` n times, with `context`'s entries in
 * scope; `batch.params` holds `values`' a, g and o, which the timing loop passes on every batch
 * from its own, megamorphic call site (see the top of the file).
 */
export function batchOf(context, call, values = {}) {
  const names = Object.keys(context);
  const source = `// batch ${++batchCount}\nreturn function batch(n, a, g, o) {\n  let r;\n  for (let i = 0; i < n; i++) r = ${call};\n  return r;\n};`;
  const batch = new Function(...names, source)(...Object.values(context));
  batch.params = [values.a, values.g, values.o];
  return batch;
}

/**
 * A module with the generated-module contract (hand-written or gradc). Timed in the
 * allocation-free form (forwardInto/backwardInto, loss seed, outputs written too), plus the
 * allocating backward; every form is checked.
 */
export function moduleContender(key, mod, args) {
  const outputs = mod.createOutputs();
  const grad = mod.createGrad();
  const context = { m: mod };
  const values = { a: args, g: grad, o: outputs };
  return {
    key,
    label: LABELS[key],
    tolerance: 1e-9,
    results() {
      const intoOutputs = mod.createOutputs();
      const intoGrad = mod.createGrad();
      const intoBackOutputs = mod.createOutputs();
      mod.backwardInto(args, undefined, intoGrad, intoBackOutputs);
      return [
        { form: 'forward', outputs: mod.forward(args) },
        { form: 'backward', ...mod.backward(args) },
        { form: 'forwardInto', outputs: mod.forwardInto(args, intoOutputs) },
        { form: 'backwardInto', outputs: intoBackOutputs, grad: intoGrad },
      ];
    },
    timed: {
      backward: batchOf(context, 'm.backwardInto(a, undefined, g, o)', values),
      forward: batchOf(context, 'm.forwardInto(a, o)', values),
      backwardAlloc: batchOf(context, 'm.backward(a)', values),
    },
  };
}

/** The micrograd-style tape: leaf Values made from the arrays on each call, as a user would. */
export function tapeContender(model, args) {
  const names = Object.keys(model.params);
  const build = () => {
    const values = { ...args };
    for (const name of names) values[name] = Array.from(args[name], (v) => new Value(v));
    return { values, out: model.tape(values) };
  };
  const forward = () => ({ [model.output]: build().out.data });
  const backward = () => {
    const { values, out } = build();
    out.backward();
    const grad = {};
    for (const name of names) grad[name] = Float64Array.from(values[name], (v) => v.grad);
    return { outputs: { [model.output]: out.data }, grad };
  };
  return {
    key: 'tape',
    label: LABELS.tape,
    tolerance: 1e-9,
    slow: true,
    results: () => [
      { form: 'forward', outputs: forward() },
      { form: 'backward', ...backward() },
    ],
    timed: { backward: batchOf({ backward }, 'backward()'), forward: batchOf({ forward }, 'forward()') },
  };
}

/** TF.js on its CPU backend, float32 (see tfjsRunner for what one call does). */
export function tfjsContender(tf, model, args) {
  const run = tfjsRunner(tf, model, args);
  return {
    key: 'tfjs',
    label: LABELS.tfjs,
    tolerance: 1e-3,
    slow: true,
    results: () => [
      { form: 'forward', outputs: { [model.output]: run.forward() } },
      { form: 'variableGrads', ...run.result() },
    ],
    timed: { backward: batchOf({ run }, 'run.backward()'), forward: batchOf({ run }, 'run.forward()') },
    dispose: run.dispose,
  };
}
