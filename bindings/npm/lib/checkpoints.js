"use strict";
/** Checkpoint commands: `avfs checkpoint save|list|info|restore|delete`. */

const { RUNNER } = require("./runner");
const { camelize, toResult } = require("./convert");

/** Methods of AVFS for checkpoints. */
const checkpointMethods = {
  /** Saves the vault's current state under `name`, in O(1). */
  async checkpointSave(name, { message } = {}) {
    const args = ["checkpoint", "save", ...(message === undefined ? [] : ["--message", message]), "--", name];
    const { doc } = await this[RUNNER].json(args);
    return toResult(doc, doc.checkpoint);
  },

  /** Lists the vault's checkpoints, oldest first. */
  async checkpointList() {
    const { doc } = await this[RUNNER].json(["checkpoint", "list"]);
    return camelize(doc.checkpoints);
  },

  /** Shows one checkpoint. */
  async checkpointInfo(name) {
    const { doc } = await this[RUNNER].json(["checkpoint", "info", "--", name]);
    return toResult(doc, doc.checkpoint);
  },

  /** Puts the vault back to a checkpoint; unsaved work is kept as `savedPrevious`. */
  async checkpointRestore(name) {
    const { doc } = await this[RUNNER].json(["checkpoint", "restore", "--", name]);
    return toResult(doc);
  },

  /** Deletes a checkpoint's name; returns it. */
  async checkpointDelete(name) {
    const { doc } = await this[RUNNER].json(["checkpoint", "delete", "--", name]);
    return doc.deleted;
  },
};

module.exports = { checkpointMethods };
