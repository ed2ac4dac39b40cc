// gradc check's numerics (diff/numeric.ts) and the command on programs that used to fail
// or skip: steps per element (a short length scale passes), points moved off kinks (a
// batched ReLU net is checked, not skipped), and every derivative operator of a program
// compared with finite differences of what it differentiates.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Graph, type Node } from "../src/ir/graph.js";
import { inputKey } from "../src/ir/interpret.js";
import { centralDifference, checkDerivatives } from "../src/diff/numeric.js";
import { derivativesOf, gradient, hessian, jacobian, jvp, substitute, vjp } from "../src/diff/operators.js";
import { mulberry32 } from "../src/random.js";
import { ensureBuilt, gradc, tempFolders } from "./support/cli.js";

describe("central differences with a step per element", () => {
  test("a length scale of 0.01 at x = 0.5: the chosen step agrees with the derivative; one step of 1e-3 does not", () => {
    const L = 0.01;
    const x = 0.5;
    const f = (d: number) => [Math.sin((x + d) / L)];
    const exact = Math.cos(x / L) / L;
    const est = centralDifference(f, 0.5, 1e-4);
    expect(est.smooth).toBe(true);
    expect(Math.abs(est.value[0] - exact) / Math.abs(exact)).toBeLessThan(1e-8);
    const h = 1e-3;
    const fixed = (-f(2 * h)[0] + 8 * f(h)[0] - 8 * f(-h)[0] + f(-2 * h)[0]) / (12 * h);
    expect(Math.abs(fixed - exact) / Math.abs(exact)).toBeGreaterThan(1e-7);
  });
  test("smooth: converged at the coarsest pair; a kink within the coarse steps: a finer pair, not early; within all: not smooth", () => {
    expect(centralDifference((d) => [Math.exp(0.3 + d)], 1, 1e-4).early).toBe(true);
    const near = centralDifference((d) => [Math.abs(3e-4 + d)], 1, 1e-4);
    expect(near.early).toBe(false);
    expect(near.smooth).toBe(true);
    expect(near.step).toBe(1e-4);
    expect(near.value[0]).toBeCloseTo(1, 9);
    const at = centralDifference((d) => [Math.abs(1e-7 + d) * 3], 1, 1e-4);
    expect(at.smooth).toBe(false);
  });
});

describe("every derivative operator against differences of what it differentiates", () => {
  const values = (g: Graph, pairs: [Node, number[]][]) => new Map(pairs.map(([n, v]) => [inputKey(n), v]));
  test("gradient, vjp, jvp, jacobian, hessian, a def parameter and a loop body all pass", () => {
    const g = new Graph();
    const w = g.input("w", "param", [3]);
    const v = g.input("v", "input", [3]);
    const u = g.input("u", "input", [2]);
    const A = g.tensor([1, 2, -1, 0.5, 0, 3], [2, 3]);
    const y = g.elementwise("tanh", [g.matmul(A, g.elementwise("sin", [w]))]);
    const s = g.reduce("logsumexp", g.elementwise("mul", [w, w]));
    gradient(g, s, w);
    vjp(g, y, w, u);
    jvp(g, y, w, v);
    jacobian(g, y, w);
    hessian(g, s, w);
    // def force(q) = -gradient(energy(q), q), with q a placeholder, used at w
    const q = g.input("q", "input", [3]);
    const force = gradient(g, g.reduce("sum", g.elementwise("mul", [g.elementwise("exp", [q]), w])), q);
    substitute(g, force, q, g.elementwise("mul", [w, g.constant(2)]));
    // a derivative inside a comprehension body over rows of X
    const X = g.input("X", "input", [4, 3]);
    const loop = g.loopVariable(1, 0, 4);
    gradient(g, g.reduce("sum", g.elementwise("sin", [g.elementwise("mul", [g.take(X, loop, 0), w])])), w);
    const checks = checkDerivatives(g, derivativesOf(g), values(g, [[w, [0.3, -0.8, 1.1]], [v, [1, -2, 0.5]], [u, [0.7, -1.3]], [X, Array.from({ length: 12 }, (_, k) => k / 7 - 0.8)]]), mulberry32(3));
    expect(checks.map((c) => c.record.kind)).toEqual(["gradient", "vjp", "jvp", "jacobian", "hessian", "gradient", "gradient"]);
    for (const c of checks) {
      expect(c.unchecked, c.record.kind).toBeUndefined();
      expect(c.compared, c.record.kind).toBeGreaterThan(0);
      expect(c.maxError, c.record.kind).toBeLessThan(1e-8);
    }
  });
  test("a wrong derivative fails", () => {
    const g = new Graph();
    const x = g.input("x", "param", [2]);
    const y = g.reduce("sum", g.elementwise("exp", [x]));
    const wrong = g.elementwise("mul", [g.elementwise("exp", [x]), g.constant(1.001)]);
    const [c] = checkDerivatives(g, [{ kind: "gradient", y, x, result: wrong }], values(g, [[x, [0.1, 0.2]]]), mulberry32(1));
    expect(c.maxError).toBeGreaterThan(5e-4);
    expect(c.worst).toBeDefined();
  });
});

