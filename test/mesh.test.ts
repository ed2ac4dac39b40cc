// Energies over integer triangle and edge lists (examples/mesh/): the cloth against a
// hand-written energy over the same triangles and finite differences, vertices shared by up
// to six triangles getting the sum of their forces; the graph Laplacian energy against
// trace(u^T L u) with the Laplacian built as a matrix, and its gradient against 2 L u + 2 lam (u - f).

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { ROOT } from "./support/cli.js";
import { assertClose, load, rng } from "./support/load.js";

const source = (name: string) => readFileSync(join(ROOT, "examples", "mesh", `${name}.expr`), "utf8");

/** Central differences of f along each listed element of v (v is restored). */
function differences(f: () => number, v: Float64Array, elements: number[]): number[] {
  return elements.map((k) => {
    const x = v[k];
    const h = 1e-6 * Math.max(1, Math.abs(x));
    v[k] = x + h;
    const up = f();
    v[k] = x - h;
    const down = f();
    v[k] = x;
    return (up - down) / (2 * h);
  });
}

describe("a cloth over a triangle list (examples/mesh/cloth.expr)", { timeout: 60_000 }, () => {
  const n = 20;
  const spacing = 0.1;
  const next = rng(31);
  const tris = new Int32Array(722 * 3);
  let t = 0;
  for (let i = 0; i < n - 1; i++)
    for (let j = 0; j < n - 1; j++) {
      const a = i * n + j;
      tris.set([a, a + 1, a + n + 1, a, a + n + 1, a + n], 6 * t++);
    }
  const flat = Float64Array.from({ length: n * n * 3 }, (_, k) => (k % 3 === 0 ? Math.floor(k / 3 / n) * spacing : k % 3 === 1 ? ((k / 3) % n | 0) * spacing : 0));
  const dist = (p: Float64Array, a: number, b: number) => Math.hypot(p[3 * a] - p[3 * b], p[3 * a + 1] - p[3 * b + 1], p[3 * a + 2] - p[3 * b + 2]);
  const areaOf = (p: Float64Array, a: number, b: number, c: number) => {
    const u = [0, 1, 2].map((d) => p[3 * b + d] - p[3 * a + d]);
    const v = [0, 1, 2].map((d) => p[3 * c + d] - p[3 * a + d]);
    return 0.5 * Math.hypot(u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]);
  };
  const rest = new Float64Array(722 * 3);
  const area0 = new Float64Array(722);
  for (let q = 0; q < 722; q++) {
    const [a, b, c] = tris.subarray(3 * q, 3 * q + 3);
    rest.set([dist(flat, a, b), dist(flat, b, c), dist(flat, c, a)], 3 * q);
    area0[q] = areaOf(flat, a, b, c);
  }
  const x = Float64Array.from(flat, (v) => v + 0.02 * (next() - 0.5));
  const args = { tris, rest, area0, k: 50, ka: 200, mg: 0.01, x };

  function energy(p: Float64Array): number {
    let e = 0;
    for (let q = 0; q < 722; q++) {
      const [a, b, c] = tris.subarray(3 * q, 3 * q + 3);
      const springs = (dist(p, a, b) - rest[3 * q]) ** 2 + (dist(p, b, c) - rest[3 * q + 1]) ** 2 + (dist(p, c, a) - rest[3 * q + 2]) ** 2;
      e += 0.5 * args.k * springs + 0.5 * args.ka * (areaOf(p, a, b, c) - area0[q]) ** 2;
    }
    for (let v = 0; v < 400; v++) e += args.mg * p[3 * v + 2];
    return e;
  }

  it("its energy equals the hand-written sum over triangles", async () => {
    const { module } = await load(source("cloth"), { filename: "cloth.expr" });
    assertClose(module.forward(args).energy, energy(x), 1e-12, "energy");
    assertClose(module.forward({ ...args, x: flat }).energy, energy(flat), 1e-12, "energy at rest");
  });

  it("its gradient agrees with finite differences, at shared and corner vertices alike", async () => {
    const { module } = await load(source("cloth"), { filename: "cloth.expr" });
    const grad = module.backward(args).grad.x as Float64Array;
    // vertex 0 is in one triangle, 21 in six, 399 in one; every coordinate of each
    const elements = [0, 21, 210, 399].flatMap((v) => [3 * v, 3 * v + 1, 3 * v + 2]);
    const want = differences(() => module.forward(args).energy as number, x, elements);
    assertClose(elements.map((k) => grad[k]), want, 1e-6, "dx");
    const hand = differences(() => energy(x), x, elements);
    assertClose(elements.map((k) => grad[k]), hand, 1e-6, "dx against the hand-written energy");
  });

  it("at rest only gravity pulls", async () => {
    const { module } = await load(source("cloth"), { filename: "cloth.expr" });
    const g = module.backward({ ...args, x: flat }).grad.x as Float64Array;
    for (let v = 0; v < 400; v++) {
      expect(Math.abs(g[3 * v])).toBeLessThan(1e-9);
      expect(Math.abs(g[3 * v + 1])).toBeLessThan(1e-9);
      expect(g[3 * v + 2]).toBeCloseTo(args.mg, 9);
    }
  });
});

describe("a graph Laplacian energy over an edge list (examples/mesh/laplacian.expr)", () => {
  const [V, E, D] = [1000, 3000, 3];
  const next = rng(77);
  const edges = Int32Array.from({ length: 2 * E }, () => Math.floor(next() * V));
  edges.set([5, 6, 5, 6, 6, 5, 9, 9], 0); // a repeated edge, the same edge reversed, a self-loop
  const wt = Float64Array.from({ length: E }, () => 0.5 + next());
  const f = Float64Array.from({ length: V * D }, () => next() * 2 - 1);
  const u = Float64Array.from({ length: V * D }, () => next() * 2 - 1);
  const args = { edges, wt, f, lam: 0.3, u };

  // The weighted Laplacian as a dense matrix: L[a][a] += w, L[b][b] += w, L[a][b] -= w, L[b][a] -= w.
  const L = new Float64Array(V * V);
  for (let e = 0; e < E; e++) {
    const [a, b] = [edges[2 * e], edges[2 * e + 1]];
    L[a * V + a] += wt[e];
    L[b * V + b] += wt[e];
    L[a * V + b] -= wt[e];
    L[b * V + a] -= wt[e];
  }
  const Lu = new Float64Array(V * D);
  for (let a = 0; a < V; a++)
    for (let b = 0; b < V; b++) {
      const l = L[a * V + b];
      if (l !== 0) for (let d = 0; d < D; d++) Lu[a * D + d] += l * u[b * D + d];
    }

  it("its energy is trace(u^T L u) + lam |u - f|^2", async () => {
    const { module } = await load(source("laplacian"), { filename: "laplacian.expr" });
    let want = 0;
    for (let k = 0; k < V * D; k++) want += u[k] * Lu[k] + args.lam * (u[k] - f[k]) ** 2;
    assertClose(module.forward(args).energy, want, 1e-11, "energy");
  });

  it("its gradient is 2 L u + 2 lam (u - f), repeated edges adding up, and agrees with finite differences", async () => {
    const { module } = await load(source("laplacian"), { filename: "laplacian.expr" });
    const grad = module.backward(args).grad.u as Float64Array;
    assertClose(grad, Array.from(Lu, (v, k) => 2 * v + 2 * args.lam * (u[k] - f[k])), 1e-11, "du");
    const elements = [15, 16, 17, 18, 27, 28, 29, 2999];
    assertClose(elements.map((k) => grad[k]), differences(() => module.forward(args).energy as number, u, elements), 1e-6, "du by differences");
  });
});
