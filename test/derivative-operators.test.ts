// Derivatives as values in the language (language.md, "Derivative operators"): gradient,
// jacobian, hessian, jvp and vjp, nested, inside defs (with respect to a def's parameter)
// and comprehensions, and differentiated again by backward. Values are checked against
// hand-derived formulas and finite differences, through the interpreter and compiled code.

import { describe, expect, it } from "vitest";
import { analyze, compile } from "../src/compile.js";
import { interpretProgram, type Value } from "../src/ir/interpret.js";
import { compileJs, load, numericGradient, rng } from "./support/load.js";
import { BA_OBSERVATION } from "./support/ba.js";

function program(source: string) {
  const analyzed = analyze(source, "t.expr");
  if (!analyzed.program) throw new Error(analyzed.diagnostics.map((d) => d.text).join("\n"));
  return analyzed.program;
}
const list = (v: number | Float64Array | number[]) => (typeof v === "number" ? [v] : Array.from(v));
function close(got: ArrayLike<number> | number, want: ArrayLike<number> | number, tol: number, what: string) {
  const [g, w] = [list(got as never), list(want as never)];
  expect(g.length, what).toBe(w.length);
  g.forEach((v, k) => expect(Math.abs(v - w[k]), `${what}[${k}]: ${v} vs ${w[k]}`).toBeLessThan(tol * (1 + Math.abs(w[k]))));
}
const outputs = (source: string, args: Record<string, Value>) => interpretProgram(program(source), args).outputs;

