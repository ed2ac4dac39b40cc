// Small dense linear algebra for `solve`, `inv` and `det`: LU factorization with partial
// pivoting, and solves with the factors. One JavaScript source serves the generated modules
// (printed as helpers) and the compiler's own interpreter, so both compute the same values
// in the same order. A zero pivot leaves its column as it is (the entries below it are
// zeros, as the pivot is the largest), as LAPACK's getrf does, so `det` of a singular matrix
// is 0 or -0 (the zero matrix too, where 0 / 0 made NaN); solves then divide by that zero
// and give infinities or NaN, never a thrown error or a hang (the loops are bounded by n).

/** The helpers' source, as written into a generated module that uses them. */
export const LINALG_SOURCE: Record<"luFactor" | "luSolve" | "luDet", string> = {
  luFactor: [
    "function luFactor(a, lu, piv, sign, count, n) {",
    "  for (let s = 0; s < count; s++) {",
    "    const o = s * n * n;",
    "    for (let i = 0; i < n * n; i++) lu[o + i] = a[o + i];",
    "    let sg = 1;",
    "    for (let c = 0; c < n; c++) {",
    "      let p = c;",
    "      let best = Math.abs(lu[o + c * n + c]);",
    "      for (let r = c + 1; r < n; r++) {",
    "        const v = Math.abs(lu[o + r * n + c]);",
    "        if (v > best) { best = v; p = r; }",
    "      }",
    "      piv[s * n + c] = p;",
    "      if (p !== c) {",
    "        sg = -sg;",
    "        for (let j = 0; j < n; j++) { const t = lu[o + c * n + j]; lu[o + c * n + j] = lu[o + p * n + j]; lu[o + p * n + j] = t; }",
    "      }",
    "      const d = lu[o + c * n + c];",
    "      if (d === 0) continue;",
    "      for (let r = c + 1; r < n; r++) {",
    "        const f = lu[o + r * n + c] / d;",
    "        lu[o + r * n + c] = f;",
    "        for (let j = c + 1; j < n; j++) lu[o + r * n + j] -= f * lu[o + c * n + j];",
    "      }",
    "    }",
    "    sign[s] = sg;",
    "  }",
    "}",
  ].join("\n"),
  luSolve: [
    "function luSolve(lu, piv, b, x, count, n, k, transposed) {",
    "  for (let s = 0; s < count; s++) {",
    "    const o = s * n * n;",
    "    const bo = s * n * k;",
    "    for (let q = 0; q < k; q++) {",
    "      for (let i = 0; i < n; i++) x[bo + i * k + q] = b[bo + i * k + q];",
    "      if (!transposed) {",
    "        for (let c = 0; c < n; c++) {",
    "          const p = piv[s * n + c];",
    "          if (p !== c) { const t = x[bo + c * k + q]; x[bo + c * k + q] = x[bo + p * k + q]; x[bo + p * k + q] = t; }",
    "        }",
    "        for (let i = 0; i < n; i++) {",
    "          let t = x[bo + i * k + q];",
    "          for (let j = 0; j < i; j++) t -= lu[o + i * n + j] * x[bo + j * k + q];",
    "          x[bo + i * k + q] = t;",
    "        }",
    "        for (let i = n - 1; i >= 0; i--) {",
    "          let t = x[bo + i * k + q];",
    "          for (let j = i + 1; j < n; j++) t -= lu[o + i * n + j] * x[bo + j * k + q];",
    "          x[bo + i * k + q] = t / lu[o + i * n + i];",
    "        }",
    "      } else {",
    "        for (let i = 0; i < n; i++) {",
    "          let t = x[bo + i * k + q];",
    "          for (let j = 0; j < i; j++) t -= lu[o + j * n + i] * x[bo + j * k + q];",
    "          x[bo + i * k + q] = t / lu[o + i * n + i];",
    "        }",
    "        for (let i = n - 1; i >= 0; i--) {",
    "          let t = x[bo + i * k + q];",
    "          for (let j = i + 1; j < n; j++) t -= lu[o + j * n + i] * x[bo + j * k + q];",
    "          x[bo + i * k + q] = t;",
    "        }",
    "        for (let c = n - 1; c >= 0; c--) {",
    "          const p = piv[s * n + c];",
    "          if (p !== c) { const t = x[bo + c * k + q]; x[bo + c * k + q] = x[bo + p * k + q]; x[bo + p * k + q] = t; }",
    "        }",
    "      }",
    "    }",
    "  }",
    "}",
  ].join("\n"),
  luDet: [
    "function luDet(lu, sign, d, count, n) {",
    "  for (let s = 0; s < count; s++) {",
    "    let p = sign[s];",
    "    for (let i = 0; i < n; i++) p *= lu[s * n * n + i * n + i];",
    "    d[s] = p;",
    "  }",
    "}",
  ].join("\n"),
};

/** Their first lines in TypeScript, for typed modules. */
export const LINALG_SIGNATURE: Record<keyof typeof LINALG_SOURCE, string> = {
  luFactor: "function luFactor(a: ArrayLike<number>, lu: Float64Array, piv: Float64Array, sign: Float64Array, count: number, n: number): void {",
  luSolve: "function luSolve(lu: Float64Array, piv: Float64Array, b: ArrayLike<number>, x: Float64Array, count: number, n: number, k: number, transposed: boolean): void {",
  luDet: "function luDet(lu: Float64Array, sign: Float64Array, d: Float64Array, count: number, n: number): void {",
};

type Array64 = Float64Array;
interface Linalg {
  luFactor(a: ArrayLike<number>, lu: Array64, piv: Array64, sign: Array64, count: number, n: number): void;
  luSolve(lu: Array64, piv: Array64, b: ArrayLike<number>, x: Array64, count: number, n: number, k: number, transposed: boolean): void;
  luDet(lu: Array64, sign: Array64, d: Array64, count: number, n: number): void;
}

/** The same helpers, callable by the interpreter. */
export const linalg: Linalg = new Function(`${Object.values(LINALG_SOURCE).join("\n")}\nreturn { luFactor, luSolve, luDet };`)() as Linalg;

/** Factors of a stack of `count` matrices of `n` x `n`. */
export function factor(a: ArrayLike<number>, count: number, n: number): { lu: Float64Array; piv: Float64Array; sign: Float64Array } {
  const lu = new Float64Array(count * n * n);
  const piv = new Float64Array(count * n);
  const sign = new Float64Array(count);
  linalg.luFactor(a, lu, piv, sign, count, n);
  return { lu, piv, sign };
}
