"use strict";
/** agentvfs: drive the avfs binary from Node.js (CommonJS entry; index.mjs re-exports it for ESM). */

const { AVFS } = require("./lib/client");
const errors = require("./lib/errors");
const { exactBytes } = require("./lib/convert");

// One named export per error code class (VaultNotFound, PathNotFound, ...).
const codeClasses = Object.fromEntries(Object.values(errors.errorClasses).map((cls) => [cls.name, cls]));

module.exports = {
  AVFS,
  exactBytes,
  AVFSError: errors.AVFSError,
  InternalError: errors.InternalError,
  BadInput: errors.BadInput,
  NotFound: errors.NotFound,
  Conflict: errors.Conflict,
  StorageFailure: errors.StorageFailure,
  Interrupted: errors.Interrupted,
  PolicyDenied: errors.PolicyDenied,
  BinaryNotFound: errors.BinaryNotFound,
  ProtocolError: errors.ProtocolError,
  errorClasses: errors.errorClasses,
  ...codeClasses,
};
