// `gradc graph`: wiring of the command line to graph.ts (DOT, and SVG through Graphviz
// built for WebAssembly, so no system Graphviz is needed).

import { extname } from "node:path";
import { analyze } from "../compile.js";
import { readFailure, readSource, writeAll } from "./files.js";
import { parseAt } from "./check.js";
import type { CliTools } from "./main.js";
import { buildDot, checkAt, renderSvg } from "./graph.js";

export async function graphMain(argv: string[], tools: CliTools): Promise<number> {
  const p = tools.parseArgs(argv, new Set(["--at", "-o", "--output"]), new Set());
  if (p.positional.length !== 1) throw new tools.UsageError("graph takes one .expr file");
  const output = tools.one(p, "-o") ?? tools.one(p, "--output");
  if (!output) throw new tools.UsageError("graph needs -o graph.svg or -o graph.dot");
  const ext = extname(output);
  if (ext !== ".svg" && ext !== ".dot") throw new tools.UsageError(`graph writes .svg or .dot, got '${output}'`);
  const at = parseAt(p.flags.get("--at") ?? [], (m) => new tools.UsageError(m));
  const input = p.positional[0];
  const source = readSource(input);
  if (!source.ok) {
    process.stderr.write(readFailure(input, source) + "\n");
    return 1;
  }
  const analyzed = analyze(source.text, input);
  if (!analyzed.program) {
    tools.printDiagnostics(analyzed.diagnostics);
    return 1;
  }
  const wrong = checkAt(analyzed.program, at);
  if (wrong) throw new tools.UsageError(wrong);
  const dot = buildDot(analyzed.program, at.size ? at : undefined);
  writeAll([{ path: output, text: ext === ".dot" ? dot : await renderSvg(dot) }]);
  return 0;
}
