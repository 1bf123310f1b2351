"use strict";
/**
 * Errors: one class per avfs error code, each under a class for its exit status,
 * all under AVFSError. The table below is docs/json.md "Errors", mapped once.
 */

/** Base class of every error agentvfs raises; `raw` is the document avfs printed, if any. */
class AVFSError extends Error {
  /**
   * @param {string} message what went wrong, as avfs said it
   * @param {{code: string, exitStatus?: number|null, hint?: string|null, raw?: object|null, command?: string[]|null}} details
   */
  constructor(message, { code, exitStatus = null, hint = null, raw = null, command = null }) {
    super(message);
    this.name = new.target.name;
    /** The stable snake_case error code (`vault_not_found`, ...). */
    this.code = code;
    /** The exit status of avfs (null when avfs did not run or was killed). */
    this.exitStatus = exitStatus;
    /** Something to try, when avfs had a suggestion. */
    this.hint = hint;
    /** The JSON document avfs printed for this error, unconverted. */
    this.raw = raw;
    /** The avfs arguments that failed (without the binary). */
    this.command = command;
  }
}

/** Exit status 1: a bug in avfs or an environment problem. */
class InternalError extends AVFSError {}
/** Exit status 2: the command line or an argument is wrong. */
class BadInput extends AVFSError {}
/** Exit status 3: a vault, checkpoint, path or mount does not exist. */
class NotFound extends AVFSError {}
/** Exit status 4: the operation conflicts with what exists. */
class Conflict extends AVFSError {}
/** Exit status 5: storage or host I/O failure. */
class StorageFailure extends AVFSError {}

/** `interrupted`: a signal stopped avfs (exit status 130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP); what the command had not committed was rolled back. */
class Interrupted extends AVFSError {}

/** The category class of each documented exit status. */
const CATEGORY_BY_EXIT_STATUS = {
  1: InternalError, 2: BadInput, 3: NotFound, 4: Conflict, 5: StorageFailure,
  129: Interrupted, 130: Interrupted, 143: Interrupted,
};

/** Every documented error code, by exit status (docs/json.md, "Errors"). */
const CODES_BY_EXIT_STATUS = {
  1: ["isolation_unavailable"],
  2: ["usage_error", "invalid_argument", "invalid_pattern", "invalid_query", "invalid_policy", "invalid_path",
    "path_too_long", "invalid_name", "invalid_move", "too_large", "no_store_location", "invalid_remote", "unknown_tool",
    "vault_not_served"],
  3: ["document_not_found", "vault_not_found", "checkpoint_not_found", "path_not_found", "version_not_found", "no_current_vault",
    "no_checkpoints", "mountpoint_missing", "not_mounted", "remote_not_found", "remote_vault_not_found",
    "remote_bucket_not_found"],
  4: ["merge_conflict", "no_merge_base", "quota_exceeded", "file_too_large", "version_deleted", "nothing_to_revert", "vault_exists",
    "checkpoint_exists", "path_exists", "not_a_directory", "is_a_directory", "directory_not_empty", "not_a_file",
    "destination_exists", "mountpoint_not_empty", "already_mounted", "mount_busy", "remote_exists", "remote_diverged",
    "remote_no_conditional_writes", "vault_changed"],
  5: ["disk_full", "storage_error", "store_corrupt", "schema_too_new", "io_error",
    "fuse_unavailable", "mount_failed", "remote_unreachable", "remote_auth", "remote_corrupt", "mcp_failed"],
};

/** `vault_not_found` -> `VaultNotFound`. */
function pascalCase(code) {
  return code.split("_").map((word) => word.charAt(0).toUpperCase() + word.slice(1)).join("");
}

/** Error class of each avfs error code, keyed by code. */
const errorClasses = {};
for (const [status, codes] of Object.entries(CODES_BY_EXIT_STATUS)) {
  const Category = CATEGORY_BY_EXIT_STATUS[status];
  for (const code of codes) {
    const name = pascalCase(code);
    // A class expression under a computed key takes the key as its name, so
    // `err.name` and stack traces say `VaultNotFound`, not an anonymous class.
    errorClasses[code] = { [name]: class extends Category {} }[name];
  }
}
// Its own category: no code shares its exit statuses.
errorClasses.interrupted = Interrupted;
Object.freeze(errorClasses);

/**
 * `proxyExec`/`proxyShell`: the policy denied the command, so nothing ran (avfs
 * exit status 126). avfs printed its normal run document, not an error document.
 */
class PolicyDenied extends AVFSError {
  /**
   * @param {object} result the denied run, converted (its `raw` is the document avfs printed)
   * @param {string[]} command the avfs arguments
   */
  constructor(result, command) {
    super(result.decision.reason, { code: "policy_denied", exitStatus: 126, raw: result.raw, command });
    /** Why the policy denied the command (`allowed`, `rule`, `reason`, `policy`). */
    this.decision = result.decision;
    /** The denied run: nothing ran, so `exitCode` and `checkpoint` are null and `changes` is empty. */
    this.result = result;
  }
}

/** The avfs binary was not found (no `binary` option, no `AVFS_BIN`, not on `PATH`) or cannot be run. */
class BinaryNotFound extends AVFSError {
  /** @param {string} message where we looked */
  constructor(message) {
    super(message, { code: "binary_not_found" });
  }
}

/** avfs did not print the one JSON document the contract promises (a crash, a kill, a version mismatch). */
class ProtocolError extends AVFSError {
  /**
   * @param {string} message what was wrong with the output
   * @param {{exitStatus: number|null, command: string[], stdout: string, stderr: string}} output
   */
  constructor(message, { exitStatus, command, stdout, stderr }) {
    super(message, { code: "protocol_error", exitStatus, command });
    /** What avfs printed on stdout (decoded lossily). */
    this.stdout = stdout;
    /** What avfs printed on stderr (decoded lossily). */
    this.stderr = stderr;
  }
}

/**
 * The error for an avfs error document `{"error": {...}}`: the class of its code,
 * else (a code newer than this package) the class of its exit status.
 * @param {{error: {code: string, message: string, exit_status: number, hint?: string}}} doc
 * @param {string[]} command the avfs arguments
 * @returns {AVFSError}
 */
function errorFromDocument(doc, command) {
  const { code, message, exit_status: exitStatus, hint = null } = doc.error;
  const ErrorClass = errorClasses[code] || CATEGORY_BY_EXIT_STATUS[exitStatus] || AVFSError;
  return new ErrorClass(message, { code, exitStatus, hint, raw: doc, command });
}

module.exports = {
  AVFSError,
  InternalError,
  BadInput,
  NotFound,
  Conflict,
  StorageFailure,
  Interrupted,
  PolicyDenied,
  BinaryNotFound,
  ProtocolError,
  errorClasses,
  errorFromDocument,
};
