// Parser and lexer tests as tables, one line per case: source in, an S-expression of the
// tree out (`(+ a (* b c))`), or source in, `line:col code message` of every diagnostic
// out. A table line is the cheapest test to read and to add; the few tests that are not
// tables check what tables cannot: spans, limits on size and nesting, random input.

import { describe, expect, it } from "vitest";
import { locate } from "../src/diagnostics.js";
import type { Expr, IndexItem, Span, Statement } from "../src/syntax/ast.js";
import { tokenize } from "../src/syntax/lexer.js";
import { parse } from "../src/syntax/parser.js";

// ---- printing ---------------------------------------------------------------------------

function sx(e: Expr): string {
  switch (e.kind) {
    case "number":
      return e.text;
    case "name":
      return e.name;
    case "unary":
      return `(${e.op} ${sx(e.operand)})`;
    case "binary":
      return `(${e.op} ${sx(e.left)} ${sx(e.right)})`;
    case "string":
      return JSON.stringify(e.value);
    case "call":
      return `(call ${[e.callee, ...e.args.map(sx), ...e.named.map((n) => `${n.name}=${sx(n.value)}`)].join(" ")})`;
    case "index":
      return `(index ${[sx(e.target), ...e.indices.map(sxItem)].join(" ")})`;
    case "array":
      return `[${e.elements.map(sx).join(" ")}]`;
    case "comprehension":
    case "generator":
      return `(${e.kind === "generator" ? "gen" : "comp"} ${e.variable} ${sx(e.from)} ${sx(e.to)} ${sx(e.body)})`;
  }
}

/** A slice is `(: from to step)`, `_` for a part left out. */
function sxItem(item: IndexItem): string {
  if (item.kind !== "slice") return sx(item);
  const part = (e: Expr | undefined) => (e ? sx(e) : "_");
  return `(: ${part(item.from)} ${part(item.to)} ${part(item.step)})`;
}

function sxStatement(s: Statement): string {
  switch (s.kind) {
    case "declare": {
      const item = (d: (typeof s.items)[number]) =>
        (d.dims.length ? `(${[d.name, ...d.dims.map(sx)].join(" ")})` : d.name) + (d.integer ? ":int" : "");
      return `(${s.role} ${s.items.map(item).join(" ")})`;
    }
    case "const":
      return `(const ${s.name} ${sx(s.value)})`;
    case "assign":
      return `(${s.output ? "output" : "="} ${s.name} ${sx(s.value)})`;
    case "export":
      return `(export ${s.name})`;
    case "def": {
      const grads = s.grads.map((g) => ` (grad ${g.name} ${sx(g.value)})`).join("");
      return `(def ${s.name} (${s.params.map((p) => p.name).join(" ")}) ${sx(s.body)}${grads})`;
    }
  }
}

/** The program as S-expressions; any diagnostic fails the case with its text. */
function program(source: string): string {
  const { program, diagnostics } = parse(source);
  expect(errors(source, diagnostics)).toBe("");
  return program.statements.map(sxStatement).join(" ");
}

/** One expression, parsed as the value of `x = ...`. */
function expression(source: string): string {
  const text = program(`x = ${source}`);
  expect(text.startsWith("(= x ")).toBe(true);
  return text.slice("(= x ".length, -1);
}

function errors(source: string, diagnostics = parse(source).diagnostics): string {
  return diagnostics
    .map((d) => {
      const { line, column } = locate(source, d.span.start);
      return `${line}:${column} ${d.code} ${d.message}`;
    })
    .join(" | ");
}

// ---- tables -------------------------------------------------------------------------------

