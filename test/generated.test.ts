// generated/ is committed so that apps and readers can use the examples' modules without a
// build; this test keeps it honest. For every examples/**/*.expr, compiling it (format
// "js", filename = its base name, as scripts/generate.mjs does) must give exactly the text
// of generated/<same path>.mjs and .d.mts, and generated/ must hold nothing else.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, join, relative, sep } from "node:path";
import { describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { ROOT } from "./support/cli.js";

const EXAMPLES = join(ROOT, "examples");
const GENERATED = join(ROOT, "generated");
const FIX = "run `npm run generate` (after `npm run build`) and commit generated/";

/** Files under a folder, relative to it, with forward slashes, sorted. */
function walk(root: string, keep: (name: string) => boolean): string[] {
  const found: string[] = [];
  const visit = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (keep(entry.name)) found.push(relative(root, path).split(sep).join("/"));
    }
  };
  if (existsSync(root)) visit(root);
  return found.sort();
}

const sources = walk(EXAMPLES, (name) => name.endsWith(".expr"));

describe("generated/ is up to date", () => {
  it("there are examples to check", () => {
    expect(sources.length).toBeGreaterThan(0);
    expect(sources).toContain("cs231n/neuron.expr");
  });

  it.each(sources)("examples/%s", (rel) => {
    const result = compile(readFileSync(join(EXAMPLES, rel), "utf8"), { filename: basename(rel), format: "js" });
    if (!result.ok) throw new Error(`examples/${rel} does not compile:\n${result.diagnostics.map((d) => d.text).join("\n")}`);
    const base = rel.replace(/\.expr$/, "");
    for (const [file, text] of [
      [`${base}.mjs`, result.code],
      [`${base}.d.mts`, result.declaration],
    ] as const) {
      const path = join(GENERATED, file);
      expect(existsSync(path), `generated/${file} is missing: ${FIX}`).toBe(true);
      const committed = readFileSync(path, "utf8");
      // A boolean, so a stale 100 KB module fails with one line instead of a diff of it.
      expect(committed === text, `generated/${file} differs from what examples/${rel} compiles to: ${FIX}`).toBe(true);
    }
  });

  it("no stale files: everything in generated/ comes from an example", () => {
    const expected = new Set(sources.flatMap((rel) => [rel.replace(/\.expr$/, ".mjs"), rel.replace(/\.expr$/, ".d.mts")]));
    const stale = walk(GENERATED, () => true).filter((f) => !expected.has(f));
    expect(stale, `generated/ has files without a source in examples/ (${stale.join(", ")}): delete them, then ${FIX}`).toEqual([]);
  });
});
