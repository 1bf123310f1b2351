// Validates avfs's JSON documents against the checked-in schemas (docs/schema,
// derived from the Rust wire types by `avfs schema --write`). support.mjs hooks
// it into every document the wrapper parses in these tests.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv2020Module from "ajv/dist/2020.js";

const Ajv2020 = Ajv2020Module.default ?? Ajv2020Module;
export const SCHEMA_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "docs", "schema");

// schemars writes formats such as "uint64" that are descriptive only.
const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
const validators = new Map();
const index = JSON.parse(readFileSync(join(SCHEMA_DIR, "index.json"), "utf8"));
/** [command words, document names], longest commands first. */
const commands = (() => {
  const byCommand = new Map();
  for (const doc of index.documents) {
    for (const command of doc.commands) byCommand.set(command, [...(byCommand.get(command) ?? []), doc.name]);
  }
  return [...byCommand].sort((a, b) => b[0].split(" ").length - a[0].split(" ").length);
})();

function validator(name) {
  if (!validators.has(name)) {
    validators.set(name, ajv.compile(JSON.parse(readFileSync(join(SCHEMA_DIR, `${name}.json`), "utf8"))));
  }
  return validators.get(name);
}

/** The document as JSON has it: the wrapper reads `*_ns` integers as BigInt. */
function plain(value) {
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
  }
  return value;
}

/** Throws unless `doc` is valid against docs/schema/NAME.json. */
export function validateNamed(name, doc) {
  const check = validator(name);
  if (!check(plain(doc))) {
    throw new Error(`document does not match docs/schema/${name}.json: ${ajv.errorsText(check.errors)}`);
  }
}

/** The documents the command in `args` (avfs's arguments) may print. */
export function documentsFor(args) {
  const words = [];
  for (let i = 0; i < args.length && words.length < 2; i++) {
    const arg = String(args[i]);
    if (arg === "--vault") { i++; continue; }
    if (arg.startsWith("-")) { if (words.length > 0) break; continue; }
    words.push(arg);
  }
  const line = words.join(" ");
  for (const [command, names] of commands) {
    if (line === command || line.startsWith(`${command} `)) return names;
  }
  throw new Error(`docs/schema/index.json names no document for \`avfs ${line}\``);
}

/** Validates a document printed by `avfs ARGS`: an error, or its command's document. */
export function validateForArgs(args, doc) {
  if (doc !== null && typeof doc === "object" && "error" in doc) return validateNamed("error", doc);
  const failures = [];
  for (const name of documentsFor(args)) {
    try {
      return validateNamed(name, doc);
    } catch (err) {
      failures.push(err.message);
    }
  }
  throw new Error(failures.join(" / "));
}
