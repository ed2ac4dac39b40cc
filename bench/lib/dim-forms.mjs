// Other forms for the scratch buffers of run-time size of a module compiled with a dim, made
// from its code by text edits, for bench/dims.mjs to time against the form gradc prints: the
// question is whether any form keeps V8's speed on a module-level `const` typed array (which
// cannot be remade when N changes) both at the first size and after N changes and comes back.
// gradc prints `let bufK = new Float64Array(0); // ... made by useSizes()`, useSizes() assigns
// `bufK = new Float64Array(...)` when the sizes change, and each function reads `const bK = bufK;`.

/** `code` in each form: { let, object, kernel, closure, resizable, constAt }; constAt has the buffers of size `n` (that size only). */
export function dimBufferForms(code, n) {
  const names = [...code.matchAll(/^let (buf\d+) = new Float64Array\(0\);.*$/gm)].map((m) => m[1]);
  if (names.length === 0) throw new Error('no scratch buffers of run-time size to rewrite');
  const sizeOf = Object.fromEntries([...code.matchAll(/^ {2}(buf\d+) = new Float64Array\((.*)\);$/gm)].map((m) => [m[1], m[2]]));
  const declaration = (b) => new RegExp(`^let ${b} = new Float64Array\\(0\\);.*$`, 'm');
  const remake = (b) => new RegExp(`^ {2}${b} = new Float64Array\\((.*)\\);$`, 'm');
  const forms = { let: code };

  // const buffers of the length at n: the speed to reach (not a form: one size only).
  let c = code;
  for (const b of names) c = c.replace(declaration(b), `const ${b} = new Float64Array(${sizeOf[b].replace(/size_N/g, String(n))});`).replace(remake(b), '');
  forms.constAt = c;

  // One state object of fixed shape, read into locals at entry.
  c = code.replace(/^let sized_N = -1;$/m, `let sized_N = -1;\nconst scratch = { ${names.map((b) => `${b}: new Float64Array(0)`).join(', ')} };`);
  for (const b of names) c = c.replace(declaration(b), '').replace(remake(b), `  scratch.${b} = new Float64Array($1);`).replace(new RegExp(`= ${b};$`, 'gm'), `= scratch.${b};`);
  forms.object = c;

  // backwardInto calls an inner kernel with the buffers as arguments.
  const head = 'export function backwardInto(args, seed, grad, outputs) {';
  forms.kernel = code.replace(head, `${head}\n  readSizes(args);\n  useSizes();\n  return backwardKernel(args, seed, grad, outputs, ${names.join(', ')});\n}\nfunction backwardKernel(args, seed, grad, outputs, ${names.join(', ')}) {`);

  // A closure per size, the buffers its consts, made again when N changes.
  const start = code.indexOf(head);
  const end = code.indexOf('\n}\n', start) + 3;
  const inner = code.slice(start, end).replace('export function backwardInto', 'return function backwardInto');
  forms.closure =
    code.slice(0, start) +
    `function backwardFor(${names.join(', ')}) {\n${inner}}\nlet backwardNow, backwardN = -1;\n${head}\n  readSizes(args);\n` +
    `  if (backwardN !== size_N) {\n    backwardN = size_N;\n    backwardNow = backwardFor(${names.map((b) => `new Float64Array(${sizeOf[b]})`).join(', ')});\n  }\n` +
    `  return backwardNow(args, seed, grad, outputs);\n}\n` +
    code.slice(end);

  // const length-tracking views of resizable ArrayBuffers, resized when N changes.
  c = code;
  for (const b of names)
    c = c
      .replace(declaration(b), `const ${b}Memory = new ArrayBuffer(0, { maxByteLength: 2 ** 30 });\nconst ${b} = new Float64Array(${b}Memory);`)
      .replace(remake(b), `  ${b}Memory.resize(8 * ($1));`);
  forms.resizable = c;
  return forms;
}
