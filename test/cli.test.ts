// The command line (modules.md, "The CLI"), run as a user runs it: `node dist/cli/main.js`
// in a child process, in a temporary folder. Exit statuses 0/1/2, --help and --version,
// output formats chosen by extension, several inputs into a folder, nothing written when
// a program has errors, `check` on every example and on a gate with a wrong grad line,
// and `--stats`.

import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { ensureBuilt, gradc, ROOT, tempFolders } from "./support/cli.js";
import { assertClose, importFile } from "./support/load.js";

const EXAMPLES = join(ROOT, "examples", "cs231n");
const exampleFiles = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith(".expr"))
  .sort();
const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;

/** A fresh empty folder for one test. */
const { folder, cleanup } = tempFolders("gradc-cli-");
/** Everything in a folder, sorted (temporaries left behind would show up here). */
const listing = (d: string) => readdirSync(d).sort();

beforeAll(() => {
  ensureBuilt();
}, 120_000);
afterAll(cleanup);

describe("help, version and usage errors", () => {
  it("--help: exit 0, usage on stdout mentioning every command", () => {
    const r = gradc(["--help"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/gradc compile/);
    expect(r.stdout).toMatch(/gradc check/);
    expect(r.stdout).toMatch(/gradc graph/);
    expect(r.stdout).toMatch(/-o/);
    expect(r.stderr).toBe("");
  });

  it("compile --help: exit 0", () => {
    const r = gradc(["compile", "--help"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/compile/);
  });

  it("--version prints the package.json version", () => {
    const r = gradc(["--version"]);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(new RegExp(`(^|\\s)${VERSION.replace(/\./g, "\\.")}$`));
  });

  it.each([["compile"], ["check"], ["graph"]])("%s --version: exit 0, the version, nothing written", (command) => {
    const cwd = folder();
    const r = gradc([command, join(ROOT, "examples/cs231n/neuron.expr"), "--version"], { cwd });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`gradc ${VERSION}\n`);
    expect(r.stderr).toBe("");
    expect(listing(cwd)).toEqual([]);
  });

  it.each([
    ["an unknown option", ["compile", "examples/cs231n/neuron.expr", "--bogus"], /--bogus/],
    ["an unknown command", ["frobnicate", "x.expr"], /frobnicate/],
    ["compile without inputs", ["compile", "-o", "x.ts"], /compile/],
    ["-o without a value", ["compile", "examples/cs231n/neuron.expr", "-o"], /-o/],
    ["a bad --format", ["compile", "examples/cs231n/neuron.expr", "--format", "xml", "-o", "x.ts"], /format/],
    ["several inputs and -o a file", ["compile", "examples/cs231n/neuron.expr", "examples/cs231n/circuit.expr", "-o", "both.ts"], /director/],
    ["an output name without a known extension", ["compile", "examples/cs231n/neuron.expr", "-o", "x.txt"], /x\.txt/],
    ["check without a file", ["check"], /check/],
  ])("%s: exit 2, a message on stderr, nothing on stdout", (_, args, mention) => {
    const cwd = folder();
    const r = gradc(args.map((a) => (a.startsWith("examples/") ? join(ROOT, a) : a)), { cwd });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(mention);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(listing(cwd)).toEqual([]);
  });

  it("no arguments at all: exit 2 (usage)", () => {
    expect(gradc([]).status).toBe(2);
  });
});

describe("compile", () => {
  it("-o neuron.mjs writes neuron.mjs and neuron.d.mts, and the module gives the CS231n numbers", async () => {
    const cwd = folder();
    const r = gradc(["compile", join(EXAMPLES, "neuron.expr"), "-o", join(cwd, "neuron.mjs")]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe("");
    expect(listing(cwd)).toEqual(["neuron.d.mts", "neuron.mjs"]);
    const expected = compile(readFileSync(join(EXAMPLES, "neuron.expr"), "utf8"), { filename: "neuron.expr", format: "js" });
    expect(expected.ok).toBe(true);
    if (!expected.ok) return;
    expect(readFileSync(join(cwd, "neuron.mjs"), "utf8")).toBe(expected.code);
    expect(readFileSync(join(cwd, "neuron.d.mts"), "utf8")).toBe(expected.declaration);

    const m = await importFile(join(cwd, "neuron.mjs"));
    const { outputs, grad } = m.backward({ w: [2, -3, -3], x: [-1, -2] });
    assertClose(outputs.f, 0.7310585786300049, 1e-12, "f");
    assertClose(grad.w, [-0.19661193324148185, -0.3932238664829637, 0.19661193324148185], 1e-12, "df/dw");
    assertClose(grad.x, [0.3932238664829637, -0.5898357997244456], 1e-12, "df/dx");
  });

  it("-o x.ts writes TypeScript and nothing else", () => {
    const cwd = folder();
    const r = gradc(["compile", join(EXAMPLES, "circuit.expr"), "-o", "x.ts"], { cwd });
    expect(r.status).toBe(0);
    expect(listing(cwd)).toEqual(["x.ts"]);
    const expected = compile(readFileSync(join(EXAMPLES, "circuit.expr"), "utf8"), { filename: "circuit.expr", format: "ts" });
    expect(expected.ok && readFileSync(join(cwd, "x.ts"), "utf8") === expected.code).toBe(true);
    expect(readFileSync(join(cwd, "x.ts"), "utf8")).toMatch(/export type Args/);
  });

  it("-o x.js writes x.js and x.d.ts", () => {
    const cwd = folder();
    const r = gradc(["compile", join(EXAMPLES, "circuit.expr"), "-o", "x.js"], { cwd });
    expect(r.status).toBe(0);
    expect(listing(cwd)).toEqual(["x.d.ts", "x.js"]);
    expect(readFileSync(join(cwd, "x.js"), "utf8")).not.toMatch(/export type/);
    expect(readFileSync(join(cwd, "x.d.ts"), "utf8")).toMatch(/export declare function forward/);
  });

  it("--format js overrides a .ts name's format", () => {
    const cwd = folder();
    const r = gradc(["compile", join(EXAMPLES, "circuit.expr"), "--format", "js", "-o", "out/"], { cwd });
    expect(r.status).toBe(0);
    expect(listing(join(cwd, "out"))).toEqual(["circuit.d.mts", "circuit.mjs"]);
  });

  it("several inputs with -o dir/ write one module per input", () => {
    const cwd = folder();
    const inputs = ["circuit.expr", "neuron.expr", "hinge.expr"].map((f) => join(EXAMPLES, f));
    const r = gradc(["compile", ...inputs, "-o", "out/"], { cwd });
    expect(r.status).toBe(0);
    expect(listing(join(cwd, "out"))).toEqual(["circuit.ts", "hinge.ts", "neuron.ts"]);
    for (const input of inputs) {
      const expected = compile(readFileSync(input, "utf8"), { filename: basename(input), format: "ts" });
      expect(expected.ok && readFileSync(join(cwd, "out", basename(input).replace(".expr", ".ts")), "utf8") === expected.code, input).toBe(true);
    }
  });

  it("several inputs with -o dir/ and --format js", () => {
    const cwd = folder();
    const r = gradc(["compile", join(EXAMPLES, "circuit.expr"), join(EXAMPLES, "neuron.expr"), "--format", "js", "-o", "out"], { cwd });
    expect(r.status).toBe(0);
    expect(listing(join(cwd, "out"))).toEqual(["circuit.d.mts", "circuit.mjs", "neuron.d.mts", "neuron.mjs"]);
  });

  it("the same input gives byte-identical output on every run", () => {
    const cwd = folder();
    for (const out of ["a.mjs", "b.mjs"]) expect(gradc(["compile", join(EXAMPLES, "softmax.expr"), "-o", out], { cwd }).status).toBe(0);
    expect(readFileSync(join(cwd, "a.mjs"), "utf8")).toBe(readFileSync(join(cwd, "b.mjs"), "utf8"));
    expect(readFileSync(join(cwd, "a.d.mts"), "utf8")).toBe(readFileSync(join(cwd, "b.d.mts"), "utf8"));
  });

  it("--stats prints the operation counts of forward and backward", () => {
    const cwd = folder();
    const r = gradc(["compile", join(EXAMPLES, "neuron.expr"), "--stats", "-o", "n.mjs"], { cwd });
    expect(r.status).toBe(0);
    const result = compile(readFileSync(join(EXAMPLES, "neuron.expr"), "utf8"), { filename: "neuron.expr", format: "js" });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const { forwardOperations: f, backwardOperations: b } = result.stats;
    expect(f).toBeGreaterThan(0);
    expect(b).toBeGreaterThan(0);
    expect(r.stdout).toMatch(new RegExp(`forward ${f} operations, backward ${b} operations`));
    expect(listing(cwd)).toEqual(["n.d.mts", "n.mjs"]);
  });

  it("--help says what the derivative operators give and what --stats reports of them", () => {
    const r = gradc(["--help"]);
    for (const op of ["gradient(y, x)", "jacobian(y, x)", "hessian(y, x)", "jvp(y, x, v)", "vjp(y, x, u)"]) expect(r.stdout).toContain(op);
    expect(r.stdout).toMatch(/--stats[\s\S]*one line per derivative operator/);
    expect(r.stdout).toMatch(/each derivative operator\s+against differences/);
  });

  it("--stats prints one line per derivative operator: how it is computed, and its operations", () => {
    const cwd = folder();
    const source = "input t[20], y[20]\nparam p[3], q[4]\nr = p[0] * exp(-p[1] * t) + p[2] - y\noutput J = jacobian(r, p)\noutput g = gradient(sum(q ^ 3), q)\noutput H = hessian(sum((q[1:] - q[:-1] ^ 2) ^ 2), q)\noutput D = jacobian(tanh(q), q)\n";
    writeFileSync(join(cwd, "d.expr"), source);
    const r = gradc(["compile", "d.expr", "--stats", "-o", "d.mjs"], { cwd });
    expect(r.status).toBe(0);
    const result = compile(source, { filename: "d.expr" });
    if (!result.ok) throw new Error("does not compile");
    const d = result.stats.derivatives;
    expect(d.map((x) => [x.kind, x.x, x.line, x.shape])).toEqual([
      ["jacobian", "p", 4, [20, 3]],
      ["gradient", "q", 5, [4]],
      ["hessian", "q", 6, [4, 4]],
      ["jacobian", "q", 7, [4, 4]],
    ]);
    // 20 x 3: forward, one pass per column; a tridiagonal Hessian: 3 colored passes; tanh: diagonal.
    expect(d[0].method).toMatch(/^forward, 3 passes \(one per element of x\)/);
    expect(d[1].method).toBe("reverse, 1 pass");
    expect(d[2].method).toMatch(/forward, 3 passes \(columns of J that share no row, for 4 columns\)/);
    expect(d[3].method).toMatch(/^diagonal/);
    for (const x of d) {
      expect(x.operations).toBeGreaterThan(0);
      expect(r.stdout).toContain(`  ${x.kind} by ${x.x} (line ${x.line}), [${x.shape.join(", ")}]: ${x.method}; about ${x.operations} operations beyond its y\n`);
    }
    // A tall Jacobian costs more than its gradient-sized neighbour.
    expect(d[0].operations).toBeGreaterThan(d[1].operations);
  });

  it("with run-time sizes a derivative's shape names its dims and its operation count is left out", () => {
    const result = compile("dim N\ninput X[N]\nparam w[N]\noutput g = gradient(sum(sin(w * X)), w)\n");
    if (!result.ok) throw new Error(result.diagnostics[0].text);
    expect(result.stats.derivatives).toEqual([{ kind: "gradient", line: 4, x: "w", shape: ["N"], method: "reverse, 1 pass", operations: undefined }]);
  });

  it("the README's --stats lines for examples/fit/rosenbrock.expr are what the CLI prints", () => {
    const cwd = folder();
    const r = gradc(["compile", join(ROOT, "examples", "fit", "rosenbrock.expr"), "--stats", "-o", "r.mjs"], { cwd });
    expect(r.status).toBe(0);
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const shown = readme.split("\n").filter((l) => /^ {2}(gradient|hessian) by x \(line/.test(l));
    expect(shown.length).toBe(2);
    for (const line of shown) expect(r.stdout).toContain(line + "\n");
  });
});

describe("a folder: its tree mirrored under -o, with an index module", () => {
  const CIRCUIT = "param x\nparam y\nparam z\noutput f = (x + y) * z\n";
  const tree = (files: Record<string, string>) => {
    const cwd = folder();
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(cwd, "models", path, ".."), { recursive: true });
      writeFileSync(join(cwd, "models", path), text);
    }
    return cwd;
  };

  it("every model by name, subfolders joined with _, loadable from the index", async () => {
    const cwd = tree({ "circuit.expr": CIRCUIT, "sub/my-model.expr": CIRCUIT });
    const r = gradc(["compile", "models", "-o", "out", "--format", "js"], { cwd });
    expect(r.status, r.stderr).toBe(0);
    expect(listing(join(cwd, "out"))).toEqual(["circuit.d.mts", "circuit.mjs", "index.d.mts", "index.mjs", "sub"]);
    const index = (await importFile(join(cwd, "out", "index.mjs"))) as Record<string, { forward(a: object): { f: number } }>;
    expect(Object.keys(index).sort()).toEqual(["circuit", "sub_my_model"]);
    expect(index.sub_my_model.forward({ x: -2, y: 5, z: -4 }).f).toBe(-12);
  });

  it("a model named index.expr at the top would be overwritten by the index module: exit 2, nothing written", () => {
    const cwd = tree({ "index.expr": CIRCUIT, "other.expr": CIRCUIT });
    const r = gradc(["compile", "models", "-o", "out"], { cwd });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/'models\/index\.expr' would be written to 'out\/index\.ts', the folder's index module/);
    expect(existsSync(join(cwd, "out"))).toBe(false);
    // In a subfolder it is only a model: the index is at the top.
    const sub = tree({ "sub/index.expr": CIRCUIT });
    expect(gradc(["compile", "models", "-o", "out"], { cwd: sub }).status).toBe(0);
    expect(listing(join(sub, "out", "sub"))).toEqual(["index.ts"]);
  });

  it("two folders into one -o would write one index over the other: exit 2, nothing written", () => {
    const cwd = tree({ "a.expr": CIRCUIT });
    mkdirSync(join(cwd, "more"));
    writeFileSync(join(cwd, "more", "b.expr"), CIRCUIT);
    const r = gradc(["compile", "models", "more", "-o", "out"], { cwd });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/the folders 'models' and 'more' would both write the index module 'out\/index\.ts'/);
    expect(existsSync(join(cwd, "out"))).toBe(false);
  });
});

