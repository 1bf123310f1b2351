"use strict";
/** Policy commands: `avfs policy set|show|check`. */

const { RUNNER } = require("./runner");
const { toResult } = require("./convert");
const { withPolicyFile } = require("./policy-file");

/** Exit status of `policy check` (and `proxy exec`) for a denied command: a document, not an error. */
const DENIED_STATUS = 126;

/** Methods of AVFS for policies. */
const policyMethods = {
  /**
   * Validates a policy (an object in the policy file format, or a file path) and
   * makes it the vault's policy; returns the normalized policy as stored.
   */
  async policySet(policy) {
    const { doc } = await withPolicyFile(policy, (file) => this[RUNNER].json(["policy", "set", "--", file]));
    return doc.policy;
  },

  /** The vault's policy in the policy file format, or null when it has none. */
  async policyShow() {
    const { doc } = await this[RUNNER].json(["policy", "show"]);
    return doc.policy;
  },

  /**
   * What the policy decides for a command (`argv`: program and arguments); runs
   * nothing. Resolves for allowed and denied commands alike: see `allowed`.
   * `policy`: check against this policy (object or file) instead of the vault's.
   */
  async policyCheck(argv, { policy } = {}) {
    const check = (file) => this[RUNNER].json(
      ["policy", "check", ...(file === undefined ? [] : ["--policy", file]), "--", ...argv],
      { acceptStatus: (status) => status === 0 || status === DENIED_STATUS },
    );
    const { doc } = policy === undefined ? await check(undefined) : await withPolicyFile(policy, check);
    return toResult(doc);
  },
};

module.exports = { policyMethods };
