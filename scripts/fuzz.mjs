// The long differential fuzzing run (`npm run fuzz`): random well-typed programs from
// test/support/arbitrary.ts, each compiled with emit "unrolled", "loops" and "tape", run at
// random points, the forms compared with each other and backward with finite differences.
// test/fuzz.test.ts runs the same check briefly with a fixed seed inside `npm test`.
//
//   node scripts/fuzz.mjs [--seed N] [--time SECONDS] [--runs N] [--depth N] [--dims N,M]
//                         [--ignore REGEX] [--v2]
//
// --v2 runs the version 2 generator (test/support/arbitrary-v2.ts) instead: comprehensions
// over the rows of X[N, F] with inner reductions, defs and gates, non-affine index maps,
// bodies that ignore the variable, broadcasting, slices and axis reductions; `--dims N`
// is then the largest N (default 12; `--dims 10000` goes big), compared between the loop
// form, the straight-line form and the interpreter where small, and finite differences.
//
// Defaults: a random seed, 600 seconds, no limit on programs, expression depth 3, n <= 5
// and m <= 4 (`--dims`). The run goes in batches of 200 programs (seeds seed, seed+1, ...);
// each failure is shrunk by fast-check to a minimal program and printed, and the run goes
// on with the next batch. At the end: the seed, the programs tried, the time and the
// distinct failures, each with its minimal program; exit 1 when any failed. `--ignore
// REGEX` counts a failure whose message matches as passed, to look past a known bug that
// would end every batch. The TypeScript sources are loaded through Vite's module runner,
// so no build step is needed.

import { runnerImport } from "vite";
import fc from "fast-check";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1];
}
const seed = Number(option("--seed", String(Math.floor(Math.random() * 2 ** 31))));
const seconds = Number(option("--time", "600"));
const maxRuns = Number(option("--runs", "Infinity"));
const depth = Number(option("--depth", "3"));
const v2 = process.argv.includes("--v2");
const [maxN, maxM] = option("--dims", v2 ? "12" : "5,4").split(",").map(Number);
const ignore = option("--ignore", undefined) === undefined ? undefined : new RegExp(option("--ignore"));
const BATCH = 200;
let ignored = 0;

const { module: A1 } = await runnerImport(join(root, "test/support/arbitrary.ts"), { root, configFile: false, logLevel: "error" });
const { module: A2 } = v2 ? await runnerImport(join(root, "test/support/arbitrary-v2.ts"), { root, configFile: false, logLevel: "error" }) : { module: null };
// One interface over both generators: the program arbitrary, its check and its printer.
const A = v2
  ? { programArb: (o) => A2.programArbV2({ maxN: o.maxN, depth: o.depth }), checkProgram: (p, o) => A2.checkProgramV2(p, o.stats), printProgram: A2.printProgramV2, FuzzFailure: A1.FuzzFailure }
  : A1;

console.log(`gradc fuzz${v2 ? " (version 2 programs, N <= " + maxN + ")" : ""}: seed ${seed}, up to ${seconds} s${Number.isFinite(maxRuns) ? `, ${maxRuns} programs` : ""}, depth ${depth}`);
const started = performance.now();
const stats = { compared: 0, skipped: 0, compileMs: 0, rounding: 0 };
const failures = new Map();
let tried = 0;
let batch = 0;
while ((performance.now() - started) / 1000 < seconds && tried < maxRuns) {
  const batchSeed = (seed + batch++) | 0;
  const left = Math.min(BATCH, maxRuns - tried);
  const property = fc.property(A.programArb({ depth, maxN, maxM }), (p) => {
    try {
      A.checkProgram(p, { stats });
    } catch (e) {
      if (ignore && e instanceof Error && ignore.test(e.message)) return void ignored++;
      throw e;
    }
  });
  const details = fc.check(property, { seed: batchSeed, numRuns: left, interruptAfterTimeLimit: Math.max(1000, seconds * 1000 - (performance.now() - started)) });
  tried += details.numRuns;
  if (details.failed && details.counterexample) {
    const source = A.printProgram(details.counterexample[0]);
    const error = details.errorInstance;
    const message = error instanceof Error ? error.message : String(error);
    const kind = error instanceof Error && typeof error.kind === "string" ? error.kind : "error";
    // One entry per kind of failure and first line of its message, numbers masked.
    const key = `${kind}: ${message.split("\n")[0].replace(/-?\d+(\.\d+)?(e[-+]?\d+)?/g, "#").slice(0, 160)}`;
    const seen = failures.get(key);
    if (!seen || source.length < seen.source.length) failures.set(key, { source, message, seed: batchSeed, path: details.counterexamplePath, count: (seen?.count ?? 0) + 1 });
    else seen.count++;
    console.log(`\n[batch seed ${batchSeed}] FAILURE after ${details.numRuns} programs (${details.numShrinks} shrinks):\n${message}`);
  }
  const progress = `${tried} programs, ${((performance.now() - started) / 1000).toFixed(0)} s, ${failures.size} distinct failures`;
  if (process.stdout.isTTY) process.stdout.write(`\r${progress}   `);
  else if (batch % 10 === 0) console.log(progress);
}
const elapsed = (performance.now() - started) / 1000;
console.log(`\n\nseed ${seed}: ${tried} programs in ${elapsed.toFixed(1)} s (compile ${(stats.compileMs / 1000).toFixed(1)} s)`);
if (ignore) console.log(`failures ignored (matching ${ignore}): ${ignored}`);
console.log(`gradient elements compared with finite differences: ${stats.compared}, skipped near kinks: ${stats.skipped}`);
console.log(`differences between the forms past 1e-12 accepted as rounding of ill-conditioned values: ${stats.rounding}`);
if (failures.size === 0) console.log("no failures");
for (const [key, f] of failures) {
  console.log(`\n=== ${key} (seen ${f.count}x; batch seed ${f.seed}, fast-check path ${f.path}) ===\n${f.source}${f.message.split("\n--- program ---")[0]}`);
}
process.exitCode = failures.size ? 1 : 0;