describe("a failed compile writes nothing", () => {
  const BAD = "param x\noutput f = sigmoidd(x)\n";

  it("an existing output file is left untouched, no declaration file or temporary appears", () => {
    const cwd = folder();
    writeFileSync(join(cwd, "bad.expr"), BAD);
    writeFileSync(join(cwd, "out.mjs"), "OLD CONTENT");
    const r = gradc(["compile", "bad.expr", "-o", "out.mjs"], { cwd });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^bad\.expr:2:12: error: unknown function 'sigmoidd'/);
    expect(readFileSync(join(cwd, "out.mjs"), "utf8")).toBe("OLD CONTENT");
    expect(listing(cwd)).toEqual(["bad.expr", "out.mjs"]);
  });

  it("with several inputs, one bad input means no file is written at all", () => {
    const cwd = folder();
    writeFileSync(join(cwd, "bad.expr"), BAD);
    mkdirSync(join(cwd, "out"));
    writeFileSync(join(cwd, "out", "circuit.ts"), "OLD");
    const r = gradc(["compile", join(EXAMPLES, "circuit.expr"), "bad.expr", join(EXAMPLES, "neuron.expr"), "-o", "out/"], { cwd });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bad\.expr:2:12: error:/);
    expect(listing(join(cwd, "out"))).toEqual(["circuit.ts"]);
    expect(readFileSync(join(cwd, "out", "circuit.ts"), "utf8")).toBe("OLD");
  });

  it("a missing input: exit 1, nothing written", () => {
    const cwd = folder();
    const r = gradc(["compile", "missing.expr", "-o", "out.ts"], { cwd });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/missing\.expr/);
    expect(listing(cwd)).toEqual([]);
  });
});