describe("gradient, hessian, jacobian, jvp, vjp", () => {
  const args = { x: [0.3, -1.2, 0.7], v: [1, 2, -1], u: [0.5, -2] };
  const x = args.x;

  it("gradient and hessian of sum(x^3) + x0 x1 by hand", () => {
    const src = "param x[3]\nf = sum(x ^ 3) + x[0] * x[1]\noutput g = gradient(f, x)\noutput H = hessian(f, x)";
    const out = outputs(src, args);
    close(out.g, [3 * x[0] ** 2 + x[1], 3 * x[1] ** 2 + x[0], 3 * x[2] ** 2], 1e-12, "gradient");
    close(out.H, [6 * x[0], 1, 0, 1, 6 * x[1], 0, 0, 0, 6 * x[2]], 1e-12, "hessian");
  });

  it("atan2's Hessian by hand and its third derivatives, at magnitudes from 1e-150 to 1e150", async () => {
    // f = atan2(y, x), r = x² + y²: f_yy = -2xy/r², f_xx = 2xy/r², f_xy = (y² - x²)/r². At
    // c (y, x) the Hessian is H(y, x) / c² and the third derivatives T(y, x) / c³: finite
    // where the formulas' powers of 1 / r are not (c = 1e-100: 1 / r² is past 1e308).
    const src = "param p[2]\noutput H = hessian(atan2(p[0], p[1]), p)\noutput T = jacobian(hessian(atan2(p[0], p[1]), p), p)";
    const { module: m } = await load(src);
    const byHand = (y: number, x: number, c: number) => {
      const r2 = (x * x + y * y) ** 2;
      return [(-2 * x * y) / r2, (y * y - x * x) / r2, (y * y - x * x) / r2, (2 * x * y) / r2].map((h) => h / c / c);
    };
    const near = (got: number, want: number, what: string) => expect(Math.abs(got - want), what).toBeLessThanOrEqual(1e-12 * Math.abs(want));
    for (const [y, x] of [[0.3, -1.2], [-3, 4], [2.5, 0.5]]) {
      const T1 = list(m.forward({ p: [y, x] }).T);
      for (const c of [1, 1e-40, 1e40, 1e-100, 1e100, 1e-140, 1e140, 1e-150, 1e150]) {
        const p = [y * c, x * c];
        for (const H of [list(outputs(src, { p }).H), list(m.forward({ p }).H)]) byHand(y, x, c).forEach((h, k) => near(H[k], h, `H[${k}] at ${p}`));
        if (Math.abs(Math.log10(c)) <= 100) list(m.forward({ p }).T).forEach((t, k) => near(t * c * c * c, T1[k], `T[${k}] at ${p}`));
      }
    }
  });

  it("a dense Hessian is exactly symmetric", () => {
    const src = "param x[4]\noutput H = hessian(exp(x[0] * x[1] + sin(x[2] * x[3] * x[0])) + sum(x) ^ 3, x)";
    const H = list(outputs(src, { x: [0.3, -0.2, 0.5, 0.9] }).H);
    for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) expect(H[i * 4 + j]).toBe(H[j * 4 + i]);
  });

  it("jacobian of a map R^3 -> R^2, and jvp and vjp agreeing with it", () => {
    const src = "param x[3]\ninput v[3], u[2]\ny = [x[0] * x[1], sin(x[2]) + x[0]]\noutput J = jacobian(y, x)\noutput Jv = jvp(y, x, v)\noutput uJ = vjp(y, x, u)";
    const out = outputs(src, args);
    const J = [x[1], x[0], 0, 1, 0, Math.cos(x[2])];
    close(out.J, J, 1e-12, "jacobian");
    close(out.Jv, [0, 1].map((i) => [0, 1, 2].reduce((s, j) => s + J[i * 3 + j] * args.v[j], 0)), 1e-12, "jvp");
    close(out.uJ, [0, 1, 2].map((j) => [0, 1].reduce((s, i) => s + args.u[i] * J[i * 3 + j], 0)), 1e-12, "vjp");
  });

  it("the Jacobian of an elementwise map is diagonal", () => {
    const out = outputs("param x[3]\noutput J = jacobian(tanh(x), x)", args);
    close(out.J, [0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => (i === j ? 1 - Math.tanh(x[i]) ** 2 : 0))), 1e-12, "diagonal");
  });

  it("nested: a Hessian-vector product as gradient(dot(gradient(f, x), v), x)", () => {
    const src = "param x[3]\ninput v[3]\nf = sum(exp(x) * x[1])\noutput hv = gradient(dot(gradient(f, x), v), x)\noutput H = hessian(f, x)";
    const out = outputs(src, args);
    const H = list(out.H);
    close(out.hv, [0, 1, 2].map((i) => [0, 1, 2].reduce((s, j) => s + H[i * 3 + j] * args.v[j], 0)), 1e-12, "hvp");
  });

  it("a gate's second derivative comes from its grad line", () => {
    // The grad line is deliberately not the body's derivative: 2 * out instead of cos(z).
    const src = "def g(z) = sin(z)\ngrad z = 2 * out\nparam x\noutput d2 = gradient(gradient(g(x), x), x)";
    const out = outputs(src, { x: 0.4 });
    close(out.d2, [4 * Math.sin(0.4)], 1e-12, "d/dx (2 out) = 2 * 2 out");
  });

  it("relu'' = 0, where leaks no NaN, and a tie in max splits at every order", () => {
    const out = outputs("param x\noutput a = gradient(gradient(relu(x) ^ 2, x), x)\noutput b = gradient(gradient(where(x > 0, sqrt(x), 0), x), x)\noutput c = gradient(max(x, x), x)", { x: -1 });
    expect(out.a).toBe(0);
    expect(out.b).toBe(0);
    expect(out.c).toBe(1);
  });

  it("with respect to a def's parameter, holding the rest fixed", () => {
    const src = "param p[3], w\ndef energy(q) = w * sum(q ^ 2) + q[0] * w\ndef force(q) = -gradient(energy(q), q)\noutput F = force(p * 2)";
    const out = outputs(src, { p: [1, 2, 3], w: 0.5 });
    close(out.F, [-(2 * 0.5 * 2 + 0.5), -(2 * 0.5 * 4), -(2 * 0.5 * 6)], 1e-12, "force");
  });

  it("inside a comprehension: one gradient per row", () => {
    const src = "input X[4, 2]\nparam w[2]\noutput G = [gradient(sin(dot(w, X[i])), w) for i in 0..4]";
    const X = [0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, 0.8];
    const w = [0.9, -1.1];
    const out = outputs(src, { X, w });
    const want = [0, 1, 2, 3].flatMap((i) => {
      const c = Math.cos(w[0] * X[2 * i] + w[1] * X[2 * i + 1]);
      return [c * X[2 * i], c * X[2 * i + 1]];
    });
    close(out.G, want, 1e-12, "rows");
  });

  it("an output built from a gradient is differentiated again by backward (compiled)", async () => {
    const src = "param x[3]\noutput penalty = sum(gradient(sum(sin(x) * x), x) ^ 2)";
    const { module } = await load(src, { emit: "unrolled" });
    const a = { x: [0.2, -0.5, 1.1] };
    const got = module.backward(a).grad.x as Float64Array;
    const fd = numericGradient((v) => module.forward(v).penalty as number, a, "x") as number[];
    close(got, fd, 1e-6, "d penalty / dx");
    const looped = (await load(src, { emit: "loops" })).module.backward(a).grad.x as Float64Array;
    close(looped, got, 1e-12, "loops agree");
  });

  it("a least-squares Jacobian of 20 residuals in 3 parameters, compiled", async () => {
    const src = "input t[20], y[20]\nparam p[3]\nr = p[0] * exp(-p[1] * t) + p[2] - y\noutput J = jacobian(r, p)";
    const next = rng(4);
    const a = { t: Array.from({ length: 20 }, (_, i) => i / 10), y: Array.from({ length: 20 }, () => next()), p: [1.5, 0.7, -0.2] };
    const want = a.t.flatMap((t) => [Math.exp(-0.7 * t), -1.5 * t * Math.exp(-0.7 * t), 1]);
    for (const emit of ["unrolled", "loops"] as const) close((await load(src, { emit })).module.forward(a).J as Float64Array, want, 1e-12, emit);
  });

  it("mistakes are diagnostics", () => {
    const msg = (src: string) => {
      const r = compile(src);
      return r.ok ? "compiled" : r.diagnostics[0].message;
    };
    expect(msg("param x[3]\noutput g = gradient(x, x)")).toBe("'gradient' needs a scalar y, got [3]; for a tensor use jacobian(y, x) or vjp(y, x, u)");
    expect(msg("param x[3]\ny = 2 * x\noutput g = gradient(sum(y), y)")).toBe("'gradient' differentiates with respect to a param, an input or a parameter of the enclosing def, named as it is declared");
    expect(msg("param x[3]\ninput v[2]\noutput g = jvp(sin(x), x, v)")).toBe("the direction v of 'jvp' must be shaped like 'x' [3], got [2]");
    expect(msg("param x[3]\noutput g = hessian(sum(x))")).toBe("'hessian' takes 2 arguments, as in hessian(y, x); got 1");
  });
});

