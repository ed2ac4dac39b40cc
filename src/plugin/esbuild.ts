// `import gradc from "gradc/esbuild"`: the esbuild plugin of src/plugin/index.ts as a default export.
import { esbuild } from "./index.js";

export default esbuild;
export type { GradcPluginOptions } from "./index.js";
