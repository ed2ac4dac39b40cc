// Branches for costly selections in straight-line code (src/emit/branches.ts): a scalar
// `where` whose sides own enough work becomes an `if`/`else` that computes only the taken
// side, in the forward pass and in every derivative pass. The untaken side's NaN and
// infinities must not reach any derivative, the values must be the select form's bit for
// bit (the tape evaluates every selection as a selection, so it is the reference), the
// derivatives must match finite differences, and a `where` with cheap sides stays a select.

import { describe, expect, it } from "vitest";
import { printStraightLine } from "../src/emit/straight.js";
import { Graph, type Node } from "../src/ir/graph.js";
import { evaluateGraph, inputKey } from "../src/ir/interpret.js";
import { assertClose, compileJs, flat, load, numericGradient, rng, uniform } from "./support/load.js";

// Bundle adjustment's projection with the Rodrigues rotation's small-angle branch: at a zero
// angle the full form divides by zero (r / th, sin(th) / th), and so do its derivatives.
const BA = `
def rodrigues(r, th, X) = where(th > 1e-15,
    X * cos(th) + cross(r / th, X) * sin(th) + r / th * (dot(r / th, X) * (1 - cos(th))),
    X + cross(r, X))
def rotate(r, X) = rodrigues(r, norm(r), X)
def project(cam, X) = rotate(cam[0:3], X - cam[3:6])[0:2] / rotate(cam[0:3], X - cam[3:6])[2] * cam[6] + cam[7:9]
def residual(p, f) = p[12] * (project(p[0:9], p[9:12]) - f)
param p[13]
input f[2]
`;
const RESIDUAL = `${BA}output r = residual(p, f)\n`;
const LOSS = `${BA}output e = sum(residual(p, f) ^ 2)\n`;
const JACOBIAN = `${BA}output J = jacobian(residual(p, f), p)\n`;
const HESSIAN = `${BA}output H = hessian(sum(residual(p, f) ^ 2), p)\n`;
// The function itself for angles of at most 1e-15: where finite differences must step.
const SMALL_ANGLE = LOSS.replace(/where\(th > 1e-15,[^]*?\),\n\s*(X \+ cross\(r, X\))\)/, "$1");

/** Camera (rotation `r`, center, focal length, principal point), point and weight: the camera 5 units from the point. */
const camera = (r: number[]) => [...r, 0.3, -0.2, -5, 500, 320, 240, 0.2, 0.1, 0.3, 0.9];
const at = (r: number[]) => ({ p: camera(r), f: [340, 250] });

/** The body of one exported function of a module's text. */
const body = (code: string, name: string) => {
  const start = code.indexOf(`export function ${name}(`);
  return code.slice(start, code.indexOf("\n}\n", start));
};
const branches = (code: string) => (code.match(/\} else \{/g) ?? []).length;

