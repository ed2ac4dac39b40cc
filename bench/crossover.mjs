// Where straight-line code stops paying: the same models compiled both ways
// (`emit: "unrolled"` and `emit: "loops"`), timed by interleaved rounds, medians.
// `npm run bench:crossover` prints the table that README's "Unrolled or loops" quotes;
// compile.ts's UNROLL_LIMIT is chosen from it.
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { compile } from "../dist/index.js";

const dir = mkdtempSync(join(tmpdir(), "gradc-crossover-"));
const net = (h) => `input x[4], y[3]\nparam W1[${h}, 4], b1[${h}], W2[3, ${h}], b2[3]\nhid = tanh(W1 @ x + b1)\noutput loss = -sum(y * log_softmax(W2 @ hid + b2))\n`;
const rosen = (n) => `param x[${n}]\noutput f = sum(100*(x[i+1] - x[i]^2)^2 + (1 - x[i])^2 for i in 0..${n - 1})\n`;
const cases = [
  ...[2, 4, 8, 16, 32, 64, 128].map((h) => [`net H=${h}`, net(h)]),
  ...[8, 16, 32, 64, 128, 256, 512].map((n) => [`rosenbrock n=${n}`, rosen(n)]),
];

let seed = 3;
const random = () => ((seed = (seed * 16807) % 2147483647) / 2147483647) * 2 - 1;
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

console.log("| model | backward operations | unrolled ns | loops ns | unrolled / loops |");
console.log("| --- | ---: | ---: | ---: | ---: |");
let k = 0;
for (const [name, source] of cases) {
  const modules = {};
  let operations = 0;
  let iface;
  for (const emit of ["unrolled", "loops"]) {
    const r = compile(source, { format: "js", emit, checks: false });
    if (!r.ok) throw new Error(r.diagnostics.map((d) => d.text).join("\n"));
    const file = join(dir, `m${k++}.mjs`);
    writeFileSync(file, r.code);
    modules[emit] = await import(pathToFileURL(file).href);
    operations = r.stats.backwardOperations;
    iface = r.interface;
  }
  const args = {};
  for (const a of iface.args) {
    const n = a.shape.reduce((x, y) => x * y, 1);
    args[a.name] = a.shape.length ? Float64Array.from({ length: n }, random) : random();
  }
  const times = { unrolled: [], loops: [] };
  const grads = { unrolled: modules.unrolled.createGrad(), loops: modules.loops.createGrad() };
  // Warm-up: large straight-line functions take V8 a second or more to optimize (on a
  // background thread), so each form runs for 1.5 s before anything is timed.
  for (const emit of ["unrolled", "loops"]) {
    const until = performance.now() + 1500;
    while (performance.now() < until) for (let i = 0; i < 100; i++) modules[emit].backwardInto(args, undefined, grads[emit]);
  }
  // Calls per batch sized so each batch takes about 5 ms on the slower form.
  let calls = 100000;
  for (const emit of ["unrolled", "loops"]) {
    const t0 = performance.now();
    for (let i = 0; i < 200; i++) modules[emit].backwardInto(args, undefined, grads[emit]);
    calls = Math.min(calls, Math.max(50, Math.round(5 / ((performance.now() - t0) / 200))));
  }
  for (let round = 0; round < 15; round++) {
    for (const emit of round % 2 ? ["unrolled", "loops"] : ["loops", "unrolled"]) {
      const t0 = performance.now();
      for (let i = 0; i < calls; i++) modules[emit].backwardInto(args, undefined, grads[emit]);
      times[emit].push(((performance.now() - t0) / calls) * 1e6);
    }
  }
  const [u, l] = [median(times.unrolled), median(times.loops)];
  console.log(`| ${name} | ${operations} | ${u.toFixed(0)} | ${l.toFixed(0)} | ${(u / l).toFixed(2)} |`);
}
rmSync(dir, { recursive: true, force: true });
