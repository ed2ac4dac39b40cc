// The programs the playground opens with: the lecture's circuit and sigmoid neuron, at the
// lecture's values (examples/cs231n/), so the first picture is the one from the slides.

import circuit from "../../examples/cs231n/circuit.expr?raw";
import neuron from "../../examples/cs231n/neuron.expr?raw";
import neuronGate from "../../examples/cs231n/neuron-gate.expr?raw";
import hinge from "../../examples/cs231n/hinge.expr?raw";
import type { At } from "./protocol.js";

export interface Preset {
  name: string;
  source: string;
  at: At;
}

export const PRESETS: Preset[] = [
  { name: "circuit: (x + y) z", source: circuit, at: { x: [-2], y: [5], z: [-4] } },
  { name: "sigmoid neuron", source: neuron, at: { w: [2, -3, -3], x: [-1, -2] } },
  { name: "sigmoid neuron as a gate", source: neuronGate, at: { w: [2, -3, -3], x: [-1, -2] } },
  { name: "multiclass SVM loss", source: hinge, at: { s: [3.2, 5.1, -1.7], y: [1, 0, 0] } },
];