describe("a costly where in straight-line code", () => {
  it("becomes an if/else in the forward pass and in the derivative passes", async () => {
    for (const source of [RESIDUAL, LOSS, JACOBIAN]) {
      const { code } = await load(source, { emit: "unrolled" });
      expect(branches(body(code, "forwardInto")), source).toBeGreaterThan(0);
      expect(branches(body(code, "backwardInto")), source).toBeGreaterThan(0);
    }
    // Only what the full form needs moves into its branch: the sines and divisions by the angle.
    const { code } = await load(RESIDUAL, { emit: "unrolled" });
    const forward = body(code, "forwardInto");
    const branch = forward.slice(forward.indexOf("if ("));
    expect(forward.indexOf("Math.sin(")).toBeGreaterThan(forward.indexOf("if ("));
    expect(branch).toMatch(/\} else \{\n\s+t\d+ = t\d+ \+/);
  });

  it("keeps the untaken side's NaN out of every derivative: backward, jacobian, hessian", async () => {
    const zero = at([0, 0, 0]);
    const loss = (await load(LOSS, { emit: "unrolled" })).module;
    const jacobian = (await load(JACOBIAN, { emit: "unrolled" })).module;
    const hessian = (await load(HESSIAN, { emit: "unrolled" })).module;
    const { outputs, grad } = loss.backward(zero);
    expect(Number.isFinite(outputs.e as number)).toBe(true);
    for (const v of flat(grad.p)) expect(Number.isFinite(v)).toBe(true);
    for (const v of flat(jacobian.forward(zero).J)) expect(Number.isFinite(v)).toBe(true);
    const H = flat(hessian.forward(zero).H);
    expect(H.length).toBe(169);
    for (const v of H) expect(Number.isFinite(v)).toBe(true);
    // At a zero angle the small-angle form is the function: its derivatives are the answer
    // (finite differences step past 1e-15, so they step through that form alone).
    expect(SMALL_ANGLE).not.toMatch(/where/);
    const small = (await load(SMALL_ANGLE, { emit: "unrolled" })).module;
    const e = (args: Record<string, number | number[]>) => small.forward(args).e as number;
    expect(outputs.e).toBe(small.forward(zero).e);
    assertClose(grad.p, numericGradient(e, zero, "p", 1e-6) as number[], 1e-5, "gradient at a zero angle");
    for (let k = 0; k < 13; k++) {
      const column = (args: Record<string, number | number[]>) => flat(small.backward(args).grad.p)[k];
      assertClose(H.slice(13 * k, 13 * k + 13), numericGradient(column, zero, "p", 1e-6) as number[], 1e-4, `hessian row ${k}`);
    }
  });

  it("gives the select form's values bit for bit, on both sides, at many points", async () => {
    const random = rng(5);
    const points = Array.from({ length: 120 }, (_, k) => {
      // Every third point on the small-angle side (|r| <= 1e-15, some exactly zero).
      const scale = k % 3 === 0 ? (k % 2 ? 1e-16 : 0) : 1;
      return at([0, 1, 2].map(() => scale * uniform(random, -1, 1)));
    });
    for (const source of [RESIDUAL, LOSS, JACOBIAN, HESSIAN]) {
      const branched = (await load(source, { emit: "unrolled" })).module;
      const selects = (await load(source, { emit: "tape" })).module;
      // A seed for each output element (a loss's is 1).
      const outputs = Object.entries(branched.forward(points[0]));
      const seed = source === LOSS ? undefined : Object.fromEntries(outputs.map(([name, v]) => [name, flat(v).map(() => uniform(random, -1, 1))]));
      for (const args of points) {
        const [a, b] = [branched.backward(args, seed), selects.backward(args, seed)];
        for (const name of Object.keys(b.outputs)) expect(flat(a.outputs[name]), source).toEqual(flat(b.outputs[name]));
        for (const name of Object.keys(b.grad)) expect(flat(a.grad[name]), source).toEqual(flat(b.grad[name]));
        const [fa, fb] = [branched.forward(args), selects.forward(args)];
        for (const name of Object.keys(fb)) expect(flat(fa[name])).toEqual(flat(fb[name]));
      }
    }
  });

  it("differentiates through the taken side: the Jacobian and the gradient against finite differences", async () => {
    const random = rng(11);
    const residual = (await load(RESIDUAL, { emit: "unrolled" })).module;
    const jacobian = (await load(JACOBIAN, { emit: "unrolled" })).module;
    const loss = (await load(LOSS, { emit: "unrolled" })).module;
    for (let trial = 0; trial < 8; trial++) {
      const args = at([0, 1, 2].map(() => uniform(random, -0.5, 0.5)));
      const J = flat(jacobian.forward(args).J);
      for (const row of [0, 1]) {
        const r = (a: Record<string, number | number[]>) => flat(residual.forward(a).r)[row];
        assertClose(J.slice(13 * row, 13 * row + 13), numericGradient(r, args, "p", 1e-7) as number[], 1e-5, `J row ${row}`);
      }
      const e = (a: Record<string, number | number[]>) => loss.forward(a).e as number;
      assertClose(loss.backward(args).grad.p, numericGradient(e, args, "p", 1e-7) as number[], 1e-5, "gradient");
    }
  });

  it("takes the rotation angle's gradient from the axis the rotation divides out (r / norm(r))", () => {
    // norm's local gradient is r / norm(r), which the rotation computes: the Jacobian's two
    // reverse passes no longer go back through the norm's scaled form (292 operations before).
    expect(compileJs(JACOBIAN, { emit: "unrolled" }).stats.forwardOperations).toBeLessThanOrEqual(280);
  });
});

describe("a cheap where", () => {
  it("stays a selection: a leaky relu, a clamp's kinks, a where on values computed anyway", async () => {
    const sources = [
      "param x\noutput f = where(x > 0, x, 0.1 * x)",
      "param x[2]\noutput f = max(0, min(1, x[0] / x[1]))",
      "param x[3]\nn = sum(x ^ 2)\noutput f = where(n > 1, n, n * x[0]) + n",
    ];
    for (const source of sources) {
      const { code } = await load(source, { emit: "unrolled" });
      expect(branches(body(code, "forwardInto")), source).toBe(0);
      expect(branches(body(code, "backwardInto")), source).toBe(0);
      expect(body(code, "backwardInto"), source).toMatch(/\?/);
    }
  });
});

