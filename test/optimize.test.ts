// The optimizer examples (examples/optimize/): the small L-BFGS, a curve fit through gradc's
// flat form, and an XPBD chain whose rods take their gradient from it.
import { describe, expect, it } from "vitest";
import { lbfgs } from "../examples/optimize/lbfgs.mjs";
import { fit, samples } from "../examples/optimize/curve-fit.mjs";
import { chain, step, worstStretch } from "../examples/optimize/xpbd.mjs";
import * as rod from "../generated/optimize/rod.mjs";

describe("lbfgs", () => {
  it("finds the Rosenbrock minimum at (1, 1) from (-1.2, 1)", () => {
    const r = lbfgs((x: Float64Array, g: Float64Array) => {
      const a = 1 - x[0];
      const b = x[1] - x[0] * x[0];
      g[0] = -2 * a - 400 * b * x[0];
      g[1] = 200 * b;
      return a * a + 100 * b * b;
    }, [-1.2, 1]);
    expect(r.converged).toBe(true);
    expect(r.x[0]).toBeCloseTo(1, 6);
    expect(r.x[1]).toBeCloseTo(1, 6);
  });

  it("minimizes an ill-conditioned quadratic of 30 variables", () => {
    const n = 30;
    const r = lbfgs((x: Float64Array, g: Float64Array) => {
      let f = 0;
      for (let i = 0; i < n; i++) {
        const c = 1 + 99 * (i / (n - 1));
        g[i] = c * (x[i] - i);
        f += 0.5 * c * (x[i] - i) ** 2;
      }
      return f;
    }, new Float64Array(n));
    expect(r.converged).toBe(true);
    for (let i = 0; i < n; i++) expect(r.x[i]).toBeCloseTo(i, 6);
  });
});

describe("the curve fit through valueAndGradFlat", () => {
  it("recovers the parameters of noiseless data", () => {
    const r = fit(samples({ a: 2.5, b: 1.3, c: 0.4 }, 0));
    expect(r.paramSize).toBe(3);
    expect(r.params.a).toBeCloseTo(2.5, 6);
    expect(r.params.b).toBeCloseTo(1.3, 6);
    expect(r.params.c).toBeCloseTo(0.4, 6);
  });

  it("with noise, ends below the loss of the true parameters, close to them", () => {
    const data = samples();
    const r = fit(data);
    const lossAt = (a: number, b: number, c: number) => data.t.reduce((s, t, i) => s + (a * Math.exp(-b * t) + c - data.y[i]) ** 2, 0);
    expect(r.value).toBeLessThanOrEqual(lossAt(2.5, 1.3, 0.4));
    expect(r.value).toBeCloseTo(lossAt(r.params.a, r.params.b, r.params.c), 12);
    expect(Math.abs(r.params.a - 2.5)).toBeLessThan(0.05);
    expect(Math.abs(r.params.b - 1.3)).toBeLessThan(0.05);
  });
});

describe("the XPBD chain", () => {
  it("the rod's gradient is the unit vector between the particles", () => {
    const g = new Float64Array(4);
    expect(rod.valueAndGradFlat([0, 0, 3, 4], g, { L: 2 })).toBe(3);
    [-0.6, -0.8, 0.6, 0.8].forEach((v, k) => expect(g[k]).toBeCloseTo(v, 14));
  });

  it("falls under gravity with its first particle pinned and every rod near its length", () => {
    const s = chain(12, 0.1);
    for (let k = 0; k < 120; k++) step(s, 1 / 60, { iterations: 20 });
    expect(s.x[0]).toBe(0);
    expect(s.x[1]).toBe(0);
    expect(worstStretch(s)).toBeLessThan(5e-3);
    // Hanging: the far end has swung below the pin, within the chain's length.
    const endY = s.x[2 * 12 - 1];
    expect(endY).toBeLessThan(-0.5);
    expect(Math.hypot(s.x[22], endY)).toBeLessThanOrEqual(1.1 + 1e-3);
  });

  it("more iterations keep the rods closer to their length", () => {
    const few = chain(12, 0.1);
    const many = chain(12, 0.1);
    for (let k = 0; k < 60; k++) {
      step(few, 1 / 60, { iterations: 2 });
      step(many, 1 / 60, { iterations: 30 });
    }
    expect(worstStretch(many)).toBeLessThan(worstStretch(few));
  });
});