const expressions: [string, string][] = [
  ["a + b * c", "(+ a (* b c))"],
  ["a * b + c", "(+ (* a b) c)"],
  ["a - b - c", "(- (- a b) c)"],
  ["a / b / c", "(/ (/ a b) c)"],
  ["a @ b * c % d", "(% (* (@ a b) c) d)"],
  ["a + b - c + d", "(+ (- (+ a b) c) d)"],
  ["a ^ b ^ c", "(^ a (^ b c))"],
  ["-x ^ 2", "(- (^ x 2))"],
  ["2 ^ -x", "(^ 2 (- x))"],
  ["2 ^ -x ^ 2", "(^ 2 (- (^ x 2)))"],
  ["-a * b", "(* (- a) b)"],
  ["a * -b", "(* a (- b))"],
  ["a - -b", "(- a (- b))"],
  ["- - x", "(- (- x))"],
  ["+x", "(+ x)"],
  ["-a[0] ^ 2", "(- (^ (index a 0) 2))"],
  ["a ^ b[0]", "(^ a (index b 0))"],
  ["x ^ i * 2", "(* (^ x i) 2)"],
  ["a < b + c", "(< a (+ b c))"],
  ["a + b == c * d", "(== (+ a b) (* c d))"],
  ["a <= b", "(<= a b)"],
  ["a >= b", "(>= a b)"],
  ["a > b", "(> a b)"],
  ["a != b", "(!= a b)"],
  ["(a < b) < c", "(< (< a b) c)"],
  ["a < (b < c)", "(< a (< b c))"],
  ["(a + b) * c", "(* (+ a b) c)"],
  ["(((a)))", "a"],
  ["f(x)", "(call f x)"],
  ["f()", "(call f)"],
  ["max(a, b)", "(call max a b)"],
  ["f(g(x), -y)", "(call f (call g x) (- y))"],
  ["f (x)", "(call f x)"],
  ["v[i]", "(index v i)"],
  ["M[i, j]", "(index M i j)"],
  ["M[i][j]", "(index (index M i) j)"],
  ["M[i + 1, (j - 1) % n]", "(index M (+ i 1) (% (- j 1) n))"],
  ["f(x)[0]", "(index (call f x) 0)"],
  ["(a + b)[0]", "(index (+ a b) 0)"],
  ["[1, 2][0]", "(index [1 2] 0)"],
  ["[1, 2, 3]", "[1 2 3]"],
  ["[[1, 2], [3, 4]]", "[[1 2] [3 4]]"],
  ["[1, 2,]", "[1 2]"],
  ["[x]", "[x]"],
  ["[x ^ i for i in 0..3]", "(comp i 0 3 (^ x i))"],
  ["[w[i] for i in 0..N-1]", "(comp i 0 (- N 1) (index w i))"],
  ["[i for i in a + 1 .. 2 * b]", "(comp i (+ a 1) (* 2 b) i)"],
  ["[[M[i, j] for j in 0..3] for i in 0..2]", "(comp i 0 2 (comp j 0 3 (index M i j)))"],
  ["sum(w[i]*x[i] for i in 0..3)", "(call sum (gen i 0 3 (* (index w i) (index x i))))"],
  ["max(v[i] for i in 1..n) + 1", "(+ (call max (gen i 1 n (index v i))) 1)"],
  ["sum([i for i in 0..3])", "(call sum (comp i 0 3 i))"],
  ["1.5 + .5 + 1. + 1e-3 + 2.5E+4", "(+ (+ (+ (+ 1.5 .5) 1.) 1e-3) 2.5E+4)"],
  ["1e999", "1e999"],
  ["constructor + __proto__ * Math", "(+ constructor (* __proto__ Math))"],
  ["delete(default, arguments) - eval", "(- (call delete default arguments) eval)"],
  ["(a +\n b) * [1,\n\n 2]", "(* (+ a b) [1 2])"],
  ["f(a, # the first\n  b)", "(call f a b)"],
  ["[1,\r\n 2]", "[1 2]"],
  // version 2: slices (`..` stays the range of comprehensions)
  ["x[1:]", "(index x (: 1 _ _))"],
  ["x[:-1]", "(index x (: _ (- 1) _))"],
  ["x[a:b]", "(index x (: a b _))"],
  ["x[a:b:s]", "(index x (: a b s))"],
  ["x[::2]", "(index x (: _ _ 2))"],
  ["x[1::3]", "(index x (: 1 _ 3))"],
  ["x[:]", "(index x (: _ _ _))"],
  ["x[::]", "(index x (: _ _ _))"],
  ["x[1:2:]", "(index x (: 1 2 _))"],
  ["x[:n:-1]", "(index x (: _ n (- 1)))"],
  ["M[:, j]", "(index M (: _ _ _) j)"],
  ["T[i, 1:3, :]", "(index T i (: 1 3 _) (: _ _ _))"],
  ["x[-1]", "(index x (- 1))"],
  ["x[i : i + 3]", "(index x (: i (+ i 3) _))"],
  ["x[(i - 1) % n : n]", "(index x (: (% (- i 1) n) n _))"],
  ["x[1:N][0]", "(index (index x (: 1 N _)) 0)"],
  ["x[f(a):g(b)]", "(index x (: (call f a) (call g b) _))"],
  ["p[1:] - p[:-1]", "(- (index p (: 1 _ _)) (index p (: _ (- 1) _)))"],
  ["[x[i:i+3] for i in 0..n-2]", "(comp i 0 (- n 2) (index x (: i (+ i 3) _)))"],
  ["x[1 :\n 2]", "(index x (: 1 2 _))"],
  // any number of indices
  ["M[1, 2, 3]", "(index M 1 2 3)"],
  ["T[0, 1, 2, 3, 4, 5, 6]", "(index T 0 1 2 3 4 5 6)"],
  // named arguments, after the positional ones; true and false are names
  ["sum(x, axis=1)", "(call sum x axis=1)"],
  ["sum(x, axis=[0, 2], keepdims=true)", "(call sum x axis=[0 2] keepdims=true)"],
  ["softmax(t, axis=-1)", "(call softmax t axis=(- 1))"],
  ["concat([a, b], axis=0)", "(call concat [a b] axis=0)"],
  ["x - mean(x, axis = -1, keepdims = false)", "(- x (call mean x axis=(- 1) keepdims=false))"],
  ["sum(X[i] for i in 0..n, axis=0)", "(call sum (gen i 0 n (index X i)) axis=0)"],
  ["stack([a, b])", "(call stack [a b])"],
  ["f(axis=1)", "(call f axis=1)"],
  ["f(a == b, c)", "(call f (== a b) c)"],
  ["f(a,\n  axis=1)", "(call f a axis=1)"],
  ["concat(\n  [a, b],\n  axis=0\n)", "(call concat [a b] axis=0)"],
  ["true + false", "(+ true false)"],
  // strings
  ["einsum(\"ij,jk->ik\", A, B)", "(call einsum \"ij,jk->ik\" A B)"],
  ["einsum(\"i, i ->\", a, b)", "(call einsum \"i, i ->\" a b)"],
  ["f(\"\")", "(call f \"\")"],
  ["f(\"a#b\") # a comment", "(call f \"a#b\")"],
  ["f(\"\\\")", "(call f \"\\\\\")"],
  ["f(\"\u00e9\u{1F600}\")", "(call f \"\u00e9\u{1F600}\")"],
  ["\"s\" + 1", "(+ \"s\" 1)"],
];

