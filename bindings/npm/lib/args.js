"use strict";
/** Checking and formatting option values the way avfs takes them on its command line. */

/**
 * A version number as avfs takes it: a positive integer (a number, or a string
 * of digits). Checked here so that a mistake (`NaN`, `1.5`, a version object)
 * is a TypeError naming the argument rather than a usage error from avfs.
 * @param {unknown} version
 * @param {string} name the argument's name, for the message
 */
function versionArg(version, name = "version") {
  if ((typeof version === "number" && Number.isSafeInteger(version) && version > 0)
    || (typeof version === "string" && /^[1-9][0-9]*$/.test(version))) {
    return String(version);
  }
  throw new TypeError(`${name} must be a positive integer (a version number from log()), got ${String(version)}`);
}

/** A size as avfs takes it: bytes (a number) or a string with a unit ("10K", "1MiB"). */
function sizeArg(size, name) {
  if (typeof size === "number" && Number.isSafeInteger(size) && size >= 0) return String(size);
  if (typeof size === "string" && size !== "") return size;
  throw new TypeError(`${name} must be a number of bytes or a size string such as "1MiB", got ${String(size)}`);
}

/** A count as avfs takes it: a non-negative integer. */
function countArg(count, name) {
  if (typeof count === "number" && Number.isSafeInteger(count) && count >= 0) return String(count);
  throw new TypeError(`${name} must be a non-negative integer, got ${String(count)}`);
}

/** A time for `--since`/`--…-older-than`: a Date, an RFC 3339 string, or an age ("30s", "10m", "2h", "7d"). */
function timeArg(time, name) {
  if (time instanceof Date) {
    if (Number.isNaN(time.getTime())) throw new TypeError(`${name} is an invalid Date`);
    return time.toISOString();
  }
  if (typeof time === "string" && time !== "") return time;
  throw new TypeError(`${name} must be a Date, an RFC 3339 time or an age such as "7d", got ${String(time)}`);
}

module.exports = { versionArg, sizeArg, countArg, timeArg };
