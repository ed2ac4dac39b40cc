// Argument and seed checks shared by the hand-written stand-ins (the generated modules'
// contract: TypeError/RangeError naming the argument; a missing loss seed is 1).

export function tensorArg(args, name, length) {
  const v = args[name];
  if (v == null || typeof v !== "object" || typeof v.length !== "number") {
    throw new TypeError(`argument '${name}' must be an array of ${length} numbers`);
  }
  if (v.length !== length) {
    throw new RangeError(`argument '${name}' must have length ${length}, got ${v.length}`);
  }
  return v;
}

export function scalarArg(args, name) {
  const v = args[name];
  if (typeof v !== "number") throw new TypeError(`argument '${name}' must be a number`);
  return v;
}

export function lossSeed(seed) {
  if (seed === undefined) return 1; // one scalar output: the loss case
  if (seed === null || typeof seed !== "object") throw new TypeError("seed must be an object");
  if (!Object.prototype.hasOwnProperty.call(seed, "loss")) return 0; // contributes nothing
  const s = seed.loss;
  if (typeof s === "number") return s;
  if (s != null && typeof s.length === "number" && s.length === 1) return s[0];
  throw new TypeError("seed 'loss' must be a number");
}
