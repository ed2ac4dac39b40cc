// What showing and measuring integer inputs (examples/ba, examples/mesh, the integer-label
// spiral) turned up: each case a minimal program, with what happened in its comment; all are
// fixed now and stay as regression tests.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { compile } from "../src/compile.js";
import { ensureBuilt, gradc } from "./support/cli.js";

const LABELS = ["input y[4] int", "param s[4, 3]", "output loss = -mean([log_softmax(s, axis=1)[i, y[i]] for i in 0..4])"].join("\n");

describe("integer inputs: found while writing the examples", () => {
  beforeAll(() => ensureBuilt(), 120_000);

  // At 91d0e7e a program with an integer input that is small enough for straight-line code
  // does not compile: "internal: a take by run-time indices in straight-line code" (the CLI
  // prints it as an internal error), and loop code gets no index checks, so a bad index reads
  // past the tensor instead of throwing; test/integer-inputs.test.ts fails 4 of 7 and the
  // bad-observation case of test/ba.test.ts fails. Commit b7eb164 describes both ("data indices
  // force loop code", "the module checks them before computing") but src/compile.ts, which
  // does them (needsLoopCode, indexChecks), was not in it; the change is in the shared tree,
  // uncommitted. Fixed when it landed.
  it("a small program with an integer input compiles, to loop code that checks its indices", async () => {
    const r = compile(LABELS, { filename: "labels.expr", format: "js" });
    expect(r.ok).toBe(true);
    if (r.ok) expect(r.code).toMatch(/out of range/);
  });

  // Before 368d073, `gradc check` drew integer inputs as random reals (every element "skipped
  // at a kink" with error 0, or an internal error once index checks are emitted); it now draws
  // valid indices, but on this program it stops at the compile error above.
  it("gradc check draws integer inputs as valid indices and checks every element", () => {
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
  // `"y": ArrayLike<number>;` for it, the same as for a real input, with no note (fixed).
  it("the declaration says an integer input is integer", () => {
    const r = compile(LABELS, { filename: "labels.expr", format: "js" });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const decl = r.declaration ?? "";
    const args = decl.slice(decl.indexOf("Args"), decl.indexOf("}", decl.indexOf("Args")));
    expect(args).toMatch(/(integer|Int32Array)[^\n]*\n\s*"y"|"y"\s*:\s*[^;]*(Int32Array|Integer)/);
  });
});
