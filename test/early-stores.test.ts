// The forward pass stores each output element where its value is ready (emit/straight.ts,
// `early`), not all at the end: the bundle adjustment's Jacobian, whose focal-length and
// distortion columns are ready long before its rotation columns, kept every one of them
// alive across the rotation's derivative. The stores still follow every argument read, so an
// output array that is also an argument's gives what separate arrays give; a body long enough
// to be split into parts keeps them at the end (the parts do not see the output arrays, and
// the split keeps the lines from the first output comment on in the function itself). The
// backward pass stores its gradient elements the same way (and valueAndGradFlat its
// gradient), its optional outputs under one `if` where the last is ready, checked against the
// same module with the stores moved back to the end.

import { describe, expect, it } from "vitest";
import { readFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileJs, importFile, load, rng, uniform, type GeneratedModule, type Value, type Values } from "./support/load.js";
import { BA_OBSERVATION } from "./support/ba.js";

const BA = BA_OBSERVATION + "output J = jacobian(residual(p, f), p)\n";

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

  it("give the same values as backward's outputs, stored together under one if", async () => {
    const { module } = await load(BA);
    const random = rng(3);
    for (const r of [[0.1, -0.2, 0.05], [0, 0, 0], [random() - 0.5, random() - 0.5, random() - 0.5]]) {
      const args = { p: Float64Array.from([...r, 0.3, -0.2, -5, 500, 320, 240, 1e-3, 1e-6, 0.2, 0.1, 0.3, 0.9]), f: Float64Array.of(340, 250) };
      const early = module.forward(args).J as Float64Array;
      // backward prints the same values with its gradient, its output stores in one block.
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

/** The lines of the module's function `name`, from its signature to its closing brace. */
function functionBody(code: string, name: string): string[] {
  const lines = code.split("\n");
  const start = lines.findIndex((l) => l.startsWith(`export function ${name}(`));
  return lines.slice(start, lines.indexOf("}", start) + 1);
}

/**
 * The module with backwardInto's outputs block and gradient stores moved to the end, as they
 * were printed before early stores: the code to compare with bit for bit.
 */
async function storesAtTheEnd(code: string): Promise<{ module: GeneratedModule; text: string }> {
  const body = functionBody(code, "backwardInto");
  const open = body.indexOf("  if (outputs !== undefined) {");
  const outputs = body.slice(open, body.indexOf("  }", open) + 1);
  const isStore = (l: string) => /^ {2}(g\d+\[\d+\]|grad\["[^"]*"\]) = /.test(l) || /^ {2}const g\d+ = grad\[/.test(l) || l.startsWith("  // gradient of ");
  const stores = body.filter(isStore);
  const rest = [...body.slice(0, open), ...body.slice(open + outputs.length)].filter((l) => !isStore(l));
  const end = rest.findIndex((l) => l === "  if (s0 === 0) zeroGradients(grad);" || l === "  return grad;");
  const late = [...rest.slice(0, end), ...outputs, ...stores, ...rest.slice(end)];
  const text = code.replace(body.join("\n"), late.join("\n"));
  const dir = mkdtempSync(join(tmpdir(), "gradc-early-"));
  try {
    const file = join(dir, "late.mjs");
    writeFileSync(file, text);
    return { module: await importFile(file), text };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const bits = (v: Value | undefined) => (typeof v === "number" ? [v] : Array.from(v!));

// Twelve springs between eight points: each point's gradient is complete once its springs'
// terms are, long before the last spring's.
const SPRINGS = `param P[8,2]
input L
def e(i, j) = (sqrt((P[i,0] - P[j,0])^2 + (P[i,1] - P[j,1])^2) - L)^2
output E = e(0,1) + e(1,2) + e(2,3) + e(3,4) + e(4,5) + e(5,6) + e(6,7) + e(7,0) + e(0,4) + e(1,5) + e(2,6) + e(3,7)
`;
const OBSERVATION = readFileSync(new URL("../examples/ba/observation.expr", import.meta.url), "utf8");
// The observation's residual as a vector output: a seed per element, and outputs to store.
const RESIDUAL = OBSERVATION.replace(/output err = .*/, "output r = residual(cam, X, wi, f)");

describe("early stores in the backward pass", () => {
  it("store each gradient element where it is ready, after every argument read, the outputs under one if, the seed's zero at the end", async () => {
    const body = functionBody(compileJs(SPRINGS).code, "backwardInto");
    const firstStore = lineOf(body, /^ {2}g0\[\d+\] = /);
    const lastTemporary = body.map((l) => /^ {2}const t\d+ = /.test(l)).lastIndexOf(true);
    expect(firstStore).toBeGreaterThan(0);
    expect(firstStore).toBeLessThan(lastTemporary);
    // The holder's array is read from grad just before its first store, under its comment.
    expect(lineOf(body, /^ {2}const g0 = grad\["P"\];$/)).toBe(firstStore - 1);
    expect(lineOf(body, /\/\/ gradient of P/)).toBe(firstStore - 2);
    expect(body.filter((l) => l.includes("// gradient of P")).length).toBe(1);
    expect(body.filter((l) => /^ {2}g0\[\d+\] = .* \* s0;$/.test(l)).length).toBe(16);
    const lastRead = body.map((l) => /a[01]\[\d+\]/.test(l)).lastIndexOf(true);
    expect(firstStore).toBeGreaterThan(lastRead);
    // The energy is ready before the gradient's first element, and stored there.
    const open = lineOf(body, /^ {2}if \(outputs !== undefined\) \{$/);
    expect(body.filter((l) => l.includes("outputs !== undefined) {")).length).toBe(1);
    expect(body.slice(open, open + 4)).toEqual([
      "  if (outputs !== undefined) {",
      "    // output E (test.expr:4)",
      expect.stringMatching(/^ {4}outputs\["E"\] = t\d+;$/),
      "  }",
    ]);
    expect(open).toBeGreaterThan(lastRead);
    expect(open).toBeLessThan(firstStore);
    expect(body.slice(-3)).toEqual(["  if (s0 === 0) zeroGradients(grad);", "  return grad;", "}"]);
  });

  it("give what the stores at the end give, bit for bit, with seeds 1, 0.3 and 0, outputs and a branch", async () => {
    const random = rng(14);
    const camera = (r: number[]) => Float64Array.from([...r, 0.3, -0.2, -5, 500, 320, 240, 1e-3, 1e-6]);
    const cases: { source: string; args: () => Values; seeds: (Values | number | undefined)[] }[] = [
      { source: SPRINGS, args: () => ({ P: Float64Array.from({ length: 16 }, () => uniform(random, -2, 2)), L: 1.05 }), seeds: [undefined, 0.3, 0, { E: 0 }] },
      ...[[0.1, -0.2, 0.05], [0, 0, 0]].map((r) => ({
        source: OBSERVATION,
        args: () => ({ f: Float64Array.of(340, 250), cam: camera(r), X: Float64Array.of(0.2, 0.1, 0.3), wi: 0.9 }),
        seeds: [undefined, 0.3, 0],
      })),
      { source: RESIDUAL, args: () => ({ f: Float64Array.of(340, 250), cam: camera([0.1, -0.2, 0.05]), X: Float64Array.of(0.2, 0.1, 0.3), wi: 0.9 }), seeds: [{ r: Float64Array.of(0.7, -0.4) }, { r: Float64Array.of(0, 1) }] },
    ];
    for (const { source, args, seeds } of cases) {
      const { module, code } = await load(source);
      const { module: late, text } = await storesAtTheEnd(code);
      expect(text).not.toBe(code);
      for (let trial = 0; trial < 3; trial++) {
        const a = args();
        for (const seed of seeds) {
          const seedOf = typeof seed === "number" ? Object.fromEntries(Object.keys(module.createOutputs()).map((k) => [k, seed])) : seed;
          const [outputs, wantOutputs] = [module.createOutputs(), late.createOutputs()];
          const early = module.backwardInto(a, seedOf, module.createGrad(), outputs);
          const want = late.backwardInto(a, seedOf, late.createGrad(), wantOutputs);
          for (const name of Object.keys(want)) expect(bits(early[name]), name).toEqual(bits(want[name]));
          for (const name of Object.keys(wantOutputs)) expect(bits(outputs[name]), name).toEqual(bits(wantOutputs[name]));
        }
      }
    }
  });

  it("follow every argument read: a grad array that is an argument's gives what separate arrays give", async () => {
    // x[0]'s gradient is the constant 3, ready before anything is read; x[3] is read last.
    const source = "param x[4]\noutput f = 3 * x[0] + x[1] * x[2] + exp(x[3]) * x[1]\n";
    const { module, code } = await load(source);
    const body = functionBody(code, "backwardInto");
    const lastRead = body.map((l) => /a0\[\d+\]/.test(l)).lastIndexOf(true);
    expect(lineOf(body, /^ {2}g0\[0\] = 3 \* s0;$/)).toBeGreaterThan(lastRead);
    const x = Float64Array.of(0.7, -1.3, 2.1, 0.4);
    const outputs = module.createOutputs();
    const want = Array.from(module.backwardInto({ x }, undefined, module.createGrad(), outputs).x as Float64Array);
    const shared = Float64Array.from(x);
    const sharedOutputs = module.createOutputs();
    module.backwardInto({ x: shared }, undefined, { x: shared }, sharedOutputs);
    expect(Array.from(shared)).toEqual(want);
    expect(sharedOutputs.f).toBe(outputs.f);
    // valueAndGradFlat's stores are placed the same way, its value returned after them.
    const flat = module as unknown as { valueAndGradFlat(x: Float64Array, grad: Float64Array): number };
    const kernel = functionBody(code, "valueAndGradFlat");
    expect(lineOf(kernel, /^ {2}grad\[0\] = 3;$/)).toBeGreaterThan(kernel.map((l) => /x\[\d+\]/.test(l)).lastIndexOf(true));
    expect(kernel.at(-2)).toMatch(/^ {2}return /);
    const value = flat.valueAndGradFlat(x, new Float64Array(4));
    const same = Float64Array.from(x);
    expect(flat.valueAndGradFlat(same, same)).toBe(value);
    expect(Array.from(same)).toEqual(want);
  });

  it("wait for the end in a body split into parts", { timeout: 60_000 }, async () => {
    // k's gradient is x1, ready after the first statement of a 2000-statement chain.
    const lines = ["param x0", "param c[3]", "param k"];
    for (let i = 1; i <= 2000; i++) lines.push(`x${i} = 0.5 * x${i - 1} + 0.1 * sin(x${i - 1}) + c[${i % 3}]`);
    lines.push("output f = x2000 + x1 * k");
    const { module, code } = await load(lines.join("\n"), { emit: "unrolled" });
    expect(code).toMatch(/function backwardPart\d+\(/);
    const body = functionBody(code, "backwardInto");
    const lastPart = body.map((l) => /backwardPart\d+\(/.test(l)).lastIndexOf(true);
    expect(lastPart).toBeGreaterThan(0);
    expect(lineOf(body, /\/\/ gradient of k/)).toBeGreaterThan(lastPart);
    const c = [0.3, -0.2, 0.7];
    const f = (x0: number, k: number) => module.forward({ x0, c, k }).f as number;
    const grad = module.backward({ x0: 0.4, c, k: 1.5 }).grad;
    expect(grad.x0 as number).toBeCloseTo((f(0.4 + 1e-6, 1.5) - f(0.4 - 1e-6, 1.5)) / 2e-6, 6);
    expect(grad.k as number).toBeCloseTo((f(0.4, 1.5 + 1e-6) - f(0.4, 1.5 - 1e-6)) / 2e-6, 6);
  });
});
