// The version 2 examples (examples/v2/*.expr): each compiled from its file, its value checked
// against the same arithmetic written out in JavaScript and its gradient against central finite
// differences (every element for the small ones, a spread of elements for the 10,000-particle
// chain); the committed module in generated/v2/ must compute the same.

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { importFile, load, rng, type GeneratedModule } from "./support/load.js";

type Args = Record<string, number | Float64Array>;
const source = (name: string) => readFileSync(new URL(`../examples/v2/${name}.expr`, import.meta.url), "utf8");

function randomArray(next: () => number, n: number, scale = 1, offset = 0) {
  return Float64Array.from({ length: n }, () => offset + scale * (2 * next() - 1));
}

const scalarOf = (v: unknown) => (typeof v === "number" ? v : (v as Float64Array)[0]);

/** Central differences of output `out` along the listed elements of each param. */
function checkGradient(mod: GeneratedModule, args: Args, out: string, params: Record<string, number[] | "all">, tol = 1e-6) {
  const { grad } = mod.backward(args, { [out]: 1 });
  for (const [name, which] of Object.entries(params)) {
    const v = args[name] as Float64Array;
    const g = grad[name] as Float64Array;
    const indices = which === "all" ? [...v.keys()] : which;
    for (const i of indices) {
      const old = v[i];
      const h = 1e-6 * Math.max(1, Math.abs(old));
      v[i] = old + h;
      const up = scalarOf(mod.forward(args)[out]);
      v[i] = old - h;
      const down = scalarOf(mod.forward(args)[out]);
      v[i] = old;
      const numeric = (up - down) / (2 * h);
      expect(Math.abs(g[i] - numeric), `d${out}/d${name}[${i}]: ${g[i]} vs ${numeric}`).toBeLessThan(tol * (1 + Math.abs(numeric)));
    }
  }
}

function expectNear(got: number, want: number, tol = 1e-10) {
  expect(Math.abs(got - want), `${got} vs ${want}`).toBeLessThan(tol * (1 + Math.abs(want)));
}

/** The compiled example, and the committed generated module, agree on value and gradient. */
async function compiledAndCommitted(name: string, args: Args, out: string) {
  const { module } = await load(source(name), { filename: `${name}.expr` });
  const committed = await importFile(new URL(`../generated/v2/${name}.mjs`, import.meta.url).pathname);
  const a = module.backward(args, { [out]: 1 });
  const b = committed.backward(args, { [out]: 1 });
  expectNear(scalarOf(b.outputs[out]), scalarOf(a.outputs[out]), 1e-12);
  for (const [p, g] of Object.entries(a.grad)) (g as Float64Array).forEach((v, k) => expectNear((b.grad[p] as Float64Array)[k], v, 1e-12));
  return module;
}

describe("layer norm (keepdims)", () => {
  it("matches the row-by-row arithmetic and finite differences", async () => {
    const next = rng(1);
    const N = 4, F = 6;
    const args: Args = { x: randomArray(next, N * F, 2), gamma: randomArray(next, F, 0.5, 1), beta: randomArray(next, F), target: randomArray(next, N * F) };
    const mod = await compiledAndCommitted("layernorm", args, "loss");
    const { x, gamma, beta, target } = args as Record<string, Float64Array>;
    let loss = 0;
    for (let r = 0; r < N; r++) {
      const row = x.subarray(r * F, r * F + F);
      const mu = row.reduce((s, v) => s + v, 0) / F;
      const variance = row.reduce((s, v) => s + (v - mu) ** 2, 0) / F;
      for (let c = 0; c < F; c++) loss += (((row[c] - mu) / Math.sqrt(variance + 1e-5)) * gamma[c] + beta[c] - target[r * F + c]) ** 2;
    }
    expectNear(mod.forward(args).loss as number, loss);
    checkGradient(mod, args, "loss", { x: "all", gamma: "all", beta: "all" });
  });
});

describe("single-head attention", () => {
  it("softmax(Q K^T / sqrt(d)) V matches the loops and finite differences", async () => {
    const next = rng(2);
    const T = 5, E = 8, d = 4;
    const args: Args = { X: randomArray(next, T * E), Wq: randomArray(next, E * d, 0.5), Wk: randomArray(next, E * d, 0.5), Wv: randomArray(next, E * d, 0.5) };
    const mod = await compiledAndCommitted("attention", args, "loss");
    const { X, Wq, Wk, Wv } = args as Record<string, Float64Array>;
    const project = (W: Float64Array) => Array.from({ length: T }, (_, t) => Array.from({ length: d }, (_, j) => { let s = 0; for (let e = 0; e < E; e++) s += X[t * E + e] * W[e * d + j]; return s; }));
    const Q = project(Wq), K = project(Wk), V = project(Wv);
    const out: number[] = [];
    for (let t = 0; t < T; t++) {
      const logits = K.map((k) => Q[t].reduce((s, q, j) => s + q * k[j], 0) / Math.sqrt(d));
      const m = Math.max(...logits);
      const w = logits.map((l) => Math.exp(l - m));
      const z = w.reduce((s, v) => s + v, 0);
      for (let j = 0; j < d; j++) out.push(w.reduce((s, wi, u) => s + (wi / z) * V[u][j], 0));
    }
    const got = mod.forward(args);
    (got.out as Float64Array).forEach((v, k) => expectNear(v, out[k]));
    expectNear(got.loss as number, out.reduce((s, v) => s + v * v, 0));
    checkGradient(mod, args, "loss", { Wq: "all", Wk: "all", Wv: "all" });
  });
});

