// The package as users get it: `npm install ./bindings/npm` into a new project,
// then require, import, the TypeScript declarations, and the README's examples.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import * as esm from "../index.mjs";
import { BINARY, tempDir } from "./support.mjs";

const run = promisify(execFile);
const PACKAGE_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
let root;
let project;

/** Runs a script file of the consumer project with node; returns its stdout. */
async function runNode(file, home) {
  const env = { ...process.env, AVFS_BIN: BINARY, AVFS_HOME: home };
  const { stdout } = await run(process.execPath, [file], { cwd: project, env });
  return stdout;
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), "agentvfs-consumer-"));
  project = join(root, "consumer");
  await mkdir(project);
  await writeFile(join(project, "package.json"), JSON.stringify({ name: "consumer", version: "1.0.0", private: true }));
  // --install-links copies the packed package (as from a registry) instead of
  // linking the folder, so a file missing from "files" would show.
  await run("npm", ["install", "--install-links", "--offline", "--no-audit", "--no-fund", PACKAGE_DIR], {
    cwd: project, env: { ...process.env, npm_config_loglevel: "error" },
  });
});

after(() => rm(root, { recursive: true, force: true }));

test("the installed package holds its entry points, declarations and lib only", async () => {
  assert.deepEqual((await readdir(join(project, "node_modules", "agentvfs"))).sort(),
    ["README.md", "index.d.mts", "index.d.ts", "index.js", "index.mjs", "lib", "package.json"]);
});

test("require('agentvfs') works from CommonJS", async (t) => {
  await writeFile(join(project, "consumer.cjs"), `
    const { AVFS, VaultNotFound, NotFound, AVFSError } = require("agentvfs");
    (async () => {
      const avfs = new AVFS("cjs");
      await avfs.createVault("cjs");
      await avfs.write("/hello.txt", "from require");
      const err = await avfs.forVault("nope").ls().catch((e) => e);
      console.log(JSON.stringify([await avfs.readText("/hello.txt"), err instanceof VaultNotFound,
        err instanceof NotFound, err instanceof AVFSError, err.name]));
    })().catch((e) => { console.error(e); process.exit(1); });
  `);
  assert.equal(await runNode("consumer.cjs", await tempDir(t)),
    `${JSON.stringify(["from require", true, true, true, "VaultNotFound"])}\n`);
});

test("import from ESM works and shares the CommonJS classes", async (t) => {
  await writeFile(join(project, "consumer.mjs"), `
    import { createRequire } from "node:module";
    import agentvfs, { AVFS, PathNotFound } from "agentvfs";
    const required = createRequire(import.meta.url)("agentvfs");
    const avfs = new AVFS("esm");
    await avfs.createVault("esm");
    const err = await avfs.readText("/missing").catch((e) => e);
    console.log(JSON.stringify([required.AVFS === AVFS, agentvfs === required, err instanceof required.PathNotFound,
      err instanceof PathNotFound, (await avfs.vaultInfo()).name]));
  `);
  assert.equal(await runNode("consumer.mjs", await tempDir(t)), `${JSON.stringify([true, true, true, true, "esm"])}\n`);
});

test("the ESM entry exports every name of the CommonJS entry", async () => {
  const { createRequire } = await import("node:module");
  const cjs = createRequire(import.meta.url)("../index.js");
  assert.deepEqual(Object.keys(esm).filter((name) => name !== "default").sort(), Object.keys(cjs).sort());
  for (const name of Object.keys(cjs)) assert.equal(esm[name], cjs[name], name);
});

test("the TypeScript declarations type-check from ESM and CommonJS consumers", async () => {
  for (const file of ["usage.mts", "usage.cts"]) {
    await copyFile(join(PACKAGE_DIR, "tests", "types", file), join(project, file));
  }
  await writeFile(join(project, "tsconfig.json"), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, module: "nodenext", moduleResolution: "nodenext", target: "es2022",
      // As most projects set it: checking all of @types/node too takes 20 s.
      // The usage files' @ts-expect-error lines fail if a declaration decays to any.
      skipLibCheck: true, types: ["node"], typeRoots: [join(PACKAGE_DIR, "node_modules", "@types")],
    },
    files: ["usage.mts", "usage.cts"],
  }));
  const tsc = join(PACKAGE_DIR, "node_modules", "typescript", "bin", "tsc");
  const result = await run(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: project }).catch((err) => err);
  assert.equal(result.code ?? 0, 0, `tsc failed:\n${result.stdout}${result.stderr}`);
});

test("every js example of README.md runs as written", async (t) => {
  const readme = await readFile(join(PACKAGE_DIR, "README.md"), "utf8");
  const examples = [...readme.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((match) => match[1]);
  assert.ok(examples.length >= 3, "README.md has its examples");
  const outputs = [];
  for (const [i, code] of examples.entries()) {
    // CommonJS examples use require(); the others are ES modules.
    const file = `readme-${i}.${/\brequire\(/.test(code) ? "cjs" : "mjs"}`;
    await writeFile(join(project, file), code);
    outputs.push(await runNode(file, await tempDir(t)));
  }
  assert.deepEqual(outputs, [
    "1 false [ 'modified /src/main.py' ]\nprint('hi')\n\ndenied: deny rule \"git push *\" matches the command line\n",
    "[ '/notes.md' ]\npath_not_found: no such file or directory: /missing.md\n",
    "[ 'v1 write 22', 'v2 write 27' ]\nstep 1: read the code\n\n/plan.md step 1: [rewrite] everything\n\n3 step 1: read the code\n\n",
  ]);
});

test("the project README shows this package's first example unchanged", async () => {
  const ours = await readFile(join(PACKAGE_DIR, "README.md"), "utf8");
  const project = await readFile(join(PACKAGE_DIR, "..", "..", "README.md"), "utf8");
  const blocks = (text) => [...text.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((match) => match[1]);
  assert.deepEqual(blocks(project), blocks(ours).slice(0, 1),
    "README.md's Node example differs from the one tested here");
});