describe("gradc check on short length scales and kinks", () => {
  const { folder, cleanup } = tempFolders("gradc-check-");
  beforeAll(() => ensureBuilt(), 120_000);
  afterAll(cleanup);

  test("a 16x16 cloth with springs of length 0.035 passes at its rest shape", () => {
    const cwd = folder();
    writeFileSync(
      join(cwd, "cloth.expr"),
      "const L = 0.035\nparam P[16, 16, 2]\noutput E = sum([sum([(norm(P[i, j + 1] - P[i, j]) - L)^2 for j in 0..15]) for i in 0..16]) + sum([sum([(norm(P[i + 1, j] - P[i, j]) - L)^2 for j in 0..16]) for i in 0..15])\n",
    );
    const P: number[] = [];
    for (let i = 0; i < 16; i++) for (let j = 0; j < 16; j++) P.push(0.035 * i + 0.004 * Math.sin(7 * i + 3 * j), 0.035 * j + 0.004 * Math.cos(5 * i - 2 * j));
    const r = gradc(["check", "cloth.expr", "--at", `P=${P.join(",")}`], { cwd });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^P\s+512\s+\S+\s+ok/m);
    expect(r.stdout).not.toMatch(/skipped/);
  });

  test("a batched ReLU net: W1 is checked at points moved off its kinks, none skipped", () => {
    const cwd = folder();
    writeFileSync(
      join(cwd, "net.expr"),
      "const N = 100\ninput X[N, 4]\nparam W1[50, 4]\nparam b1[50]\nparam W2[50]\noutput loss = sum([dot(relu(W1 @ X[n] + b1), W2)^2 for n in 0..N]) / N\n",
    );
    const r = gradc(["check", "net.expr"], { cwd });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^W1\s+200\s+\S+\s+ok\s+\(\d+ elements checked at a moved point\)$/m);
    expect(r.stdout).not.toMatch(/skipped/);
  });
});

