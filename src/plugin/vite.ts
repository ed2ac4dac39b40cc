// `import gradc from "gradc/vite"`: the vite plugin of src/plugin/index.ts as a default export.
import { vite } from "./index.js";

export default vite;
export type { GradcPluginOptions } from "./index.js";