describe("a reducing gate in a forward-mode Jacobian", () => {
  // Columns of J that share no row are computed together (sparsity.ts): a gate's scalar
  // value reads every element of its tensor argument, so no two columns may be merged.
  it("gives every column, against finite differences", async () => {
    const src = "def nrm(v) = sqrt(dot(v, v))\ngrad v = v / out\nparam x[4]\noutput J = jacobian(nrm(x) * x, x)\noutput y = nrm(x) * x";
    const m = (await load(src)).module;
    const x = [0.3, -0.5, 0.7, 0.2];
    const J = list(m.forward({ x }).J as Float64Array);
    for (let i = 0; i < 4; i++) {
      const yi = (a: Record<string, number | number[]>) => list(m.forward(a).y as Float64Array)[i];
      close(J.slice(4 * i, 4 * i + 4), numericGradient(yi, { x }, "x") as number[], 1e-6, `row ${i}`);
    }
  });
});

describe("norm's gradient is x / norm(x)", () => {
  // norm is a gate whose local gradient divides x by the norm (0 at the zero vector): a
  // program that divides by its norm (a rotation axis r / norm(r)) computes that quotient
  // already, and the norm's Hessian comes from differentiating it.
  const x = [0.3, -1.2, 0.7];
  const n = Math.hypot(...x);

  it("gives x / |x|, 0 at the zero vector, and the Hessian (I - x x^T / |x|^2) / |x|", async () => {
    const src = "param x[3]\ninput v[3]\noutput g = gradient(norm(x), x)\noutput H = hessian(norm(x), x)\noutput t = jvp(norm(x), x, v)";
    const v = [1, 2, -1];
    for (const emit of ["unrolled", "loops", "tape"] as const) {
      const m = (await load(src, { emit })).module;
      const out = m.forward({ x, v });
      close(out.g as Float64Array, x.map((a) => a / n), 1e-15, `${emit} gradient`);
      close(out.H as Float64Array, [0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => ((i === j ? 1 : 0) - (x[i] * x[j]) / n ** 2) / n)), 1e-14, `${emit} hessian`);
      close(out.t as number, x.reduce((s, a, i) => s + (a * v[i]) / n, 0), 1e-14, `${emit} jvp`);
      const zero = m.forward({ x: [0, 0, 0], v });
      expect(Array.from(zero.g as Float64Array), emit).toEqual([0, 0, 0]);
      expect(zero.t, emit).toBe(0);
    }
  });

  it("along an axis and with keepdims: backward and a Jacobian against finite differences", async () => {
    const src = "param A[2, 3]\noutput f = sum(norm(A, axis=0) * [1, 2, 3]) + sum(norm(A, axis=1, keepdims=true) ^ 3)\noutput J = jacobian(norm(A, axis=0), A)";
    const m = (await load(src)).module;
    const a = { A: [0.3, -1.2, 0.7, 2, 0.1, -0.4] };
    close(m.backward(a, { f: 1, J: new Array(18).fill(0) }).grad.A as Float64Array, numericGradient((v) => m.forward(v).f as number, a, "A") as number[], 1e-7, "gradient");
    const J = list(m.forward(a).J as Float64Array);
    for (let i = 0; i < 3; i++) {
      const col = Math.hypot(a.A[i], a.A[3 + i]);
      close(J.slice(6 * i, 6 * i + 6), [0, 1, 2, 3, 4, 5].map((k) => (k % 3 === i ? a.A[k] / col : 0)), 1e-15, `row ${i}`);
    }
  });

  it("reuses the program's x / norm(x): no divisions of its own", () => {
    const ops = (src: string) => compile(src, { emit: "unrolled" }).stats!.forwardOperations;
    const divided = ops("param r[3]\noutput y = r / norm(r)");
    // The gradient beside the quotients adds the masks of a zero norm only (was 15 more
    // operations: the scaled form's chain rule, two divisions by the scale and the root).
    expect(ops("param r[3]\noutput y = r / norm(r)\noutput g = gradient(norm(r), r)")).toBeLessThanOrEqual(divided + 3);
    expect(ops("param r[3]\noutput H = hessian(norm(r), r)")).toBeLessThanOrEqual(50);
  });

  it("of a constant is a constant", () => {
    const out = outputs("const s = norm([3, 4])\nparam x\noutput y = s * x", { x: 2 });
    expect(out.y).toBe(10);
  });
});

