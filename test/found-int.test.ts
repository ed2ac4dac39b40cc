// What showing and measuring integer inputs (examples/ba, examples/mesh, the integer-label
// spiral) turned up that the compiler does not do yet: each case a minimal program, skipped
// until it is fixed, with what happens now in its comment. Unskip a case with its fix.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { ensureBuilt, gradc } from "./support/cli.js";

const LABELS = ["input y[4] int", "param s[4, 3]", "output loss = -mean([log_softmax(s, axis=1)[i, y[i]] for i in 0..4])"].join("\n");

describe("integer inputs: found while writing the examples", () => {
  beforeAll(() => ensureBuilt(), 120_000);

  // `gradc check` draws every input as a random real, integer inputs too. At 566592b, with the
  // index checks not emitted, the labels program reports every element "skipped at a kink"
  // with error 0 (exit 0: the check passes without checking anything); with the index checks,
  // it stops with "internal error: integer input 'y' must hold whole numbers, but element [0]
  // is 0.25...". Expected: whole numbers below the axis each input indexes, as `gradc graph`
  // draws them (integerRanges), and every element checked. A fix is under way in the shared
  // tree (src/cli/check.ts).
  it.skip("gradc check draws integer inputs as valid indices and checks every element", () => {
    const dir = mkdtempSync(join(tmpdir(), "gradc-found-int-"));
    try {
      writeFileSync(join(dir, "labels.expr"), LABELS);
      const r = gradc(["check", join(dir, "labels.expr")]);
      expect(r.stdout + r.stderr).not.toMatch(/internal error|skipped/);
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^s\s+12\s+\d/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  // Issue 16 asks that an integer input's type in `Args` say that it is integer (and the
  // declaration that an Int32Array is accepted and fastest). The declaration has
  // `"y": ArrayLike<number>;` for it, the same as for a real input, with no note.
  it.skip("the declaration says an integer input is integer", () => {
    const r = compile(LABELS, { filename: "labels.expr", format: "js" });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const decl = r.declaration ?? "";
    const args = decl.slice(decl.indexOf("Args"), decl.indexOf("}", decl.indexOf("Args")));
    expect(args).toMatch(/(integer|Int32Array)[^\n]*\n\s*"y"|"y"\s*:\s*[^;]*(Int32Array|Integer)/);
  });
});
