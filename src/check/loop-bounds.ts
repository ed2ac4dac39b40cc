// Loop variables as affine forms, and the range of such a form over the steps of its loops.
// A loop whose bounds read an outer loop variable (`for j in i+1..n`) is batched over the
// rectangle that holds all its steps (its hull) with the steps outside its own bounds masked;
// what an index reads must then be checked over the steps that run, not the whole
// rectangle, which is what `formRange` computes: the extremes of an affine form over a
// polytope, found at its vertices by taking each loop at one of its bounds, innermost first.

import type { Node } from "../ir/graph.js";
import { upstream } from "../ir/graph.js";
import { addSize, dimSize, isKnown, mulSize, provablyAtLeast, subSize, type Size } from "../ir/size.js";

export interface LinearForm {
  terms: Map<Node, number>;
  /** A number, or a size in the dims (`N - 1`): a dim used as a value is its size. */
  constant: Size;
}

/** The bounds of a loop that depend on outer loop variables: it runs `lower..upper`. */
export interface LoopBounds {
  lower: LinearForm;
  upper: LinearForm;
}


/** `x` as `constant + sum(coef * loop variable)`, when it is built that way with + - and constant factors. */
export function linearForm(x: Node): LinearForm | undefined {
  const order = upstream(x);
  const forms = new Map<number, LinearForm>();
  const scale = (a: LinearForm, k: Size): LinearForm | undefined => {
    if (!isKnown(k)) return a.terms.size === 0 ? { terms: a.terms, constant: mulSize(a.constant, k) } : undefined;
    return { terms: new Map([...a.terms].map(([v, c]) => [v, c * k])), constant: mulSize(a.constant, k) };
  };
  for (const y of order) {
    let f: LinearForm | undefined;
    const [a, b] = y.args.map((arg) => forms.get(arg.id));
    if (y.op === "const") f = { terms: new Map(), constant: y.value! };
    else if (y.op === "loopvar") f = { terms: new Map([[y, 1]]), constant: 0 };
    else if (y.op === "input" && y.role === "dim") f = { terms: new Map(), constant: dimSize(y.name!) };
    else if (y.op === "neg" && a) f = scale(a, -1);
    else if (y.op === "add" && a && b) f = combine(a, b, 1);
    else if (y.op === "sub" && a && b) f = combine(a, b, -1);
    else if (y.op === "mul" && a && b && (a.terms.size === 0 || b.terms.size === 0)) f = a.terms.size === 0 ? scale(b, a.constant) : scale(a, b.constant);
    if (!f) return undefined;
    forms.set(y.id, f);
  }
  return forms.get(x.id);
}

/** `a - b` when it is the same at every step of their loops. */
export function linearDifference(a: Node, b: Node): Size | undefined {
  const [fa, fb] = [linearForm(a), linearForm(b)];
  if (!fa || !fb) return undefined;
  for (const [v, c] of fa.terms) if ((fb.terms.get(v) ?? 0) !== c) return undefined;
  for (const [v, c] of fb.terms) if ((fa.terms.get(v) ?? 0) !== c) return undefined;
  return subSize(fa.constant, fb.constant);
}

const combine = (a: LinearForm, b: LinearForm, k: number): LinearForm => {
  const terms = new Map(a.terms);
  for (const [v, c] of b.terms) terms.set(v, (terms.get(v) ?? 0) + k * c);
  for (const [v, c] of terms) if (c === 0) terms.delete(v);
  return { terms, constant: addSize(a.constant, b.constant, k) };
};

/** `a - b`. */
export const difference = (a: LinearForm, b: LinearForm): LinearForm => combine(a, b, -1);

/** `form` with `loop` replaced by `value`. */
function substitute(form: LinearForm, loop: Node, value: LinearForm): LinearForm {
  const c = form.terms.get(loop);
  if (!c) return form;
  const rest = new Map(form.terms);
  rest.delete(loop);
  return combine({ terms: rest, constant: form.constant }, value, c);
}

const constantForm = (s: Size): LinearForm => ({ terms: new Map(), constant: s });

/** The smallest and largest of several sizes, when they can be ordered. */
function largest(values: Size[]): Size | undefined {
  let best = values[0];
  for (const v of values.slice(1)) {
    if (provablyAtLeast(v, best)) best = v;
    else if (!provablyAtLeast(best, v)) return undefined;
  }
  return best;
}