describe("a small reverse-mode Jacobian through a cut", () => {
  // J = dy/dx (c held) + dy/dc dc/dx at an intermediate c: the bundle adjustment's rotated
  // point (3 values of 15 params), whose own Jacobian no longer waits for the projection's
  // divisions in each pass from y. Kept only with no more operations and a shorter chain.
  const BA = BA_OBSERVATION;
  const camera = (r: number[]) => ({ p: [...r, 0.3, -0.2, -5, 500, 320, 240, 1e-3, 1e-6, 0.2, 0.1, 0.3, 0.9], f: [340, 250] });

  it("is taken for the bundle adjustment's 2 x 15 Jacobian, which equals finite differences, at a zero rotation too", async () => {
    const result = compileJs(`${BA}output J = jacobian(residual(p, f), p)\n`);
    expect(result.stats.derivatives[0].method).toMatch(/to a cut of 3 values/);
    // Straight-line code with fewer operations than the two plain passes' 371.
    expect(result.stats.forwardOperations).toBeLessThanOrEqual(345);
    expect(result.stats.emitted).toBe("unrolled");
    const J = (await load(`${BA}output J = jacobian(residual(p, f), p)\n`)).module;
    const r = (await load(`${BA}output r = residual(p, f)\n`)).module;
    const random = rng(5);
    for (const rotation of [[0.1, -0.2, 0.05], [0, 0, 0], ...[0, 1, 2].map(() => [0, 1, 2].map(() => random() - 0.5))]) {
      const a = camera(rotation);
      const got = list(J.forward(a).J as Float64Array);
      expect(got.every(Number.isFinite), `${rotation}`).toBe(true);
      for (const row of [0, 1]) {
        const ri = (v: Record<string, number | number[]>) => list(r.forward(v).r as Float64Array)[row];
        close(got.slice(15 * row, 15 * row + 15), numericGradient(ri, a, "p", 1e-7) as number[], 1e-5, `row ${row} at ${rotation}`);
      }
    }
  });

  it("is not taken where it does not pay, nor for a Jacobian by a def's parameter (batched over rows)", () => {
    const method = (src: string) => compileJs(src).stats.derivatives[0].method;
    expect(method("param x[3]\noutput J = jacobian([x[0] * x[1], sin(x[2]) + x[0]], x)")).not.toMatch(/cut/);
    expect(method(`${BA}def block(q, g) = jacobian(residual(q, g), q)\noutput J = block(p, f)\n`)).not.toMatch(/cut/);
  });
});

