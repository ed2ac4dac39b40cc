// Every class of error of language.md, as a table: source in, `line:col message` of every
// diagnostic out, exactly (the text a user reads). Then the properties every diagnostic
// must have whatever the program: a stable code, the rendered text (file:line:col, the
// source line, a caret under the column), the same positions with CRLF line endings or a
// byte-order mark, columns in code points with a tab counting as one, several
// independent errors in one run and no follow-up errors. A few run through the CLI: exit
// status 1, the same text on stderr, no stack trace.

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile, type DiagnosticRecord } from "../src/compile.js";
import { ensureBuilt, gradc } from "./support/cli.js";

function diagnostics(source: string, filename = "t.expr"): DiagnosticRecord[] {
  const r = compile(source, { filename });
  if (r.ok) throw new Error(`expected errors, but the program compiled:\n${source}`);
  return r.diagnostics;
}

const brief = (ds: DiagnosticRecord[]) => ds.map((d) => `${d.line}:${d.column} ${d.message}`);

/** [what, source, every diagnostic as `line:col message`]. */
const CASES: [string, string, string[]][] = [
  // names
  ["unknown name, with a suggestion", "param weight\noutput f = wieght * 2", ["2:12 unknown name 'wieght' (did you mean 'weight'?)"]],
  ["unknown name, transposed letters", "param weight\noutput f = weigth * 2", ["2:12 unknown name 'weigth' (did you mean 'weight'?)"]],
  ["unknown name, nothing close", "param weight\noutput f = bias", ["2:12 unknown name 'bias'"]],
  ["unknown function, with a suggestion", "param x\noutput f = sigmoidd(x)", ["2:12 unknown function 'sigmoidd' (did you mean 'sigmoid'?)"]],
  ["unknown function, nothing close", "param x\noutput f = frobnicate(x)", ["2:12 unknown function 'frobnicate'"]],
  ["a value called as a function", "param x\noutput o = x(2)", ["2:12 'x' is a value, not a function"]],
  ["a function used as a value", "param x\noutput o = sum", ["2:12 'sum' is a function; call it with arguments, as in sum(x)"]],
  ["use before declaration", "output f = x\nparam x", ["1:12 'x' is used before its declaration (line 2)"]],
  ["use before declaration of a value", "param x\noutput f = y * 2\ny = x", ["2:12 'y' is used before its declaration (line 3)"]],
  ["exporting an unknown name", "param weight\noutput bias", ["2:8 unknown name 'bias'"]],
  // redeclaration
  ["redeclared param", "param x\nparam x\noutput f = x", ["2:7 'x' is already declared (line 1); names are bound once"]],
  ["param redeclared as input", "input x\nparam x\noutput f = x", ["2:7 'x' is already declared (line 1); names are bound once"]],
  ["reassigned value", "param x\nf = x\nf = x + 1\noutput f", ["3:1 'f' is already declared (line 2); names are bound once"]],
  ["output rebinding a param", "param x\noutput f = x\noutput x = 2", ["3:8 'x' is already declared (line 1); names are bound once"]],
  ["exporting twice", "param x\noutput x\noutput x", ["3:8 'x' is exported twice"]],
  ["exporting an output again", "param x\noutput f = exp(x)\noutput f", ["3:8 'f' is exported twice"]],
  ["no output", "param x\nparam y", ["2:1 the program has no 'output': declare at least one with 'output name = expression'"]],
  // shapes
  ["adding shapes [3] and [4]", "param a[3]\nparam b[4]\noutput f = sum(a + b)", ["3:18 cannot add shapes [3] and [4]: cannot broadcast shapes [3] and [4]"]],
  ["subtracting [2, 3] and [3, 2]", "param a[2, 3]\nparam b[3, 2]\noutput f = sum(a - b)", ["3:18 cannot subtract shapes [2, 3] and [3, 2]: cannot broadcast shapes [2, 3] and [3, 2]"]],
  ["multiplying [3] and [2]", "param a[3]\nparam b[2]\noutput f = sum(a * b)", ["3:18 cannot multiply shapes [3] and [2]: cannot broadcast shapes [3] and [2]"]],
  ["max of [3] and [2]", "param a[3]\nparam b[2]\noutput f = sum(max(a, b))", ["3:16 'max' cannot broadcast shapes [3] and [2]"]],
  ["dot of [3] and [2]", "param a[3]\nparam b[2]\noutput f = dot(a, b)", ["3:12 'dot' needs equal shapes, got [3] and [2]"]],
  ["matmul inner dimensions [2, 3] @ [2, 3]", "param A[2, 3]\nparam B[2, 3]\noutput f = sum(A @ B)", ["3:18 cannot multiply [2, 3] @ [2, 3]: inner dimensions 3 and 2 differ"]],
  ["matmul inner dimensions [2, 3] @ [2]", "param A[2, 3]\nparam b[2]\noutput f = sum(A @ b)", ["3:18 cannot multiply [2, 3] @ [2]: inner dimensions 3 and 2 differ"]],
  ["matmul inner dimensions [3] @ [2]", "param a[3]\nparam b[2]\noutput f = a @ b", ["3:14 cannot multiply [3] @ [2]: inner dimensions 3 and 2 differ"]],
  ["matmul of scalars", "param x\noutput f = x @ x", ["2:14 '@' multiplies vectors and matrices, got scalar @ scalar; use '*' to scale"]],
  ["softmax along an axis out of range", "param M[2, 2]\noutput f = sum(softmax(M, axis=2))", ["2:32 axis 2 is out of range for a tensor of rank 2"]],
  ["sum along a repeated axis", "param M[2, 3]\noutput o = sum(M, axis=[1, -1])", ["2:24 axis -1 is repeated"]],
  ["softmax of a scalar", "param x\noutput f = softmax(x)", ["2:20 'softmax' takes a tensor, got a scalar"]],
  ["transpose with a bad permutation", "param M[2, 3]\noutput f = sum(transpose(M, [0, 0]))", ["2:29 a permutation of the axes of [2, 3] lists each of 0..1 once, got [0, 0]"]],
  ["an unknown named argument", "param M[2, 3]\noutput f = sum(M, axes=1)", ["2:19 'sum' has no named argument 'axes' (did you mean 'axis'?)"]],
  ["broadcasting [2, 3] and [2]", "param M[2, 3], v[2]\noutput f = sum(M * v)", ["2:18 cannot multiply shapes [2, 3] and [2]: cannot broadcast shapes [2, 3] and [2]"]],
  // indices
  ["index out of range", "param w[3]\noutput f = w[3]", ["2:14 index 3 out of range for w[3]"]],
  ["negative index past the start", "param w[3]\noutput o = w[-4]", ["2:14 index -4 out of range for w[3]"]],
  ["slice out of range", "param x[10]\noutput o = sum(x[0:12])", ["2:18 slice 0:12 is out of range for x[10]"]],
  ["empty slice", "param x[10]\noutput o = sum(x[3:3])", ["2:18 slice 3:3 of x[10] is empty"]],
  ["index out of range through a const", "const N = 3\nparam w[N]\noutput o = w[N]", ["3:14 index 3 out of range for w[3]"]],
  ["index out of range in a comprehension", "param w[3]\noutput o = sum([w[i] for i in 0..4])", ["2:19 index 3 out of range for w[3]"]],
  ["matrix column out of range", "param M[2, 3]\noutput o = M[0, 3]", ["2:17 index 3 out of range for M[2, 3]"]],
  ["matrix row out of range", "param M[2, 3]\noutput o = M[2]", ["2:14 index 2 out of range for M[2, 3]"]],
  ["non-integer index", "param w[3]\noutput f = w[1.5]", ["2:14 an index must be an integer, got 1.5"]],
  ["non-integer index arithmetic", "param w[3]\noutput o = w[1 + 0.5]", ["2:14 an index must be an integer, got 1.5"]],
  ["index by a param", "param w[3]\nparam i\noutput f = w[i]", ["3:14 'i' is a param, not a compile-time constant"]],
  ["index by an input", "param w[3]\ninput k\noutput o = w[k]", ["3:14 'k' is an input, not a compile-time constant (declare it 'input k int' to index with it)"]],
  ["index by an element", "param w[3]\noutput o = w[w[0]]", ["2:14 an index must be known at compile time (numbers, consts, loop variables) or be elements of an integer input ('input y[N] int')"]],
  ["too many indices on a vector", "param w[3]\noutput f = w[0, 1]", ["2:17 too many indices: 'w' is [3]"]],
  ["too many indices on a matrix", "param M[2, 3]\noutput o = M[0, 0, 0]", ["2:20 too many indices: 'M' is [2, 3]"]],
  ["indexing a scalar", "param x\noutput f = x[0]", ["2:12 cannot index 'x', a scalar"]],
  // compile-time values
  ["% on a param", "param x\noutput f = x % 2", ["2:14 '%' is only for compile-time integers (index arithmetic)"]],
  ["% by zero", "param w[3]\noutput o = w[5 % 0]", ["2:16 '%' by zero"]],
  // language.md: '%' only between compile-time integers; a fraction on the left was accepted (2.5 % 1 gave 0.5).
  // It compiled to the elementwise maximum, the axis silently ignored.
  ["an axis for the elementwise max of two arguments", "param a[2, 3]\noutput f = max(a, a, axis=0)", ["2:22 'max' of two arguments is elementwise and takes no named arguments; to reduce one tensor along an axis, write max(t, axis=k)"]],
  // NumPy pairs two arrays of indices element by element; these gave every combination ([2, 2], [3, 3]).
  ["two arrays of indices known at compile time", "param t[3, 3]\noutput f = t[[0, 1], [1, 2]]", ["2:22 only one array of indices per index: NumPy would pair the arrays element by element, so pick the pairs in a comprehension, as in [t[a[i], b[i]] for i in 0..n]"]],
  ["two integer inputs as arrays of indices", "input y[3] int\nparam t[3, 3]\noutput f = t[y, y]", ["3:17 only one array of indices per index: NumPy would pair the arrays element by element, so pick the pairs in a comprehension, as in [t[a[i], b[i]] for i in 0..n]"]],
  ["% of a fraction", "param x\noutput f = 2.5 % 1 + x", ["2:16 '%' is only for compile-time integers (index arithmetic)"]],
  ["% of a fractional const by a loop variable", "const a = 2.5\nparam x\noutput f = sum([x * (a % i) for i in 1..4])", ["3:24 '%' is only for compile-time integers (index arithmetic)"]],
  ["const that is not finite", "const N = 1 / 0\noutput o = 1", ["1:11 a const must be a finite number, got Infinity"]],
  ["number too large", "param x\noutput o = 1e999 * x", ["2:12 the number 1e999 is too large to represent"]],
  // dimensions
  ["dimension 0", "param w[0]\noutput f = 1", ["1:9 a dimension must be a positive integer, got 0"]],
  ["dimension 2.5", "param w[2.5]\noutput f = 1", ["1:9 a dimension must be a positive integer, got 2.5"]],
  ["dimension 0 in a matrix", "param x[2, 0]\noutput o = 1", ["1:12 a dimension must be a positive integer, got 0"]],
  ["dimension -1", "param x[-1]\noutput o = 1", ["1:9 a dimension must be a positive integer, got -1"]],
  ["dimension from a fractional const", "const N = 2.5\nparam w[N]\noutput o = 1", ["2:9 a dimension must be a positive integer, got 2.5"]],
  ["a tensor past a Float64Array", "param W[100000, 100000]\noutput f = sum(W)", ["1:7 'W' has 10,000,000,000 elements; a tensor can have at most 4,294,967,296 (the most a Float64Array holds)"]],
  ["params past one gradient buffer", "param W[60000, 60000], V[60000, 60000]\noutput f = sum(W) + sum(V)", ["1:24 the params have 7,200,000,000 elements in all with 'V'; their gradients share one Float64Array of at most 4,294,967,296"]],
  // arrays and ranges
  ["ragged array literal", "output f = sum([[1, 2], [3]])", ["1:25 array elements must all have the same shape: [2] and [1]"]],
  ["array of a scalar and a vector", "param x\noutput o = [x, [x, x]]", ["2:16 array elements must all have the same shape: scalar and [2]"]],
  ["empty array", "param x\noutput o = []", ["2:13 expected an expression, found ']': an array needs at least one element"]],
  ["empty range 3..3", "output f = sum([i for i in 3..3])", ["1:16 the range 3..3 is empty ('a..b' runs from a up to b - 1)"]],
  ["empty range 2..0", "param x\noutput o = [x for i in 2..0]", ["2:12 the range 2..0 is empty ('a..b' runs from a up to b - 1)"]],
  ["non-integer range bound", "param x\noutput o = sum(x for i in 0..2.5)", ["2:30 a range bound must be an integer, got 2.5"]],
  ["range bound from a param", "param x\noutput o = sum(x for i in 0..x)", ["2:30 'x' is a param, not a compile-time constant"]],
  ["a range too long to unroll (no hang)", "param x\noutput f = sum(x for i in 0..100000000)", ["2:16 the range 0..100000000 is too long"]],
  // generators
  ["generator outside a reduction: exp", "param w[3]\noutput f = exp(w[i] for i in 0..3)", ["2:16 a generator 'e for i in a..b' can only be the argument of sum, prod, max, min, mean, norm or logsumexp"]],
  ["generator outside a reduction: dot", "param w[3]\noutput f = dot(w[i] for i in 0..3)", ["2:16 a generator 'e for i in a..b' can only be the argument of sum, prod, max, min, mean, norm or logsumexp"]],
  ["generator in parentheses", "param w[3]\noutput v = (w[i] for i in 0..3)", ["2:18 unexpected 'for' here: 'e for i in a..b' goes inside '[ ]' or is the only argument of a call"]],
  // argument counts
  ["exp with two arguments", "param x\noutput f = exp(x, x)", ["2:12 'exp' takes 1 argument, got 2"]],
  ["pow with one argument", "param x\noutput f = pow(x)", ["2:12 'pow' takes 2 arguments, got 1"]],
  ["where with two arguments", "param x\noutput o = where(x, x)", ["2:12 'where' takes 3 arguments, got 2"]],
  ["atan2 with one argument", "param x\noutput o = atan2(x)", ["2:12 'atan2' takes 2 arguments, got 1"]],
  ["max with three arguments", "param x\noutput o = max(x, x, x)", ["2:12 'max' takes one argument (reduce) or two (elementwise), got 3"]],
  ["sum with two arguments", "param x\noutput o = sum(x, x)", ["2:12 'sum' takes 1 argument, got 2; an axis is a named argument: sum(x, axis=x)"]],
  ["sum with none", "param x\noutput o = sum()", ["2:12 'sum' takes 1 argument, got 0"]],
  ["softmax with two arguments", "param x\noutput o = softmax(x, x)", ["2:12 'softmax' takes 1 argument, got 2; an axis is a named argument: softmax(x, axis=x)"]],
  ["a def with the wrong argument count", "def g(a, b) = a * b\nparam x\noutput f = g(x)", ["3:12 'g' takes 2 arguments, got 1"]],
  // defs and gates
  ["a def named like a built-in", "def sum(x) = x\nparam a\noutput f = sum(a)", ["1:5 'sum' is a built-in function and cannot be redefined"]],
  ["a def named like a built-in, never called", "def sigmoid(z) = 1 / (1 + exp(-z))\nparam a\noutput f = a", ["1:5 'sigmoid' is a built-in function and cannot be redefined"]],
  ["a def defined twice", "def f(x) = x\ndef f(y) = y\nparam a\noutput o = f(a)", ["2:5 function 'f' is already defined (line 1)"]],
  ["a gate argument named out", "def g(out) = out * 2\ngrad out = 1\nparam a\noutput f = a", ["1:7 a gate cannot name an argument 'out': in its 'grad' lines 'out' is the gate's value"]],
  ["a missing grad line points at the def", "def g(a, b) = a * b\ngrad a = b\nparam x\noutput f = x", ["1:5 gate 'g' has no 'grad' line for 'b': a gate needs one for every argument"]],
  // The body's direct read of x is lost even though x is also the argument: f(x) = x^2 had gradient x, not 2x.
  ["a gate reading a param that is also its argument", "param x\ndef f(a) = a * x\ngrad a = x\noutput o = f(x)", ["2:5 gate 'f' reads the param 'x' directly, so backward would give it no gradient; pass it as an argument with its own 'grad' line"]],
  ["a gate reading a tensor param that is also its argument", "param x[3]\ndef f(a) = a * x\ngrad a = x\noutput o = sum(f(x))", ["2:5 gate 'f' reads the param 'x' directly, so backward would give it no gradient; pass it as an argument with its own 'grad' line"]],
  ["a tensor local gradient for a scalar argument and a scalar gate", "def f(a) = a\ngrad a = [1, 2]\nparam x\noutput o = f(x)", ["2:10 the local gradient of 'a' is [2] but 'a' and the gate's value are scalars here"]],
  ["a grad line for a non-parameter", "def f(x) = x\ngrad y = 1\nparam a\noutput o = a", ["2:6 'y' is not a parameter of 'f' (did you mean 'x'?)"]],
  ["two grad lines for one argument", "def f(x) = x\ngrad x = 1\ngrad x = 2\nparam a\noutput o = a", ["3:6 'f' has two 'grad' lines for 'x'"]],
  ["a grad line without a def", "param x\ngrad x = 1\noutput f = x", ["2:1 a 'grad' line must directly follow the 'def' it belongs to"]],
  ["an unknown name in a def that is never called", "def f(x) = y\nparam a\noutput o = a", ["1:12 unknown name 'y'"]],
  // syntax
  ["chained comparison a < b < c", "param a\nparam b\nparam c\noutput f = a < b < c", ["4:18 comparisons cannot be chained ('a < b < c'): add parentheses around the comparison before '<'"]],
  ["chained comparison x < y == 1", "param x\nparam y\noutput o = x < y == 1", ["3:18 comparisons cannot be chained ('a < b < c'): add parentheses around the comparison before '=='"]],
  ["a missing operand", "param x\noutput f = x +* 2", ["2:15 expected an expression, found '*'"]],
  ["an expression cut short", "param x\noutput f = x ^ ", ["2:16 expected an expression, found end of input"]],
  ["an unclosed parenthesis", "param x\noutput f = (x", ["2:12 '(' is never closed: expected ')' before the end of input"]],
  ["an unmatched parenthesis", "param x\noutput f = x)", ["2:13 unmatched ')': there is no '(' to close"]],
  ["a number run into a name", "param x\noutput f = 2x", ["2:12 invalid number '2x'"]],
  ["an unexpected character", "param x\noutput f = x + $", ["2:16 unexpected character '$'"]],
  ["a keyword as a name", "param for\noutput o = 1", ["1:7 'for' is a keyword and cannot be a name"]],
  ["output without a name", "param x\noutput = x", ["2:8 expected a name after 'output', found '='"]],
  // several independent errors
  [
    "several independent errors in one run",
    "param x\noutput f = y\noutput g = sigmoidd(x)\noutput h = x[0]\nparam w[3]\noutput k = w[3]",
    [
      "2:12 unknown name 'y'",
      "3:12 unknown function 'sigmoidd' (did you mean 'sigmoid'?)",
      "4:12 cannot index 'x', a scalar",
      "6:14 index 3 out of range for w[3]",
    ],
  ],
  // Independent errors in one expression: each operand is checked even after one fails.
  ["two unknown names in one expression", "param x\noutput f = y + z", ["2:12 unknown name 'y'", "2:16 unknown name 'z'"]],
  ["an index out of range and an unknown name in one sum", "param w[3]\noutput f = w[3] * 2 + q", ["2:14 index 3 out of range for w[3]", "2:23 unknown name 'q'"]],
  ["a shape error and an unknown name around it", "param a[3]\nparam b[4]\noutput f = (a + b) * q", ["3:15 cannot add shapes [3] and [4]: cannot broadcast shapes [3] and [4]", "3:22 unknown name 'q'"]],
  ["unknown names and functions among a call's arguments", "param x\noutput f = max(y, sigmoidd(x)) * z", ["2:16 unknown name 'y'", "2:19 unknown function 'sigmoidd' (did you mean 'sigmoid'?)", "2:34 unknown name 'z'"]],
  ["unknown names in a def body, in source order", "def g(a) = [a * y for i in 0..q] + frob(w)\nparam x\noutput f = x", ["1:17 unknown name 'y'", "1:31 unknown name 'q'", "1:36 unknown function 'frob'", "1:41 unknown name 'w'"]],
  ["several syntax errors in one run", "param x\noutput f = x +* 2\noutput g = (x\noutput h = x $ 1", ["2:15 expected an expression, found '*'", "3:12 '(' is never closed: expected ')' before the next statement", "4:14 unexpected character '$'"]],
  // positions
  ["a tab counts as one column", "param x\n\toutput f = y", ["2:13 unknown name 'y'"]],
  ["a tab inside the line", "param x\noutput f =\tx + y", ["2:16 unknown name 'y'"]],
  ["columns count code points: an emoji is one column", "param x\noutput f = \u{1F600} + $", ["2:12 unexpected character '\u{1F600}' (U+1F600)", "2:16 unexpected character '$'"]],
  ["an emoji in a comment does not move later lines", "param x # \u{1F600}\u{1F600}\noutput f = x + y # \u00e9", ["2:16 unknown name 'y'"]],
];

