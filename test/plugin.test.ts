// The bundler plugin (src/plugin/index.ts) in real builds. A tiny app is written to a
// temporary folder: `main.js` imports the CS231n neuron and circuit (examples/cs231n) as
// `./model.expr` and `./circuit.expr` and prints `backward(...)` as JSON. It is bundled by
// Vite (an SSR build: one ES module for Node) and by esbuild, each output is run with Node,
// and the lecture's numbers must come out. A program with syntax errors must fail both
// builds with the file, line and column in the error. `dts: true` must write the exact
// declaration beside the source, and TypeScript must type-check an app against it and
// against the generic `gradc/client` declaration.

import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as esbuildApi from "esbuild";
import { build as viteBuild, createServer } from "vite";
import { afterAll, describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { ensureBuilt, ROOT } from "./support/cli.js";
import { esbuild as gradcEsbuild, vite as gradcVite, type GradcPluginOptions } from "../src/plugin/index.js";
import viteDefault from "../src/plugin/vite.js";

const repo = new URL("..", import.meta.url);
const read = (path: string) => readFileSync(new URL(path, repo), "utf8");
const NEURON = read("examples/cs231n/neuron.expr");
const CIRCUIT = read("examples/cs231n/circuit.expr");

// The lecture's numbers (README, "Quick start"; examples/cs231n/*.expr).
const NEURON_F = 0.7310585786300049;
const NEURON_DW = [-0.19661193324148185, -0.3932238664829637, 0.19661193324148185];
const NEURON_DX = [0.3932238664829637, -0.5898357997244456];

const MAIN = `import * as neuron from "./model.expr";
import { backward as circuit } from "./circuit.expr";
const n = neuron.backward({ w: [2, -3, -3], x: [-1, -2] });
const c = circuit({ x: -2, y: 5, z: -4 });
console.log(JSON.stringify({
  neuron: { f: n.outputs.f, w: Array.from(n.grad.w), x: Array.from(n.grad.x) },
  circuit: { f: c.outputs.f, x: c.grad.x, y: c.grad.y, z: c.grad.z },
  forward: neuron.forward({ w: [2, -3, -3], x: [-1, -2] }).f,
  EXTRA
}));
`;

// Two syntax errors: an unclosed bracket on line 2, a missing operand on line 3.
const BROKEN = "param w[3]\nparam x[2\noutput f = sigmoid(w[0]*x[0] +)\n";

const folders: string[] = [];
afterAll(() => {
  for (const f of folders) rmSync(f, { recursive: true, force: true });
});

/** A fresh app folder with the given files (and `"type": "module"`, so Node runs `.js` as ESM). */
function app(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "gradc-plugin-"));
  folders.push(dir);
  writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function runNode(file: string): any {
  return JSON.parse(execFileSync(process.execPath, [file], { encoding: "utf8", timeout: 10_000 }));
}

function expectCs231n(out: any): void {
  expect(out.neuron.f).toBeCloseTo(NEURON_F, 14);
  expect(out.forward).toBeCloseTo(NEURON_F, 14);
  out.neuron.w.forEach((g: number, i: number) => expect(g).toBeCloseTo(NEURON_DW[i], 14));
  out.neuron.x.forEach((g: number, i: number) => expect(g).toBeCloseTo(NEURON_DX[i], 14));
  expect(out.neuron.w).toHaveLength(3);
  expect(out.neuron.x).toHaveLength(2);
  // (x + y) * z at x = -2, y = 5, z = -4: f = -12, df/dx = df/dy = z = -4, df/dz = x + y = 3.
  expect(out.circuit).toEqual({ f: -12, x: -4, y: -4, z: 3 });
}

async function buildWithVite(dir: string, entry: string, options?: GradcPluginOptions) {
  return viteBuild({
    root: dir,
    configFile: false,
    logLevel: "silent",
    plugins: [gradcVite(options)],
    build: { ssr: entry, outDir: "out-vite", minify: false, emptyOutDir: true },
  });
}