describe("a dense Hessian's module does not grow with n: past INDEX_TABLE_LIMIT its mirror mask and pass indices are computed in the loop", () => {
  const cubic = (n: number) => `const n = ${n}\nparam x[n]\noutput H = hessian(sum(x) ^ 2 + sum(x * x * x), x)\n`;
  const lse = (n: number) => `input A[${n}, ${n}]\nparam x[${n}]\noutput H = hessian(logsumexp(A @ tanh(x)), x)\n`;

  it("the module stays within a small factor as n goes 100 -> 1000 -> 2000", { timeout: 60_000 }, () => {
    // With the n x n mask as constants it was 46K, 3.0M and 12M characters.
    const sizes = [100, 1000, 2000].map((n) => compileJs(cubic(n)).code.length);
    expect(Math.max(...sizes)).toBeLessThan(1.2 * Math.min(...sizes));
    expect(Math.max(...sizes)).toBeLessThan(40_000);
    const dense = [100, 1000].map((n) => compileJs(lse(n)).code.length);
    expect(dense[1]).toBeLessThan(1.2 * dense[0]);
  });

  it("the mirror tests i <= j as the selection's condition, not a 0/1 value compared with 0", () => {
    // `(i <= j ? 1 : 0) !== 0 ? a : b` took 1.16x the time of a table read; `i <= j ? a : b` does not.
    const code = compileJs(cubic(100)).code;
    expect(code).toMatch(/\(i\) <= \(j\) \? b\d+\[/);
    expect(code).not.toContain("? 1 : 0) !== 0");
  });

  it("at n = 100 the Hessian is the forward-over-reverse Jacobian's upper triangle mirrored, exactly symmetric, and matches finite differences of the gradient", async () => {
    const n = 100;
    const random = rng(5);
    const args = { A: Float64Array.from({ length: n * n }, () => random() * 2 - 1), x: Float64Array.from({ length: n }, () => random() * 2 - 1) };
    const H = (await load(lse(n))).module.forward(args).H as Float64Array;
    // What the table form computed: J = jacobian(gradient(f)), J[i, j] where i <= j, else J[j, i].
    const J = (await load(`input A[${n}, ${n}]\nparam x[${n}]\noutput J = jacobian(gradient(logsumexp(A @ tanh(x)), x), x)\n`)).module.forward(args).J as Float64Array;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        expect(H[i * n + j], `H[${i}, ${j}]`).toBe(i <= j ? J[i * n + j] : J[j * n + i]);
        expect(H[i * n + j]).toBe(H[j * n + i]);
      }
    // Columns of H against central differences of the compiled gradient.
    const g = (await load(`input A[${n}, ${n}]\nparam x[${n}]\noutput g = gradient(logsumexp(A @ tanh(x)), x)\n`)).module;
    const h = 1e-5;
    for (const j of [0, 37, n - 1]) {
      const at = (d: number) => {
        const x = args.x.slice();
        x[j] += d;
        return g.forward({ ...args, x }).g as Float64Array;
      };
      const [up, down] = [at(h), at(-h)];
      close(H.subarray(j * n, j * n + n), Array.from(up, (u, i) => (u - down[i]) / (2 * h)), 1e-6, `column ${j}`);
    }
  });

  it("the cubic's Hessian is 2 + 6 x[i] on the diagonal and 2 off it, at n = 300", async () => {
    const n = 300;
    const x = Float64Array.from({ length: n }, (_, i) => Math.sin(i));
    const H = (await load(cubic(n))).module.forward({ x }).H as Float64Array;
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(H[i * n + j]).toBeCloseTo(i === j ? 2 + 6 * x[i] : 2, 10);
  });
});

