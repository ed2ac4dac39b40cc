// The correctness check run before any timing: each contender's outputs and gradients against the
// hand-written module's.
//
// The error of an element is |got - want| / max(|want|, 1% of the largest |want| in the same
// array): relative for the entries that matter, and not blown up by entries that are zero in one
// contender and 1e-17 in another (a sum that cancels, rounded differently).

function arrayError(got, want) {
  const g = typeof got === 'number' ? [got] : got;
  const w = typeof want === 'number' ? [want] : want;
  if (g == null || g.length !== w.length) return { error: Infinity, index: -1 };
  let scale = 0;
  for (let i = 0; i < w.length; i++) scale = Math.max(scale, Math.abs(w[i]));
  let worst = { error: 0, index: 0 };
  for (let i = 0; i < w.length; i++) {
    const error = Math.abs(g[i] - w[i]) / Math.max(Math.abs(w[i]), 0.01 * scale, Number.MIN_VALUE);
    if (!(error <= worst.error)) worst = { error: Number.isNaN(error) ? Infinity : error, index: i };
  }
  return worst;
}

/**
 * The largest error of `result` ({ form, outputs, grad? }) against `reference` ({ outputs,
 * grad }), and where it is: `{ error, where }`. A missing or misshapen value counts as Infinity.
 */
export function resultError(result, reference) {
  const parts = [['outputs', result.outputs, reference.outputs]];
  if (result.grad !== undefined || result.form.startsWith('backward')) {
    parts.push(['grad', result.grad, reference.grad]);
  }
  let worst = { error: 0, where: '' };
  for (const [kind, got, want] of parts) {
    for (const name of Object.keys(want)) {
      const { error, index } = arrayError(got?.[name], want[name]);
      if (!(error <= worst.error)) {
        const at = typeof want[name] === 'number' ? '' : index < 0 ? ' (missing or wrong length)' : `[${index}]`;
        worst = { error, where: `${result.form}: ${kind}.${name}${at}` };
      }
    }
  }
  return worst;
}

/** Checks every form a contender computes; returns `{ ok, error, where }` for the worst one. */
export function checkContender(contender, reference) {
  let worst = { error: 0, where: '' };
  try {
    for (const result of contender.results()) {
      const found = resultError(result, reference);
      if (!(found.error <= worst.error)) worst = found;
    }
  } catch (e) {
    return { ok: false, error: Infinity, where: `threw ${e?.stack ?? e}` };
  }
  return { ok: worst.error <= contender.tolerance, ...worst };
}

/** Compares `reference` with published figures ({ digits, outputs, grad }), absolute error. */
export function checkPublished(reference, published) {
  const failures = [];
  for (const kind of ['outputs', 'grad']) {
    for (const [name, want] of Object.entries(published[kind])) {
      const got = reference[kind][name];
      const wants = typeof want === 'number' ? [want] : want;
      const gots = typeof got === 'number' ? [got] : got;
      wants.forEach((w, i) => {
        if (!(Math.abs(gots[i] - w) <= published.digits)) failures.push(`${kind}.${name}[${i}] = ${gots[i]}, published ${w}`);
      });
    }
  }
  return failures;
}
