// The playground page: a CodeMirror editor for `.expr`, and panels that show what gradc
// makes of the program as it is typed: diagnostics underlined in place, the computational
// graph with values and gradients at editable inputs, the generated module and its
// operation counts, the gradient check, and the spiral case study training. The compiler
// and the training run in workers (compiler.worker.ts, trainer.worker.ts); this file only
// draws. The program and its input values live in the URL hash, so a link shares them.

import { EditorState } from "@codemirror/state";
import { EditorView, keymap, lineNumbers, highlightActiveLine, drawSelection } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap } from "@codemirror/commands";
import { bracketMatching, HighlightStyle, syntaxHighlighting } from "@codemirror/language";
import { linter, lintGutter, type Diagnostic } from "@codemirror/lint";
import { tags } from "@lezer/highlight";
import type { DiagnosticRecord } from "../../src/compile.js";
import { exprLanguage } from "./highlight.js";
import { PRESETS } from "./presets.js";
import { checkTable } from "./gradient-check.js";
import { makeSpiral, SPIRAL_SEED } from "../../examples/spiral/data.mjs";
import type { At, CheckReply, CompileReply, CompilerRequest, Emit, Envelope, GraphReply, TrainerProgress, TrainerReply, TrainerRequest } from "./protocol.js";
import "./style.css";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

// ---- the compiler worker, as promises -------------------------------------------------

const compiler = new Worker(new URL("./compiler.worker.ts", import.meta.url), { type: "module" });
let nextId = 1;
const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
compiler.onmessage = (event: MessageEvent<{ id: number; body?: unknown; error?: string }>) => {
  const p = pending.get(event.data.id);
  if (!p) return;
  pending.delete(event.data.id);
  if (event.data.error !== undefined) p.reject(new Error(event.data.error));
  else p.resolve(event.data.body);
};
function ask<T>(body: CompilerRequest): Promise<T> {
  const id = nextId++;
  return new Promise<T>((resolve, reject) => {
    pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
    compiler.postMessage({ id, body } satisfies Envelope<CompilerRequest>);
  });
}

// ---- state: the program's input values, and the URL hash -------------------------------

let at: At = {};
// Replies can overtake edits: only the newest compile and the newest drawing may update the panels.
let latestCompile = 0;
let latestGraph = 0;
let checked: string | undefined; // the source the gradient check's table is about
const CHECK_HINT = $("check-output").textContent ?? "";

function readHash(): { source?: string; at: At } {
  const params = new URLSearchParams(location.hash.slice(1));
  const values: At = {};
  for (const [k, v] of params) if (k.startsWith("at.")) values[k.slice(3)] = v.split(",").map(Number);
  return { source: params.get("src") ?? undefined, at: values };
}

function writeHash(source: string) {
  const params = new URLSearchParams();
  params.set("src", source);
  for (const [k, v] of Object.entries(at)) params.set(`at.${k}`, v.join(","));
  window.history.replaceState(null, "", `#${params.toString()}`);
  $<HTMLInputElement>("share-url").value = location.href;
}

// ---- diagnostics: gradc's records to CodeMirror ranges --------------------------------

/** The span of a record: its line and column (code points, from 1), as wide as its caret line. */
function toRange(doc: EditorState["doc"], d: DiagnosticRecord): { from: number; to: number } {
  const line = doc.line(Math.min(Math.max(1, d.line), doc.lines));
  const points = Array.from(line.text);
  const startPoint = Math.min(d.column - 1, points.length);
  const caret = /\^+$/.exec(d.text)?.[0].length ?? 1;
  const from = line.from + points.slice(0, startPoint).join("").length;
  const to = Math.min(line.to, from + points.slice(startPoint, startPoint + caret).join("").length);
  return { from, to };
}

function showDiagnostics(list: DiagnosticRecord[]) {
  $("diagnostics").textContent = list.map((d) => `${d.code} ${d.text}`).join("\n\n");
}

// ---- the panels ----------------------------------------------------------------------

function renderInputs(reply: CompileReply) {
  const form = $<HTMLFormElement>("inputs");
  const args = (reply.interface?.args ?? []).map((a) => ({ name: a.name, role: a.role, shape: a.shape }));
  const same = form.dataset.args === JSON.stringify(args);
  if (!same) {
    form.replaceChildren();
    for (const a of args) {
      const label = document.createElement("label");
      const shape = a.shape.length ? `[${a.shape.join(", ")}]` : "";
      label.textContent = `${a.role} ${a.name}${shape} = `;
      const input = document.createElement("input");
      input.name = a.name;
      input.className = a.role + (a.shape.length ? " wide" : "");
      input.setAttribute("aria-label", a.name);
      label.append(input);
      form.append(label);
    }
    form.dataset.args = JSON.stringify(args);
  }
  for (const input of form.querySelectorAll("input")) {
    const v = reply.at[input.name];
    if (v && document.activeElement !== input) input.value = v.join(", ");
  }
}