describe("1-D convolution", () => {
  for (const name of ["conv1d", "conv1d-einsum"]) {
    it(`${name}: windows of x against the kernel, by hand and by finite differences`, async () => {
      const next = rng(3);
      const n = 10;
      const args: Args = { x: randomArray(next, n), k: randomArray(next, 3), target: randomArray(next, n - 2) };
      const mod = await compiledAndCommitted(name, args, "loss");
      const { x, k, target } = args as Record<string, Float64Array>;
      let loss = 0;
      for (let i = 0; i < n - 2; i++) loss += (x[i] * k[0] + x[i + 1] * k[1] + x[i + 2] * k[2] - target[i]) ** 2;
      expectNear(mod.forward(args).loss as number, loss);
      checkGradient(mod, args, "loss", { x: "all", k: "all" });
    });
  }
});

/** Spring energy of particles `p` (flat, `dims` coordinates each) joined by `pairs`, plus gravity on coordinate `up`. */
function springEnergy(p: Float64Array, dims: number, pairs: [number, number][], k: number, rest: number, mg: number, up: number) {
  let e = 0;
  for (const [a, b] of pairs) {
    let s = 0;
    for (let c = 0; c < dims; c++) s += (p[b * dims + c] - p[a * dims + c]) ** 2;
    e += 0.5 * k * (Math.sqrt(s) - rest) ** 2;
  }
  for (let i = up; i < p.length; i += dims) e += mg * p[i];
  return e;
}

function gridPairs(R: number, C: number): [number, number][] {
  const pairs: [number, number][] = [];
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) {
    if (c + 1 < C) pairs.push([r * C + c, r * C + c + 1]);
    if (r + 1 < R) pairs.push([r * C + c, (r + 1) * C + c]);
  }
  return pairs;
}

function gridArgs(R: number, C: number, seed: number): Args {
  const next = rng(seed);
  const p = new Float64Array(R * C * 3);
  for (let r = 0; r < R; r++) for (let c = 0; c < C; c++) {
    p[(r * C + c) * 3] = 1.1 * c + 0.1 * (2 * next() - 1);
    p[(r * C + c) * 3 + 1] = 1.1 * r + 0.1 * (2 * next() - 1);
    p[(r * C + c) * 3 + 2] = 0.2 * (2 * next() - 1);
  }
  return { k: 40, rest: 1, mg: 0.3, p };
}

describe("cloth energies", () => {
  it("cloth with p[1:] - p[:-1]: structural springs both ways", async () => {
    const args = gridArgs(6, 5, 4);
    const mod = await compiledAndCommitted("cloth", args, "energy");
    // cloth.expr halves k once over both directions: the same sum of 0.5 k (|d| - rest)^2
    expectNear(mod.forward(args).energy as number, springEnergy(args.p as Float64Array, 3, gridPairs(6, 5), 40, 1, 0.3, 2));
    checkGradient(mod, args, "energy", { p: "all" });
  });
  it("the 16 x 16 cloth with rows and a def", async () => {
    const args = gridArgs(16, 16, 5);
    const mod = await compiledAndCommitted("cloth16", args, "energy");
    expectNear(mod.forward(args).energy as number, springEnergy(args.p as Float64Array, 3, gridPairs(16, 16), 40, 1, 0.3, 2));
    checkGradient(mod, args, "energy", { p: [0, 1, 2, 47, 100, 384, 500, 767] });
  });
});

describe("spring chain with rows and a def", () => {
  for (const [name, N] of [["springs", 64], ["springs-10000", 10000]] as const) {
    it(`${N} particles`, async () => {
      const next = rng(6);
      const p = new Float64Array(2 * N);
      for (let i = 0; i < N; i++) {
        p[2 * i] = 1.2 * i + 0.1 * (2 * next() - 1);
        p[2 * i + 1] = 0.3 * (2 * next() - 1);
      }
      const args: Args = { k: 50, rest: 1, mg: 0.25, p };
      const mod = await compiledAndCommitted(name, args, "energy");
      const pairs = Array.from({ length: N - 1 }, (_, i) => [i, i + 1] as [number, number]);
      expectNear(mod.forward(args).energy as number, springEnergy(p, 2, pairs, 50, 1, 0.25, 1));
      const some = [0, 1, 2, 3, 2 * N - 2, 2 * N - 1, N, N + 1, Math.floor(N / 3) * 2 + 1];
      checkGradient(mod, args, "energy", { p: N <= 64 ? "all" : some });
    });
  }
  it("the module does not grow with the number of particles", async () => {
    const small = (await load(source("springs"), { filename: "springs.expr" })).code.length;
    const large = (await load(source("springs-10000"), { filename: "springs-10000.expr" })).code.length;
    expect(Math.abs(large - small) / small).toBeLessThan(0.1);
  });
});
