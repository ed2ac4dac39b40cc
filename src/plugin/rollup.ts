// `import gradc from "gradc/rollup"`: the rollup plugin of src/plugin/index.ts as a default export.
import { rollup } from "./index.js";

export default rollup;
export type { GradcPluginOptions } from "./index.js";
