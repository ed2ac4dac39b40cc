// Version 2 forms that the parser reads but the checker does not handle yet: each must
// end in a diagnostic E0299 "'<form>' is not supported yet" at the form, never a crash or
// a wrong program. Cases leave this table as the checker learns their meaning (their
// tests then belong with the checker's); the table is empty when version 2 is complete.

import { describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";

/** [source, every diagnostic as `line:col code message`]. */
const PENDING: [string, string][] = [
  ["dim N\ninput x[N]\noutput s = sum(x)", "1:5 E0299 'dim' is not supported yet"],
];

describe("version 2 forms the checker does not handle yet", () => {
  it.each(PENDING)("%j", (source, expected) => {
    const r = compile(source, { filename: "t.expr" });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.diagnostics.map((d) => `${d.line}:${d.column} ${d.code} ${d.message}`).join(" | ")).toBe(expected);
  });
});