const programs: [string, string][] = [
  ["", ""],
  ["# only a comment", ""],
  ["input a, b[3], M[2, 3]", "(input a (b 3) (M 2 3))"],
  ["param w[N * 2], out", "(param (w (* N 2)) out)"],
  ["const N = 100", "(const N 100)"],
  ["const a = -0.5", "(const a (- 0.5))"],
  ["y = x + 1", "(= y (+ x 1))"],
  ["output f = x", "(output f x)"],
  ["output f", "(export f)"],
  ["def f(a, b) = a * b", "(def f (a b) (* a b))"],
  ["def g() = 1", "(def g () 1)"],
  ["def sig(z) = 1 / (1 + exp(-z))\ngrad z = out * (1 - out)", "(def sig (z) (/ 1 (+ 1 (call exp (- z)))) (grad z (* out (- 1 out))))"],
  ["def f(a, b) = a * b\ngrad a = b\ngrad b = a\ny = f(1, 2)", "(def f (a b) (* a b) (grad a b) (grad b a)) (= y (call f 1 2))"],
  ["def f(a) = a\n\n# its gradient:\ngrad a = 1", "(def f (a) a (grad a 1))"],
  ["def f(a) = a; grad a = 1", "(def f (a) a (grad a 1))"],
  ["a = 1; b = 2", "(= a 1) (= b 2)"],
  [";;a = 1;;", "(= a 1)"],
  ["a = 1;\n", "(= a 1)"],
  ["\n\n  a = 1  \n\n", "(= a 1)"],
  ["a = 1 # one\nb = 2 #two", "(= a 1) (= b 2)"],
  ["\uFEFFa = 1", "(= a 1)"],
  ["a = 1\r\nb = 2\r\n", "(= a 1) (= b 2)"],
  ["a = 1\r\n\r\n\tb = 2", "(= a 1) (= b 2)"],
  ["v = [1,\n  2,\n  3,\n]", "(= v [1 2 3])"],
  ["param delete, constructor, __proto__, Math, default, arguments, eval, out", "(param delete constructor __proto__ Math default arguments eval out)"],
  ["param sum\noutput s = sum(sum)", "(param sum) (output s (call sum sum))"],
  // version 2: dim, int, any rank
  ["dim N", "(dim N)"],
  ["dim N, M", "(dim N M)"],
  ["dim N\ninput X[N, 2]\noutput s = sum(X) / N", "(dim N) (input (X N 2)) (output s (/ (call sum X) N))"],
  ["a = 1; dim N", "(= a 1) (dim N)"],
  ["dim dim", "(dim dim)"],
  ["dim = 3", "(= dim 3)"],
  ["dim = dim + 1", "(= dim (+ dim 1))"],
  ["param dim", "(param dim)"],
  ["output dim", "(export dim)"],
  ["y = f(dim) * dim", "(= y (* (call f dim) dim))"],
  ["input y[N] int, x[N, 2]", "(input (y N):int (x N 2))"],
  ["input obs[P, 2] int", "(input (obs P 2):int)"],
  ["input n int", "(input n:int)"],
  ["input int", "(input int)"],
  ["input int int", "(input int:int)"],
  ["input x, int", "(input x int)"],
  ["input int[3] int, int2", "(input (int 3):int int2)"],
  ["param int", "(param int)"],
  ["int = 3\ny = int + 1", "(= int 3) (= y (+ int 1))"],
  ["param T[2, 3, 4]", "(param (T 2 3 4))"],
  ["param T[1, 2, 3, 4, 5, 6, 7]", "(param (T 1 2 3 4 5 6 7))"],
  ["param w[3]\nparam x[2]\noutput f = sigmoid(w[0]*x[0] + w[1]*x[1] + w[2])", "(param (w 3)) (param (x 2)) (output f (call sigmoid (+ (+ (* (index w 0) (index x 0)) (* (index w 1) (index x 1))) (index w 2))))"],
];

