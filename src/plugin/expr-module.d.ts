// Types for `import * as model from "./model.expr"` in an app built with the gradc bundler
// plugin (src/plugin/index.ts). The exports of a compiled module depend on the file, so
// these are generic: argument, output and gradient names are any string. For the exact
// types of each file, build with the plugin's `dts: true`, which writes `model.expr.d.ts`
// beside the source (found by TypeScript under moduleResolution "bundler").
//
// Use: `/// <reference types="gradc/client" />` in a .d.ts of the app, or
// `"types": ["gradc/client"]` in its tsconfig.json.

declare module "*.expr" {
  /** One property per `input` and `param`: a number for a scalar, a flat row-major array for a tensor. */
  export type Args = Record<string, number | ArrayLike<number>>;
  /** One property per `output`: a number for a scalar, a flat row-major Float64Array for a tensor. */
  export type Outputs = Record<string, number | Float64Array>;
  /** Upstream gradients of the outputs; an output left out contributes nothing. */
  export type Seed = Record<string, number | ArrayLike<number>>;
  /** One gradient per `param`, shaped like it. */
  export type Grads = Record<string, number | Float64Array>;
  /** The run-time sizes of a module with `dim`s: one number per dim. */
  export type Sizes = Record<string, number>;

  /** Forward pass: computes the outputs. */
  export function forward(args: Args): Outputs;
  /** Backward pass: the outputs and the gradient of the seeded outputs with respect to every param. */
  export function backward(args: Args, seed?: Seed): { outputs: Outputs; grad: Grads };
  /** Makes the holders that forwardInto and backwardInto fill (for the given sizes, in a module with dims). */
  export function createOutputs(sizes?: Sizes): Outputs;
  /** Makes gradient holders for backwardInto (for the given sizes, in a module with dims). */
  export function createGrad(sizes?: Sizes): Grads;
  /** Modules with dims only: the run-time sizes of these arguments (RangeError when they disagree). */
  export function sizesOf(args: Args): Sizes;
  /** Forward pass into preallocated outputs; allocates nothing. */
  export function forwardInto(args: Args, outputs: Outputs): Outputs;
  /** Backward pass into preallocated gradients (and outputs, when given); allocates nothing. */
  export function backwardInto(args: Args, seed: Seed | undefined, grad: Grads, outputs?: Outputs): Grads;

  // The flat form, for optimizers: exported only by modules with an objective (exactly one
  // scalar output, or the plugin's `objective` option naming one).
  /** The params alone, as packParams takes them. */
  export type Params = Record<string, number | ArrayLike<number>>;
  /** The inputs alone, as the flat functions take them. */
  export type Inputs = Record<string, number | ArrayLike<number>>;
  /**
   * Elements of all params, in declaration order: the length of the flat vector x. In a
   * module whose params are sized by a dim it is a function of the sizes, `paramSize(sizes)`;
   * the plugin's `dts: true` gives each file its exact type.
   */
  export const paramSize: number;
  /** Writes the params, each flat and row-major, one after another into x (a new Float64Array when not given). */
  export function packParams(params: Params, x?: Float64Array): Float64Array;
  /** Reads the params back from x into holders shaped like createGrad() (new ones when not given). */
  export function unpackParams(x: ArrayLike<number>, params?: Grads, sizes?: Sizes): Grads;
  export function unpackParams(x: ArrayLike<number>, params?: Params, sizes?: Sizes): Params;
  /** The objective at the params in x. */
  export function valueFlat(x: ArrayLike<number>, inputs?: Inputs): number;
  /** The objective at the params in x; overwrites grad (laid out as x) with its gradient; allocates nothing. */
  export function valueAndGradFlat(x: ArrayLike<number>, grad: Float64Array | number[], inputs?: Inputs): number;
}
