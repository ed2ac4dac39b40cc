// Differential fuzzing, the short run inside `npm test` (the long run with a random seed is
// `npm run fuzz`, scripts/fuzz.mjs). Random well-typed programs from
// test/support/arbitrary.ts are compiled with emit "unrolled", "loops" and "tape" (each
// must succeed), run at random points, the forms compared (1e-12 relative; the tape equal to
// the straight-line code), the
// allocation-free forms compared, and backward compared with central finite differences.
// A failure is shrunk by fast-check to a minimal program, printed with what differed; add it
// to test/regressions.test.ts.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BINARY_FORMS, checkProgram, GATES, printProgram, programArb, REDUCERS, UNARY_FORMS, type CheckStats } from "./support/arbitrary.js";
import { checkProgramV2, printProgramV2, programArbV2, type FuzzProgramV2 } from "./support/arbitrary-v2.js";

const SEED = 20_251_128;
const RUNS = 200;

describe("differential fuzzing", () => {
  it("the generator covers the language: every built-in, @, gates, loops long and short, affine reads", () => {
    const texts = fc.sample(programArb(), { seed: SEED, numRuns: 400 }).map((p) => printProgram(p));
    const all = texts.join("\n");
    const builtins = [
      "exp", "log", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "sigmoid", "relu", "softplus", "abs",
      "sign", "floor", "ceil", "log1p", "expm1", "pow", "max", "min", "atan2", "where", ...REDUCERS, "dot", "softmax", "log_softmax", "transpose",
    ];
    const missing = builtins.filter((b) => !new RegExp(`\\b${b}\\(`).test(all));
    expect(missing).toEqual([]);
    const count = (re: RegExp) => texts.filter((t) => re.test(t)).length;
    expect(count(/ @ /)).toBeGreaterThan(40);
    expect(count(/^grad /m)).toBeGreaterThan(40);
    expect(count(/\^ /)).toBeGreaterThan(40);
    expect(count(/ (<|<=|>|>=|==|!=) /)).toBeGreaterThan(40);
    expect(count(/for \w+ in -?\d+\.\.(1[6-9]|2\d|K)/)).toBeGreaterThan(40); // 16 steps or more
    expect(count(/\w\[(i|j|a|sum) \+ 1\]/)).toBeGreaterThan(10); // x[i+1]
    expect(count(/ % /)).toBeGreaterThan(10);
    expect(count(/for \w+ in [a-z]\w*( [+-] \d+)?\.\./)).toBeGreaterThan(4); // for j in i + 1..n
    expect(count(/^def fn/m)).toBeGreaterThan(20);
    expect(new Set(UNARY_FORMS).size + new Set(BINARY_FORMS).size + GATES.length).toBeGreaterThan(40);
  });

  it(`${RUNS} random programs (seed ${SEED}): the three forms agree and backward matches finite differences`, { timeout: 180_000 }, () => {
    const stats: CheckStats = { compared: 0, skipped: 0, compileMs: 0, rounding: 0 };
    const started = performance.now();
    const details = fc.check(
      fc.property(programArb(), (p) => checkProgram(p, { stats })),
      { seed: SEED, numRuns: RUNS },
    );
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    if (details.failed) {
      const program = details.counterexample ? printProgram(details.counterexample[0]) : "(none)";
      const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
      throw new Error(`fuzzing failed after ${details.numRuns} programs and ${details.numShrinks} shrinks (seed ${SEED}, path ${details.counterexamplePath}):\n${error.split("\n--- program ---")[0]}\nminimal program:\n${program}`);
    }
    console.log(`fuzz: ${details.numRuns} programs in ${seconds} s (compile ${(stats.compileMs / 1000).toFixed(1)} s); ${stats.compared} gradient elements compared, ${stats.skipped} skipped near kinks, ${stats.rounding} form differences accepted as rounding`);
    expect(details.numRuns).toBe(RUNS);
    // The finite-difference check did real work.
    expect(stats.compared).toBeGreaterThan(RUNS * 5);
  });

  // Version 2 programs (test/support/arbitrary-v2.ts): batches X[N, F] through comprehensions,
  // broadcasting, slices and axis reductions; small here, `npm run fuzz -- --v2 --dims 10000` goes big.
  it("the version 2 generator covers rows, defs and gates in bodies, index maps, broadcasting, slices, axis reductions", () => {
    const texts = fc.sample(programArbV2(), { seed: SEED, numRuns: 300 }).map(printProgramV2);
    const count = (re: RegExp) => texts.filter((t) => re.test(t)).length;
    expect(count(/for i in 0\.\.N/)).toBeGreaterThan(100);
    expect(count(/\((i \* i|3 \* i \+ 1)\) % N\]/)).toBeGreaterThan(20); // non-affine index maps
    expect(count(/X\[N - 1 - i\]|X\[\(i \+ 1\) % N\]/)).toBeGreaterThan(20);
    expect(count(/\[(w|0\.5|c) for i in 0\.\.N\]/)).toBeGreaterThan(10); // a body that ignores i
    expect(count(/(score|sig|soft)\(/)).toBeGreaterThan(60); // defs and the gate in bodies
    expect(count(/for j in (i\+1\.\.N|0\.\.i\+1|i\.\.N)/)).toBeGreaterThan(20); // bounds that read the outer variable
    expect(count(/(sum|max|logsumexp|mean)\(\(?[^()]*X\[i\]/)).toBeGreaterThan(20); // inner reductions of a row
    expect(count(/keepdims=true/)).toBeGreaterThan(20);
    expect(count(/axis=/)).toBeGreaterThan(60);
    expect(count(/\[1:\]|\[:, 1:\]|\[::2\]/)).toBeGreaterThan(40);
    expect(count(/reshape\(v, \[N, 1\]\)|\) \* w\b/)).toBeGreaterThan(30); // broadcasting
  });

  it("version 2 programs (seed 20251128): loops, auto, straight-line, tape and interpreter agree; backward matches finite differences", { timeout: 180_000 }, () => {
    const stats: CheckStats = { compared: 0, skipped: 0, compileMs: 0 };
    const report = (details: fc.RunDetails<[FuzzProgramV2]>) => {
      if (!details.failed) return;
      const program = details.counterexample ? printProgramV2(details.counterexample[0]) : "(none)";
      const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
      throw new Error(`version 2 fuzzing failed (seed ${SEED}, path ${details.counterexamplePath}):\n${error.split("\n--- program ---")[0]}\nminimal program:\n${program}`);
    };
    report(fc.check(fc.property(programArbV2({ maxN: 12 }), (p) => checkProgramV2(p, stats)), { seed: SEED, numRuns: 40 }));
    // a few at up to 10,000 rows: only the loop forms, gradients on a sample of elements
    report(fc.check(fc.property(programArbV2({ maxN: 10_000, depth: 2 }), (p) => checkProgramV2(p, stats)), { seed: SEED + 1, numRuns: 4 }));
    expect(stats.compared).toBeGreaterThan(200);
  });
});