describe("masks nested in masks", () => {
  it("test the older condition outermost, so masks on one condition meet and merge", () => {
    const graph = new Graph();
    const x = graph.input("x", "param", []);
    const c = graph.elementwise("gt", [x, graph.constant(0)]);
    const d = graph.elementwise("lt", [x, graph.constant(2)]);
    const w = graph.elementwise("sin", [x]);
    const zero = graph.constant(0);
    const nested = graph.elementwise("mask", [d, graph.elementwise("mask", [c, w, zero]), zero]);
    expect(nested.op).toBe("mask");
    expect(nested.args[0]).toBe(c);
    expect(nested.args[1].op).toBe("mask");
    expect(nested.args[1].args[0]).toBe(d);
    expect(nested.args[1].args[1]).toBe(w);
    // Zeros on the true sides swap alike: w where c fails and d fails.
    const other = graph.elementwise("mask", [d, zero, graph.elementwise("mask", [c, zero, w])]);
    expect(other.args[0]).toBe(c);
    expect(other.args[1]).toBe(zero);
    expect(other.args[2].args[0]).toBe(d);
    expect(other.args[2].args[2]).toBe(w);
    // Where c is the outer condition already, nothing moves.
    const kept = graph.elementwise("mask", [c, graph.elementwise("mask", [d, w, zero]), zero]);
    expect(kept).toBe(nested);
  });
});

