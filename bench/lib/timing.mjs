// Timing by interleaved rounds. Each timed unit (one function of one contender) runs in batches
// of calls worth about `batchMs`; a round times every unit once, in an order that rotates from
// round to round, so that a noisy stretch of the machine hits all units alike. A unit's figure is
// the median over rounds of the time per call; slow units (the peers) take part in one round in
// `slowStride` only.
//
// Warm-up is done the same way, in interleaved rounds whose results are thrown away, for at least
// `minWarmupMs` and then until no unit has sped up by 10% for half of the warm-up so far (at most
// `maxWarmupMs`). A large generated function can run for seconds in V8's interpreter before its
// optimized code is ready (its TurboFan compile runs on a background thread, slow on a busy
// machine); interleaving lets those compiles proceed side by side. No warm-up rule can tell that
// a flat time is about to drop, so `drift` (the median of the second half of the timed rounds
// over that of the first half) is checked too: when a unit got faster by 20% while it was timed,
// all timed rounds are run once more.

let sink; // every batch's last result lands here, so that no call can be optimized away

const now = () => process.hrtime.bigint();
const msSince = (start) => Number(now() - start) / 1e6;

/** Time per call in ns of one batch of `calls` calls (`batch.params`: its further arguments). */
function timeBatch(batch, calls) {
  const p = batch.params;
  const start = now();
  sink = p ? batch(calls, p[0], p[1], p[2]) : batch(calls);
  return Number(now() - start) / calls;
}

/** Batches of doubling size until one takes `ms`: an estimate of ns per call. */
function estimate(batch, ms) {
  for (let calls = 1; ; calls *= 2) {
    const ns = timeBatch(batch, calls);
    if (ns * calls >= ms * 1e6) return ns;
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return quantile(sorted, 0.5);
}

function quantile(sorted, q) {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (at - lo);
}

/**
 * The ratio of two units' times, `a` over `b`: the median over the rounds both took part in of
 * the ratio within the round. The two were timed within milliseconds of each other then, so a
 * change of the machine's speed between rounds (this shared machine has spells at half speed)
 * cancels out, where a ratio of medians would carry it.
 */
export function pairedRatio(a, b) {
  const ratios = [];
  for (const [round, ns] of a.byRound) if (b.byRound.has(round)) ratios.push(ns / b.byRound.get(round));
  return ratios.length ? median(ratios) : a.median / b.median;
}

/**
 * Times `units` ([{ id, batch, slow }], `batch(n)` making n calls). Returns a Map from id to
 * { median, q1, q3, drift, rounds, byRound, calls, attempts }: times in ns per call (byRound: by
 * round number), calls per batch, attempts the number of times the timed rounds were run.
 */
export function timeUnits(units, { rounds, batchMs, slowStride, minWarmupMs, maxWarmupMs }) {
  const plans = units.map((unit) => {
    const ns = estimate(unit.batch, batchMs / 4);
    return { unit, calls: 1, best: ns, improvedAt: 0, samples: [] };
  });
  const resize = (plan, ns) => (plan.calls = Math.max(1, Math.round((batchMs * 1e6) / ns)));
  plans.forEach((plan) => resize(plan, plan.best));
  const takesPart = (plan, round) => !plan.unit.slow || round % slowStride === 0;
  const inRound = (round) => plans.map((_, k) => plans[(round + k) % plans.length]).filter((p) => takesPart(p, round));

  const warmStart = now();
  for (let round = 0; ; round++) {
    for (const plan of inRound(round)) {
      const ns = timeBatch(plan.unit.batch, plan.calls);
      if (ns < 0.9 * plan.best) plan.improvedAt = msSince(warmStart);
      plan.best = Math.min(plan.best, ns);
      resize(plan, ns);
    }
    const elapsed = msSince(warmStart);
    const settled = plans.every((plan) => elapsed - plan.improvedAt >= elapsed / 2);
    if (elapsed >= maxWarmupMs || (elapsed >= minWarmupMs && settled)) break;
  }
  plans.forEach((plan) => resize(plan, plan.best));

  // The timed rounds; done once more when a unit got faster while it was timed.
  let results;
  for (let attempt = 1; attempt <= 2; attempt++) {
    for (const plan of plans) plan.samples = [];
    for (let round = 0; round < rounds; round++) {
      for (const plan of inRound(round)) plan.samples.push([round, timeBatch(plan.unit.batch, plan.calls)]);
    }
    results = new Map(
      plans.map((plan) => [
        plan.unit.id,
        { ...summary(plan.samples.map(([, ns]) => ns)), byRound: new Map(plan.samples), calls: plan.calls, attempts: attempt },
      ]),
    );
    if ([...results.values()].every((r) => r.drift >= 0.8)) break;
  }
  return results;
}

function summary(samples) {
  const half = Math.floor(samples.length / 2);
  const drift = half > 0 ? median(samples.slice(half)) / median(samples.slice(0, half)) : 1;
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    median: quantile(sorted, 0.5),
    q1: quantile(sorted, 0.25),
    q3: quantile(sorted, 0.75),
    drift,
    rounds: samples.length,
  };
}