describe("each error class: position and message", () => {
  it.each(CASES)("%s", (_, source, expected) => {
    const ds = diagnostics(source);
    expect(brief(ds)).toEqual(expected);
    for (const d of ds) {
      expect(d.code).toMatch(/^E\d{4}$/);
      expect(d.file).toBe("t.expr");
    }
  });

  it.each(CASES)("%s: the same positions with CRLF line endings", (_, source, expected) => {
    expect(brief(diagnostics(source.replace(/\n/g, "\r\n")))).toEqual(expected);
  });

  it.each(CASES)("%s: the same positions after a byte-order mark", (_, source, expected) => {
    expect(brief(diagnostics("\uFEFF" + source))).toEqual(expected);
  });

  it.each(CASES)("%s: the rendered text is file:line:col, the source line and a caret", (_, source) => {
    for (const d of diagnostics(source, "dir/prog.expr")) {
      const [head, echo, caret, ...rest] = d.text.split("\n");
      expect(rest).toEqual([]);
      expect(head).toBe(`dir/prog.expr:${d.line}:${d.column}: error: ${d.message}`);
      const line = Array.from(source.split("\n")[d.line - 1]);
      // The line is echoed after two spaces (tabs shown as spaces), the caret under the column.
      expect(echo).toBe("  " + line.map((c) => (c === "\t" ? " " : c)).join(""));
      expect(caret).toMatch(/^ *\^+$/);
      expect(caret.indexOf("^")).toBe(2 + d.column - 1);
      expect(d.text).not.toMatch(/\n\s+at /);
    }
  });
});