describe("a colored (sparse) Jacobian's module grows at most linearly: past COLORED_TABLE_LIMIT its index and mask are computed in the loop", () => {
  const ROSENBROCK = "sum(100 * (x[1:] - x[:-1] ^ 2) ^ 2 + (1 - x[:-1]) ^ 2)";
  const rosen = (n: number, what = "H = hessian") => `param x[${n}]\noutput ${what}(${ROSENBROCK}, x)\n`;

  it("the Rosenbrock Hessian's module at n = 200, 1000, 2000 grows at most linearly, far below n^2 tables", { timeout: 60_000 }, () => {
    // With the index and mask as n x n constants it was 95,591 characters at n = 100 and 8.65M at 1000.
    const [s200, s1000, s2000] = [200, 1000, 2000].map((n) => compileJs(rosen(n)).code.length);
    expect(s200).toBeLessThan(30_000);
    expect(s2000 - s1000).toBeLessThan(1.5 * (s1000 - s200) * (1000 / 800));
    expect(s2000).toBeLessThan(80_000);
  });

  it("at n = 200 (past the limit) the Rosenbrock Hessian is tridiagonal with exact zeros, exactly symmetric, matches it by hand and central differences of the gradient", async () => {
    const n = 200;
    const random = rng(11);
    const x = Float64Array.from({ length: n }, () => random() * 2 - 1);
    const H = (await load(rosen(n))).module.forward({ x }).H as Float64Array;
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        expect(H[i * n + j]).toBe(H[j * n + i]);
        if (Math.abs(i - j) > 1) expect(H[i * n + j], `H[${i}, ${j}]`).toBe(0);
      }
    for (let i = 0; i < n; i++) {
      const diagonal = (i > 0 ? 200 : 0) + (i < n - 1 ? 2 - 400 * (x[i + 1] - x[i] * x[i]) + 800 * x[i] * x[i] : 0);
      expect(H[i * n + i]).toBeCloseTo(diagonal, 9);
      if (i < n - 1) expect(H[i * n + i + 1]).toBeCloseTo(-400 * x[i], 9);
    }
    const g = (await load(rosen(n, "g = gradient"))).module;
    const h = 1e-5;
    for (const j of [0, 1, 50, n - 1]) {
      const at = (d: number) => {
        const xd = x.slice();
        xd[j] += d;
        return g.forward({ x: xd }).g as Float64Array;
      };
      const [up, down] = [at(h), at(-h)];
      close(H.subarray(j * n, j * n + n), Array.from(up, (u, i) => (u - down[i]) / (2 * h)), 1e-6, `column ${j}`);
    }
  });

  it("rows colored (reverse passes) past the limit: a chain's products and their sum, by hand", async () => {
    // The sum's row touches every column, so columns need n colors; the rows need 3 or 4.
    const n = 130;
    const src = `param x[${n}]\noutput J = jacobian(concat([x[1:] * x[:-1], [sum(x)]]), x)\n`;
    const m = n;
    expect(compileJs(src).stats.derivatives[0].method).toMatch(/^reverse, [34] passes/);
    const loaded = await load(src);
    const random = rng(3);
    const x = Float64Array.from({ length: n }, () => random() * 2 - 1);
    const J = loaded.module.forward({ x }).J as Float64Array;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        const want = i === m - 1 ? 1 : j === i ? x[i + 1] : j === i + 1 ? x[i] : 0;
        expect(J[i * n + j], `J[${i}, ${j}]`).toBe(want);
      }
  });
});
