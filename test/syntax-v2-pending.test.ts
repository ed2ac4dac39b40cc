// Version 2 forms that the parser reads but the checker does not handle yet: each must
// end in a diagnostic E0299 "'<form>' is not supported yet" at the form, never a crash or
// a wrong program. Cases leave this table as the checker learns their meaning (their
// tests then belong with the checker's); the table is empty when version 2 is complete.

import { describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";

/** [source, every diagnostic as `line:col code message`]. */
const PENDING: [string, string][] = [
  ["dim N\ninput x[N]\noutput s = sum(x)", "1:1 E0299 'dim' is not supported yet"],
  ["input y[3] int\noutput s = sum(y)", "1:7 E0299 'int' is not supported yet"],
  ["param x[4]\noutput d = x[1:] - x[:3]", "2:14 E0299 'slice' is not supported yet"],
  ["param M[2, 3]\noutput c = sum(M[:, 0])", "2:18 E0299 'slice' is not supported yet"],
  ["param M[2, 3]\noutput c = sum(M, axis=1)", "2:19 E0299 'axis=' is not supported yet"],
  ["param M[2, 3]\noutput v = [sum(M[i], keepdims=true) for i in 0..2]", "2:23 E0299 'keepdims=' is not supported yet"],
  ["param x[3]\noutput s = sum(x[i] for i in 0..3, axis=0)", "2:36 E0299 'axis=' is not supported yet"],
  ["param A[2, 2], B[2, 2]\noutput C = dot(\"ij,jk->ik\", A)", "2:16 E0299 'string' is not supported yet"],
  ["param x\noutput y = \"x\" + x", "2:12 E0299 'string' is not supported yet"],
  ["def f(a) = a[0:1]\nparam x[2]\noutput y = sum(f(x))", "1:14 E0299 'slice' is not supported yet (in 'f')"],
];

describe("version 2 forms the checker does not handle yet", () => {
  it.each(PENDING)("%j", (source, expected) => {
    const r = compile(source, { filename: "t.expr" });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.diagnostics.map((d) => `${d.line}:${d.column} ${d.code} ${d.message}`).join(" | ")).toBe(expected);
  });
});
