// The forward pass stores each output element where its value is ready (emit/straight.ts,
// `early`), not all at the end: the bundle adjustment's Jacobian, whose focal-length and
// distortion columns are ready long before its rotation columns, kept every one of them
// alive across the rotation's derivative. The stores still follow every argument read, so an
// output array that is also an argument's gives what separate arrays give; a body long enough
// to be split into parts keeps them at the end (the parts do not see the output arrays, and
// the split keeps the lines from the first output comment on in the function itself).

import { describe, expect, it } from "vitest";
import { compileJs, load, rng } from "./support/load.js";

const BA = `
def rodrigues(r, X) = where(dot(r, r) > 1e-30,
    X * cos(norm(r)) + cross(r / norm(r), X) * sin(norm(r)) + r / norm(r) * (dot(r / norm(r), X) * (1 - cos(norm(r)))),
    X + cross(r, X))
def proj2(Y) = Y[0:2] / Y[2]
def distort(q, u) = u * (1 + q[9] * dot(u, u) + q[10] * dot(u, u) ^ 2)
def residual(q, f) = q[14] * (distort(q, proj2(rodrigues(q[0:3], q[11:14] - q[3:6]))) * q[6] + q[7:9] - f)
param p[15]
input f[2]
output J = jacobian(residual(p, f), p)
`;

/** The lines of the module's forwardInto, from its signature to its closing brace. */
function forwardBody(code: string): string[] {
  const lines = code.split("\n");
  const start = lines.findIndex((l) => l.startsWith("export function forwardInto("));
  const end = lines.indexOf("}", start);
  return lines.slice(start, end);
}

const lineOf = (body: string[], pattern: RegExp) => body.findIndex((l) => pattern.test(l));

describe("early stores in the forward pass", () => {
  it("store the bundle adjustment Jacobian's columns as they are ready, before the rotation's derivative", async () => {
    const body = forwardBody(compileJs(BA).code);
    // The rotation's derivative is the last branch on the angle; the rotation columns
    // (J[0, 0:3], J[1, 0:3]) need it, the focal length's (J[0, 6]) and the distortion's
    // (J[0, 9], J[1, 10]) do not, nor do the point's (J[0, 11]).
    const lastBranch = body.map((l) => /^ {2}if \(/.test(l)).lastIndexOf(true);
    expect(lastBranch).toBeGreaterThan(0);
    for (const k of [6, 9, 25, 11, 28]) expect(lineOf(body, new RegExp(`^  o0\\[${k}\\] = `)), `J[${k}]`).toBeLessThan(lastBranch);
    for (const k of [0, 2, 15, 17]) expect(lineOf(body, new RegExp(`^  o0\\[${k}\\] = `)), `J[${k}]`).toBeGreaterThan(lastBranch);
    // One comment names the output, before its first store.
    expect(body.filter((l) => l.includes("// output J")).length).toBe(1);
    expect(lineOf(body, /\/\/ output J/)).toBeLessThan(lineOf(body, /^ {2}o0\[/));
    // The stores come after the last argument read.
    const lastRead = body.map((l) => /a[01]\[\d+\]/.test(l)).lastIndexOf(true);
    expect(lineOf(body, /^ {2}o0\[/)).toBeGreaterThan(lastRead);
  });

  it("give the same values as the stores at the end, which the backward pass keeps", async () => {
    const { module } = await load(BA);
    const random = rng(3);
    for (const r of [[0.1, -0.2, 0.05], [0, 0, 0], [random() - 0.5, random() - 0.5, random() - 0.5]]) {
      const args = { p: Float64Array.from([...r, 0.3, -0.2, -5, 500, 320, 240, 1e-3, 1e-6, 0.2, 0.1, 0.3, 0.9]), f: Float64Array.of(340, 250) };
      const early = module.forward(args).J as Float64Array;
      // backward prints the same graph with the stores at the end (its outputs block).
      const late = module.backward(args, { J: new Float64Array(30) }).outputs.J as Float64Array;
      expect(Array.from(early)).toEqual(Array.from(late));
    }
  });

  it("follow every argument read: an output array that is an argument's gives what separate arrays give", async () => {
    // y[0] is ready after x[0] alone; x[3] is read last.
    const source = "param x[4]\noutput y = [x[0] * 3, sin(x[1]) * x[2], x[2] * x[3] + x[1] * x[0], exp(x[3]) * x[0]]\n";
    const { module, code } = await load(source);
    const body = forwardBody(code);
    const lastRead = body.map((l) => /a0\[\d+\]/.test(l)).lastIndexOf(true);
    expect(lineOf(body, /^ {2}o0\[/)).toBeGreaterThan(lastRead);
    const x = Float64Array.of(0.7, -1.3, 2.1, 0.4);
    const want = Array.from(module.forward({ x }).y as Float64Array);
    const shared = Float64Array.from(x);
    module.forwardInto({ x: shared }, { y: shared });
    expect(Array.from(shared)).toEqual(want);
  });

  it("wait for the end in a body split into parts, whose functions do not see the outputs", { timeout: 60_000 }, async () => {
    // g is ready after the first statement of a 2000-statement chain.
    const lines = ["param x0", "param c[3]"];
    for (let i = 1; i <= 2000; i++) lines.push(`x${i} = 0.5 * x${i - 1} + 0.1 * sin(x${i - 1}) + c[${i % 3}]`);
    lines.push("output f = x2000", "output g = [x1 * c[0], x1 + c[1]]");
    const { module, code } = await load(lines.join("\n"), { emit: "unrolled" });
    expect(code).toMatch(/function forwardPart\d+\(/);
    const longest = Math.max(...code.split(/\nfunction |\nexport function /).map((f) => f.split("\n").length));
    expect(longest).toBeLessThan(1200);
    const c = [0.3, -0.2, 0.7];
    const x1 = 0.5 * 0.4 + 0.1 * Math.sin(0.4) + c[1];
    const out = module.forward({ x0: 0.4, c });
    expect(Array.from(out.g as Float64Array)).toEqual([x1 * c[0], x1 + c[1]]);
  });
});
