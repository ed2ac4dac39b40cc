// A program with run-time sizes made concrete: every dim given a value and the graph rebuilt
// with numbers for sizes. The compiler never needs this (its code reads the sizes when it
// runs); the tools that evaluate the IR itself do, as the interpreter takes known sizes only:
// `gradc graph` at the sizes of `--at`, and `gradc check` for derivative outputs.

import type { CheckedProgram } from "../check/checker.js";
import { Graph, type IndexMap, type Node } from "./graph.js";
import { remake } from "./rebuild.js";
import { dimReadings, evaluateSize, type Size } from "./size.js";

/**
 * `program` with each dim of `dims` a number; nodes in id order, so no recursion. `made`,
 * when given, receives the new node of each old one by the old id (for records kept beside
 * the graph, such as the derivative operators').
 */
export function specialize(program: CheckedProgram, dims: Readonly<Record<string, number>>, made: Node[] = []): CheckedProgram {
  const graph = new Graph();
  const size = (s: Size) => evaluateSize(s, dims);
  const map = (m: IndexMap): IndexMap => ({ offset: size(m.offset), strides: m.strides.map(size) });
  made.length = program.graph.nodes.length;
  for (const n of program.graph.nodes) {
    graph.line = n.line;
    const shape = n.shape.map(size);
    const args = n.args.map((a) => made[a.id]);
    let out: Node;
    switch (n.op) {
      case "const":
        out = graph.constant(n.value!);
        break;
      case "tensor":
        out = graph.tensor(n.values!, shape);
        break;
      case "input":
        out = n.role === "dim" ? graph.constant(dims[n.name!]) : graph.input(n.name!, n.role!, shape, n.integer === true);
        break;
      case "loopvar":
        out = graph.loopVariable(n.loop!.id, n.loop!.from, size(n.loop!.extent));
        break;
      case "iota":
        out = graph.iota(n.value!, shape[0]);
        break;
      default: {
        // The node's own sizes evaluated; remake reads shape, maps and bound from it.
        const concrete: Node = {
          ...n,
          shape,
          size: shape.reduce((a, b) => a * b, 1),
          ...(n.map ? { map: map(n.map) } : {}),
          ...(n.maps ? { maps: n.maps.map(map) } : {}),
          ...(n.bound !== undefined ? { bound: size(n.bound) } : {}),
        };
        out = remake(graph, concrete, args);
      }
    }
    made[n.id] = out;
  }
  return {
    graph,
    args: program.args.map((a) => ({ ...a, shape: a.shape.map(size), node: made[a.node.id] })),
    outputs: program.outputs.map((o) => ({ ...o, node: made[o.node.id] })),
    dims: [],
    requirements: [],
  };
}

/**
 * The dims' values that arguments of these lengths give, read where the module reads them
 * (`dimReadings`), `fallback` for a dim whose argument has no length given.
 */
export function dimsFromLengths(program: CheckedProgram, lengths: ReadonlyMap<string, number>, fallback: number): Record<string, number> {
  const dims: Record<string, number> = {};
  for (const { dim, arg, rest, power } of dimReadings(program.dims.map((d) => d.name), program.args) ?? []) {
    const n = lengths.get(arg.name);
    const value = n === undefined ? NaN : Math.round(Math.pow(n / evaluateSize(rest, dims), 1 / power));
    dims[dim] = Number.isInteger(value) && value >= 1 ? value : fallback;
  }
  return dims;
}
