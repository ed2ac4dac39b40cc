// Node module hooks for the TF.js peer. The CommonJS bundle of @tensorflow/tfjs-core that Node
// loads carries no gradient rules: they ship only as ES modules in tfjs-core/dist/ (extensionless
// imports, in a package without "type": "module"), which the @tensorflow/tfjs bundle would pull
// in for us. These hooks let Node load that ES build, so that dist/register_all_gradients.js can
// register TF.js's own gradients. TF.js keeps its engine and registries in a global namespace, so
// the rules land in the same registry the CommonJS bundle reads. Registered by lib/tfjs.mjs.

const DIST = '/node_modules/@tensorflow/tfjs-core/dist/';

export async function resolve(specifier, context, nextResolve) {
  if (context.parentURL?.includes(DIST) && specifier.startsWith('.') && !specifier.endsWith('.js')) {
    return nextResolve(`${specifier}.js`, context);
  }
  return nextResolve(specifier, context);
}

export async function load(url, context, nextLoad) {
  // The ES build is every dist/ file but the CommonJS bundles (tf-core.node.js and friends).
  if (url.includes(DIST) && url.endsWith('.js') && !url.includes(`${DIST}tf-core.`)) return nextLoad(url, { ...context, format: 'module' });
  return nextLoad(url, context);
}
