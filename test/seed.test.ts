// The loss case (one scalar output): the seed is applied in each gradient's store (loop
// code: where it enters the backward pass), not as a second pass over the gradients: the seeded
// gradients must equal seed times the unseeded ones, in every code shape, for scalar and
// tensor params; a seed left out or 0 gives zero gradients, never a NaN.
import { describe, expect, it } from "vitest";
import { load } from "./support/load.js";

const SOURCE = "param w[3], b\ninput x[3]\noutput loss = sigmoid(w @ x + b) + b * b";

describe("a seed given in the loss case scales every gradient", () => {
  for (const emit of ["unrolled", "loops"] as const) {
    it(emit, async () => {
      const { module } = await load(SOURCE, { emit });
      const args = { w: [0.5, -1, 2], b: 0.3, x: [1, 2, -0.5] };
      const plain = module.backward(args);
      const seeded = module.backward(args, { loss: -2.5 });
      expect(seeded.outputs.loss).toBe(plain.outputs.loss);
      expect(seeded.grad.b).toBeCloseTo(-2.5 * (plain.grad.b as number), 14);
      Array.from(seeded.grad.w as Float64Array).forEach((g, k) => expect(g).toBeCloseTo(-2.5 * (plain.grad.w as Float64Array)[k], 14));
      // The same through backwardInto, twice (the holders are overwritten, not scaled again).
      const grad = module.createGrad();
      module.backwardInto(args, { loss: -2.5 }, grad);
      module.backwardInto(args, { loss: -2.5 }, grad);
      expect(Array.from(grad.w as Float64Array)).toEqual(Array.from(seeded.grad.w as Float64Array));
      expect(grad.b).toBe(seeded.grad.b);
    });
  }
});

describe("the loss seed is folded into the backward pass", () => {
  for (const emit of ["unrolled", "loops", "tape"] as const) {
    it(`${emit}: no pass over the gradients after the kernel; {} and 0 give zeros where a local derivative is infinite`, async () => {
      const { module, code } = await load("param w[2], b\noutput loss = sqrt(w[0]^2 + w[1]^2) + b", { emit });
      // No loop over a gradient after the kernel: straight-line code applies s0 in each store.
      expect(code).not.toMatch(/scaleGradients|g\[k\] \* s0/);
      if (emit !== "loops") expect(code).toMatch(/^ {2}g0\[1\] = .* \* s0;$/m);
      const args = { w: [0, 0], b: 1 };
      const plain = module.backward(args);
      expect(Array.from(plain.grad.w as Float64Array).every(Number.isNaN)).toBe(true); // 0 / 0 at the kink, as the math says
      for (const seed of [{}, { loss: 0 }]) {
        const g = module.backward({ w: [0, 1e-320], b: 1 }, seed).grad;
        expect(Array.from(g.w as Float64Array)).toEqual([0, 0]);
        expect(g.b).toBe(0);
      }
      const seeded = module.backward({ w: [3, 4], b: 1 }, { loss: 3 }).grad;
      (seeded.w as Float64Array).forEach((g, k) => expect(g).toBeCloseTo(3 * [0.6, 0.8][k], 14));
      expect(seeded.b).toBe(3);
    });
  }
});