async function buildWithEsbuild(dir: string, entry: string, options?: GradcPluginOptions) {
  return esbuildApi.build({
    entryPoints: [join(dir, entry)],
    bundle: true,
    format: "esm",
    platform: "node",
    outfile: join(dir, "out-esbuild", "main.js"),
    logLevel: "silent",
    plugins: [gradcEsbuild(options)],
  });
}

describe("bundling an app that imports .expr files", () => {
  it("Vite: the SSR bundle runs under Node and prints the CS231n gradients; ?raw still gives the text", async () => {
    const dir = app({
      "main.js": `import raw from "./model.expr?raw";\n` + MAIN.replace("EXTRA", "raw"),
      "model.expr": NEURON,
      "circuit.expr": CIRCUIT,
    });
    await buildWithVite(dir, "main.js");
    const out = runNode(join(dir, "out-vite", "main.js"));
    expectCs231n(out);
    expect(out.raw).toBe(NEURON);
  });

  it("esbuild: the bundle runs under Node and prints the CS231n gradients", async () => {
    const dir = app({ "main.js": MAIN.replace("EXTRA", "raw: null"), "model.expr": NEURON, "circuit.expr": CIRCUIT });
    const result = await buildWithEsbuild(dir, "main.js");
    expect(result.errors).toEqual([]);
    expectCs231n(runNode(join(dir, "out-esbuild", "main.js")));
  });

  it("messages in the bundle name the source file; plugin options reach compile", async () => {
    const dir = app({ "main.js": MAIN.replace("EXTRA", "raw: null"), "model.expr": NEURON, "circuit.expr": CIRCUIT });
    await buildWithEsbuild(dir, "main.js");
    const checked = readFileSync(join(dir, "out-esbuild", "main.js"), "utf8");
    expect(checked).toContain("model.expr: argument '");
    await buildWithEsbuild(dir, "main.js", { checks: false });
    const unchecked = readFileSync(join(dir, "out-esbuild", "main.js"), "utf8");
    expect(unchecked).not.toContain("model.expr: argument '");
    expectCs231n(runNode(join(dir, "out-esbuild", "main.js")));
  });

  it("esbuild: a program with dims runs at any size; a note (no flat form) becomes a warning", async () => {
    const dir = app({
      "main.js": [
        `import * as m from "./sized.expr";`,
        `import * as only from "./only-params.expr";`,
        `const at = (n) => m.backward({ x: Array.from({ length: n }, (_, i) => i + 1), w: 2 });`,
        `console.log(JSON.stringify({ three: at(3).outputs.s, five: at(5).grad.w, sizes: m.sizesOf({ x: [1, 2], w: 0 }), flat: Object.keys(only).includes("valueFlat") }));`,
      ].join("\n"),
      "sized.expr": "dim N\ninput x[N]\nparam w\noutput s = w * sum(x)\n",
      "only-params.expr": "dim K\nparam a[K]\ninput t\noutput loss = sum(a^2) * t\n",
    });
    const result = await buildWithEsbuild(dir, "main.js");
    expect(result.errors).toEqual([]);
    expect(result.warnings.map((w) => w.text)).toEqual([expect.stringMatching(/only-params\.expr: note: no flat form .*dim 'K'/)]);
    expect(runNode(join(dir, "out-esbuild", "main.js"))).toEqual({ three: 12, five: 15, sizes: { N: 2 }, flat: false });
  });

  it("the default export of gradc/vite is the same plugin", () => {
    expect(viteDefault().name).toBe("gradc");
    expect(gradcVite().name).toBe("gradc");
  });
});