describe("check", () => {
  it.each(exampleFiles)("passes on examples/cs231n/%s (exit 0)", (file) => {
    const r = gradc(["check", join(EXAMPLES, file)]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/FAIL/);
    // A CLI process that checks every gradient element: seconds on a loaded 2-core machine.
  }, 20_000);

  it("fails on a gate with a wrong grad line (exit 1), naming the parameter", () => {
    const cwd = folder();
    writeFileSync(join(cwd, "gate.expr"), "def sig(z) = 1/(1+exp(-z))\ngrad z = out * out\nparam w\ninput x\noutput f = sig(w * x)\n");
    const r = gradc(["check", "gate.expr"], { cwd });
    expect(r.status).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/\bw\b.*FAIL|'w'/);
    expect(r.stdout).toMatch(/^w\s+1\s+\S+\s+FAIL$/m);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it("passes on the same gate with the right grad line", () => {
    const cwd = folder();
    writeFileSync(join(cwd, "gate.expr"), "def sig(z) = 1/(1+exp(-z))\ngrad z = out * (1 - out)\nparam w\ninput x\noutput f = sig(w * x)\n");
    const r = gradc(["check", "gate.expr"], { cwd });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^w\s+1\s+\S+\s+ok$/m);
  });

  it("--at fixes the point", () => {
    const r = gradc(["check", join(EXAMPLES, "circuit.expr"), "--at", "x=-2", "--at", "y=5", "--at", "z=-4"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/1 point/);
  });

  it("--at with an unknown name is a usage error (exit 2)", () => {
    const r = gradc(["check", join(EXAMPLES, "circuit.expr"), "--at", "nope=1"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/nope/);
  });

  it.each([["check"], ["graph"]])("%s: the same name given twice to --at is a usage error (exit 2)", (command) => {
    const cwd = folder();
    const r = gradc([command, join(EXAMPLES, "circuit.expr"), "--at", "x=1", "--at", "x=2", "-o", "g.dot"].slice(0, command === "check" ? 6 : 8), { cwd });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--at x given more than once/);
    expect(listing(cwd)).toEqual([]);
  });

  // These were read as they came: a short value as NaNs (every element "skipped at a kink",
  // exit 0), values for a dim's argument beside another size (the module's TypeError shown
  // as an internal error, exit 70), an index out of its axis the same.
  it("--at with a wrong length, or an integer input's value the module would refuse, is a usage error (exit 2)", () => {
    const cwd = folder();
    writeFileSync(join(cwd, "labels.expr"), "dim N\ninput y[N] int\ninput X[N, 2]\ninput k int\nparam W[2, 3]\noutput loss = -mean([log_softmax(X @ W, axis=1)[i, y[i]] for i in 0..N]) * k\n");
    const usage = (at: string[], message: RegExp) => {
      const r = gradc(["check", "labels.expr", ...at.flatMap((a) => ["--at", a])], { cwd });
      expect(r.status, r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/internal error|^\s+at /m);
    };
    usage(["W=1,2"], /^gradc: --at W: 'W' is \[2,3\] and needs 6 values, got 2$/m);
    usage(["y=0,1", "X=1,2,3,4,5,6"], /^gradc: --at X: 'X' is \[2,2\] and needs 4 values, got 6$/m);
    usage(["y=0,3", "X=1,2,3,4"], /^gradc: --at y: the integer input indexes an axis of 3, so its values are in 0\.\.2, got 3$/m);
    usage(["y=0,1.5", "X=1,2,3,4"], /^gradc: --at y: an integer input takes whole numbers, got 1\.5$/m);
    usage(["k=0.5"], /^gradc: --at k: an integer input takes whole numbers, got 0\.5$/m);
    // Values that fit check the program at the size they give, an integer input that does not index at any whole number.
    const r = gradc(["check", "labels.expr", "--at", "y=2,0", "--at", "X=1,-2,0.5,3", "--at", "k=25"], { cwd });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^run-time sizes: checked at N = 2$/m);
    expect(r.stdout).toMatch(/^W\s+6\s+\S+\s+ok$/m);
  });

  it("a program with errors: exit 1", () => {
    const cwd = folder();
    writeFileSync(join(cwd, "bad.expr"), "param x\noutput f = y\n");
    const r = gradc(["check", "bad.expr"], { cwd });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^bad\.expr:2:12: error: unknown name 'y'/);
  });
});

