// Search: grep (regular expressions), find (filters), search (full-text, ranked).
import { test } from "node:test";
import assert from "node:assert/strict";
import { BadInput, InvalidPattern, InvalidQuery, PathNotFound } from "../index.mjs";
import { freshVault, rejection } from "./support.mjs";

/** A vault with a few text files, a binary one, a directory tree and a symlink-free layout. */
async function sampleVault(t) {
  const { avfs } = await freshVault(t);
  await avfs.write("/src/main.py", "import os\nprint('Hello')\n# TODO: tests\n");
  await avfs.write("/src/util.py", "def helper():\n    return 42\n");
  await avfs.write("/docs/guide.md", "A guide to the hello world program.\n");
  await avfs.write("/data.bin", Buffer.from([0, 1, 2, 104, 101, 108, 108, 111]));
  return avfs;
}

test("grep finds matching lines with their numbers; -i and -l", async (t) => {
  const avfs = await sampleVault(t);
  const result = await avfs.grep("hello");
  assert.deepEqual({ ...result }, {
    pattern: "hello",
    matches: [{ path: "/docs/guide.md", line: 1, text: "A guide to the hello world program." }],
    files: [{ path: "/docs/guide.md" }],
    binarySkipped: 1,
  });
  assert.equal(result.raw.binary_skipped, 1);
  const ignoringCase = await avfs.grep("hello", "/src", { ignoreCase: true });
  assert.deepEqual(ignoringCase.matches, [{ path: "/src/main.py", line: 2, text: "print('Hello')" }]);
  const filesOnly = await avfs.grep("e", "/", { filesOnly: true });
  assert.deepEqual([filesOnly.matches, filesOnly.files.map((f) => f.path)],
    [[], ["/docs/guide.md", "/src/main.py", "/src/util.py"]]);
  assert.deepEqual((await avfs.grep("^nothing$")).files, []);
});

test("grep rejects a bad regular expression with InvalidPattern, a missing path with PathNotFound", async (t) => {
  const avfs = await sampleVault(t);
  const err = await rejection(avfs.grep("(unclosed"));
  assert.ok(err instanceof InvalidPattern && err instanceof BadInput);
  assert.equal(err.exitStatus, 2);
  assert.match(err.hint, /regex/);
  assert.ok((await rejection(avfs.grep("x", "/nope"))) instanceof PathNotFound);
});

test("find filters by name, type, size and depth", async (t) => {
  const avfs = await sampleVault(t);
  const paths = async (path, options) => (await avfs.find(path, options)).map((e) => e.path);
  assert.deepEqual(await paths("/", { name: "*.py" }), ["/src/main.py", "/src/util.py"]);
  assert.deepEqual(await paths("/", { type: "d" }), ["/", "/docs", "/src"]);
  assert.deepEqual(await paths("/", { type: "dir", maxDepth: 1 }), ["/", "/docs", "/src"]);
  assert.deepEqual(await paths("/", { maxDepth: 0 }), ["/"]);
  assert.deepEqual(await paths("/", { type: "file", minSize: 30 }), ["/docs/guide.md", "/src/main.py"]);
  assert.deepEqual(await paths("/src", { maxSize: "30" }), ["/src/util.py"]);
  assert.deepEqual(await paths(undefined, { name: "{data,guide}*", type: "f" }), ["/data.bin", "/docs/guide.md"]);
  const [entry] = await avfs.find("/src", { name: "util.py" });
  assert.equal(entry.kind, "file");
  assert.equal(typeof entry.mtimeNs, "bigint");
});

test("find rejects a bad glob with InvalidPattern, and an unknown type before running avfs", async (t) => {
  const avfs = await sampleVault(t);
  assert.ok((await rejection(avfs.find("/", { name: "[" }))) instanceof InvalidPattern);
  await assert.rejects(avfs.find("/", { type: "socket" }), TypeError);
  assert.ok((await rejection(avfs.find("/missing"))) instanceof PathNotFound);
});

test("search ranks text files, best first, with snippets and a limit", async (t) => {
  const avfs = await sampleVault(t);
  await avfs.write("/notes/hello.txt", "hello hello hello, said the hello program\n");
  await avfs.cp("/notes/hello.txt", "/notes/copy.txt");
  const results = await avfs.search("hello");
  assert.deepEqual(results.map((r) => r.path).sort(),
    ["/docs/guide.md", "/notes/copy.txt", "/notes/hello.txt", "/src/main.py"]);
  for (const hit of results) {
    assert.equal(typeof hit.score, "number");
    assert.match(hit.snippet, /\[hello\]/i);
    assert.match(hit.hash, /^[0-9a-f]{64}$/);
  }
  for (let i = 1; i < results.length; i++) assert.ok(results[i - 1].score >= results[i].score, "best first");
  // Identical files are one document: the same score and hash.
  const copies = results.filter((r) => r.path.startsWith("/notes/"));
  assert.equal(copies[0].score, copies[1].score);
  assert.equal(copies[0].hash, copies[1].hash);
  assert.equal((await avfs.search("hello", { limit: 2 })).length, 2);
  assert.deepEqual((await avfs.search('"guide to the"')).map((r) => r.path), ["/docs/guide.md"]);
  assert.deepEqual(await avfs.search("absent"), []);
});

test("search rejects a query FTS5 cannot parse, or an empty one, with InvalidQuery", async (t) => {
  const avfs = await sampleVault(t);
  for (const query of ["AND AND", '"unclosed', ""]) {
    const err = await rejection(avfs.search(query));
    assert.ok(err instanceof InvalidQuery && err instanceof BadInput, query);
    assert.equal(err.code, "invalid_query");
  }
  await assert.rejects(avfs.search("x", { limit: -1 }), TypeError);
});