const errorCases: [string, string][] = [
  // lexical
  ["x = $", "1:5 E0101 unexpected character '$'"],
  ["x = a \u0000 b", "1:7 E0101 unexpected character U+0000"],
  ["x = \u00e9", "1:5 E0101 unexpected character '\u00e9' (U+00E9)"],
  ["x = 1 \u{1F600}", "1:7 E0101 unexpected character '\u{1F600}' (U+1F600)"],
  ["x = a\u00a0+ b", "1:6 E0101 unexpected character U+00A0"],
  ["x = 1\n\uFEFFy = 2", "2:1 E0101 unexpected character U+FEFF"],
  ["x = a ! b", "1:7 E0101 unexpected character '!'"],
  ["x = a . b", "1:7 E0101 unexpected character '.'"],
  ["x = 2x", "1:5 E0102 invalid number '2x'"],
  ["x = 1e + 2", "1:5 E0102 invalid number '1e'"],
  ["x = 3_000", "1:5 E0102 invalid number '3_000'"],
  // expressions
  ["x = )", "1:5 E0103 expected an expression, found ')'"],
  ["x = ", "1:5 E0103 expected an expression, found end of input"],
  ["x = 1 +\ny = 2", "1:8 E0103 expected an expression, found end of line"],
  ["x = []", "1:6 E0103 expected an expression, found ']': an array needs at least one element"],
  ["x = (a b)", "1:8 E0104 expected ')' to close '(', found 'b'"],
  ["x = [a b]", "1:8 E0104 expected ',' or ']' to close '[', found 'b'"],
  ["x = f(a b)", "1:9 E0104 expected ',' or ')' to close '(', found 'b'"],
  ["x = f(a,)", "1:9 E0103 expected an expression, found ')'"],
  ["x = a b", "1:7 E0116 expected the end of the statement (a newline or ';'), found 'b'"],
  ["x = a < b < c", "1:11 E0113 comparisons cannot be chained ('a < b < c'): add parentheses around the comparison before '<'"],
  ["x = a == b + 1 != c", "1:16 E0113 comparisons cannot be chained ('a < b < c'): add parentheses around the comparison before '!='"],
  ["x = (f)(y)", "1:8 E0117 only a function name can be called (write '*' to multiply)"],
  ["x = 2(y)", "1:6 E0117 only a function name can be called (write '*' to multiply)"],
  ["x = f(a)(b)", "1:9 E0117 only a function name can be called (write '*' to multiply)"],
  ["x = a ** 2", "1:7 E0121 '**' is not an operator: write 'a ^ b' for a power"],
  ["x = a**-b", "1:6 E0121 '**' is not an operator: write 'a ^ b' for a power"],
  ["x = a * * 2", "1:9 E0103 expected an expression, found '*'"],
  // strings
  ["x = \"ij", "1:5 E0120 a string must end on the line it starts: expected '\"' before the end of input"],
  ["x = f(\"ij\ny = 2", "1:7 E0120 a string must end on the line it starts: expected '\"' before the end of the line"],
  ["x = \"a\r\nb\"", "1:5 E0120 a string must end on the line it starts: expected '\"' before the end of the line | 2:2 E0120 a string must end on the line it starts: expected '\"' before the end of input"],
  // slices
  ["x = M[1:2:3:4]", "1:12 E0104 expected ',' or ']' to close '[', found ':'"],
  ["x = v[]", "1:7 E0103 expected an expression, found ']'"],
  ["x = v[1..3]", "1:8 E0112 unexpected '..' here: a range 'a..b' only follows 'for i in'"],
  ["x = v[1:", "1:6 E0105 '[' is never closed: expected ']' before the end of input"],
  ["x = a:b", "1:6 E0116 expected the end of the statement (a newline or ';'), found ':'"],
  ["x = f(a:b)", "1:8 E0104 expected ',' or ')' to close '(', found ':'"],
  ["x = [1:2]", "1:7 E0104 expected ',' or ']' to close '[', found ':'"],
  // named arguments
  ["x = sum(axis=1, x)", "1:17 E0122 a positional argument cannot follow the named argument 'axis': put positional arguments first"],
  ["x = sum(axis=0, x for i in 0..3)", "1:17 E0122 a positional argument cannot follow the named argument 'axis': put positional arguments first"],
  ["x = sum(x, axis=1, keepdims=true, axis=2)", "1:35 E0123 the argument 'axis' is given twice"],
  ["x = sum(a for i in 0..3, axis=0, b)", "1:32 E0110 a generator 'e for i in a..b' must be the only argument of the call"],
  ["x = f(x, axis=)", "1:15 E0103 expected an expression, found ')'"],
  ["x = f(x, axis=1,)", "1:17 E0103 expected an expression, found ')'"],
  ["x = f(1=2)", "1:8 E0104 expected ',' or ')' to close '(', found '='"],
  ["x = f(param=2)", "1:7 E0108 'param' is a keyword and cannot be a name"],
  // unclosed and unmatched brackets
  ["x = (a + b", "1:5 E0105 '(' is never closed: expected ')' before the end of input"],
  ["x = f(1, [2,", "1:10 E0105 '[' is never closed: expected ']' before the end of input"],
  ["x = [1, 2\ny = 3", "1:5 E0105 '[' is never closed: expected ']' before the next statement"],
  ["x = (1\ny = )\nz = 2", "1:5 E0105 '(' is never closed: expected ')' before the next statement | 2:5 E0103 expected an expression, found ')'"],
  ["def f(a, b\noutput y = 1", "1:6 E0105 '(' is never closed: expected ')' before the next statement"],
  ["x = a)", "1:6 E0106 unmatched ')': there is no '(' to close"],
  ["]", "1:1 E0106 unmatched ']': there is no '[' to close"],
  // generators, comprehensions, ranges
  ["x = sum(a, b for i in 0..3)", "1:14 E0110 a generator 'e for i in a..b' must be the only argument of the call"],
  ["x = sum(a for i in 0..3, b)", "1:24 E0110 a generator 'e for i in a..b' must be the only argument of the call"],
  ["x = (a for i in 0..3)", "1:8 E0110 unexpected 'for' here: 'e for i in a..b' goes inside '[ ]' or is the only argument of a call"],
  ["x = a for i in 0..3", "1:7 E0110 unexpected 'for' here: 'e for i in a..b' goes inside '[ ]' or is the only argument of a call"],
  ["x = [a for i in 0..3 for j in 0..2]", "1:22 E0110 unexpected 'for' here: 'e for i in a..b' goes inside '[ ]' or is the only argument of a call"],
  ["x = [a for i in 3]", "1:18 E0111 'in' expects a range 'a..b', found ']'"],
  ["x = [a for i 0..3]", "1:14 E0104 expected 'in' after 'for i', found '0'"],
  ["x = [a for 1 in 0..3]", "1:12 E0104 expected a loop variable after 'for', found '1'"],
  ["x = 0..3", "1:6 E0112 unexpected '..' here: a range 'a..b' only follows 'for i in'"],
  // statements
  ["3 = x", "1:1 E0115 expected a statement (input, param, const, output, def, or 'name = ...'), found '3'"],
  ["x + 1", "1:3 E0114 expected '=' after 'x', found '+'"],
  ["f(x)", "1:2 E0114 expected '=' after 'f', found '('"],
  ["const N 3", "1:9 E0114 expected '=' after 'const N', found '3'"],
  ["def f(a) a", "1:10 E0114 expected '=' after 'def f(a)', found 'a'"],
  ["def f = 1", "1:7 E0104 expected '(' and the parameters after 'def f', found '='"],
  ["def f(a, 1) = a", "1:10 E0104 expected a parameter name, found '1'"],
  ["input a b", "1:9 E0116 expected ',' between the declared names, found 'b'"],
  ["input a,", "1:9 E0104 expected a name to declare after 'input', found end of input"],
  // a named argument on a line of its own continues the call, also while recovering
  ["y = f(a, $,\n  axis=1)\nz = )", "1:10 E0101 unexpected character '$' | 3:5 E0103 expected an expression, found ')'"],
  ["y = f(a, b\nz = 3", "1:6 E0105 '(' is never closed: expected ')' before the next statement"],
  ["y = f(a,\nz = 3", "1:6 E0105 '(' is never closed: expected ')' before the end of input"],
  // dim and int
  ["dim N[3]", "1:6 E0124 'N' is a dim, a single size: it takes no shape ('dim N')"],
  ["dim N int", "1:7 E0125 'int' marks an integer input; a dim is a size and always an integer"],
  ["param w[3] int", "1:12 E0125 only inputs can be integer: params are differentiated"],
  ["param w int, v", "1:9 E0125 only inputs can be integer: params are differentiated"],
  ["dim N M", "1:7 E0116 expected ',' between the declared names, found 'M'"],
  ["dim N,", "1:7 E0104 expected a name to declare after 'dim', found end of input"],
  ["dim for", "1:5 E0108 'for' is a keyword and cannot be a name"],
  ["dim 3", "1:5 E0114 expected '=' after 'dim', found '3'"],
  ["input y int[3]", "1:12 E0125 'int' goes after the shape: write 'y[...] int'"],
  ["input y int int", "1:13 E0116 expected ',' between the declared names, found 'int'"],
  ["x = (1\ndim N\ny = )", "1:5 E0105 '(' is never closed: expected ')' before the next statement | 3:5 E0103 expected an expression, found ')'"],
  ["output", "1:7 E0104 expected a name after 'output', found end of input"],
  ["output y = ", "1:12 E0103 expected an expression, found end of input"],
  // keywords
  ["param for", "1:7 E0108 'for' is a keyword and cannot be a name"],
  ["in = 3", "1:1 E0108 'in' is a keyword and cannot be a name"],
  ["x = input + 1", "1:5 E0108 'input' is a keyword and cannot be a name"],
  ["def f(grad) = 1", "1:7 E0108 'grad' is a keyword and cannot be a name"],
  ["const def = 1", "1:7 E0108 'def' is a keyword and cannot be a name"],
  ["for", "1:1 E0110 unexpected 'for' here: 'e for i in a..b' goes inside '[ ]' or is the only argument of a call"],
  // grad lines
  ["grad a = 1", "1:1 E0109 a 'grad' line must directly follow the 'def' it belongs to"],
  ["def f(a) = a\nx = 1\ngrad a = 1", "3:1 E0109 a 'grad' line must directly follow the 'def' it belongs to"],
  ["def f(a) = \ngrad a = 1", "1:12 E0103 expected an expression, found end of line"],
  ["def f(a, b) = a\ngrad a = )\ngrad b = 1", "2:10 E0103 expected an expression, found ')'"],
  // several independent errors in one run, one per broken statement
  ["x = )\ny = 1 +\nz = 3", "1:5 E0103 expected an expression, found ')' | 2:8 E0103 expected an expression, found end of line"],
  ["a = 1 2; b = ); c = (", "1:7 E0116 expected the end of the statement (a newline or ';'), found '2' | 1:14 E0103 expected an expression, found ')' | 1:21 E0105 '(' is never closed: expected ')' before the end of input"],
  ["x = a $ b + + )\ny = 2 $", "1:7 E0101 unexpected character '$' | 2:7 E0101 unexpected character '$'"],
  ["x = (a; b)\ny = )", "1:7 E0104 expected ')' to close '(', found ';' | 2:5 E0103 expected an expression, found ')'"],
];