describe("exact rendered text", () => {
  it("an unknown function", () => {
    const [d] = diagnostics("param x\noutput f = sigmoidd(x)");
    expect(d.text).toBe(["t.expr:2:12: error: unknown function 'sigmoidd' (did you mean 'sigmoid'?)", "  output f = sigmoidd(x)", "             ^^^^^^^^"].join("\n"));
  });

  it("a shape mismatch, caret under the operator", () => {
    const [d] = diagnostics("param a[3]\nparam b[4]\noutput f = sum(a + b)");
    expect(d.text).toBe(["t.expr:3:18: error: cannot add shapes [3] and [4]: cannot broadcast shapes [3] and [4]", "  output f = sum(a + b)", "                   ^"].join("\n"));
  });

  it("a tab in the line is shown as a space so the caret lines up", () => {
    const [d] = diagnostics("param x\n\toutput f = y");
    expect(d.text).toBe(["t.expr:2:13: error: unknown name 'y'", "   output f = y", "              ^"].join("\n"));
  });

  it("CRLF: no carriage return in the echoed line", () => {
    const [d] = diagnostics("param x\r\noutput f = y\r\n");
    expect(d.text).not.toContain("\r");
  });
});

describe("no follow-up errors: one mistake, one diagnostic", () => {
  // Each of these has a single mistake; whatever the compiler does with the broken
  // statement afterwards, it must not report a second, misleading error (an empty message,
  // "used before its declaration" of a name declared earlier, "unknown function" for a def
  // that exists, or the same error twice).
  it.each([
    ["a const depending on a param", "param p\nconst c = p * 2\noutput f = p", "2:11 'p' is a param, not a compile-time constant"],
    ["a const depending on an input", "input p\nconst c = p + 1\noutput f = p", "2:11 'p' is an input, not a compile-time constant"],
    ["a const depending on a param, then used", "param p\nconst c = p * 2\noutput f = c", "2:11 'p' is a param, not a compile-time constant"],
    ["a non-finite const, then used", "const N = 1 / 0\noutput o = N", "1:11 a const must be a finite number, got Infinity"],
    ["an unknown name in a dimension", "param x[N]\noutput o = 1", "1:9 unknown name 'N'"],
    ["a bad dimension, then the param used", "param w[0]\noutput f = sum(w)", "1:9 a dimension must be a positive integer, got 0"],
    ["a fractional dimension, then the param used", "param w[2.5]\noutput f = sum(w)", "1:9 a dimension must be a positive integer, got 2.5"],
    ["a gate argument named out, then called", "def g(out) = out * 2\ngrad out = 1\nparam a\noutput f = g(a)", "1:7 a gate cannot name an argument 'out': in its 'grad' lines 'out' is the gate's value"],
    ["a gate with a missing grad line, then called", "def g(a, b) = a * b\ngrad a = b\nparam x\noutput f = g(x, x)", "1:5 gate 'g' has no 'grad' line for 'b': a gate needs one for every argument"],
    ["a def with two parameters of one name, then called", "def f(x, x) = x\nparam a\noutput o = f(a, a)", "1:10 'f' has two parameters named 'x'"],
    ["an unknown name in a def body, then called", "def f(x) = y\nparam a\noutput o = f(a)", "1:12 unknown name 'y'"],
    ["an unknown name in a grad line, then called", "def f(x) = x\ngrad x = y\nparam a\noutput o = f(a)", "2:10 unknown name 'y'"],
  ])("%s", (_, source, expected) => {
    expect(brief(diagnostics(source))).toEqual([expected]);
  });

  it("no diagnostic has an empty message", () => {
    for (const source of ["param p\nconst c = p * 2\noutput f = c", "param x[N]\noutput o = 1", "param x[y]\noutput o = 1"]) {
      for (const d of diagnostics(source)) expect(d.message, `${JSON.stringify(source)} at ${d.line}:${d.column}`).not.toBe("");
    }
  });
});

