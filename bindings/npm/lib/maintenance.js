"use strict";
/** Store maintenance: `avfs stats|gc|prune|compact|quota set|show|clear|audit|audit verify|verify|retention`. */

const { RUNNER } = require("./runner");
const { camelize, toResult } = require("./convert");
const { sizeArg, countArg, timeArg } = require("./args");

/** Exit status of `audit verify` when the journal is not intact: a document, not an error. */
const NOT_INTACT_STATUS = 5;

/** Methods of AVFS for quotas, the journal and freeing space. */
const maintenanceMethods = {
  /** Counts and sizes of every vault and of the whole store. */
  async stats() {
    // Every vault, as Python's `stats()`: `avfs --vault V stats` would list only V.
    const { doc } = await this[RUNNER].json(["stats"], { inVault: false });
    return toResult(doc);
  },

  /** Frees what no vault, checkpoint or fork reaches (`dryRun`: only count it). */
  async gc({ dryRun = false } = {}) {
    const { doc } = await this[RUNNER].json(["gc", ...(dryRun ? ["--dry-run"] : [])]);
    return toResult(doc);
  },

  /**
   * Removes old automatic checkpoints (`keepCheckpoints`, `checkpointsOlderThan`;
   * `named`: named ones too) and old versions (`keepVersions`, `versionsOlderThan`),
   * in this vault or, with `allVaults`, every vault; at least one rule. `dryRun`:
   * only report. Ages: "7d", "12h"…, an RFC 3339 time or a Date. `gc` then frees the space.
   */
  async prune({ keepCheckpoints, checkpointsOlderThan, named = false, keepVersions, versionsOlderThan,
    allVaults = false, dryRun = false } = {}) {
    const args = ["prune"];
    if (keepCheckpoints !== undefined) args.push("--keep-checkpoints", countArg(keepCheckpoints, "keepCheckpoints"));
    if (checkpointsOlderThan !== undefined) args.push("--checkpoints-older-than", timeArg(checkpointsOlderThan, "checkpointsOlderThan"));
    if (named) args.push("--named");
    if (keepVersions !== undefined) args.push("--keep-versions", countArg(keepVersions, "keepVersions"));
    if (versionsOlderThan !== undefined) args.push("--versions-older-than", timeArg(versionsOlderThan, "versionsOlderThan"));
    if (allVaults) args.push("--all-vaults");
    if (dryRun) args.push("--dry-run");
    const { doc } = await this[RUNNER].json(args);
    return toResult(doc);
  },

  /** Merges layers nobody names into their child, then VACUUMs the database. */
  async compact() {
    const { doc } = await this[RUNNER].json(["compact"]);
    return toResult(doc);
  },

  /**
   * Sets the limits given (`maxBytes`, `maxFileSize`: bytes or "1MiB"; `maxFiles`),
   * keeping the others; returns the vault's quota and usage.
   */
  async quotaSet({ maxBytes, maxFiles, maxFileSize } = {}) {
    const args = ["quota", "set"];
    if (maxBytes !== undefined) args.push("--max-bytes", sizeArg(maxBytes, "maxBytes"));
    if (maxFiles !== undefined) args.push("--max-files", countArg(maxFiles, "maxFiles"));
    if (maxFileSize !== undefined) args.push("--max-file-size", sizeArg(maxFileSize, "maxFileSize"));
    const { doc } = await this[RUNNER].json(args);
    return toResult(doc);
  },

  /** The vault's quota (null: no limit) and usage. */
  async quotaShow() {
    const { doc } = await this[RUNNER].json(["quota", "show"]);
    return toResult(doc);
  },

  /** Removes every limit of the vault's quota. */
  async quotaClear() {
    const { doc } = await this[RUNNER].json(["quota", "clear"]);
    return toResult(doc);
  },

  /**
   * The store's journal, oldest first: the newest `limit` (avfs default: 100)
   * entries at or after `since` (a Date, an RFC 3339 time, or an age such as "2h").
   */
  async audit({ since, limit } = {}) {
    const args = ["audit"];
    if (since !== undefined) args.push("--since", timeArg(since, "since"));
    if (limit !== undefined) args.push("--limit", countArg(limit, "limit"));
    const { doc } = await this[RUNNER].json(args);
    return camelize(doc.entries);
  },

  /**
   * Checks the journal's hash chain. Resolves whether intact or not (avfs exits
   * 5 with its normal document when not): see `intact` and `problems`.
   */
  async auditVerify() {
    const { doc } = await this[RUNNER].json(["audit", "verify"], {
      acceptStatus: (status) => status === 0 || status === NOT_INTACT_STATUS,
    });
    return toResult(doc);
  },

  /**
   * Checks the whole store: every chunk against its hash, every reference,
   * SQLite's integrity check, the journal. Resolves whether intact or not
   * (avfs exits 5 with its normal document when not): see `intact` and `faults`.
   */
  async verify() {
    const { doc } = await this[RUNNER].json(["verify"], {
      acceptStatus: (status) => status === 0 || status === NOT_INTACT_STATUS,
    });
    return toResult(doc);
  },

  /**
   * How many versions each file keeps (null: every one); sets it first when
   * `keepVersions` (at least 1) or `keepAll` is given.
   */
  async retention({ keepVersions, keepAll = false } = {}) {
    const args = ["retention"];
    if (keepAll) args.push("--keep-all");
    else if (keepVersions !== undefined) args.push("--keep-versions", countArg(keepVersions, "keepVersions"));
    const { doc } = await this[RUNNER].json(args);
    return doc.keep_versions;
  },
};

module.exports = { maintenanceMethods };