describe("expressions", () => {
  it.each(expressions)("%j", (source, tree) => {
    expect(expression(source)).toBe(tree);
  });
});

describe("programs", () => {
  it.each(programs)("%j", (source, tree) => {
    expect(program(source)).toBe(tree);
  });
});

describe("errors", () => {
  it.each(errorCases)("%j", (source, expected) => {
    expect(errors(source)).toBe(expected);
  });
});

// ---- lexer --------------------------------------------------------------------------------

const tokenCases: [string, string][] = [
  ["0..3", "number:0 punct:.. number:3"],
  ["0. ..3", "number:0. punct:.. number:3"],
  ["1.5 .5 1. 1e-3 2.5E+4 1.e5", "number:1.5 number:.5 number:1. number:1e-3 number:2.5E+4 number:1.e5"],
  ["a<=b>=c==d!=e", "name:a punct:<= name:b punct:>= name:c punct:== name:d punct:!= name:e"],
  ["x=-1^2%3@y/z*w", "name:x punct:= punct:- number:1 punct:^ number:2 punct:% number:3 punct:@ name:y punct:/ name:z punct:* name:w"],
  ["input param const output def grad for in inputs", "keyword:input keyword:param keyword:const keyword:output keyword:def keyword:grad keyword:for keyword:in name:inputs"],
  ["a # c\r\nb;c", "name:a newline:\n name:b punct:; name:c"],
  ["(a\nb)[\nc]\nd", "punct:( name:a name:b punct:) punct:[ name:c punct:] newline:\n name:d"],
  ["))\nx", "punct:) punct:) newline:\n name:x"],
  ["x[1:2]", "name:x punct:[ number:1 punct:: number:2 punct:]"],
  ["\"a b\" \"\" \"#\"x", "string:\"a b\" string:\"\" string:\"#\" name:x"],
  ["dim int true false", "name:dim name:int name:true name:false"],
  ["a**b", "name:a punct:* punct:* name:b"],
];