describe("gradc check on derivative outputs and integer inputs", () => {
  const { folder, cleanup } = tempFolders("gradc-check-d-");
  beforeAll(() => ensureBuilt(), 120_000);
  afterAll(cleanup);

  test("every derivative operator gets a row; integer inputs are drawn as indices", () => {
    const cwd = folder();
    writeFileSync(
      join(cwd, "d.expr"),
      [
        "param x[3]",
        "input A[2, 3]",
        "input y[4] int",
        "def energy(q) = sum(exp(q) * q)",
        "def force(q) = -gradient(energy(q), q)",
        "output g = gradient(sum(sin(x) * x), x)",
        "output J = jacobian(tanh(A @ x), x)",
        "output H = hessian(sum(exp(A @ x)), x)",
        "output F = force(x * 2)",
        "output v = jvp(tanh(A @ x), x, A[0]) + vjp(tanh(A @ x), x, A[:, 0])[0:2]",
        "output picked = sum(x[y[i]] for i in 0..4)",
        "",
      ].join("\n"),
    );
    const r = gradc(["check", "d.expr"], { cwd });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    for (const kind of ["gradient", "jacobian", "hessian", "jvp", "vjp"]) expect(r.stdout).toMatch(new RegExp(`^${kind} by \\S+ \\(line \\d+\\)\\s+\\d+\\s+\\S+\\s+ok$`, "m"));
    expect(r.stdout).toMatch(/^gradient by \S+ \(line 9\)/m); // force's, at its call
  });

  test("derivative outputs of a program with dims are checked at each size, and a wrong grad line fails", () => {
    const cwd = folder();
    writeFileSync(join(cwd, "ok.expr"), "dim N\ninput X[N]\nparam w[N]\noutput g = gradient(sum(sin(w * X)), w)\noutput v = jvp(tanh(w * X), w, X)\n");
    const ok = gradc(["check", "ok.expr"], { cwd });
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^gradient by w \(line 4\)\s+5\s+\S+\s+ok$/m);
    expect(ok.stdout).toMatch(/^jvp by w \(line 5\)\s+5\s+\S+\s+ok$/m);
    writeFileSync(join(cwd, "bad.expr"), "dim N\ndef sq(z) = z * z\ngrad z = 3 * z\ninput X[N]\nparam x[N]\noutput g = gradient(sum(sq(x) * X), x)\n");
    const bad = gradc(["check", "bad.expr"], { cwd });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/^gradient by x \(line 6\)\s+\d+\s+\S+\s+FAIL$/m);
  });

  test("a param none of whose elements could be checked is NOT CHECKED and exit 1, not a pass", () => {
    const cwd = folder();
    // Undefined wherever the points are drawn (-1..1): every element is skipped.
    writeFileSync(join(cwd, "nan.expr"), "param x\nparam y[2]\noutput f = sqrt(x - 10) + sum(y * y)\n");
    const r = gradc(["check", "nan.expr"], { cwd });
    expect(r.status, r.stdout + r.stderr).toBe(1);
    expect(r.stdout).toMatch(/^x\s+1\s+-\s+NOT CHECKED {2}\(every element skipped/m);
    // At a point where it is defined, it is checked.
    const at = gradc(["check", "nan.expr", "--at", "x=12", "--at", "y=0.5,-1"], { cwd });
    expect(at.status, at.stdout + at.stderr).toBe(0);
    expect(at.stdout).toMatch(/^x\s+1\s+\S+\s+ok$/m);
  });

  test("a param of more than 1000 elements is checked at 1000 drawn at each point, and a wrong gradient still fails", () => {
    const cwd = folder();
    writeFileSync(join(cwd, "big.expr"), "param x[3000]\noutput f = sum(x * x * x)\n");
    const ok = gradc(["check", "big.expr"], { cwd });
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^x\s+3000\s+\S+\s+ok {2}\(.*1000 of 3000 elements drawn at each point\)$/m);
    writeFileSync(join(cwd, "wrong.expr"), "def cube(z) = z * z * z\ngrad z = 2 * z * z\nparam x[3000]\noutput f = sum(cube(x))\n");
    const bad = gradc(["check", "wrong.expr"], { cwd });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/^x\s+3000\s+\S+\s+FAIL {2}\(.*1000 of 3000 elements drawn/m);
    // Up to 1000 elements, every one is checked: no note.
    writeFileSync(join(cwd, "small.expr"), "param x[1000]\noutput f = sum(x * x * x)\n");
    expect(gradc(["check", "small.expr"], { cwd }).stdout).toMatch(/^x\s+1000\s+\S+\s+ok(?!.*drawn).*$/m);
  });

  test("--points takes a whole number of at least 1", () => {
    const cwd = folder();
    writeFileSync(join(cwd, "p.expr"), "param x\noutput f = x * x\n");
    for (const bad of ["0", "2.5"]) {
      const r = gradc(["check", "p.expr", "--points", bad], { cwd });
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`--points must be a whole number of at least 1, got '${bad}'`);
    }
    expect(gradc(["check", "p.expr", "--points", "2"], { cwd }).stdout).toContain("2 point(s)");
  });

  test("with dims, a grad line wrong only at the second size fails there", () => {
    // 2 * z * (N - 1) is right at N = 2 only; the gradient is by the input x, which no
    // param's check sees (g is linear in w), so only the derivative's row can catch it.
    const cwd = folder();
    writeFileSync(join(cwd, "s.expr"), "dim N\ndef sq(z) = z * z\ngrad z = 2 * z * (N - 1)\ninput x[N]\nparam w\noutput g = w * sum(gradient(sum(sq(x)), x) * x)\n");
    const r = gradc(["check", "s.expr"], { cwd });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^w\s+1\s+\S+\s+ok$/m);
    expect(r.stdout).toMatch(/^gradient by x \(line 6\)\s+5\s+\S+\s+FAIL$/m);
    expect(r.stderr).toMatch(/the gradient by 'x' on line 6 looks wrong/);
  });

  test("with dims, a Jacobian and a Hessian of dim size get rows, at both sizes", () => {
    const cwd = folder();
    writeFileSync(join(cwd, "j.expr"), "dim N\nparam x[N]\ninput a[N]\noutput l = sum(hessian(sum(exp(a * x)) ^ 2, x)) + sum(jacobian(softmax(x * a), x) ^ 2)\n");
    const r = gradc(["check", "j.expr"], { cwd });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^hessian by x \(line 4\)\s+(4|25)\s+\S+\s+ok$/m);
    expect(r.stdout).toMatch(/^jacobian by x \(line 4\)\s+(4|25)\s+\S+\s+ok$/m);
  });

  test("integer inputs beside dims: labels drawn below the axis they index at each size checked", () => {
    const cwd = folder();
    writeFileSync(join(cwd, "pick.expr"), "dim N, K\ninput y[N] int\nparam t[N, K]\noutput l = sum([exp(t[i, y[i]]) for i in 0..N])\n");
    const r = gradc(["check", "pick.expr"], { cwd });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/run-time sizes: checked at N = 2, K = 2 and N = 5, K = 5/);
    expect(r.stdout).toMatch(/^t\s+\d+\s+\S+\s+ok$/m);
  });

  test("a gradient through a gate with a wrong grad line fails, naming the operator and its line", () => {
    const cwd = folder();
    writeFileSync(join(cwd, "g.expr"), "def sq(z) = z * z\ngrad z = 3 * z\nparam x[2]\noutput g = gradient(sum(sq(x)), x)\n");
    const r = gradc(["check", "g.expr"], { cwd });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^gradient by x \(line 4\)\s+2\s+\S+\s+FAIL$/m);
    expect(r.stderr).toMatch(/the gradient by 'x' on line 4 looks wrong/);
  });
});
