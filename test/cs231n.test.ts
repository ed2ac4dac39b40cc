// The CS231n numbers (cs231n.md), from the committed modules in generated/cs231n/ — the
// files apps import. The circuit, the sigmoid neuron written three ways (built-in sigmoid,
// a def differentiated through its body, a gate with its analytic grad line), the hinge
// loss table with its hand-derived gradient, and the initial loss log(3) of the softmax
// classifier and the two-layer net with their hand-derived gradients.

import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./support/cli.js";
import { assertClose, importFile, rng, uniform, type GeneratedModule } from "./support/load.js";

const GENERATED = join(ROOT, "generated", "cs231n");
const load = (name: string): Promise<GeneratedModule> => importFile(join(GENERATED, `${name}.mjs`));

/** The spec gives values as leading digits ("0.7310585786..."): x must start with them. */
function expectDigits(x: number, spec: string, what: string) {
  const digits = spec.replace("...", "");
  const decimals = digits.length - digits.indexOf(".") - 1;
  // Truncate (not round) to the spec's number of decimals.
  const truncated = (Math.sign(x) * Math.floor(Math.abs(x) * 10 ** decimals)) / 10 ** decimals;
  expect(truncated.toFixed(decimals), `${what} = ${x}, spec ${spec}`).toBe(Number(digits).toFixed(decimals));
}

describe("the circuit f(x, y, z) = (x + y) z", () => {
  it("at x = -2, y = 5, z = -4: f = -12, df/dx = -4, df/dy = -4, df/dz = 3", async () => {
    const m = await load("circuit");
    expect(m.forward({ x: -2, y: 5, z: -4 })).toEqual({ f: -12 });
    const { outputs, grad } = m.backward({ x: -2, y: 5, z: -4 });
    expect(outputs).toEqual({ f: -12 });
    expect(grad).toEqual({ x: -4, y: -4, z: 3 });
  });

  it("at other points: df/dx = df/dy = z, df/dz = x + y", async () => {
    const m = await load("circuit");
    const r = rng(231);
    for (let i = 0; i < 5; i++) {
      const [x, y, z] = [uniform(r, -5, 5), uniform(r, -5, 5), uniform(r, -5, 5)];
      const { outputs, grad } = m.backward({ x, y, z });
      expect(outputs.f).toBe((x + y) * z);
      expect(grad).toEqual({ x: z, y: z, z: x + y });
    }
  });
});

describe("the sigmoid neuron, three ways", () => {
  const point = { w: [2, -3, -3], x: [-1, -2] };
  // Hand-derived: w.x = 2*-1 + -3*-2 + -3 = 1, f = sigma(1), local gradient sigma(1)(1 - sigma(1)).
  const f = 1 / (1 + Math.exp(-1));
  const local = f * (1 - f);
  const exact = { f, w: [-1 * local, -2 * local, local], x: [2 * local, -3 * local] };

  it.each(["neuron", "neuron-def", "neuron-gate"])("%s.mjs gives the lecture's numbers", async (name) => {
    const m = await load(name);
    const { outputs, grad } = m.backward(point);
    // To two decimals, as in the lecture.
    expect((outputs.f as number).toFixed(2)).toBe("0.73");
    expect(Array.from(grad.w as Float64Array).map((g) => g.toFixed(2))).toEqual(["-0.20", "-0.39", "0.20"]);
    expect(Array.from(grad.x as Float64Array).map((g) => g.toFixed(2))).toEqual(["0.39", "-0.59"]);
    // The exact values of the spec, digit for digit.
    expectDigits(outputs.f as number, "0.7310585786...", "f");
    ["-0.1966119...", "-0.3932238...", "0.1966119..."].forEach((s, i) => expectDigits((grad.w as Float64Array)[i], s, `df/dw${i}`));
    ["0.3932238...", "-0.5898357..."].forEach((s, i) => expectDigits((grad.x as Float64Array)[i], s, `df/dx${i}`));
    // And the hand-derived values to 1e-9 (in fact to rounding).
    assertClose(outputs.f, exact.f, 1e-9, "f");
    assertClose(grad.w, exact.w, 1e-9, "df/dw");
    assertClose(grad.x, exact.x, 1e-9, "df/dx");
    expect(m.forward(point).f).toBe(outputs.f);
  });

  it("all three agree to 1e-12, at the lecture's point and at random points", async () => {
    const [a, b, c] = await Promise.all(["neuron", "neuron-def", "neuron-gate"].map(load));
    const r = rng(7);
    const points = [point, ...Array.from({ length: 5 }, () => ({ w: [1, 2, 3].map(() => uniform(r, -3, 3)), x: [1, 2].map(() => uniform(r, -3, 3)) }))];
    for (const p of points) {
      const [ra, rb, rc] = [a, b, c].map((m) => m.backward(p));
      for (const other of [rb, rc]) {
        assertClose(other.outputs.f, ra.outputs.f as number, 1e-12, "f");
        assertClose(other.grad.w, ra.grad.w as Float64Array, 1e-12, "df/dw");
        assertClose(other.grad.x, ra.grad.x as Float64Array, 1e-12, "df/dx");
      }
    }
  });
});

