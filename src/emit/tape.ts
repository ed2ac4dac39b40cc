// Tape code for very long scalar programs. A chain of tens of thousands of dependent scalar
// statements has no tensor work for loops, and as straight-line code (split into part
// functions) it runs for seconds to minutes in V8's baseline tiers, at 30-60 ns per
// operation, before TurboFan has compiled every part (README, "Unrolled or loops"). Here the
// program becomes data instead: instructions in an Int32Array, run by a small interpreter (a
// switch over the instruction kinds the program uses) that V8 optimizes at once, over a
// Float64Array of registers. An instruction computes an operation together with the
// operations only it uses, up to three levels, as straight-line code inlines them, so the
// interpreter dispatches once per two or three operations: 4-6 ns per operation from the
// first calls, where small straight-line code takes 3.5.
//
// Registers: the constants (set once, when the module loads), then one block per argument
// and seed (copied in at each call), then one register per instruction, in graph order, so an
// instruction's destination is implicit. Operands are stored as distances back from the
// destination, which keeps the numbers in the module short (most operands are recent).

import { knownSize, reachable, type Graph, type Node } from "../ir/graph.js";
import { ELEMENTWISE, type ElementwiseOp } from "../ir/ops.js";
import { literal } from "./straight.js";
import type { Part } from "./split.js";

/** Where an argument's (or a seed's) elements come from: its local (`a0`, `s1`), scalar or not. */
export interface TapeLeaf {
  local: string;
  size: number;
  scalar: boolean;
}

export interface TapeSink {
  node: Node;
  store: (expr: string) => string;
}

export interface TapeCode {
  /** Module-level: the instructions and the register file, constants in place. */
  declarations: string[];
  /** The function's statements: copy the arguments in, run the tape. */
  statements: string[];
  /** One store per sink, reading its register. */
  stores: string[];
  helpers: Set<string>;
  operations: number;
}

/** One instruction kind: a shape of fused operations over `operands` registers. */
export interface Opcode {
  code: number;
  operands: number;
  /** The JavaScript computing it from the operands' texts. */
  print: (reads: string[]) => string;
}

/** Levels of operations one instruction may hold (the straight-line printer inlines deeper). */
const FUSED_DEPTH = 3;
/**
 * Instruction kinds past which new shapes are split into one-operation instructions: the
 * interpreter is one function, and V8 optimizes none over 61,440 bytes of bytecode.
 */
const MAX_SHAPES = 200;

/**
 * The tape of the nodes `sinks` need. `leafOf` maps an input (argument or seed) node to its
 * local; `name` (`forward`, `backward`) keeps the tapes of the two functions apart;
 * `opcodes`, by shape of fused operations, is shared by them so that one interpreter serves
 * both (it grows as new shapes appear).
 */
