// Small tensors kept in locals (at most SMALL_TENSOR elements, every index a constant once
// short axes are unrolled) become plain scalar locals `t7_0`, `t7_1`: from here on, passes
// that follow values across statements (splitting into parts) see one kind of local.

import { local, mapExpr, mapStmts, type Stmt } from "../ir.js";
import { localElement } from "../print.js";
import { knownSize } from "../../ir/graph.js";

export function smallTensorsToLocals(body: readonly Stmt[]): Stmt[] {
  const out = mapStmts(
    body,
    (e) =>
      mapExpr(e, (x) => {
        if (x.k !== "load" || x.buffer.kind !== "local") return x;
        if (x.index.terms.length || x.dynamic) throw new Error(`internal: small tensor ${x.buffer.name} read at a variable index`);
        return local(localElement(x.buffer, knownSize(x.index.c)));
      }),
    (s): Stmt => {
      if (s.k !== "store" || s.buffer.kind !== "local") return s;
      if (s.index.terms.length || s.dynamic) throw new Error(`internal: small tensor ${s.buffer.name} written at a variable index`);
      const name = localElement(s.buffer, knownSize(s.index.c));
      return s.op === "=" ? { k: "let", name, value: s.value } : { k: "assign", name, op: s.op, value: s.value };
    },
  );
  // A zero fill declares each element.
  return out.flatMap((s): Stmt[] => {
    if (s.k === "fill" && s.buffer.kind === "local") return Array.from({ length: knownSize(s.buffer.size) }, (_, k): Stmt => ({ k: "let", name: localElement(s.buffer, k), value: s.value, mutable: true }));
    return [s];
  });
}
