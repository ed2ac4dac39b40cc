// One model in a fresh process for bench/warmup.mjs: node bench/v2/warmup-child.mjs MODEL FORM.
// Times its backward call from the very first call: the mean of calls 0-99, of calls 100-9,999,
// and the steady state (median of later batches), and prints them as one line of JSON (ns).
import { batchArgs } from '../../examples/spiral/model.mjs';
import { makeHandNet } from './hand-net.mjs';
import { CHAIN, CLOTH, chainArgs, chainRows, chainScalar, chainSlices, clothArgs, clothRows, clothScalar, clothSlices, compileAndImport, handSprings, netArgs, netPerRow, netWhole } from './models.mjs';

const [model, form] = process.argv.slice(2);
const sources = {
  net: { perRow: netPerRow(300), whole: netWhole(300) },
  chain: { rows: chainRows(), slices: chainSlices(), scalar: chainScalar() },
  cloth: { rows: clothRows(), slices: clothSlices(), scalar: clothScalar() },
};
let mod;
if (form === 'hand') mod = model === 'net' ? makeHandNet(300, 2, 100, 3) : handSprings(model, model === 'chain' ? CHAIN : CLOTH);
else mod = (await compileAndImport(sources[model][form], `${model}-${form}`)).mod;
const args = model === 'net' ? netArgs(300) : form === 'scalar' ? (model === 'chain' ? chainArgs() : clothArgs()).scalar : (model === 'chain' ? chainArgs() : clothArgs()).rows;
void batchArgs;

const g = mod.createGrad(), o = mod.createOutputs();
const backwardInto = mod.backwardInto;
const now = () => process.hrtime.bigint();
const timeCalls = (n) => {
  const start = now();
  for (let i = 0; i < n; i++) backwardInto(args, undefined, g, o);
  return Number(now() - start) / n;
};
const first = timeCalls(100);
const next = timeCalls(9900);
const perBatch = Math.max(1, Math.round(50e6 / next));
const samples = [];
for (let b = 0; b < 15; b++) samples.push(timeCalls(perBatch));
samples.sort((a, b) => a - b);
console.log(JSON.stringify({ model, form, first, next, steady: samples[7] }));
