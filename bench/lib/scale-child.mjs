// One row of bench/scale.mjs, run in a child process of its own so that a huge generated module
// cannot exhaust or slow down the parent: `node bench/lib/scale-child.mjs <module.mjs> <width>`.
// Imports the module, times its first backward, checks it against the hand-written dense layer,
// times both (interleaved rounds) and prints the figures as one line of JSON.
import { pathToFileURL } from 'node:url';
import { checkContender } from './check.mjs';
import { moduleContender } from './contenders.mjs';
import { makeRng } from './rng.mjs';
import { timeUnits } from './timing.mjs';
import { denseModule } from '../hand/dense.mjs';

const [file, width] = process.argv.slice(2);
const n = Number(width);
const rng = makeRng(n);
const args = {
  x: rng.array(n, () => 2 * rng.uniform() - 1),
  W: rng.array(n * n, () => rng.gaussian() / Math.sqrt(n)),
  b: rng.array(n, () => 0.1 * rng.gaussian()),
};

let start = performance.now();
const mod = await import(pathToFileURL(file).href);
const importMs = performance.now() - start;
start = performance.now();
mod.backwardInto(args, undefined, mod.createGrad(), mod.createOutputs());
const firstCallMs = performance.now() - start;

const hand = denseModule(n);
const contenders = [moduleContender('gradc', mod, args), moduleContender('hand', hand, args)];
const check = checkContender(contenders[0], hand.backward(args));
let ns = {};
let drift = {};
if (check.ok) {
  const units = contenders.flatMap((c) => ['backward', 'forward'].map((op) => ({ id: `${c.key}.${op}`, batch: c.timed[op] })));
  const stats = timeUnits(units, { rounds: 15, batchMs: 10, slowStride: 1, minWarmupMs: 1000, maxWarmupMs: 10_000 });
  ns = Object.fromEntries([...stats].map(([id, s]) => [id, s.median]));
  drift = Object.fromEntries([...stats].map(([id, s]) => [id, s.drift]));
}
console.log(JSON.stringify({ importMs, firstCallMs, check, ns, drift }));