describe("messages that name the situation", () => {
  it("a def called before its definition says so, with the line", () => {
    // The name exists, so 'unknown function' misleads; values get "used before its declaration (line N)".
    const ds = diagnostics("param x\noutput o = g(x)\ndef g(z) = z");
    expect(ds).toHaveLength(1);
    expect(`${ds[0].line}:${ds[0].column}`).toBe("2:12");
    expect(ds[0].message).toMatch(/'g' is used before its definition/);
    expect(ds[0].message).toMatch(/line 3/);
  });
});

describe("through the CLI", () => {
  let dir: string;
  beforeAll(() => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), "gradc-errors-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = (name: string, source: string, command = "compile") => {
    writeFileSync(join(dir, name), source);
    return gradc(command === "compile" ? ["compile", name, "-o", "out.mjs"] : [command, name], { cwd: dir });
  };

  it.each([
    ["unknown.expr", "param x\noutput f = sigmoidd(x)\n"],
    ["shapes.expr", "param a[3]\nparam b[4]\noutput f = sum(a + b)\n"],
    ["syntax.expr", "param x\noutput f = (x\n"],
    ["crlf.expr", "param w[3]\r\noutput f = w[3]\r\n"],
    ["gate.expr", "def g(a, b) = a * b\ngrad a = b\nparam x\noutput f = x\n"],
  ])("compile %s: exit 1, the compiler's diagnostics on stderr, no stack trace", (name, source) => {
    const r = run(name, source);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    const expected = compile(source, { filename: name }) as { ok: false; diagnostics: DiagnosticRecord[] };
    expect(expected.ok).toBe(false);
    expect(r.stderr.startsWith(expected.diagnostics.map((d) => d.text).join("\n") + "\n")).toBe(true);
    expect(r.stderr).toMatch(new RegExp(`^${name.replace(".", "\\.")}:\\d+:\\d+: error: `));
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.stderr).not.toMatch(/internal error/);
  });

  it("the exact stderr of a program with two errors", () => {
    const r = run("two.expr", "param x\noutput f = y\noutput g = sigmoidd(x)\n");
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      [
        "two.expr:2:12: error: unknown name 'y'",
        "  output f = y",
        "             ^",
        "two.expr:3:12: error: unknown function 'sigmoidd' (did you mean 'sigmoid'?)",
        "  output g = sigmoidd(x)",
        "             ^^^^^^^^",
        "2 errors",
        "",
      ].join("\n"),
    );
  });

  it("check on a program with errors: exit 1, diagnostics, no stack trace", () => {
    const r = run("bad-check.expr", "param x\noutput f = x[0]\n", "check");
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("bad-check.expr:2:12: error: cannot index 'x', a scalar");
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it("a file that is not UTF-8: exit 1 with a position, no stack trace", () => {
    writeFileSync(join(dir, "latin1.expr"), Buffer.from("param x\noutput f = x # caf\xe9\n", "latin1"));
    const r = gradc(["compile", "latin1.expr", "-o", "out.mjs"], { cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^latin1\.expr:2:\d+: error: .*UTF-8/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });

  it("a missing file: exit 1, a one-line message, no stack trace", () => {
    const r = gradc(["compile", "no-such-file.expr", "-o", "out.mjs"], { cwd: dir });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no-such-file\.expr/);
    expect(r.stderr).not.toMatch(/^\s+at /m);
  });
});

// A JavaScript caller has no type checker: `format: "mjs"` gave JavaScript silently, and a
// source that is not a string failed inside the lexer ("reading 'charCodeAt'").
describe("the library's options: a caller's mistake is a TypeError naming it", () => {
  it.each([
    ["format", { format: "mjs" }, `compile: option 'format' must be "ts" or "js", got "mjs"`],
    ["emit", { emit: "straight" }, `compile: option 'emit' must be "auto" or "unrolled" or "loops" or "tape", got "straight"`],
    ["checks", { checks: "no" }, `compile: option 'checks' must be true or false, got "no"`],
    ["objective", { objective: 5 }, "compile: option 'objective' must be a string, got 5"],
    ["filename", { filename: 3 }, "compile: option 'filename' must be a string, got 3"],
    ["options", null, "compile: the options must be an object, got null"],
  ])("%s", (_, options, message) => {
    expect(() => compile("param x\noutput f = x", options as never)).toThrow(new TypeError(message));
  });
  it("a source that is not a string", () => {
    expect(() => compile(undefined as never)).toThrow(new TypeError("compile: the source must be a string, got undefined"));
  });
  it("options left out, or given as undefined, take their defaults", () => {
    expect(compile("param x\noutput f = x").ok).toBe(true);
    expect(compile("param x\noutput f = x", { format: undefined, emit: undefined, checks: undefined, objective: undefined, filename: undefined }).ok).toBe(true);
  });
});
