// Compiles every example (examples/**/*.expr) into generated/, mirroring the folders:
// an ES module and its declaration file each. Run by `npm run generate` (and `npm run
// build`); test/generated.test.ts fails when generated/ is stale.
import { readdirSync, readFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join, relative, dirname, basename } from "node:path";
import { fileURLToPath } from "node:url";
import { compile } from "../dist/index.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

export function exampleSources() {
  const found = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".expr")) found.push(relative(join(root, "examples"), path));
    }
  };
  walk(join(root, "examples"));
  return found;
}

const started = performance.now();
let lines = 0;
for (const rel of exampleSources()) {
  const source = readFileSync(join(root, "examples", rel), "utf8");
  const result = compile(source, { filename: basename(rel), format: "js" });
  if (!result.ok) {
    for (const d of result.diagnostics) console.error(d.text);
    process.exit(1);
  }
  const target = join(root, "generated", rel.replace(/\.expr$/, ".mjs"));
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, result.code);
  writeFileSync(target.replace(/\.mjs$/, ".d.mts"), result.declaration);
  lines += result.code.split("\n").length;
  console.log(`generated/${relative(join(root, "generated"), target)}: ${result.code.split("\n").length} lines`);
}
console.log(`${lines} lines in ${(performance.now() - started).toFixed(0)} ms`);
