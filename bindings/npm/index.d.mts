// Types of agentvfs for ESM importers: the same declarations as the CommonJS
// entry (index.mjs re-exports index.js), plus its default export.
export * from "./index.js";
import * as agentvfs from "./index.js";
export default agentvfs;
