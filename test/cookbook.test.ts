// docs/cookbook.md is tested as a user would follow it: every block marked `file=` is
// written into a folder, every `.expr` program is compiled by the CLI into `name.mjs` (as
// the page shows), every script is run with Node and must exit 0 (each asserts its own
// results), every program's gradient passes the finite-difference check of `gradc check`,
// and the `text stats` block must show the summary line `gradc compile --stats` prints for
// each program.
// The folder lies inside the repository, so a script's `import "gradc"` resolves to this
// package itself (its `exports`, from dist/).

import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { gradientCheck } from "../src/cli/check.js";
import { ensureBuilt, MAIN, ROOT } from "./support/cli.js";

interface Block {
  lang: string;
  info: string;
  text: string;
}

const page = readFileSync(join(ROOT, "docs", "cookbook.md"), "utf8");
const blocks: Block[] = [...page.matchAll(/^```(\w*)([^\n]*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1], info: m[2].trim(), text: m[3] }));
const files = blocks.filter((b) => b.info.startsWith("file=")).map((b) => ({ name: b.info.slice(5), text: b.text }));
const programs = files.filter((f) => f.name.endsWith(".expr"));
const scripts = files.filter((f) => f.name.endsWith(".mjs"));

describe("docs/cookbook.md", () => {
  let dir: string;
  const stats: string[] = [];

  beforeAll(() => {
    ensureBuilt();
    mkdirSync(join(ROOT, ".vitest-tmp"), { recursive: true });
    dir = mkdtempSync(join(ROOT, ".vitest-tmp", "cookbook-"));
    for (const f of files) writeFileSync(join(dir, f.name), f.text);
    for (const p of programs) {
      const r = spawnSync(process.execPath, [MAIN, "compile", p.name, "-o", p.name.replace(/\.expr$/, ".mjs"), "--stats"], { cwd: dir, encoding: "utf8" });
      expect(r.stderr).toBe("");
      expect(r.status).toBe(0);
      stats.push(r.stdout.trim());
    }
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("has the recipes it promises", () => {
    expect(programs.map((p) => p.name)).toEqual(["batch.expr", "line.expr", "chain.expr", "triangle.expr"]);
    expect(scripts.length).toBeGreaterThanOrEqual(programs.length + 1);
    for (const heading of ["A batched model", "Least squares", "Physics: energies and constraints", "Reading `--stats`", "Choosing the code form"])
      expect(page).toContain(`## ${heading}`);
  });

  it.each(scripts.map((s) => [s.name]))("%s runs and its assertions hold", (name) => {
    const r = spawnSync(process.execPath, [name], { cwd: dir, encoding: "utf8", timeout: 60_000 });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it.each(programs.map((p) => [p.name, p.text]))("%s: backward agrees with finite differences", async (name, text) => {
    const r = compile(text, { filename: name, format: "js" });
    if (!r.ok) throw new Error(r.diagnostics.map((d) => d.text).join("\n"));
    const rows = await gradientCheck(r.code, r.interface, { at: new Map(), points: 3, seed: 1 });
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row.maxError, row.param).toBeLessThan(1e-7);
  });

  it("shows what --stats prints", () => {
    const shown = blocks.find((b) => b.lang === "text" && b.info === "stats");
    expect(shown, "a ```text stats block").toBeDefined();
    // One summary line per program is compared; indented detail lines under it, if the CLI
    // prints any, are not part of what the page explains.
    const summaries = (text: string) => text.split("\n").filter((l) => l.trim() && !/^\s/.test(l));
    expect(summaries(shown!.text), "update the `text stats` block of docs/cookbook.md to the CLI's output").toEqual(summaries(stats.join("\n")));
  });
});