describe("the multiclass SVM (hinge) loss", () => {
  // The lecture's table: scores for cat, car, frog; y one-hot.
  const table = [
    { label: "cat", s: [3.2, 5.1, -1.7], y: [1, 0, 0], loss: 2.9 },
    { label: "car", s: [1.3, 4.9, 2.0], y: [0, 1, 0], loss: 0 },
    { label: "frog", s: [2.2, 2.5, -3.1], y: [0, 0, 1], loss: 12.9 },
  ];

  it.each(table)("$label example: loss $loss", async ({ s, y, loss }) => {
    const m = await load("hinge");
    assertClose(m.forward({ s, y }).loss, loss, 1e-12, "loss");
  });

  it("the mean over the table is (2.9 + 0 + 12.9) / 3 = 5.27 (to two decimals)", async () => {
    const m = await load("hinge");
    const mean = table.reduce((acc, t) => acc + (m.forward({ s: t.s, y: t.y }).loss as number), 0) / 3;
    expect(mean.toFixed(2)).toBe("5.27");
  });

  it("the gradient of the cat example, derived by hand: [-1, 1, 0]", async () => {
    // dL/ds_j = 1 for each j != y with a positive margin (car: 5.1 - 3.2 + 1 = 2.9 > 0;
    // frog: -1.7 - 3.2 + 1 = -3.9 < 0), and dL/ds_y = -(number of positive margins) = -1.
    const m = await load("hinge");
    const { outputs, grad } = m.backward({ s: [3.2, 5.1, -1.7], y: [1, 0, 0] });
    assertClose(outputs.loss, 2.9, 1e-12, "loss");
    expect(Array.from(grad.s as Float64Array)).toEqual([-1, 1, 0]);
  });

  it("the gradients of the car and frog examples: [0, 0, 0] and [1, 1, -2]", async () => {
    const m = await load("hinge");
    expect(Array.from(m.backward({ s: [1.3, 4.9, 2.0], y: [0, 1, 0] }).grad.s as Float64Array)).toEqual([0, 0, 0]);
    expect(Array.from(m.backward({ s: [2.2, 2.5, -3.1], y: [0, 0, 1] }).grad.s as Float64Array)).toEqual([1, 1, -2]);
  });

  it("y is an input: it gets no gradient", async () => {
    const m = await load("hinge");
    expect(Object.keys(m.backward({ s: [3.2, 5.1, -1.7], y: [1, 0, 0] }).grad)).toEqual(["s"]);
  });
});