describe("the package", () => {
  it("package.json names the gradc command and dist/cli/main.js exists with a shebang", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { bin: Record<string, string> };
    expect(pkg.bin.gradc).toMatch(/dist\/cli\/main\.js$/);
    expect(existsSync(join(ROOT, pkg.bin.gradc))).toBe(true);
    expect(readFileSync(join(ROOT, pkg.bin.gradc), "utf8").startsWith("#!/usr/bin/env node")).toBe(true);
  });
});

describe("--emit and each function's form in --stats", () => {
  it("--emit loops and --emit unrolled force the form, and --stats says so for forward and backward", { timeout: 60_000 }, () => {
    const cwd = folder();
    const loops = gradc(["compile", join(EXAMPLES, "twolayer.expr"), "--emit", "loops", "--stats", "-o", "l.mjs"], { cwd });
    expect(loops.status).toBe(0);
    expect(loops.stdout).toMatch(/\n {2}forward: loops, \d+ operations \(loops: asked for \(emit "loops"\)\)\n/);
    expect(loops.stdout).toMatch(/\n {2}backward: loops, \d+ operations \(loops: asked for \(emit "loops"\)\)\n/);
    // Unrolled by four: a loop of the hidden layer.
    expect(readFileSync(join(cwd, "l.mjs"), "utf8")).toMatch(/i0 \+= 4\)/);
    const unrolled = gradc(["compile", join(EXAMPLES, "twolayer.expr"), "--emit", "unrolled", "--stats", "-o", "u.mjs"], { cwd });
    expect(unrolled.status).toBe(0);
    expect(unrolled.stdout).toMatch(/\n {2}backward: unrolled, \d+ operations \(unrolled: asked for/);
    expect(readFileSync(join(cwd, "u.mjs"), "utf8")).not.toMatch(/i0 \+= 4\)/);
  });

  it("auto: the reason is the operation count against UNROLL_LIMIT", { timeout: 60_000 }, () => {
    const cwd = folder();
    const big = gradc(["compile", join(EXAMPLES, "twolayer.expr"), "--stats", "-o", "t.mjs"], { cwd });
    expect(big.status).toBe(0);
    expect(big.stdout).toMatch(/\n {2}backward: loops, \d+ operations \(loops: [\d,]+ operations > UNROLL_LIMIT 400, [\d,]+ of them on tensors > 200\)\n/);
    const small = gradc(["compile", join(EXAMPLES, "neuron.expr"), "--stats", "-o", "n.mjs"], { cwd });
    expect(small.stdout).toMatch(/\n {2}forward: unrolled, \d+ operations \(unrolled: \d+ operations <= UNROLL_LIMIT 400\)\n/);
    const result = compile(readFileSync(join(EXAMPLES, "twolayer.expr"), "utf8"), { filename: "twolayer.expr", format: "js" });
    if (!result.ok) throw new Error("twolayer.expr does not compile");
    expect(result.stats.functions.backward).toMatchObject({ form: "loops", operations: result.stats.backwardOperations });
    expect(result.stats.functions.forward.operations).toBe(result.stats.forwardOperations);
  });

  it("a long scalar program becomes a tape, with the count against TAPE_LIMIT; another --emit value is a usage error", { timeout: 120_000 }, () => {
    const cwd = folder();
    const lines = ["param x0", "param c[3]"];
    for (let i = 1; i <= 7000; i++) lines.push(`x${i} = 0.5 * x${i - 1} + 0.1 * sin(x${i - 1}) + c[${i % 3}]`);
    lines.push("output f = x7000");
    writeFileSync(join(cwd, "long.expr"), lines.join("\n"));
    const r = gradc(["compile", "long.expr", "--stats", "-o", "long.mjs"], { cwd });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/\n {2}backward: tape, \d+ operations \(tape: [\d,]+ scalar operations > TAPE_LIMIT 20,000\)\n/);
    const bad = gradc(["compile", "long.expr", "--emit", "fast"], { cwd });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/--emit must be one of auto, unrolled, loops, tape, got 'fast'/);
  });
});
