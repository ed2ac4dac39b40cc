// The loss case (one scalar output) is differentiated with seed 1 and scaled afterwards
// when a seed is given (src/compile.ts, seedScaling): the scaled gradients must equal
// seed times the unseeded ones, in every code shape, for scalar and tensor params.
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