describe("branches in long bodies", () => {
  // Each step a where with a costly side: one `if` per step, the body split into part
  // functions (emit/split.ts), values crossing parts through the register file.
  const steps = (n: number) => {
    const lines = ["param x0", "param c[3]"];
    for (let i = 1; i <= n; i++)
      lines.push(`x${i} = where(x${i - 1} > 0, 0.5 * sin(x${i - 1}) * cos(x${i - 1} * c[${i % 3}]) + 0.3 * exp(-x${i - 1} * x${i - 1}), x${i - 1} + c[${i % 3}])`);
    return [...lines, `output f = x${n}`].join("\n");
  };

  it("are split into parts with the values they assign, equal to the select form bit for bit", async () => {
    const source = steps(300);
    const split = await load(source, { emit: "unrolled" });
    expect(split.code).toMatch(/^function backwardPart1\(/m);
    expect(branches(split.code)).toBeGreaterThan(300);
    const selects = (await load(source, { emit: "tape" })).module;
    const random = rng(3);
    for (let trial = 0; trial < 20; trial++) {
      const args = { x0: uniform(random, -2, 2), c: [0, 1, 2].map(() => uniform(random, -1.5, 1.5)) };
      const [a, b] = [split.module.backward(args), selects.backward(args)];
      expect(a.outputs.f).toBe(b.outputs.f);
      expect(flat(a.grad.x0)).toEqual(flat(b.grad.x0));
      expect(flat(a.grad.c)).toEqual(flat(b.grad.c));
      expect(split.module.forward(args).f).toBe(b.outputs.f);
    }
  });
});

describe("a table of constants", () => {
  // A selection whose values are constants or such selections (atan2's scale): never an `if`,
  // and when it is printed on its own line, the tests of its inner selections are computed
  // before it, as booleans, so that V8 has run each of them whichever side the calls take.
  const TABLE = "param x\ns = where(x < 1, where(x < 0.5, 3, 2), where(x > 4, where(x > 8, 0.25, 0.5), 1))\noutput f = s * x + s * s";
  const scale = (x: number) => (x < 1 ? (x < 0.5 ? 3 : 2) : x > 4 ? (x > 8 ? 0.25 : 0.5) : 1);

  it("named, is no branch, and tests its inner conditions as booleans computed before it", async () => {
    const { code, module: m } = await load(TABLE, { emit: "unrolled" });
    for (const name of ["forwardInto", "backwardInto"]) {
      const kernel = body(code, name);
      expect(branches(kernel), name).toBe(0);
      for (const test of ["< 0.5", "> 4", "> 8"]) expect(kernel, `${name}: ${test}`).toMatch(new RegExp(`const t\\d+ = a0 ${test};`));
      expect(kernel, name).toMatch(/const t\d+ = a0 < 1 \? \(t\d+ \? 3 : 2\) : \(t\d+ \? \(t\d+ \? 0\.25 : 0\.5\) : 1\);/);
    }
    for (const x of [-3, 0.2, 0.5, 0.7, 1, 2, 4, 5, 8, 9, NaN]) {
      const s = scale(x);
      const { outputs, grad } = m.backward({ x });
      expect(outputs.f, `x = ${x}`).toBe(s * x + s * s);
      expect(grad.x, `x = ${x}`).toBe(s);
    }
  });

  it("in a branch, has a boolean test that a later branch reads declared false before both", async () => {
    const source =
      "param x\nparam y\ns = where(y < 1, where(y < 0.5, 3, 2), 1)\na = where(x > 0, sin(y) * cos(y) * exp(y) * s + tanh(y * s), y)\noutput f = where(x > 0, sin(a) * cos(a) * exp(a) * s + where(y < 0.5, a, 2 * a) + tanh(a * s), a + 1)";
    const split = await load(source, { emit: "unrolled" });
    const forward = body(split.code, "forwardInto");
    const declared = /let (t\d+) = false;/.exec(forward)?.[1];
    expect(forward).toMatch(new RegExp(`\\n\\s+${declared} = a1 < 0\\.5;`));
    expect(branches(forward)).toBe(2);
    const selects = (await load(source, { emit: "tape" })).module;
    for (const [x, y] of [[1, 0.2], [1, 0.7], [1, 3], [-1, 0.2], [-1, 3]]) {
      const [a, b] = [split.module.backward({ x, y }), selects.backward({ x, y })];
      expect(a.outputs.f, `${x}, ${y}`).toBe(b.outputs.f);
      expect(a.grad.y, `${x}, ${y}`).toBe(b.grad.y);
    }
  });

  it("inlined where it is used once, keeps its tests inline (the clamp's tie tables)", async () => {
    const { code } = await load("param x\noutput f = x * where(x > 0, 1, where(x == 0, 0.5, 0))", { emit: "unrolled" });
    const kernel = body(code, "forwardInto");
    expect(kernel).toMatch(/a0 > 0 \? 1 : \(a0 === 0 \? 0\.5 : 0\)/);
    expect(kernel).not.toMatch(/const t\d+ = a0 (>|===) 0;/);
  });

  it("compared with a constant none of its values equals, is that comparison's constant", () => {
    const g = new Graph();
    const x = g.input("x", "param", []);
    const table = g.elementwise("where", [g.elementwise("lt", [x, g.constant(1)]), g.elementwise("where", [g.elementwise("lt", [x, g.constant(0.5)]), g.constant(3), g.constant(2)]), g.constant(1)]);
    expect(g.elementwise("eq", [g.constant(0), table]).value).toBe(0);
    expect(g.elementwise("ne", [table, g.constant(0)]).value).toBe(1);
    // A value it takes, or a selection with a computed value, keeps the comparison.
    expect(g.elementwise("eq", [table, g.constant(2)]).op).toBe("eq");
    expect(g.elementwise("eq", [g.elementwise("where", [g.elementwise("lt", [x, g.constant(1)]), x, g.constant(1)]), g.constant(0)]).op).toBe("eq");
  });

  it("leaves a comparison that is also a number as a number, and a mask on a boolean test is right", () => {
    const g = new Graph();
    const x = g.input("x", "param", []);
    const below = g.elementwise("lt", [x, g.constant(1)]);
    const table = g.elementwise("where", [below, g.elementwise("where", [g.elementwise("lt", [x, g.constant(0.5)]), g.constant(3), g.constant(2)]), g.constant(1)]);
    const masked = g.elementwise("mask", [below, g.elementwise("sin", [x]), g.constant(0)]);
    const sinks = (extra: Node[]) =>
      [g.elementwise("mul", [table, x]), g.elementwise("mul", [table, table]), masked, ...extra].map((node, k) => ({ node, store: (e: string) => `out[${k}] = ${e};` }));
    for (const extra of [[], [g.elementwise("add", [below, x])]]) {
      const printed = printStraightLine(g, sinks(extra), (n) => (n === x ? "x" : undefined));
      const text = printed.statements.join("\n");
      // `below` is a boolean only while every use of it is a selection's test.
      expect(/const t\d+ = x < 1;/.test(text), text).toBe(extra.length === 0);
      expect(text).toMatch(/const t\d+ = x < 0\.5;/);
      const run = new Function("x", "out", "MASKED_ZERO", `${text}\n${printed.stores.join("\n")}`);
      for (const v of [0.2, 0.7, 1, 3]) {
        const out: number[] = [];
        run(v, out, new Float64Array(1));
        const expected = evaluateGraph(g, new Map([[inputKey(x), v]]), sinks(extra).map((s) => s.node)).map((a) => a[0]);
        expect(out, `x = ${v}`).toEqual(expected);
      }
    }
  });
});
