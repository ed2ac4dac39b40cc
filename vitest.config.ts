// Vitest for gradc: tests import src/ directly. Some tests compile large programs or run
// TypeScript on generated code, seconds of work that a shared machine can stretch past
// Vitest's 5 s default; a hung test still fails, after 60 s.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    testTimeout: 60_000,
  },
});