function renderGraph(reply: GraphReply) {
  const box = $("graph");
  if (reply.graph?.svg) box.innerHTML = reply.graph.svg;
  else {
    const note = document.createElement("p");
    note.className = "note";
    note.textContent = reply.graph?.note ?? "";
    box.replaceChildren(note);
  }
}

function renderCompiled(reply: CompileReply) {
  if (!reply.ok) return;
  const s = reply.stats!;
  $("stats").textContent = `${s.forwardOperations} operations forward, ${s.backwardOperations} backward (after CSE); form: ${s.emitted}; compiled in ${reply.ms.toFixed(1)} ms`;
  $("code").textContent = reply.code ?? "";
}

/** Marks the panels that show the last program that compiled, while the text has errors. */
function setStale(stale: boolean) {
  for (const id of ["inputs", "graph", "stats", "code"]) $(id).classList.toggle("stale", stale);
  document.body.dataset.state = stale ? "error" : "ok";
}

/** Draws the graph of `source` at the current values; the inputs show the values drawn. */
async function redraw(source: string): Promise<void> {
  const id = ++latestGraph;
  const reply = await ask<GraphReply>({ kind: "graph", source, at });
  if (id !== latestGraph || source !== view.state.doc.toString()) return;
  renderGraph(reply);
  writeHash(source);
  if (!document.body.dataset.ready) document.body.dataset.ready = String(Math.round(performance.now()));
}

/** Compiles `source`: diagnostics, code, stats and inputs at once, then the graph. */
let lastCompile: { key: string; reply: Promise<CompileReply> } | undefined;

async function update(source: string): Promise<CompileReply> {
  const id = ++latestCompile;
  const format = $<HTMLSelectElement>("format").value as "ts" | "js";
  const emit = $<HTMLSelectElement>("emit").value as Emit;
  // The page compiles once at start, without waiting for the linter's pause; the linter's
  // first run then asks for the same compile and gets the same reply.
  const key = JSON.stringify([source, format, emit, at]);
  if (lastCompile?.key !== key) lastCompile = { key, reply: ask<CompileReply>({ kind: "compile", source, format, emit, at }) };
  const reply = await lastCompile.reply;
  if (id !== latestCompile) return reply;
  showDiagnostics(reply.diagnostics);
  setStale(!reply.ok);
  if (!document.body.dataset.compiled) document.body.dataset.compiled = String(Math.round(performance.now()));
  if (checked !== undefined && checked !== source) {
    checked = undefined;
    $("check-output").className = "";
    $("check-output").textContent = CHECK_HINT;
  }
  if (reply.ok) {
    at = reply.at;
    renderInputs(reply);
    renderCompiled(reply);
    void redraw(source);
  }
  writeHash(source);
  return reply;
}

// ---- the editor --------------------------------------------------------------------------

const highlight = HighlightStyle.define([
  { tag: tags.comment, color: "#6a737d", fontStyle: "italic" },
  { tag: tags.keyword, color: "#a626a4", fontWeight: "bold" },
  { tag: tags.number, color: "#986801" },
  { tag: tags.definition(tags.variableName), color: "#0550ae", fontWeight: "bold" },
  { tag: tags.standard(tags.variableName), color: "#0b7285" },
  { tag: tags.function(tags.variableName), color: "#4078f2" },
  { tag: tags.self, color: "#c2185b" },
  { tag: tags.operator, color: "#555" },
]);

const lint = linter(
  async (view) => {
    const source = view.state.doc.toString();
    const reply = await update(source);
    if (view.state.doc.toString() !== source) return [];
    return reply.diagnostics.map((d): Diagnostic => ({ ...toRange(view.state.doc, d), severity: "error", message: d.text, source: d.code }));
  },
  { delay: 200 },
);

const fromHash = readHash();
const initial = fromHash.source !== undefined ? { source: fromHash.source, at: fromHash.at } : PRESETS[0];
at = { ...initial.at };

const view = new EditorView({
  parent: $("editor"),
  state: EditorState.create({
    doc: initial.source,
    extensions: [
      lineNumbers(),
      history(),
      drawSelection(),
      highlightActiveLine(),
      bracketMatching(),
      exprLanguage,
      syntaxHighlighting(highlight),
      lint,
      lintGutter(),
      keymap.of([...defaultKeymap, ...historyKeymap]),
    ],
  }),
});

document.body.dataset.editor = String(Math.round(performance.now()));
void update(initial.source);

function setSource(source: string) {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: source } });
}

const presetSelect = $<HTMLSelectElement>("preset");
for (const [i, p] of PRESETS.entries()) presetSelect.add(new Option(p.name, String(i)));
if (fromHash.source !== undefined) presetSelect.add(new Option("from the link", "link"), 0);
presetSelect.value = fromHash.source !== undefined ? "link" : "0";
presetSelect.onchange = () => {
  const p = PRESETS[Number(presetSelect.value)];
  if (!p) return;
  at = { ...p.at };
  setSource(p.source);
};