describe("errors in a .expr file fail the build with file, line and column", () => {
  it("Vite: the error names model.expr, gradc's line:column and every diagnostic; loc is the first, from 0", async () => {
    const dir = app({ "main.js": MAIN.replace("EXTRA", "raw: null"), "model.expr": BROKEN, "circuit.expr": CIRCUIT });
    const error: any = await buildWithVite(dir, "main.js").then(
      () => undefined,
      (e) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toContain("model.expr:2:8: error: '[' is never closed");
    expect(error.message).toContain("model.expr:3:31: error: expected an expression, found ')'");
    expect(error.message).toContain("  output f = sigmoid(w[0]*x[0] +)\n" + " ".repeat(32) + "^");
    // Rolldown (Vite 8) carries the plugin error's fields in `errors`; Rollup on the error itself.
    const detail = error.errors?.[0] ?? error;
    expect(detail.plugin).toBe("gradc");
    expect(detail.id).toBe(join(dir, "model.expr"));
    expect(detail.loc).toEqual({ file: join(dir, "model.expr"), line: 2, column: 7 });
  });

  it("esbuild: one located error per diagnostic, with the source line", async () => {
    const dir = app({ "main.js": MAIN.replace("EXTRA", "raw: null"), "model.expr": BROKEN, "circuit.expr": CIRCUIT });
    const error: any = await buildWithEsbuild(dir, "main.js").then(
      () => undefined,
      (e) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect(error.message).toMatch(/model\.expr:2:7: ERROR: \[plugin: gradc\] '\[' is never closed/);
    expect(error.message).toMatch(/model\.expr:3:30: ERROR: \[plugin: gradc\] expected an expression, found '\)'/);
    const [first, second] = error.errors;
    expect(first.location).toMatchObject({ line: 2, column: 7, length: 1, lineText: "param x[2" });
    expect(first.location.file).toMatch(/model\.expr$/);
    expect(second.location).toMatchObject({ line: 3, column: 30, length: 1, lineText: "output f = sigmoid(w[0]*x[0] +)" });
  });

  it("a checker error (unknown function) is reported the same way", async () => {
    const dir = app({ "main.js": `import { forward } from "./model.expr";\nconsole.log(forward);\n`, "model.expr": NEURON.replace("sigmoid(", "sigmoidd(") });
    const viteError: any = await buildWithVite(dir, "main.js").then(
      () => undefined,
      (e) => e,
    );
    expect(viteError.message).toContain("model.expr:5:12: error: unknown function 'sigmoidd' (did you mean 'sigmoid'?)");
    const esbuildError: any = await buildWithEsbuild(dir, "main.js").then(
      () => undefined,
      (e) => e,
    );
    expect(esbuildError.errors[0].location).toMatchObject({ line: 5, column: 11, length: 8 });
    expect(esbuildError.errors[0].text).toBe("unknown function 'sigmoidd' (did you mean 'sigmoid'?)");
  });

  it("invalid UTF-8 is located too (E0100)", async () => {
    const dir = app({ "main.js": `import { forward } from "./model.expr";\nconsole.log(forward);\n` });
    writeFileSync(join(dir, "model.expr"), Buffer.concat([Buffer.from("param w\noutput f = w # caf"), Buffer.from([0xe9]), Buffer.from("\n")]));
    const error: any = await buildWithVite(dir, "main.js").then(
      () => undefined,
      (e) => e,
    );
    expect(error.message).toMatch(/model\.expr:2:19: error: invalid UTF-8 \(byte 0xe9\)/);
  });
});

describe("Vite dev server", () => {
  it("serves a .expr module, reloads it when the file changes, and hands errors to the overlay with loc", async () => {
    const dir = app({ "model.expr": CIRCUIT });
    const server = await createServer({
      root: dir,
      configFile: false,
      logLevel: "silent",
      plugins: [gradcVite()],
      appType: "custom",
      server: { middlewareMode: true, hmr: false, watch: { usePolling: true, interval: 20 } },
    });
    try {
      const first = await server.ssrLoadModule("/model.expr");
      expect(first.backward({ x: -2, y: 5, z: -4 }).grad).toEqual({ x: -4, y: -4, z: 3 });
      // Change f = q * z to f = q * z * z: the watcher must invalidate the module.
      writeFileSync(join(dir, "model.expr"), CIRCUIT.replace("output f = q * z", "output f = q * z * z"));
      let after: any;
      for (let i = 0; i < 200; i++) {
        await new Promise((r) => setTimeout(r, 25));
        after = await server.ssrLoadModule("/model.expr");
        if (after.forward({ x: -2, y: 5, z: -4 }).f !== -12) break;
      }
      expect(after.forward({ x: -2, y: 5, z: -4 }).f).toBe(48);
      writeFileSync(join(dir, "broken.expr"), BROKEN);
      const error: any = await server.transformRequest("/broken.expr").then(
        () => undefined,
        (e) => e,
      );
      expect(error.plugin).toBe("gradc");
      expect(error.id).toBe(join(dir, "broken.expr"));
      expect(error.loc).toEqual({ file: join(dir, "broken.expr"), line: 2, column: 7 });
      expect(error.message).toContain("broken.expr:2:8: error: '[' is never closed");
    } finally {
      await server.close();
    }
  });
});

describe("types", () => {
  it("dts: true writes model.expr.d.ts, the exact declaration, and rewrites it only when it changes", async () => {
    const dir = app({ "main.js": MAIN.replace("EXTRA", "raw: null"), "model.expr": NEURON, "circuit.expr": CIRCUIT });
    await buildWithEsbuild(dir, "main.js", { dts: true, root: dir });
    const written = readFileSync(join(dir, "model.expr.d.ts"), "utf8");
    const expected = compile(NEURON, { filename: "model.expr", format: "js" });
    expect(expected.ok && expected.declaration).toBe(written);
    expect(existsSync(join(dir, "circuit.expr.d.ts"))).toBe(true);
    writeFileSync(join(dir, "model.expr.d.ts"), written); // same text: a second build must not touch it
    const before = (await import("node:fs")).statSync(join(dir, "model.expr.d.ts")).mtimeMs;
    await new Promise((r) => setTimeout(r, 20));
    await buildWithVite(dir, "main.js", { dts: "d.expr.ts", root: dir });
    expect((await import("node:fs")).statSync(join(dir, "model.expr.d.ts")).mtimeMs).toBe(before);
    expect(readFileSync(join(dir, "model.d.expr.ts"), "utf8")).toBe(written);
  });

  it("TypeScript checks an app against the written declarations and against gradc/client", async () => {
    const dir = app({ "model.expr": NEURON, "circuit.expr": CIRCUIT, "main.js": MAIN.replace("EXTRA", "raw: null") });
    await buildWithEsbuild(dir, "main.js", { dts: true, root: dir });
    mkdirSync(join(dir, "generic"));
    writeFileSync(join(dir, "generic", "model.expr"), NEURON);
    const clientTypes = new URL("../src/plugin/expr-module.d.ts", import.meta.url).pathname;
    writeFileSync(
      join(dir, "app.ts"),
      `import { backward, type Grads } from "./model.expr";
const r = backward({ w: [2, -3, -3], x: [-1, -2] });
const f: number = r.outputs.f;
const g: Grads = r.grad;
export { f, g };
`,
    );
    writeFileSync(
      join(dir, "wrong.ts"),
      `import { backward } from "./model.expr";
backward({ w: [2, -3, -3] }); // x is missing
`,
    );
    writeFileSync(
      join(dir, "generic", "app.ts"),
      `/// <reference path=${JSON.stringify(clientTypes)} />
import * as model from "./model.expr";
const r = model.backward({ w: [2, -3, -3], x: [-1, -2] });
const f: number | Float64Array = r.outputs["f"];
export { f };
`,
    );
    const tsc = new URL("../node_modules/typescript/bin/tsc", import.meta.url).pathname;
    const check = (...files: string[]) => {
      try {
        execFileSync(process.execPath, [tsc, "--noEmit", "--strict", "--module", "esnext", "--moduleResolution", "bundler", "--target", "es2022", "--types", "", ...files], {
          cwd: dir,
          encoding: "utf8",
          timeout: 20_000,
        });
        return "";
      } catch (e: any) {
        return String(e.stdout) + String(e.stderr);
      }
    };
    expect(check("app.ts", "generic/app.ts")).toBe("");
    expect(check("wrong.ts")).toMatch(/wrong\.ts\(2,10\): error TS\d+: Property '"x"' is missing/);
  });

  it("as a user installs it: gradc/esbuild, gradc/plugin and gradc/vite from dist/, typed, with gradc/client", async () => {
    ensureBuilt();
    // An app with gradc, vite and esbuild in its node_modules (links to this repository's), so
    // `gradc/...` resolves through package.json "exports" as after `npm install gradc`.
    const dir = app({ "model.expr": NEURON, "circuit.expr": CIRCUIT, "main.mjs": MAIN.replace("EXTRA", "raw: null") });
    mkdirSync(join(dir, "node_modules"));
    symlinkSync(ROOT, join(dir, "node_modules", "gradc"), "dir");
    for (const dep of ["vite", "esbuild"]) symlinkSync(join(ROOT, "node_modules", dep), join(dir, "node_modules", dep), "dir");
    writeFileSync(
      join(dir, "build.mjs"),
      `import * as esbuild from "esbuild";
import gradc from "gradc/esbuild";
import { vite, rollup, esbuild as named, unplugin } from "gradc/plugin";
import viteDefault from "gradc/vite";
import rollupDefault from "gradc/rollup";
if (typeof vite !== "function" || typeof rollup !== "function" || named !== gradc || viteDefault !== vite || rollupDefault !== rollup || !unplugin.webpack) throw new Error("entry points differ");
await esbuild.build({ entryPoints: ["main.mjs"], bundle: true, format: "esm", platform: "node", outfile: "out.mjs", logLevel: "silent", plugins: [gradc()] });
`,
    );
    execFileSync(process.execPath, ["build.mjs"], { cwd: dir, encoding: "utf8", timeout: 20_000 });
    expectCs231n(runNode(join(dir, "out.mjs")));
    writeFileSync(
      join(dir, "vite.config.ts"),
      `import { defineConfig } from "vite";
import gradc from "gradc/vite";
export default defineConfig({ plugins: [gradc({ dts: true, checks: false })] });
`,
    );
    writeFileSync(
      join(dir, "app.ts"),
      `/// <reference types="gradc/client" />
import * as model from "./model.expr";
const r = model.backward({ w: [2, -3, -3], x: [-1, -2] });
export const f: number | Float64Array = r.outputs["f"];
`,
    );
    // A Vite app's tsconfig: moduleResolution "bundler".
    const tsconfig = {
      compilerOptions: { strict: true, noEmit: true, skipLibCheck: true, module: "esnext", moduleResolution: "bundler", target: "es2022", types: [] },
      files: ["vite.config.ts", "app.ts"],
    };
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(tsconfig));
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    let output = "";
    try {
      execFileSync(process.execPath, [tsc, "-p", "."], { cwd: dir, encoding: "utf8", timeout: 30_000 });
    } catch (e: any) {
      output = String(e.stdout) + String(e.stderr);
    }
    expect(output).toBe("");
  });

  it("package.json exports the plugin entries and gradc/client", () => {
    const pkg = JSON.parse(read("package.json"));
    expect(pkg.exports["./plugin"]).toEqual({ types: "./dist/plugin/index.d.ts", default: "./dist/plugin/index.js" });
    for (const b of ["vite", "rollup", "esbuild"]) expect(pkg.exports[`./${b}`]).toEqual({ types: `./dist/plugin/${b}.d.ts`, default: `./dist/plugin/${b}.js` });
    expect(pkg.exports["./client"]).toEqual({ types: "./src/plugin/expr-module.d.ts" });
    expect(existsSync(new URL("../src/plugin/expr-module.d.ts", import.meta.url))).toBe(true);
    expect(pkg.files).toContain("src/plugin/expr-module.d.ts");
    expect(pkg.dependencies.unplugin).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
