// The messages between the page and its two workers. The compiler runs only in workers, so
// typing, drawing and training never wait for it on the main thread.

import type { CompileStats, DiagnosticRecord, ModuleInterface } from "../../src/compile.js";

export type Emit = "auto" | "unrolled" | "loops" | "tape";
/** Argument values by name, flat and row-major, as `gradc graph --at` takes them. */
export type At = Record<string, number[]>;

export type CompilerRequest =
  | { kind: "compile"; source: string; format: "ts" | "js"; emit: Emit; at: At }
  | { kind: "graph"; source: string; at: At }
  | { kind: "check"; source: string; points: number };

export interface GraphResult {
  /** SVG text, or why there is none. */
  svg?: string;
  note?: string;
}

export interface CompileReply {
  ok: boolean;
  diagnostics: DiagnosticRecord[];
  code?: string;
  stats?: CompileStats;
  interface?: ModuleInterface;
  /** The values for the graph: `at` where it fits the program, defaults elsewhere. */
  at: At;
  /** Milliseconds spent compiling. */
  ms: number;
}

export interface GraphReply {
  /** The values the graph was drawn at, as in CompileReply. */
  at: At;
  graph: GraphResult;
}

export interface CheckRow {
  param: string;
  size: number;
  maxError: number;
  worst?: { index: number; analytic: number; numeric: number };
  skipped?: number;
}

export interface CheckReply {
  ok: boolean;
  diagnostics: DiagnosticRecord[];
  rows: CheckRow[];
  points: number;
  threshold: number;
}

export type TrainerRequest =
  | { kind: "start"; model: "softmax" | "twolayer"; steps: number; stepSize: number; reg: number; every: number }
  | { kind: "stop" };

export interface TrainerProgress {
  kind: "progress";
  step: number;
  steps: number;
  loss: number;
  accuracy: number;
  /** Predicted class of each cell of a `cells` x `cells` raster over [-extent, extent]^2, row 0 at the top. */
  regions: Uint8Array;
  cells: number;
  extent: number;
  points: { X: Float64Array; labels: Uint8Array };
  msPerStep: number;
  done: boolean;
}

export type TrainerReply = TrainerProgress | { kind: "error"; message: string };

/** A request with the id its reply carries. */
export interface Envelope<T> {
  id: number;
  body: T;
}
