"use strict";
/**
 * avfs reads policies from files only (`--policy FILE`, `policy set FILE`); a
 * policy given as an object is written to a private temporary file for the call.
 */

const fs = require("node:fs/promises");
const os = require("node:os");
const path = require("node:path");

/**
 * Calls `use(file)` with a file holding `policy`, and removes the file after.
 * @template T
 * @param {string|object} policy a policy object, or the path of a policy file (used as is)
 * @param {(file: string) => Promise<T>} use
 * @returns {Promise<T>}
 */
async function withPolicyFile(policy, use) {
  if (typeof policy === "string") return use(policy);
  if (policy === null || typeof policy !== "object" || Array.isArray(policy)) {
    throw new TypeError("a policy is an object (the policy file's JSON) or the path of a policy file");
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), "agentvfs-policy-"));
  try {
    const file = path.join(dir, "policy.json");
    await fs.writeFile(file, JSON.stringify(policy));
    return await use(file);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

module.exports = { withPolicyFile };
