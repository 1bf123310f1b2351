"use strict";
/**
 * Running avfs: one child process per command, arguments as an array (never a
 * shell), output collected in full (no maxBuffer), one JSON document parsed.
 */

const { spawn } = require("node:child_process");
const { BinaryNotFound, ProtocolError, errorFromDocument } = require("./errors");
const { parseDocument } = require("./convert");

/**
 * Runs `binary` with `args` and collects everything it prints.
 * @param {string} binary
 * @param {string[]} args
 * @param {{env: NodeJS.ProcessEnv, input?: Buffer, signal?: AbortSignal}} options `input` is
 *   written to stdin (else stdin is /dev/null); aborting `signal` sends avfs SIGTERM
 * @returns {Promise<{status: number|null, signal: string|null, stdout: Buffer, stderr: Buffer}>}
 */
function collect(binary, args, { env, input, signal }) {
  return new Promise((resolve, reject) => {
    signal?.throwIfAborted();
    const child = spawn(binary, args, { env, stdio: [input ? "pipe" : "ignore", "pipe", "pipe"] });
    // Not spawn's own `signal` option: that rejects at once with an AbortError,
    // while avfs, on SIGTERM, still prints the document of what it stopped.
    const stop = () => child.kill("SIGTERM");
    signal?.addEventListener("abort", stop, { once: true });
    const stdout = [];
    const stderr = [];
    child.stdout.on("data", (chunk) => stdout.push(chunk));
    child.stderr.on("data", (chunk) => stderr.push(chunk));
    child.on("error", (err) => {
      signal?.removeEventListener("abort", stop);
      reject(err.code === "ENOENT" || err.code === "EACCES"
        ? new BinaryNotFound(`cannot run avfs binary ${JSON.stringify(binary)}: ${err.message}`)
        : err);
    });
    // 'close', not 'exit': it fires once stdout and stderr are fully read.
    child.on("close", (status, killedBy) => {
      signal?.removeEventListener("abort", stop);
      resolve({ status, signal: killedBy, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr) });
    });
    if (input) {
      // avfs may reject the command (a bad path) before reading stdin; the
      // error document on stdout says why, so a broken pipe here is no news.
      child.stdin.on("error", (err) => { if (err.code !== "EPIPE") reject(err); });
      child.stdin.end(input);
    }
  });
}

/** A ProtocolError describing output that is not what the contract promises. */
function protocolError(problem, output, args) {
  const stdout = output.stdout.toString("utf8");
  const stderr = output.stderr.toString("utf8");
  const ended = output.signal ? `killed by ${output.signal}` : `exit status ${output.status}`;
  const detail = (stderr.trim() || stdout.trim()).slice(0, 500);
  return new ProtocolError(`avfs ${args.join(" ")}: ${problem} (${ended})${detail ? `: ${detail}` : ""}`, {
    exitStatus: output.status, command: args, stdout, stderr,
  });
}

/** The property under which an AVFS object keeps its Runner (not part of the public API). */
const RUNNER = Symbol("agentvfs runner");

/** Runs avfs commands for one AVFS object: its binary, environment and vault. */
class Runner {
  /**
   * @param {{binary: string, env: NodeJS.ProcessEnv, vault: string|null}} settings
   */
  constructor({ binary, env, vault }) {
    this.binary = binary;
    this.env = env;
    this.vault = vault;
  }

  /** The global flags every command gets: the vault, when this object has one. */
  globalArgs() {
    return this.vault ? ["--vault", this.vault] : [];
  }

  /**
   * Runs `avfs --json ARGS` and returns its document. An error document
   * becomes the AVFSError subclass of its code, whatever the exit status.
   * @param {string[]} args the command and its arguments
   * @param {{input?: Buffer, acceptStatus?: (status: number) => boolean, signal?: AbortSignal, inVault?: boolean}} [options]
   *   `acceptStatus`: which exit statuses come with a normal document (default: 0 only);
   *   `inVault: false` leaves out `--vault` (store-wide commands such as `stats`)
   * @returns {Promise<{doc: any, status: number, args: string[]}>} `args`: all the arguments avfs got
   */
  async json(args, { input, acceptStatus = (status) => status === 0, signal, inVault = true } = {}) {
    const fullArgs = ["--json", ...(inVault ? this.globalArgs() : []), ...args];
    const output = await collect(this.binary, fullArgs, { env: this.env, input, signal });
    let doc;
    try {
      doc = parseDocument(output.stdout.toString("utf8"));
    } catch {
      throw protocolError("printed no JSON document", output, fullArgs);
    }
    if (doc !== null && typeof doc === "object" && doc.error && typeof doc.error.code === "string") {
      throw errorFromDocument(doc, fullArgs);
    }
    if (output.status === null || !acceptStatus(output.status)) {
      throw protocolError("ended unexpectedly with a non-error document", output, fullArgs);
    }
    return { doc, status: output.status, args: fullArgs };
  }

  /**
   * Runs `avfs ARGS` without --json and returns its stdout as bytes (for `cat`,
   * which streams a file of any size). On failure, the same command is run with
   * --json to raise the typed error: plain avfs only explains on stderr, for people.
   * @param {string[]} args
   * @returns {Promise<Buffer>}
   */
  async bytes(args) {
    const fullArgs = [...this.globalArgs(), ...args];
    const output = await collect(this.binary, fullArgs, { env: this.env });
    if (output.status === 0) return output.stdout;
    try {
      await this.json(args);
    } catch (err) {
      // The same failure again (same exit status): that is its typed error.
      // Another one (e.g. `too_large`, which only --json has) would mislead.
      if (err.exitStatus === output.status) throw err;
    }
    throw protocolError("failed without saying why in JSON", output, fullArgs);
  }
}

module.exports = { Runner, RUNNER };
