// The spiral case study trained in the page, in a worker of its own so that the editor and
// the compiler worker stay responsive while it runs. The model is compiled here from the
// example's .expr source with gradc's compile(); the data, the full-batch loop and the
// predictor are the case study's own (examples/spiral/), so the page trains exactly what
// `npm run demo` trains. Between chunks of steps the worker yields, which lets a stop
// request in, and sends the loss, the training accuracy and the decision regions.

import { compile } from "../../src/compile.js";
import { makeRng, makeSpiral, SPIRAL_SEED } from "../../examples/spiral/data.mjs";
import { accuracy, makePredictor, trainFullBatch } from "../../examples/spiral/model.mjs";
import softmaxSource from "../../examples/cs231n/softmax.expr?raw";
import twolayerSource from "../../examples/cs231n/twolayer.expr?raw";
import type { Envelope, TrainerProgress, TrainerRequest } from "./protocol.js";

const CELLS = 96;

type Module = {
  createGrad(): Record<string, Float64Array>;
  createOutputs(): Record<string, number>;
  forwardInto(args: object, outputs: object): Record<string, number>;
  backwardInto(args: object, seed: undefined, grad: object, outputs?: object): object;
};

let running = 0;

async function load(source: string, filename: string): Promise<Module> {
  const result = compile(source, { filename, format: "js" });
  if (!result.ok) throw new Error(result.diagnostics.map((d) => d.text).join("\n"));
  const url = URL.createObjectURL(new Blob([result.code], { type: "text/javascript" }));
  try {
    return (await import(/* @vite-ignore */ url)) as Module;
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** The course's initialisation: weights 0.01 * randn, biases 0. */
function initParams(mod: Module): Record<string, Float64Array> {
  const rng = makeRng(1);
  const params = mod.createGrad();
  for (const [name, v] of Object.entries(params)) if (name.startsWith("W")) for (let k = 0; k < v.length; k++) v[k] = 0.01 * rng.gaussian();
  return params;
}

async function train(request: Extract<TrainerRequest, { kind: "start" }>, run: number) {
  const mod = await load(request.model === "softmax" ? softmaxSource : twolayerSource, `${request.model}.expr`);
  const data = makeSpiral({ seed: SPIRAL_SEED });
  let extent = 0;
  for (const v of data.X) extent = Math.max(extent, Math.abs(v));
  extent += 0.25;
  const params = initParams(mod);
  let step = 0;
  let ms = 0;
  while (run === running) {
    const chunk = step === 0 ? 1 : Math.min(request.every, request.steps - step);
    const t0 = performance.now();
    const losses = chunk > 0 ? trainFullBatch(mod, data, params, { steps: chunk, stepSize: request.stepSize, reg: request.reg }) : new Float64Array([NaN]);
    ms += performance.now() - t0;
    step += chunk;
    const predict = makePredictor(mod, params, data.K);
    const regions = new Uint8Array(CELLS * CELLS);
    for (let r = 0; r < CELLS; r++) {
      const y = extent - ((r + 0.5) / CELLS) * 2 * extent;
      for (let c = 0; c < CELLS; c++) regions[r * CELLS + c] = predict(-extent + ((c + 0.5) / CELLS) * 2 * extent, y);
    }
    const done = step >= request.steps;
    const progress: TrainerProgress = {
      kind: "progress", step, steps: request.steps, loss: losses[losses.length - 1], accuracy: accuracy(predict, data),
      regions, cells: CELLS, extent, points: { X: data.X, labels: data.labels }, msPerStep: ms / step, done,
    };
    self.postMessage(progress);
    if (done) break;
    // Yield, so that a stop (or a new start) is received between chunks.
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

self.onmessage = (event: MessageEvent<Envelope<TrainerRequest>>) => {
  const request = event.data.body;
  const run = ++running;
  if (request.kind === "stop") return;
  train(request, run).catch((e) => self.postMessage({ kind: "error", message: e instanceof Error ? e.message : String(e) }));
};