$<HTMLFormElement>("inputs").oninput = (event) => {
  const input = event.target as HTMLInputElement;
  const values = input.value.split(",").map((s) => s.trim());
  const numbers = values.map(Number);
  if (values.some((s) => s === "") || numbers.some((n) => !Number.isFinite(n))) {
    input.setCustomValidity("numbers separated by commas");
    return;
  }
  input.setCustomValidity("");
  at = { ...at, [input.name]: numbers };
  void redraw(view.state.doc.toString());
};
$<HTMLFormElement>("inputs").onsubmit = (event) => event.preventDefault();
$("emit").onchange = $("format").onchange = () => void update(view.state.doc.toString());

$("share").onclick = async () => {
  writeHash(view.state.doc.toString());
  $<HTMLInputElement>("share-url").select();
  await navigator.clipboard?.writeText(location.href).catch(() => undefined);
};

// ---- gradc check ----------------------------------------------------------------------------

$("check").onclick = async () => {
  const out = $("check-output");
  out.className = "";
  out.textContent = "checking...";
  const source = view.state.doc.toString();
  const reply = await ask<CheckReply>({ kind: "check", source, points: 3 });
  checked = source;
  if (reply.diagnostics.length) {
    out.className = "fail";
    out.textContent = "the program has errors: " + reply.diagnostics.map((d) => d.text).join("\n");
    return;
  }
  out.className = reply.ok ? "ok" : "fail";
  out.textContent = checkTable(reply.rows, reply.points, reply.threshold);
};

// ---- the spiral ---------------------------------------------------------------------------

const REGION_RGB = [[0xf6, 0xc4, 0xc0, 255], [0xc4, 0xe6, 0xc4, 255], [0xbc, 0xd6, 0xf2, 255]];
const POINT = ["#c62828", "#2e7d32", "#1565c0"];
let trainer: Worker | undefined;

/** The decision regions (when there are any yet) and the training points on top. */
function drawSpiral(p: Pick<TrainerProgress, "cells" | "extent" | "points"> & { regions?: Uint8Array }) {
  const canvas = $<HTMLCanvasElement>("spiral");
  const ctx = canvas.getContext("2d")!;
  const size = canvas.width;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, size, size);
  if (p.regions) {
    // One pixel per cell, scaled up unsmoothed: thousands of fillRect calls would hold the
    // main thread for tens of milliseconds on every redraw.
    const image = new ImageData(p.cells, p.cells);
    for (let k = 0; k < p.regions.length; k++) image.data.set(REGION_RGB[p.regions[k]], 4 * k);
    const cells = new OffscreenCanvas(p.cells, p.cells);
    cells.getContext("2d")!.putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(cells, 0, 0, size, size);
  }
  const px = (v: number) => ((v + p.extent) / (2 * p.extent)) * size;
  for (let i = 0; i < p.points.labels.length; i++) {
    ctx.beginPath();
    ctx.arc(px(p.points.X[2 * i]), size - px(p.points.X[2 * i + 1]), 3.5, 0, 2 * Math.PI);
    ctx.fillStyle = POINT[p.points.labels[i]];
    ctx.fill();
    ctx.strokeStyle = "#222";
    ctx.lineWidth = 0.5;
    ctx.stroke();
  }
}

{
  // The data before any training: the same points the trainer uses.
  const data = makeSpiral({ seed: SPIRAL_SEED });
  const extent = data.X.reduce((m: number, v: number) => Math.max(m, Math.abs(v)), 0) + 0.25;
  drawSpiral({ cells: 1, extent, points: { X: data.X, labels: data.labels } });
}

$("train").onclick = () => {
  trainer ??= new Worker(new URL("./trainer.worker.ts", import.meta.url), { type: "module" });
  const status = $("train-status");
  const stop = $<HTMLButtonElement>("train-stop");
  stop.disabled = false;
  trainer.onmessage = (event: MessageEvent<TrainerReply>) => {
    const m = event.data;
    if (m.kind === "error") {
      status.textContent = m.message;
      return;
    }
    drawSpiral(m);
    status.dataset.accuracy = String(m.accuracy);
    status.dataset.step = String(m.step);
    status.textContent = `step ${m.step} of ${m.steps}: loss ${m.loss.toFixed(4)}, training accuracy ${(100 * m.accuracy).toFixed(1)}% (${m.msPerStep.toFixed(2)} ms a step)${m.done ? ", done" : ""}`;
    if (m.done) stop.disabled = true;
  };
  const steps = Math.max(1, Math.min(100000, Math.floor(Number($<HTMLInputElement>("train-steps").value)) || 1));
  const model = $<HTMLSelectElement>("train-model").value as "softmax" | "twolayer";
  trainer.postMessage({ id: 0, body: { kind: "start", model, steps, stepSize: 1, reg: 1e-3, every: 25 } } satisfies Envelope<TrainerRequest>);
};
$("train-stop").onclick = () => {
  trainer?.postMessage({ id: 0, body: { kind: "stop" } } satisfies Envelope<TrainerRequest>);
  $<HTMLButtonElement>("train-stop").disabled = true;
};