describe("lexer", () => {
  it.each(tokenCases)("%j", (source, expected) => {
    const { tokens, diagnostics } = tokenize(source);
    expect(diagnostics).toEqual([]);
    expect(tokens.slice(0, -1).map((t) => `${t.type}:${t.text}`).join(" ")).toBe(expected);
  });

  it("keeps the value of numbers, Infinity included", () => {
    const values = tokenize("12 1.5 .5 1. 1e-3 2.5E+4 1e999").tokens.filter((t) => t.type === "number").map((t) => t.value);
    expect(values).toEqual([12, 1.5, 0.5, 1, 0.001, 25000, Infinity]);
    expect(parse("x = 1e999").diagnostics).toEqual([]);
  });

  it("marks the token after a line feed skipped inside brackets", () => {
    const { tokens } = tokenize("(a\n b)");
    expect(tokens.map((t) => t.nlBefore)).toEqual([false, false, true, false, false]);
  });

  it("reports the first 100 bad characters and counts the rest", () => {
    const { diagnostics } = parse("x = " + "$".repeat(250));
    expect(diagnostics.length).toBe(101);
    expect(diagnostics[100].message).toBe("150 more unexpected characters not reported");
  });
});

// ---- spans --------------------------------------------------------------------------------

function text(source: string, span: Span): string {
  return source.slice(span.start, span.end);
}

