// The library entry: `import { compile } from "gradc"`.
export { compile } from "./compile.js";
export type { CompileOptions, CompileResult, CompileStats, DiagnosticRecord } from "./compile.js";
export { VERSION } from "./version.js";