function printTape(
  graph: Graph,
  sinks: readonly TapeSink[],
  leafOf: (input: Node) => TapeLeaf,
  name: string,
  opcodes: Map<string, Opcode>,
): TapeCode {
  const needed = reachable(graph, sinks.map((s) => s.node));
  const register = new Int32Array(graph.nodes.length).fill(-1);
  const constants: number[] = [];
  const code: number[] = [];
  const helpers = new Set<string>();
  const copies: string[] = [];
  const blocks = new Map<Node, number>(); // input node -> first register of its block
  let next = 0;

  // Constants first: their registers are set once, when the module loads.
  for (const n of graph.nodes) {
    if (needed[n.id] && n.op === "const") {
      register[n.id] = next++;
      constants.push(n.value!);
    }
  }
  const registers = `${name}TapeRegisters`;
  const block = (input: Node): number => {
    let at = blocks.get(input);
    if (at === undefined) {
      const leaf = leafOf(input);
      at = next;
      next += leaf.size;
      blocks.set(input, at);
      // Element by element: a plain array works too, and a missing seed's stand-in may be longer.
      copies.push(leaf.scalar ? `${registers}[${at}] = ${leaf.local};` : `for (let k = 0; k < ${leaf.size}; k++) ${registers}[${at} + k] = ${leaf.local}[k];`);
    }
    return at;
  };
  // Arguments and seeds: read directly (a scalar) or through an element read (a gather).
  for (const n of graph.nodes) {
    if (!needed[n.id] || n.op === "const") continue;
    if (n.op === "input") register[n.id] = block(n);
    else if (n.op === "gather" && n.args[0].op === "input") register[n.id] = block(n.args[0]) + knownSize(n.map!.offset);
  }
  const first = next;
  // An operation whose value only one other operation uses joins that operation's
  // instruction (up to FUSED_DEPTH levels), as straight-line code inlines it into its user:
  // fewer dispatches, and no register. Each distinct shape of fused operations is one opcode.
  const uses = new Uint32Array(graph.nodes.length);
  for (const n of graph.nodes) if (needed[n.id]) for (const a of n.args) uses[a.id]++;
  for (const s of sinks) uses[s.node.id] += 2;
  const depth = new Uint8Array(graph.nodes.length);
  type Printer = (reads: string[], at: { k: number }) => string;
  const shape: (string | undefined)[] = new Array(graph.nodes.length);
  const slots: (Node[] | undefined)[] = new Array(graph.nodes.length);
  const printers: (Printer | undefined)[] = new Array(graph.nodes.length);
  const fused = (a: Node) => register[a.id] === -1;
  /** Shape, operand registers and printer of `n` with its fused operands inside. */
  const describe = (n: Node, op: ElementwiseOp) => {
    depth[n.id] = 1 + Math.max(0, ...n.args.map((a) => (fused(a) ? depth[a.id] : 0)));
    shape[n.id] = `${n.op}(${n.args.map((a) => (fused(a) ? shape[a.id] : "$")).join(",")})`;
    slots[n.id] = n.args.flatMap((a) => (fused(a) ? slots[a.id]! : [a]));
    const parts = n.args.map((a): Printer => (fused(a) ? printers[a.id]! : (reads, at) => reads[at.k++]!));
    printers[n.id] = (reads, at) => op.print(...parts.map((p) => p(reads, at)));
  };
  const opOf = (n: Node) => ELEMENTWISE[n.op as keyof typeof ELEMENTWISE] as ElementwiseOp;
  /** `n`'s instruction; past MAX_SHAPES kinds, a new shape is split into one-operation ones. */
  const instruction = (n: Node): void => {
    if (!opcodes.has(shape[n.id]!) && opcodes.size >= MAX_SHAPES && n.args.some(fused)) {
      for (const a of n.args) if (fused(a)) instruction(a);
      describe(n, opOf(n));
    }
    let opcode = opcodes.get(shape[n.id]!);
    if (!opcode) {
      const print = printers[n.id]!;
      opcode = { code: opcodes.size, operands: slots[n.id]!.length, print: (reads) => print(reads, { k: 0 }) };
      opcodes.set(shape[n.id]!, opcode);
    }
    register[n.id] = next;
    code.push(opcode.code, ...slots[n.id]!.map((a) => next - register[a.id]));
    next++;
    release(n);
  };
  /** Forget what describe() kept for `n` and the operations fused into it (memory: 1e6 nodes). */
  const release = (n: Node): void => {
    for (const a of n.args) if (fused(a) && shape[a.id] !== undefined) release(a);
    // (Overwritten, not deleted: deleting from a large array turns it into a hash table.)
    shape[n.id] = slots[n.id] = printers[n.id] = undefined;
  };
  let operations = 0;
  for (const n of graph.nodes) {
    if (!needed[n.id] || register[n.id] !== -1) continue;
    const op = ELEMENTWISE[n.op as keyof typeof ELEMENTWISE] as ElementwiseOp | undefined;
    if (!op || n.size !== 1) throw new Error(`internal: '${n.op}' on a tape`);
    for (const h of op.helpers ?? []) helpers.add(h);
    operations++;
    describe(n, op);
    if (uses[n.id] === 1 && depth[n.id] < FUSED_DEPTH) continue; // its user's instruction computes it
    instruction(n);
  }
  const tapeCode = `${name}TapeCode`;
  const declarations = [
    `const ${tapeCode} = new Int32Array([${code.join(",")}]);`,
    `const ${registers} = new Float64Array(${next});`,
  ];
  if (constants.length) declarations.push(`${registers}.set([${constants.map(literal).join(", ")}]);`);
  const read = (n: Node) => (n.op === "const" ? literal(n.value!) : `${registers}[${register[n.id]}]`);
  return {
    declarations,
    statements: [...copies, `runTape(${tapeCode}, ${registers}, ${first});`],
    stores: sinks.map((s) => s.store(read(s.node))),
    helpers,
    operations,
  };
}

/**
 * The tapes of forward (`forwardSinks`) and backward (`backwardSinks`), their module-level
 * declarations and the one interpreter both run.
 */
export function printTapes(
  graph: Graph,
  forwardSinks: readonly TapeSink[],
  backwardSinks: readonly TapeSink[],
  leafOf: (input: Node) => TapeLeaf,
): { fwd: TapeCode; bwd: TapeCode; declarations: string[]; parts: Part[] } {
  const opcodes = new Map<string, Opcode>();
  const fwd = printTape(graph, forwardSinks, leafOf, "forward", opcodes);
  const bwd = printTape(graph, backwardSinks, leafOf, "backward", opcodes);
  return { fwd, bwd, declarations: [...fwd.declarations, ...bwd.declarations], parts: [tapeInterpreter(opcodes.values())] };
}

/**
 * The interpreter: one case per opcode, printed by the operations' own printers over
 * register reads, so it computes exactly what straight-line code would.
 */
function tapeInterpreter(opcodes: Iterable<Opcode>): Part {
  const cases = [...opcodes].map(({ code, operands, print }) => {
    const names = Array.from({ length: operands }, (_, k) => `x${k}`);
    const reads = names.map((v, k) => `const ${v} = d - tapeCode[pc + ${k + 1}];`).join(" ");
    const value = print(names.map((v) => `tapeRegisters[${v}]`));
    return `    case ${code}: { ${reads} tapeRegisters[d] = ${value}; pc += ${operands + 1}; break; }`;
  });
  return {
    name: "runTape",
    params: ["tapeCode", "tapeRegisters", "first"],
    lines: [
      "for (let pc = 0, d = first, end = tapeCode.length; pc < end; d++) {",
      "  switch (tapeCode[pc]) {",
      ...cases,
      "  }",
      "}",
    ],
  };
}