/** Every node of a statement with its span, children inside their parent. */
function* nodes(e: Expr): Generator<Expr> {
  yield e;
  const children: Expr[] =
    e.kind === "unary" ? [e.operand]
    : e.kind === "binary" ? [e.left, e.right]
    : e.kind === "call" ? [...e.args, ...e.named.map((n) => n.value)]
    : e.kind === "index" ? [e.target, ...e.indices.flatMap((i) => (i.kind === "slice" ? [i.from, i.to, i.step].filter((p) => p !== undefined) : [i]))]
    : e.kind === "array" ? e.elements
    : e.kind === "comprehension" || e.kind === "generator" ? [e.body, e.from, e.to]
    : [];
  for (const c of children) {
    expect(c.span.start).toBeGreaterThanOrEqual(e.span.start);
    expect(c.span.end).toBeLessThanOrEqual(e.span.end);
    yield* nodes(c);
  }
}

describe("spans", () => {
  it("cover the source of each node", () => {
    const source = "y = (a+b)*c - -x^2 + M[i][j] + sum(w[i] for i in 0..3) + [k for k in 0..N-1]";
    const value = parse(source).program.statements[0];
    expect(value.kind).toBe("assign");
    if (value.kind !== "assign") return;
    const shown = [...nodes(value.value)].map((n) => text(source, n.span));
    expect(shown).toContain("(a+b)*c");
    expect(shown).toContain("a+b");
    expect(shown).toContain("-x^2");
    expect(shown).toContain("x^2");
    expect(shown).toContain("M[i][j]");
    expect(shown).toContain("M[i]");
    expect(shown).toContain("sum(w[i] for i in 0..3)");
    expect(shown).toContain("w[i] for i in 0..3");
    expect(shown).toContain("[k for k in 0..N-1]");
    expect(text(source, value.span)).toBe(source);
    expect(text(source, value.nameSpan)).toBe("y");
    const star = value.value.kind === "binary" ? value.value : undefined;
    expect(star && text(source, star.opSpan)).toBe("+");
  });

  it("of declarations, defs with their grad lines, and names", () => {
    const source = "param w, b[3]\ndef f(a, bb) = a*bb\ngrad a = bb\ngrad bb = a # done";
    const [declare, def] = parse(source).program.statements;
    if (declare.kind !== "declare" || def.kind !== "def") throw new Error("unexpected statements");
    expect(declare.items.map((d) => text(source, d.span))).toEqual(["w", "b[3]"]);
    expect(text(source, def.span)).toBe("def f(a, bb) = a*bb\ngrad a = bb\ngrad bb = a");
    expect(def.params.map((p) => text(source, p.span))).toEqual(["a", "bb"]);
    expect(def.grads.map((g) => text(source, g.nameSpan))).toEqual(["a", "bb"]);
    expect(text(source, def.nameSpan)).toBe("f");
  });
});

describe("spans of version 2 forms", () => {
  it("slices, named arguments and strings", () => {
    const source = 'y = T[i, 1:3, :][::2] + sum(x, axis = -1, keepdims=true) + einsum("ij->", A)';
    const value = parse(source).program.statements[0];
    if (value.kind !== "assign") throw new Error("unexpected statement");
    const all = [...nodes(value.value)];
    const shown = all.map((n) => text(source, n.span));
    expect(shown).toContain("T[i, 1:3, :][::2]");
    expect(shown).toContain('"ij->"');
    const index = all.find((n) => n.kind === "index" && n.target.kind === "index");
    if (index?.kind !== "index" || index.target.kind !== "index") throw new Error("no index");
    expect(index.indices.map((i) => text(source, i.span))).toEqual(["::2"]);
    expect(index.target.indices.map((i) => text(source, i.span))).toEqual(["i", "1:3", ":"]);
    const sum = all.find((n) => n.kind === "call" && n.callee === "sum");
    if (sum?.kind !== "call") throw new Error("no call");
    expect(text(source, sum.span)).toBe("sum(x, axis = -1, keepdims=true)");
    expect(sum.named.map((n) => [text(source, n.span), text(source, n.nameSpan), text(source, n.value.span)])).toEqual([
      ["axis = -1", "axis", "-1"],
      ["keepdims=true", "keepdims", "true"],
    ]);
    const string = all.find((n) => n.kind === "string");
    expect(string?.kind === "string" && string.value).toBe("ij->");
  });

  it("dim statements and integer inputs", () => {
    const source = "dim N, M # sizes\ninput y[N] int, x";
    const [dim, input] = parse(source).program.statements;
    if (dim.kind !== "declare" || input.kind !== "declare") throw new Error("unexpected statements");
    expect(text(source, dim.span)).toBe("dim N, M");
    expect(dim.items.map((d) => [text(source, d.span), d.dims.length, d.integer])).toEqual([["N", 0, undefined], ["M", 0, undefined]]);
    expect(input.items.map((d) => [text(source, d.span), d.integer])).toEqual([["y[N] int", true], ["x", undefined]]);
  });
});

// ---- limits -------------------------------------------------------------------------------

