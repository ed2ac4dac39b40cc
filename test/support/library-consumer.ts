// An app's use of the library entry (`import { compile } from "gradc"`), written as a
// TypeScript app writes it: module-types.test.ts type-checks this file and runs it.
import { compile, VERSION, type CompileOptions, type CompileResult, type DiagnosticRecord } from "../../src/index.js";

export function run(): { code: string; declaration: string | undefined; diagnostic: DiagnosticRecord; version: string; wrongOption: unknown } {
  const options: CompileOptions = { filename: "loss.expr", format: "js", objective: "f", checks: true, emit: "auto" };
  const good: CompileResult = compile("param w[2]\noutput f = sum(w * w)\noutput g = w[0]", options);
  if (!good.ok) throw new Error("the program compiles");
  const bad = compile("param w\noutput f = w +", { filename: "bad.expr" });
  if (bad.ok) throw new Error("the program has an error");
  const diagnostic: DiagnosticRecord = bad.diagnostics[0]!;
  let wrongOption: unknown;
  try {
    // @ts-expect-error the formats are ts and js
    compile("param w\noutput f = w", { format: "mjs" });
  } catch (e) {
    wrongOption = e;
  }
  // @ts-expect-error an objective is an output's name
  const never = () => compile("param w\noutput f = w", { objective: 1 });
  void never;
  return { code: good.code, declaration: good.declaration, diagnostic, version: VERSION, wrongOption };
}
