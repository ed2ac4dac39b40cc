// `gradc graph` (src/cli/graph.ts): the DOT of the CS231n circuit and sigmoid neuron carries
// the lecture's values and gradients on its edges, gates are one node, constants fold into
// labels, missing --at values are pseudo-random and said so, the output is deterministic,
// and the SVG rendered by @viz-js/viz is well-formed XML with the same labels.

import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { analyze } from "../src/compile.js";
import { buildDot, checkAt, formatNumber, renderSvg, summarize } from "../src/cli/graph.js";

function program(source: string) {
  const analyzed = analyze(source, "test.expr");
  if (!analyzed.program) throw new Error(analyzed.diagnostics.map((d) => d.text).join("\n"));
  return analyzed.program;
}

const dotOf = (source: string, at?: Record<string, number[]>) => buildDot(program(source), at && new Map(Object.entries(at)));

interface Edge {
  from: string;
  to: string;
  value?: string;
  gradient?: string;
}

/** Node labels (by DOT id) and edges (with their green and red lines) of buildDot's output. */
function parseDot(dot: string) {
  const labels = new Map<string, string>();
  const edges: Edge[] = [];
  for (const line of dot.split("\n")) {
    const edge = /^ {2}(\w+) -> (\w+)(?: \[label=<(.*)>\])?;$/.exec(line);
    if (edge) {
      const value = /<font color="#008000">([^<]*)<\/font>/.exec(edge[3] ?? "")?.[1];
      const gradient = /<font color="#d00000">([^<]*)<\/font>/.exec(edge[3] ?? "")?.[1];
      edges.push({ from: labels.get(edge[1])!, to: labels.get(edge[2])!, value, gradient });
      continue;
    }
    const node = /^ {2}(\w+) \[label=(?:"((?:[^"\\]|\\.)*)"|<<b>(.*)<\/b>>)/.exec(line);
    if (node) labels.set(node[1], node[2] ?? `output ${node[3]}`);
  }
  return { labels: [...labels.values()], edges };
}

const CIRCUIT = "param x\nparam y\nparam z\nq = x + y\noutput f = q * z\n";
const CIRCUIT_AT = { x: [-2], y: [5], z: [-4] };
const NEURON = "param w[3]\nparam x[2]\noutput f = sigmoid(w[0]*x[0] + w[1]*x[1] + w[2])\n";
const NEURON_AT = { w: [2, -3, -3], x: [-1, -2] };

const CIRCUIT_DOT = `digraph gradc {
  graph [rankdir=LR, fontname="Helvetica", fontsize=11, labelloc=b, label=<values in <font color="#008000">green</font>, gradients of f in <font color="#d00000">red</font>>];
  node [fontname="Helvetica", fontsize=12];
  edge [fontname="Helvetica", fontsize=10];
  n0 [label="x", shape=box, style="rounded,filled", fillcolor="#fff4c2"];
  n1 [label="y", shape=box, style="rounded,filled", fillcolor="#fff4c2"];
  n2 [label="z", shape=box, style="rounded,filled", fillcolor="#fff4c2"];
  n3 [label="+", shape=circle];
  n4 [label="*", shape=circle];
  { rank=source; n0; n1; n2; }
  o0 [label=<<b>f</b>>, shape=plaintext];
  n0 -> n3 [label=<<font color="#008000">-2</font><br/><font color="#d00000">-4</font>>];
  n1 -> n3 [label=<<font color="#008000">5</font><br/><font color="#d00000">-4</font>>];
  n2 -> n4 [label=<<font color="#008000">-4</font><br/><font color="#d00000">3</font>>];
  n3 -> n4 [label=<<font color="#008000">3</font><br/><font color="#d00000">-4</font>>];
  n4 -> o0 [label=<<font color="#008000">-12</font><br/><font color="#d00000">1</font>>];
}
`;

