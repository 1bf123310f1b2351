"use strict";
/**
 * Remote commands: `avfs remote add|list|remove|check|gc`, `push`, `pull`,
 * `clone` and `vault list --remote`. Credentials are never arguments: avfs
 * reads the AWS variables (or profile files) of the environment it runs in
 * (the constructor's `env` option adds to it).
 */

const { RUNNER } = require("./runner");
const { toResult } = require("./convert");

/** A duration as avfs takes it: a string as is ("24h"), a number as milliseconds. */
function duration(value) {
  return typeof value === "number" ? `${Math.round(value)}ms` : String(value);
}

/** Methods of AVFS for remotes. */
const remoteMethods = {
  /**
   * Adds remote `name` at `url` ("s3://bucket/prefix"); `endpoint`: an
   * S3-compatible server (default AWS). `unsafeSingleWriter`: push without
   * conditional writes (Garage); correct only while one machine at a time pushes.
   */
  async remoteAdd(name, url, { endpoint, region, unsafeSingleWriter = false } = {}) {
    const args = ["remote", "add"];
    if (endpoint !== undefined) args.push("--endpoint", endpoint);
    if (region !== undefined) args.push("--region", region);
    if (unsafeSingleWriter) args.push("--unsafe-single-writer");
    const { doc } = await this[RUNNER].json([...args, "--", name, url]);
    return toResult(doc, doc.remote);
  },

  /** The configured remotes (never credentials). */
  async remoteList() {
    const { doc } = await this[RUNNER].json(["remote", "list"]);
    return toResult(doc).remotes;
  },

  /** Forgets a remote (nothing on the remote changes); returns its name. */
  async remoteRemove(name) {
    const { doc } = await this[RUNNER].json(["remote", "remove", "--", name]);
    return doc.removed;
  },

  /** Reachable? Credentials accepted? Atomic conditional writes (`conditionalWrites`)? And its vaults. */
  async remoteCheck(name) {
    const { doc } = await this[RUNNER].json(["remote", "check", "--", name]);
    return toResult(doc);
  },

  /** Deletes remote objects no head or checkpoint reaches, older than `grace` (default 24h); `dryRun`: only report. */
  async remoteGc(name, { grace, dryRun = false } = {}) {
    const args = ["remote", "gc"];
    if (grace !== undefined) args.push("--grace", duration(grace));
    if (dryRun) args.push("--dry-run");
    const { doc } = await this[RUNNER].json([...args, "--", name]);
    return toResult(doc);
  },

  /**
   * Pushes this vault: uploads what the remote lacks, then moves the remote head.
   * `remote`: default the vault's upstream, else "origin"; `remoteVault`: its name
   * there (`--as`). A remote head this vault's history lacks rejects with
   * RemoteDiverged unless `force` (the replaced head is kept as checkpoint `keptAs`).
   */
  async push({ remote, remoteVault, checkpoints = false, force = false } = {}) {
    const args = ["push"];
    if (remote !== undefined) args.push("--remote", remote);
    if (remoteVault !== undefined) args.push("--as", remoteVault);
    if (checkpoints) args.push("--checkpoints");
    if (force) args.push("--force");
    const { doc } = await this[RUNNER].json(args);
    return toResult(doc, doc.push);
  },

  /** Fast-forwards this vault to the remote head (`remoteVault`: `--from`); local changes the remote lacks reject with RemoteDiverged. */
  async pull({ remote, remoteVault } = {}) {
    const args = ["pull"];
    if (remote !== undefined) args.push("--remote", remote);
    if (remoteVault !== undefined) args.push("--from", remoteVault);
    const { doc } = await this[RUNNER].json(args);
    return toResult(doc, doc.pull);
  },

  /** Clones `remoteVault` from `remote` into a new vault (`localName`, default the same); `lazy`: chunk bytes on first read. */
  async clone(remote, remoteVault, { localName, lazy = false, use = false } = {}) {
    const args = ["clone"];
    if (lazy) args.push("--lazy");
    if (use) args.push("--use");
    const names = [remote, remoteVault, ...(localName === undefined ? [] : [localName])];
    const { doc } = await this[RUNNER].json([...args, "--", ...names]);
    return toResult(doc, doc.clone);
  },

  /** The vaults on a remote, from their heads (`vault list --remote`). */
  async listRemoteVaults(remote) {
    const { doc } = await this[RUNNER].json(["vault", "list", "--remote", remote]);
    return toResult(doc);
  },
};

module.exports = { remoteMethods };