describe("the spiral case study's losses at initialization", () => {
  // With all scores equal, each class has probability 1/3 and the loss is log(3) = 1.0986,
  // the lecture's sanity check. dscores = p - y; for scores = W @ x + b, dW = dscores x^T
  // + reg W and db = dscores.
  it("softmax.mjs: W = 0, b = 0 gives log 3, and the hand-derived gradient", async () => {
    const m = await load("softmax");
    const x = [0.3, -0.7];
    const y = [0, 0, 1];
    const { outputs, grad } = m.backward({ x, y, reg: 1e-3, W: new Float64Array(6), b: [0, 0, 0] });
    assertClose(outputs.loss, Math.log(3), 1e-15, "loss");
    expect((outputs.loss as number).toFixed(4)).toBe("1.0986");
    const dscores = y.map((t) => 1 / 3 - t);
    assertClose(grad.b, dscores, 1e-15, "db");
    assertClose(grad.W, [0, 1, 2].flatMap((i) => x.map((xj) => dscores[i] * xj)), 1e-15, "dW");
  });

  it("softmax.mjs: the L2 term 0.5 reg sum(W^2) and its gradient reg W", async () => {
    const m = await load("softmax");
    const W = [1, -2, 3, 0.5, -1, 2];
    // x = 0 and b = 0: all scores 0, so the data loss is log 3 and dW is reg W only.
    const { outputs, grad } = m.backward({ x: [0, 0], y: [1, 0, 0], reg: 0.1, W, b: [0, 0, 0] });
    assertClose(outputs.loss, Math.log(3) + 0.5 * 0.1 * W.reduce((s, w) => s + w * w, 0), 1e-14, "loss");
    assertClose(grad.W, W.map((w) => 0.1 * w), 1e-15, "dW");
  });

  it("twolayer.mjs: W2 = 0, b2 = 0 gives log 3; db2 = p - y, dW2 = dscores h^T, W1 and b1 get only reg W1", async () => {
    const m = await load("twolayer");
    const r = rng(3);
    const W1 = Array.from({ length: 200 }, () => uniform(r, -1, 1));
    const b1 = Array.from({ length: 100 }, () => uniform(r, -0.1, 0.1));
    const x = [0.5, -0.25];
    const y = [0, 1, 0];
    const reg = 1e-3;
    const { outputs, grad } = m.backward({ x, y, reg, W1, b1, W2: new Float64Array(300), b2: [0, 0, 0] });
    const l2 = 0.5 * reg * W1.reduce((s, w) => s + w * w, 0);
    assertClose(outputs.loss, Math.log(3) + l2, 1e-14, "loss");
    const dscores = y.map((t) => 1 / 3 - t);
    const h = Array.from({ length: 100 }, (_, i) => Math.max(0, W1[2 * i] * x[0] + W1[2 * i + 1] * x[1] + b1[i]));
    assertClose(grad.b2, dscores, 1e-15, "db2");
    assertClose(grad.W2, [0, 1, 2].flatMap((k) => h.map((hj) => dscores[k] * hj)), 1e-14, "dW2");
    // W2 = 0 stops the data gradient at the hidden layer.
    assertClose(grad.W1, W1.map((w) => reg * w), 1e-15, "dW1");
    assertClose(grad.b1, new Array(100).fill(0), 1e-15, "db1");
  });
});


describe("the two-layer net's gradients", () => {
  it("match central differences at random points away from ReLU kinks", async () => {
    const m = await load("twolayer");
    const r = rng(11);
    for (let point = 0; point < 3; point++) {
      let args: Record<string, number[] | number>;
      // Redraw until every hidden pre-activation is at least 1e-3 from the kink at 0.
      for (;;) {
        const W1 = Array.from({ length: 200 }, () => uniform(r, -1, 1));
        const b1 = Array.from({ length: 100 }, () => uniform(r, -0.5, 0.5));
        const x = [uniform(r, -1, 1), uniform(r, -1, 1)];
        const pre = b1.map((b, i) => W1[2 * i] * x[0] + W1[2 * i + 1] * x[1] + b);
        args = { x, y: [0, 0, 1], reg: 1e-3, W1, b1, W2: Array.from({ length: 300 }, () => uniform(r, -1, 1)), b2: [uniform(r, -1, 1), uniform(r, -1, 1), uniform(r, -1, 1)] };
        if (pre.every((p) => Math.abs(p) > 1e-3)) break;
      }
      const { grad } = m.backward(args);
      for (const name of ["W1", "b1", "W2", "b2"]) {
        const values = args[name] as number[];
        const numeric = values.map((v, i) => {
          const h = 1e-6;
          const at = (d: number) => m.forward({ ...args, [name]: values.map((u, j) => (j === i ? v + d : u)) }).loss as number;
          return (at(h) - at(-h)) / (2 * h);
        });
        assertClose(grad[name], numeric, 1e-7, `point ${point}: d loss / d ${name}`);
      }
    }
  });
});