/** Minimal XML well-formedness: balanced, properly nested tags under one root; returns the root's name. */
function xmlRoot(text: string): string {
  const body = text
    .replace(/^<\?xml[^?]*\?>/, "")
    .replace(/<!DOCTYPE[^>]*>/, "")
    .replace(/<!--[\s\S]*?-->/g, "");
  const tag = /<(\/?)([A-Za-z_][\w:.-]*)((?:\s+[\w:.-]+\s*=\s*(?:"[^"<]*"|'[^'<]*'))*)\s*(\/?)>/g;
  const stack: string[] = [];
  let root = "";
  let last = 0;
  for (let m = tag.exec(body); m; m = tag.exec(body)) {
    const between = body.slice(last, m.index);
    if (between.includes("<") || between.includes(">")) throw new Error(`stray markup before offset ${m.index}: ${between.slice(0, 80)}`);
    if (/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(between)) throw new Error(`bad entity near offset ${m.index}`);
    if (stack.length === 0 && between.trim()) throw new Error("text outside the root element");
    last = tag.lastIndex;
    const [, closing, name, , selfClosing] = m;
    if (closing) {
      if (stack.pop() !== name) throw new Error(`</${name}> does not close the open element`);
    } else {
      if (stack.length === 0) {
        if (root) throw new Error("more than one root element");
        root = name;
      }
      if (!selfClosing) stack.push(name);
    }
  }
  if (stack.length) throw new Error(`unclosed <${stack[stack.length - 1]}>`);
  if (body.slice(last).trim()) throw new Error("text after the root element");
  return root;
}

const decodeEntities = (s: string): string =>
  s.replace(/&#(\d+);/g, (_, d: string) => String.fromCharCode(Number(d))).replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&amp;/g, "&");

describe("the CS231n circuit f = (x + y) z", () => {
  test("the DOT, byte for byte", () => {
    expect(dotOf(CIRCUIT, CIRCUIT_AT)).toBe(CIRCUIT_DOT);
  });

  test("nodes x, y, z, +, * and the output f; values and gradients of the lecture on the edges", () => {
    const { labels, edges } = parseDot(dotOf(CIRCUIT, CIRCUIT_AT));
    expect(labels).toEqual(["x", "y", "z", "+", "*", "output f"]);
    expect(edges).toEqual([
      { from: "x", to: "+", value: "-2", gradient: "-4" },
      { from: "y", to: "+", value: "5", gradient: "-4" },
      { from: "z", to: "*", value: "-4", gradient: "3" },
      { from: "+", to: "*", value: "3", gradient: "-4" },
      { from: "*", to: "output f", value: "-12", gradient: "1" },
    ]);
  });

  test("deterministic: the same text from a fresh analysis and from the same program again", () => {
    const p = program(CIRCUIT);
    const at = new Map(Object.entries(CIRCUIT_AT));
    expect(buildDot(p, at)).toBe(CIRCUIT_DOT);
    expect(buildDot(p, at)).toBe(CIRCUIT_DOT);
  });

  test("the SVG is well-formed, rooted at <svg>, with the same labels, and deterministic", async () => {
    const svg = await renderSvg(CIRCUIT_DOT);
    expect(xmlRoot(svg)).toBe("svg");
    const texts = [...svg.matchAll(/<text([^>]*)>([^<]*)<\/text>/g)].map((m) => ({
      text: decodeEntities(m[2]),
      y: Number(/ y="([-\d.]+)"/.exec(m[1])![1]),
      fill: / fill="([^"]*)"/.exec(m[1])?.[1],
    }));
    for (const label of ["x", "y", "z", "+", "*", "f", "-2", "5", "-4", "3", "-12", "1"]) expect(texts.map((t) => t.text)).toContain(label);
    // The last edge: -12 in green above 1 in red.
    const value = texts.find((t) => t.text === "-12")!;
    const gradient = texts.find((t) => t.text === "1")!;
    expect([value.fill, gradient.fill]).toEqual(["#008000", "#d00000"]);
    expect(value.y).toBeLessThan(gradient.y);
    expect(await renderSvg(CIRCUIT_DOT)).toBe(svg);
  });
});

describe("the sigmoid neuron", () => {
  const expectNeuronEdges = (edges: Edge[], activation: string) => {
    const find = (from: string, to: string) => edges.filter((e) => e.from === from && e.to === to);
    expect(find(activation, "output f")).toEqual([{ from: activation, to: "output f", value: "0.7311", gradient: "1" }]);
    expect(find("+", activation)).toEqual([{ from: "+", to: activation, value: "1", gradient: "0.1966" }]);
    const into = (element: string) => edges.find((e) => e.from === element)!;
    expect([into("w[0]"), into("x[0]"), into("w[1]"), into("x[1]"), into("w[2]")].map((e) => [e.value, e.gradient])).toEqual([
      ["2", "-0.1966"],
      ["-1", "0.3932"],
      ["-3", "-0.3932"],
      ["-2", "-0.5898"],
      ["-3", "0.1966"],
    ]);
    // w -> w[0]: the element's own edge carries the numbers.
    expect(find("w [3]", "w[0]")).toEqual([{ from: "w [3]", to: "w[0]", value: undefined, gradient: undefined }]);
  };

  test("built-in sigmoid: one sigmoid node, 0.7311 out, 0.1966 in", () => {
    const { labels, edges } = parseDot(dotOf(NEURON, NEURON_AT));
    expect(labels).toEqual(["w [3]", "x [2]", "w[0]", "x[0]", "*", "w[1]", "x[1]", "*", "+", "w[2]", "+", "sigmoid", "output f"]);
    expectNeuronEdges(edges, "sigmoid");
  });

  test("as a gate: one node named after its def, the body and the local gradient not drawn", () => {
    const source = "def sig(z) = 1 / (1 + exp(-z))\ngrad z = out * (1 - out)\n" + NEURON.replace("sigmoid(", "sig(");
    const { labels, edges } = parseDot(dotOf(source, NEURON_AT));
    expect(labels.filter((l) => l === "sig")).toHaveLength(1);
    expect(labels.some((l) => /exp|neg|\//.test(l))).toBe(false);
    expectNeuronEdges(edges, "sig");
  });

  test("through a def's body: every node of the sigmoid, constants in the labels", () => {
    const source = "def sig(z) = 1 / (1 + exp(-z))\n" + NEURON.replace("sigmoid(", "sig(");
    const { labels, edges } = parseDot(dotOf(source, NEURON_AT));
    expect(labels.slice(-5)).toEqual(["neg", "exp", "+ 1", "1 / ·", "output f"]);
    expect(edges.find((e) => e.from === "exp")).toEqual({ from: "exp", to: "+ 1", value: "0.3679", gradient: "-0.5344" });
    expect(edges.find((e) => e.from === "1 / ·")).toEqual({ from: "1 / ·", to: "output f", value: "0.7311", gradient: "1" });
  });
});

describe("values without --at, inputs, constants, tensors", () => {
  test("missing --at values are pseudo-random (deterministic), said so in the label, and no gradients are drawn", () => {
    const dot = dotOf(CIRCUIT, { x: [-2] });
    expect(dot).toContain("pseudo-random values for y, z (not given by --at): gradients not drawn");
    expect(dot).not.toContain("#d00000");
    expect(dotOf(CIRCUIT, { x: [-2] })).toBe(dot);
    expect(dotOf(CIRCUIT)).toContain("pseudo-random values for x, y, z");
  });

  test("inputs get values but no gradient; scalar constants fold into labels; constant tensors are one node", () => {
    const { labels, edges } = parseDot(dotOf("input x[3]\nparam w\noutput f = sum(2 * x * w - [1, 2, 3])\n", { x: [1, 2, 3], w: [0.5] }));
    expect(labels).toEqual(["x [3]", "w", "* 2", "*", "[3] 1, 2, 3", "-", "sum", "output f"]);
    expect(edges.find((e) => e.from === "x [3]")).toEqual({ from: "x [3]", to: "* 2", value: "[3] 1, 2, 3", gradient: undefined });
    expect(edges.find((e) => e.from === "w")).toEqual({ from: "w", to: "*", value: "0.5", gradient: "12" });
    expect(edges.find((e) => e.from === "[3] 1, 2, 3")).toEqual({ from: "[3] 1, 2, 3", to: "-", value: "[3] 1, 2, 3", gradient: undefined });
  });

  test("tensors: shapes and summaries; matrix rows, transposes and matmul", async () => {
    const source = readFileSync("examples/cs231n/twolayer.expr", "utf8");
    const at = { x: [0.5, -0.2], y: [0, 1, 0], reg: [0.001], W1: Array.from({ length: 200 }, (_, i) => Math.sin(i)), b1: new Array(100).fill(0.01), W2: Array.from({ length: 300 }, (_, i) => Math.cos(i) / 10), b2: [0, 0, 0] };
    const dot = dotOf(source, at);
    const { labels, edges } = parseDot(dot);
    expect(labels).toContain("W1 [100,2]");
    expect(labels).toContain("@");
    expect(labels).toContain("relu");
    expect(labels).toEqual(expect.arrayContaining(["max", "exp", "log"])); // log_softmax, shifted by its maximum
    const w1 = edges.find((e) => e.from === "W1 [100,2]")!;
    expect(w1.value).toMatch(/^\[100,2\] mean -?[\d.e-]+, \|max\| 1$/);
    expect(w1.gradient).toMatch(/^\[100,2\] mean /);
    expect(xmlRoot(await renderSvg(dot))).toBe("svg");
    const { labels: l2 } = parseDot(dotOf("param M[2,3]\noutput f = sum(M[1]) + transpose(M)[2, 0] + sum(transpose(M) @ [1, 2])\n", { M: [1, 2, 3, 4, 5, 6] }));
    expect(l2).toEqual(expect.arrayContaining(["M [2,3]", "M[1]", "M[0, 2]", "transpose", "@", "[2] 1, 2"]));
  });

  test("several outputs: gradients of the first scalar one", () => {
    const { edges } = parseDot(dotOf("param a\nparam b\noutput v = [a, b] * 3\noutput s = a * b\n", { a: [2], b: [5] }));
    expect(edges.filter((e) => e.to.startsWith("output"))).toEqual([
      { from: "* 3", to: "output v", value: "[2] 6, 15", gradient: "[2] 0, 0" },
      { from: "*", to: "output s", value: "10", gradient: "1" },
    ]);
    expect(edges.find((e) => e.from === "a" && e.to === "*")).toEqual({ from: "a", to: "*", value: "2", gradient: "5" });
  });

  test("--at checks: unknown names and wrong lengths", () => {
    const p = program(NEURON);
    expect(checkAt(p, new Map([["w", [1, 2, 3]]]))).toBeUndefined();
    expect(checkAt(p, new Map([["q", [1]]]))).toBe("--at q: the program has no input or param 'q'");
    expect(checkAt(p, new Map([["w", [1, 2]]]))).toBe("--at w: 'w' is [3] and needs 3 values, got 2");
    expect(() => buildDot(p, new Map([["x", [1]]]))).toThrow(RangeError);
  });

  // The interpreter threw on these, which gradc graph reported as an internal error (exit 70).
  test("--at checks: an integer input's values are whole, and in range where they index", () => {
    const p = program("dim N\ninput y[N] int\ninput k int\nparam W[N, 3]\noutput f = sum([W[i, y[i]] for i in 0..N]) * k");
    expect(checkAt(p, new Map([["y", [2, 0]], ["k", [25]]]))).toBeUndefined();
    expect(checkAt(p, new Map([["y", [0, 3]]]))).toBe("--at y: the integer input indexes an axis of 3, so its values are in 0..2, got 3");
    expect(checkAt(p, new Map([["y", [0, -1]]]))).toBe("--at y: the integer input indexes an axis of 3, so its values are in 0..2, got -1");
    expect(checkAt(p, new Map([["y", [0, 1.5]]]))).toBe("--at y: an integer input takes whole numbers, got 1.5");
    expect(checkAt(p, new Map([["k", [0.5]]]))).toBe("--at k: an integer input takes whole numbers, got 0.5");
    expect(() => buildDot(p, new Map([["y", [0, 3]]]))).toThrow(RangeError);
  });
});

describe("number formatting", () => {
  test("up to 4 significant digits", () => {
    const cases: [number, string][] = [
      [0.7310585786300049, "0.7311"], [-0.19661193324148185, "-0.1966"], [-12, "-12"], [3, "3"], [0, "0"], [-0, "0"],
      [1234567, "1.235e6"], [1e-7, "1e-7"], [-2.5e-5, "-2.5e-5"], [99999, "1e5"], [12345, "12350"], [0.0001234, "0.0001234"],
      [NaN, "NaN"], [Infinity, "inf"], [-Infinity, "-inf"],
    ];
    for (const [v, text] of cases) expect(formatNumber(v), String(v)).toBe(text);
  });

  test("tensor summaries", () => {
    expect(summarize([], [2.5])).toBe("2.5");
    expect(summarize([3], [0.1, -2, 3])).toBe("[3] 0.1, -2, 3");
    expect(summarize([2, 2], [1, 2, 3, 4])).toBe("[2,2] 1, 2, 3, 4");
    expect(summarize([100], Array.from({ length: 100 }, (_, i) => (i === 7 ? -2.3 : 0.01)))).toBe("[100] mean -0.0131, |max| 2.3");
  });
});

describe("integer inputs", () => {
  test("made-up values of an integer input are whole numbers in range of what it indexes", () => {
    const dot = dotOf("input X[4, 3]\ninput y[4] int\noutput o = sum([X[i, y[i]] for i in 0..4])");
    const values = /n\d+ -> n\d+ \[label=<<font color="#008000">\[4\] ([\d, ]+)<\/font>>\]/.exec(dot.slice(dot.indexOf('"y [4]"')));
    expect(values, dot).not.toBeNull();
    for (const v of values![1].split(", ").map(Number)) expect(Number.isInteger(v) && v >= 0 && v < 3).toBe(true);
  });
});