describe("limits", () => {
  const tooDeep = "E0107 expression nested too deeply (more than 256 levels)";
  const deep: [string, string, string][] = [
    ["parentheses", `x = ${"(".repeat(100000)}`, `1:261 ${tooDeep}`],
    ["closed parentheses", `x = ${"(".repeat(100000)}a${")".repeat(100000)}`, `1:261 ${tooDeep}`],
    ["unary minus", `x = ${"-".repeat(100000)}x`, `1:261 ${tooDeep}`],
    ["brackets", `x = ${"[".repeat(100000)}`, `1:261 ${tooDeep}`],
    ["calls", `x = ${"f(".repeat(100000)}`, `1:518 ${tooDeep}`],
    ["powers", `x = a${"^a".repeat(100000)}`, `1:518 ${tooDeep}`],
    ["index chains", `x = a${"[0]".repeat(100000)}`, `1:774 ${tooDeep}`],
  ];
  it.each(deep)("nesting: %s", (_, source, expected) => {
    expect(errors(source)).toBe(expected);
  });

  it("accepts 256 levels and recovers after too many", () => {
    expect(errors(`x = ${"(".repeat(256)}a${")".repeat(256)}`)).toBe("");
    const { program, diagnostics } = parse(`x = ${"(".repeat(100000)}\ny = 1\nz = 2`);
    expect(diagnostics.length).toBe(1);
    expect(program.statements.map(sxStatement).join(" ")).toBe("(= y 1) (= z 2)");
  });

  it("builds a 100 000-term sum as a left-deep tree", () => {
    const { program, diagnostics } = parse(`x = ${Array(100000).fill("a").join(" + ")}`);
    expect(diagnostics).toEqual([]);
    const s = program.statements[0];
    let e = s.kind === "assign" ? s.value : undefined;
    let terms = 1;
    let rightNames = 0;
    while (e?.kind === "binary") {
      if (e.right.kind === "name") rightNames++;
      e = e.left;
      terms++;
    }
    expect([terms, rightNames]).toEqual([100000, 99999]);
  });

  it("parses a 10 MB source", { timeout: 120_000 }, () => {
    const line = "y = sum(w[i] * x[i] for i in 0..3) + (a - b) ^ 2 / [1, 2][0] # comment\n";
    const source = line.repeat(Math.ceil(10_000_000 / line.length));
    const { program, diagnostics } = parse(source);
    expect(diagnostics).toEqual([]);
    expect(program.statements.length).toBe(Math.ceil(10_000_000 / line.length));
  });

  it("reads 100 000 index items, slices and named arguments in one pass", () => {
    const items = Array.from({ length: 100000 }, (_, i) => (i % 2 ? "1:-1:2" : "i")).join(", ");
    const named = Array.from({ length: 100000 }, (_, i) => `a${i}=${i}`).join(", ");
    const { program, diagnostics } = parse(`x = T[${items}]\ny = f(x, ${named})`);
    expect(diagnostics).toEqual([]);
    const [x, y] = program.statements;
    expect(x.kind === "assign" && x.value.kind === "index" && x.value.indices.length).toBe(100000);
    expect(y.kind === "assign" && y.value.kind === "call" && y.value.named.length).toBe(100000);
  });

  it("stops after 1000 diagnostics", () => {
    const { diagnostics } = parse("x = )\n".repeat(5000));
    expect(diagnostics.length).toBe(1001);
    expect(diagnostics[1000].code).toBe("E0119");
  });
});

// ---- random input -------------------------------------------------------------------------

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Parse must return (not throw), with diagnostics and statements inside the source. */
function checkNeverThrows(source: string): void {
  const { program, diagnostics } = parse(source);
  const bad = [
    ...diagnostics.filter((d) => d.message === "" || d.span.start < 0 || d.span.start > d.span.end || d.span.end > source.length),
    ...program.statements.filter((s) => s.span.start < 0 || s.span.end > source.length),
  ];
  if (bad.length > 0) expect({ source, bad }).toBeUndefined();
}

describe("random input never throws", () => {
  it("random bytes as latin1 and utf8", () => {
    const random = mulberry32(42);
    for (let n = 0; n < 300; n++) {
      const bytes = Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256)));
      checkNeverThrows(bytes.toString("latin1"));
      checkNeverThrows(bytes.toString("utf8"));
    }
  });

  it("random token soup", () => {
    const random = mulberry32(7);
    const vocabulary = [
      "input", "param", "const", "output", "def", "grad", "for", "in", "x", "f", "sum", "1", ".5", "2e3",
      "+", "-", "*", "/", "@", "%", "^", "<", "<=", ">", ">=", "==", "!=", "=", "(", ")", "[", "]", ",", "..",
      ";", "\n", "\r\n", "#", "$", "\u0000", "\uFEFF", ":", "\"", "dim", "int", "axis=", "**", "\"ij\"",
    ];
    for (let n = 0; n < 500; n++) {
      const length = Math.floor(random() * 60);
      const words = Array.from({ length }, () => vocabulary[Math.floor(random() * vocabulary.length)]);
      checkNeverThrows(words.join(random() < 0.5 ? " " : ""));
    }
  });
});
