// The TF.js peer: tfjs-core on its CPU backend (float32), with TF.js's own gradient rules.
import { register } from 'node:module';

/** Loads TF.js on the CPU backend, in production mode, its gradients registered. */
export async function loadTf() {
  register('./tfjs-hooks.mjs', import.meta.url); // see tfjs-hooks.mjs for why
  const tf = await import('@tensorflow/tfjs-core');
  await import('@tensorflow/tfjs-backend-cpu');
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  await tf.setBackend('cpu');
  await tf.ready();
  tf.enableProdMode();
  return tf;
}

// TF.js takes Float32Array (not Float64Array) data.
const toTensor = (tf, value, shape) =>
  shape.length === 0 ? tf.scalar(value, 'float32') : tf.tensor(Float32Array.from(value), shape, 'float32');

/**
 * A training-loop use of TF.js: params live in tf.Variables made once; inputs are converted from
 * the JavaScript arrays on each call (fresh data); `backward` is tf.variableGrads and leaves the
 * gradients as tensors (an optimizer would consume them there), `forward` reads the loss back.
 */
export function tfjsRunner(tf, model, args) {
  const names = Object.keys(model.params);
  const variables = names.map((name) => {
    const initial = toTensor(tf, args[name], model.params[name]);
    const variable = tf.variable(initial);
    initial.dispose();
    return variable;
  });
  const loss = () => {
    const values = {};
    for (const [name, shape] of Object.entries(model.inputs)) values[name] = toTensor(tf, args[name], shape);
    names.forEach((name, i) => (values[name] = variables[i]));
    return model.tfjs(tf, values);
  };
  const forward = () => {
    const value = tf.tidy(loss);
    const result = value.dataSync()[0];
    value.dispose();
    return result;
  };
  const backward = () => {
    const { value, grads } = tf.variableGrads(loss, variables);
    tf.dispose(value);
    tf.dispose(Object.values(grads));
    return grads;
  };
  /** One backward, read back for the correctness check. */
  const result = () => {
    const { value, grads } = tf.variableGrads(loss, variables);
    const out = {
      outputs: { [model.output]: value.dataSync()[0] },
      grad: Object.fromEntries(names.map((name, i) => [name, Float64Array.from(grads[variables[i].name].dataSync())])),
    };
    tf.dispose(value);
    tf.dispose(Object.values(grads));
    return out;
  };
  return { forward, backward, result, dispose: () => tf.dispose(variables) };
}
