// gradc as a user without a registry gets it: `npm pack` makes gradc-<version>.tgz, which
// `npm install ./gradc-<version>.tgz` puts into a fresh app (README, docs/build-integration.md).
// The package is packed from a copy of the working tree without dist/, so the tarball
// holds the JavaScript only if packing builds it (the `prepare` script). The app then uses
// all three ways in: the CLI (`npx gradc compile`), the library (`import { compile } from
// "gradc"`) and the Vite plugin (`gradc/vite`, an SSR build run with Node), and the lecture's
// neuron must give its numbers. npm installs from its local cache (`--offline`); when the
// cache lacks a package's metadata, from the cache where it can and the registry where it
// must (`--prefer-offline`).

import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ROOT } from "./support/cli.js";

const version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version as string;
const viteVersion = JSON.parse(readFileSync(join(ROOT, "node_modules", "vite", "package.json"), "utf8")).version as string;
const env = { ...process.env, npm_config_update_notifier: "false", npm_config_fund: "false", npm_config_audit: "false" };

const NEURON_F = 0.7310585786300049;
const NEURON_DW = [-0.19661193324148185, -0.3932238664829637, 0.19661193324148185];

function run(cwd: string, command: string, args: string[]): string {
  const r = spawnSync(command, args, { cwd, env, encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} (in ${cwd}) exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe("gradc from a tarball", () => {
  const work = mkdtempSync(join(tmpdir(), "gradc-tarball-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it("packs, installs into a fresh app, and works there as CLI, library and Vite plugin", () => {
    // The package's sources, as a fresh clone has them: no dist/.
    const pkg = join(work, "gradc");
    mkdirSync(pkg);
    for (const f of ["package.json", "tsconfig.json", "README.md"]) cpSync(join(ROOT, f), join(pkg, f));
    cpSync(join(ROOT, "src"), join(pkg, "src"), { recursive: true });
    cpSync(join(ROOT, "grammar"), join(pkg, "grammar"), { recursive: true });
    symlinkSync(join(ROOT, "node_modules"), join(pkg, "node_modules"), "dir");
    const packed = run(pkg, "npm", ["pack", "--pack-destination", work]).trim().split("\n").pop()!;
    expect(packed).toBe(`gradc-${version}.tgz`);
    const listing = execFileSync("tar", ["tzf", join(work, packed)], { encoding: "utf8" }).split("\n");
    for (const f of ["dist/index.js", "dist/index.d.ts", "dist/cli/main.js", "dist/plugin/vite.js", "grammar/expr.tmLanguage.json", "src/plugin/expr-module.d.ts"])
      expect(listing).toContain(`package/${f}`);
    expect(listing.filter((f) => f.startsWith("package/src/") && !f.endsWith(".d.ts"))).toEqual([]);

    // A fresh app.
    const app = join(work, "app");
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }, null, 2));
    cpSync(join(ROOT, "examples", "cs231n", "neuron.expr"), join(app, "neuron.expr"));
    const install = (mode: string) => run(app, "npm", ["install", mode, `../${packed}`, `vite@${viteVersion}`]);
    try {
      install("--offline");
    } catch (e) {
      console.log(`tarball test: npm's cache lacks some metadata, installing with --prefer-offline (${(e as Error).message.split("\n").find((l) => /ENOTCACHED|code/.test(l)) ?? ""})`);
      install("--prefer-offline");
    }
    expect(JSON.parse(readFileSync(join(app, "package.json"), "utf8")).dependencies.gradc).toBe(`file:../${packed}`);
    expect(readdirSync(join(app, "node_modules", "gradc", "dist"))).toContain("index.js");

    // The CLI.
    expect(run(app, "npx", ["gradc", "--version"])).toContain(version);
    run(app, "npx", ["gradc", "compile", "neuron.expr", "-o", "out/neuron.mjs"]);
    const cli = JSON.parse(run(app, "node", ["-e", `import("./out/neuron.mjs").then(m => { const r = m.backward({ w: [2, -3, -3], x: [-1, -2] }); console.log(JSON.stringify({ f: r.outputs.f, w: Array.from(r.grad.w) })); })`]));
    expect(cli).toEqual({ f: NEURON_F, w: NEURON_DW });

    // The library.
    writeFileSync(
      join(app, "library.mjs"),
      `import { compile } from "gradc";
import { readFileSync } from "node:fs";
const r = compile(readFileSync("neuron.expr", "utf8"), { filename: "neuron.expr", format: "js" });
const m = await import("data:text/javascript," + encodeURIComponent(r.code));
console.log(JSON.stringify({ ok: r.ok, stats: r.stats, f: m.forward({ w: [2, -3, -3], x: [-1, -2] }).f }));
`,
    );
    const library = JSON.parse(run(app, "node", ["library.mjs"]));
    expect(library.ok).toBe(true);
    expect(library.f).toBe(NEURON_F);
    expect(library.stats.emitted).toBe("unrolled");

    // The Vite plugin: `import * as neuron from "./neuron.expr"`, bundled, run.
    writeFileSync(
      join(app, "vite.config.js"),
      `import { defineConfig } from "vite";
import gradc from "gradc/vite";
export default defineConfig({ plugins: [gradc()], build: { ssr: "main.js", outDir: "build" }, logLevel: "warn" });
`,
    );
    writeFileSync(
      join(app, "main.js"),
      `import * as neuron from "./neuron.expr";
const { outputs, grad } = neuron.backward({ w: [2, -3, -3], x: [-1, -2] });
console.log(JSON.stringify({ f: outputs.f, w: Array.from(grad.w) }));
`,
    );
    run(app, "npx", ["vite", "build"]);
    expect(JSON.parse(run(app, "node", ["build/main.js"]))).toEqual({ f: NEURON_F, w: NEURON_DW });
  }, 180_000);
});
