// Parser and lexer tests as tables, one line per case: source in, an S-expression of the
// tree out (`(+ a (* b c))`), or source in, `line:col code message` of every diagnostic
// out. A table line is the cheapest test to read and to add; the few tests that are not
// tables check what tables cannot: spans, limits on size and nesting, random input.

import { describe, expect, it } from "vitest";
import { locate } from "../src/diagnostics.js";
import type { Expr, Span, Statement } from "../src/syntax/ast.js";
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
    case "call":
      return `(call ${[e.callee, ...e.args.map(sx)].join(" ")})`;
    case "index":
      return `(index ${[e.target, ...e.indices].map(sx).join(" ")})`;
    case "array":
      return `[${e.elements.map(sx).join(" ")}]`;
    case "comprehension":
    case "generator":
      return `(${e.kind === "generator" ? "gen" : "comp"} ${e.variable} ${sx(e.from)} ${sx(e.to)} ${sx(e.body)})`;
  }
}

function sxStatement(s: Statement): string {
  switch (s.kind) {
    case "declare":
      return `(${s.role} ${s.items.map((d) => (d.dims.length ? `(${[d.name, ...d.dims.map(sx)].join(" ")})` : d.name)).join(" ")})`;
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
  ["x = M[1, 2, 3]", "1:13 E0118 too many indices: index a vector as v[i] and a matrix as M[i, j] or M[i]"],
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
  ["input M[2, 3, 4]", "1:15 E0118 too many dimensions: a declaration is a scalar, a vector [n] or a matrix [m, n]"],
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
    : e.kind === "call" ? e.args
    : e.kind === "index" ? [e.target, ...e.indices]
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
      ";", "\n", "\r\n", "#", "$", "\u0000", "\uFEFF",
    ];
    for (let n = 0; n < 500; n++) {
      const length = Math.floor(random() * 60);
      const words = Array.from({ length }, () => vocabulary[Math.floor(random() * vocabulary.length)]);
      checkNeverThrows(words.join(random() < 0.5 ? " " : ""));
    }
  });
});