/** A partial assignment: the form left to maximize, and conditions (each >= 0) on outer loops. */
interface Branch {
  form: LinearForm;
  conditions: LinearForm[];
}

/**
 * The largest value of `form` over the steps that run: loops in `bounds` run only inside
 * their own bounds (an empty row runs nothing), the others over their whole range.
 * "empty" when no step runs, undefined when sizes in the dims cannot be ordered.
 */
function largestOver(form: LinearForm, bounds: ReadonlyMap<Node, LoopBounds>): Size | "empty" | undefined {
  // Every loop the form or a bound reaches, innermost (newest) first.
  const loops = new Set<Node>();
  const pending = [form];
  while (pending.length) {
    for (const l of pending.pop()!.terms.keys()) {
      if (loops.has(l)) continue;
      loops.add(l);
      const b = bounds.get(l);
      if (b) pending.push(b.lower, b.upper);
    }
  }
  let branches: Branch[] = [{ form, conditions: [] }];
  for (const loop of [...loops].sort((a, b) => b.id - a.id)) {
    const next: Branch[] = [];
    const b = bounds.get(loop);
    for (const branch of branches) {
      const c = branch.form.terms.get(loop) ?? 0;
      if (b) {
        // Conditions on this loop would need its bounds' own conditions: dropping them only widens the range.
        const conditions = branch.conditions.filter((k) => !k.terms.has(loop));
        if (c === 0) {
          next.push({ form: branch.form, conditions });
          continue;
        }
        // The row runs only when upper - lower - 1 >= 0.
        const runs = combine(combine(b.upper, b.lower, -1), constantForm(-1), 1);
        const at = c > 0 ? combine(b.upper, constantForm(-1), 1) : b.lower;
        next.push({ form: substitute(branch.form, loop, at), conditions: [...conditions, runs] });
        continue;
      }
      const { from, extent } = loop.loop!;
      let low: Size = from;
      let high: Size = addSize(from, subSize(extent, 1));
      const conditions: LinearForm[] = [];
      for (const k of branch.conditions) {
        const k1 = k.terms.get(loop);
        if (!k1) conditions.push(k);
        else if (k.terms.size === 1 && isKnown(k.constant) && isKnown(low) && isKnown(high)) {
          // k1 * loop + constant >= 0 narrows this loop's range.
          if (k1 > 0) low = Math.max(low, Math.ceil(-k.constant / k1));
          else high = Math.min(high, Math.floor(k.constant / -k1));
        }
      }
      if (isKnown(low) && isKnown(high) && low > high) continue;
      if (c === 0) next.push({ form: branch.form, conditions });
      else next.push({ form: substitute(branch.form, loop, constantForm(c > 0 ? high : low)), conditions });
    }
    branches = next;
  }
  const values = branches.filter((b) => b.conditions.every((k) => !isKnown(k.constant) || k.constant >= 0)).map((b) => b.form.constant);
  if (values.length === 0) return "empty";
  return largest(values);
}

/** The smallest and largest value of `form` over the steps that run (see `largestOver`). */
export function formRange(form: LinearForm, bounds: ReadonlyMap<Node, LoopBounds>): { min: Size; max: Size } | "empty" | undefined {
  const max = largestOver(form, bounds);
  const negated = largestOver(combine(constantForm(0), form, -1), bounds);
  if (max === "empty" || negated === "empty") return "empty";
  if (max === undefined || negated === undefined) return undefined;
  return { min: mulSize(negated, -1), max };
}

/** The smallest and largest value of `form` over every step of its loops' rectangle. */
export function rectangleRange(form: LinearForm): { min: Size; max: Size } {
  let min: Size = form.constant;
  let max: Size = form.constant;
  for (const [loop, coef] of form.terms) {
    const { from, extent } = loop.loop!;
    const [a, b] = [coef * from, addSize(coef * from, mulSize(coef, subSize(extent, 1)))];
    [min, max] = coef > 0 ? [addSize(min, a), addSize(max, b)] : [addSize(min, b), addSize(max, a)];
  }
  return { min, max };
}
