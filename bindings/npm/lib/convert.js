"use strict";
/**
 * From avfs JSON documents to the objects this package returns: keys in
 * camelCase, the document as printed kept in a non-enumerable `raw`.
 */

/**
 * Keys whose integers are nanoseconds since the epoch (`mtime_ns`): about 1.8e18,
 * beyond the 2^53 a JS number holds exactly, so they are parsed as BigInt (as
 * Node's own `fs.stat(f, {bigint: true})` gives `mtimeNs`).
 */
const NANOSECOND_INTEGER = /([{,]"[a-z0-9_]*_ns"):(-?[0-9]+)/g;
/** Start of the strings those integers become before JSON.parse: a NUL, which no avfs value starts with. */
const BIGINT_MARK = "\u0000bigint:";

/**
 * Parses one avfs JSON document, with nanosecond integers as BigInt. The
 * rewrite touches only keys and values outside strings: inside a JSON string
 * every quote is escaped (`\"`), so `,"x_ns":` cannot occur there.
 * @param {string} text
 */
function parseDocument(text) {
  // The JSON escape `\u0000`, which JSON.parse turns into BIGINT_MARK's NUL.
  const marked = text.replace(NANOSECOND_INTEGER, '$1:"\\u0000bigint:$2"');
  return JSON.parse(marked, (key, value) =>
    typeof value === "string" && value.startsWith(BIGINT_MARK) && key.endsWith("_ns")
      ? BigInt(value.slice(BIGINT_MARK.length))
      : value);
}

/** `exit_code` -> `exitCode`, `path_b64` -> `pathB64`. */
function camelKey(key) {
  return key.replace(/_([a-z0-9])/g, (_, letter) => letter.toUpperCase());
}

/**
 * A deep copy of a JSON value with object keys in camelCase. A policy object is
 * copied as is: it is the user's policy file format (`output_limit`, and
 * environment variable names as keys), which `policySet` takes back unchanged.
 * @param {unknown} value
 * @returns {any}
 */
function camelize(value) {
  if (Array.isArray(value)) return value.map(camelize);
  if (value === null || typeof value !== "object") return value;
  const out = {};
  for (const [key, inner] of Object.entries(value)) {
    out[camelKey(key)] = key === "policy" && inner !== null && typeof inner === "object" ? inner : camelize(inner);
  }
  return out;
}

/**
 * `camelize(part)` with `raw` set to the whole document avfs printed. `raw` is
 * not enumerable, so logging or serializing a result does not show it twice.
 * @param {object} doc the document avfs printed
 * @param {object} [part] the part of it to return (default: all of it)
 */
function toResult(doc, part = doc) {
  const result = camelize(part);
  Object.defineProperty(result, "raw", { value: doc, enumerable: false });
  return result;
}

/**
 * The exact bytes of a text field that avfs may have shown lossily: a path
 * (`field` "path", "dest", "src", "from") or a run's "stdout"/"stderr". avfs adds
 * a base64 sibling (`path_b64`, here `pathB64`) only when the bytes are not UTF-8.
 * @param {Record<string, any>} obj a converted result (or a raw document)
 * @param {string} [field]
 * @returns {Buffer}
 */
function exactBytes(obj, field = "path") {
  const b64 = obj[`${field}B64`] ?? obj[`${field}_b64`];
  if (typeof b64 === "string") return Buffer.from(b64, "base64");
  const text = obj[field];
  if (typeof text !== "string") throw new TypeError(`no text field ${JSON.stringify(field)} in this object`);
  return Buffer.from(text, "utf8");
}

module.exports = { parseDocument, camelize, toResult, exactBytes };
