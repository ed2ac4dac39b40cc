// Vite config of the playground (`npm run playground`, `npm run build:playground`). The page
// lives in its own top-level folder, not under src/, so that the library's tsc build (Node
// types, rootDir src, shipped as dist/ in the npm package) never sees browser code or
// CodeMirror; the page imports the compiler from ../src as source, and the examples as text.

import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const repo = fileURLToPath(new URL("..", import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./",
  server: { fs: { allow: [repo] } },
  worker: { format: "es" },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 2000,
  },
});
