// Generated TypeScript in projects with the strictest flags people turn on:
// noUncheckedIndexedAccess (array reads are `number | undefined`), exactOptionalPropertyTypes
// and noPropertyAccessFromIndexSignature, beside strict. Straight-line, loop, split and tape code,
// scalar and tensor outputs, one output and several, branches of a costly where.
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { Project, ts } from "ts-morph";
import { compile } from "../src/compile.js";

function chain(n: number): string {
  const lines = ["param x0", "param c[3]"];
  for (let i = 1; i <= n; i++) lines.push(`x${i} = 0.5 * x${i - 1} + 0.1 * sin(x${i - 1}) + c[${i % 3}]`);
  return [...lines, `output f = x${n}`, "output g = x1 * c[0]"].join("\n");
}

const programs: [string, string, "auto" | "unrolled" | "loops" | "tape"][] = [
  ["neuron", readFileSync("examples/cs231n/neuron.expr", "utf8"), "auto"],
  ["twolayer", readFileSync("examples/cs231n/twolayer.expr", "utf8"), "auto"],
  ["hinge", readFileSync("examples/cs231n/hinge.expr", "utf8"), "loops"],
  ["rosenbrock", "param x[100]\noutput f = sum(100*(x[i+1] - x[i]^2)^2 + (1 - x[i])^2 for i in 0..99)", "auto"],
  ["several outputs", "param u[6], a\noutput f = a * sum(u)\noutput g = exp(u)", "loops"],
  ["a split body", chain(600), "auto"],
  // A costly where: its branch's values are lets assigned in an if/else (emit/branches.ts).
  ["branches", readFileSync("examples/ba/observation.expr", "utf8"), "unrolled"],
  ["a tape", chain(20), "tape"],
  // An index that reads an array (a pick by an integer input), in a sum and in a compound update.
  ["picks by an integer input", "dim N\ninput X[N, 3]\ninput y[N] int\nparam W[3, 3]\nscores = X @ W\noutput loss = -mean([log_softmax(scores, axis=1)[i, y[i]] for i in 0..N])", "loops"],
  // A Newton step: the linear algebra helpers (solve), a masked zero and a pick by a table of indices.
  ["the Newton step on Rosenbrock", readFileSync("examples/fit/rosenbrock.expr", "utf8"), "auto"],
  ["a tape with tensor outputs and seeds", "param u[6], a\ninput v[6]\noutput f = a * sum(u * v)\noutput g = relu(u) * sigmoid(v)", "tape"],
];

// Every example as compiled by default (README says so of all of them). springs-10000 and
// cloth16 are springs and cloth at larger sizes: the same code with other constants.
const examples = readdirSync("examples", { recursive: true, encoding: "utf8" })
  .filter((f) => f.endsWith(".expr") && !/springs-10000|cloth16/.test(f))
  .sort()
  .map((f): [string, string, "auto"] => [`examples/${f}`, readFileSync(`examples/${f}`, "utf8"), "auto"]);
programs.push(...examples);

describe("generated TypeScript type-checks under the strictest flags", () => {
  it("every program, and a caller", () => {
    const project = new Project({
      useInMemoryFileSystem: true,
      compilerOptions: {
        strict: true,
        noUncheckedIndexedAccess: true,
        exactOptionalPropertyTypes: true,
        noPropertyAccessFromIndexSignature: true,
        noImplicitReturns: true,
        target: ts.ScriptTarget.ES2022,
        module: ts.ModuleKind.ESNext,
        moduleResolution: ts.ModuleResolutionKind.Bundler,
        lib: ["lib.es2022.d.ts"],
        noEmit: true,
        skipDefaultLibCheck: true,
      },
    });
    programs.forEach(([name, source, emit], k) => {
      const r = compile(source, { filename: `${name}.expr`, format: "ts", emit });
      if (!r.ok) throw new Error(r.diagnostics.map((d) => d.text).join("\n"));
      if (name === "a split body") expect(r.code).toMatch(/function backwardPart0\(/);
      if (emit === "tape") expect(r.code).toMatch(/function runTape\(/);
      project.createSourceFile(`m${k}.ts`, r.code);
    });
    project.createSourceFile(
      "caller.ts",
      'import { backward, createGrad, backwardInto } from "./m0.js";\n' +
        "const r = backward({ w: [2, -3, -3], x: [-1, -2] });\nconst g: Float64Array = r.grad.w;\nbackwardInto({ w: [1, 2, 3], x: [4, 5] }, undefined, createGrad());\nexport { g };\n",
    );
    const errors = project.getPreEmitDiagnostics().map((d) => `${d.getSourceFile()?.getBaseName()}:${d.getLineNumber()}: ${ts.flattenDiagnosticMessageText(d.compilerObject.messageText, "\n")}`);
    expect(errors).toEqual([]);
  }, 60_000);
});
