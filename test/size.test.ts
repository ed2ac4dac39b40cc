// Sizes in run-time dims (ir/size.ts): equal sizes are the same value, arithmetic folds back
// to numbers, and range proofs hold for every value of the dims (each at least 1).

import { describe, expect, it } from "vitest";
import { addSize, ceilDivideSize, dimSize, divideSize, evaluateSize, formatSize, mulSize, productOf, provablyAtLeast, subSize } from "../src/ir/size.js";

const N = dimSize("N");
const M = dimSize("M");

describe("sizes in dims", () => {
  it("are interned: the same polynomial is the same value, however it was built", () => {
    expect(addSize(N, 1)).toBe(subSize(addSize(N, 3), 2));
    expect(mulSize(N, M)).toBe(mulSize(M, N));
    expect(addSize(mulSize(2, N), -1)).not.toBe(addSize(N, -1));
  });

  it("fold back to numbers when no dim is left", () => {
    expect(subSize(addSize(N, 5), N)).toBe(5);
    expect(mulSize(N, 0)).toBe(0);
    expect(productOf([2, 3, 4])).toBe(24);
  });

  it("evaluate and print in the user's terms", () => {
    const s = addSize(mulSize(mulSize(2, N), M), -1);
    expect(evaluateSize(s, { N: 3, M: 5 })).toBe(29);
    expect(formatSize(s)).toBe("2 * M * N - 1");
    expect(formatSize(subSize(N, 1))).toBe("N - 1");
    expect(formatSize(subSize(1, N))).toBe("-N + 1");
    expect(formatSize(N, (d) => "$" + d)).toBe("$N");
  });

  it("divide exactly or not at all", () => {
    expect(divideSize(mulSize(N, 6), 3)).toBe(mulSize(N, 2));
    expect(divideSize(addSize(mulSize(N, 6), 1), 3)).toBeUndefined();
  });

  it("round up a division when the rounding falls on the constant alone (slices with a step)", () => {
    const twoN = mulSize(N, 2);
    expect(ceilDivideSize(twoN, 2)).toBe(N); // x[::2] of [2 * N]
    expect(ceilDivideSize(subSize(twoN, 1), 2)).toBe(N); // x[1::2]
    expect(ceilDivideSize(subSize(twoN, 2), 2)).toBe(subSize(N, 1)); // x[1:-1:2]
    expect(ceilDivideSize(addSize(mulSize(N, 6), 4), 3)).toBe(addSize(mulSize(N, 2), 2));
    for (let n = 1; n <= 6; n++) expect(evaluateSize(ceilDivideSize(subSize(twoN, 1), 2)!, { N: n })).toBe(Math.ceil((2 * n - 1) / 2));
    expect(ceilDivideSize(N, 2)).toBeUndefined(); // ceil(N / 2)
    expect(ceilDivideSize(addSize(twoN, M), 2)).toBeUndefined();
    expect(ceilDivideSize(7, 2)).toBe(4);
  });

  it("prove bounds that hold for every N >= 1, and only those", () => {
    expect(provablyAtLeast(N, 1)).toBe(true);
    expect(provablyAtLeast(N, 2)).toBe(false); // N = 1
    expect(provablyAtLeast(subSize(N, 1), 0)).toBe(true);
    expect(provablyAtLeast(N, subSize(N, 1))).toBe(true);
    expect(provablyAtLeast(0, subSize(N, 1))).toBe(false);
    expect(provablyAtLeast(subSize(N, M), 0)).toBe(false);
    expect(provablyAtLeast(mulSize(N, 2), N)).toBe(true);
    expect(provablyAtLeast(addSize(mulSize(N, M), 1), 2)).toBe(true);
  });
});
