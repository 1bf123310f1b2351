// Files: write and read text and bytes, directories, listing, copy, move, remove, import, export.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, readdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  DestinationExists, InvalidPath, PathTooLong, IsADirectory, NotAFile, PathNotFound, exactBytes,
} from "../index.mjs";
import { entryShape, freshVault, rejection, tempDir } from "./support.mjs";

const HELLO_HASH = "07dc8bee63e52a444ab3080cdfde1c2c0d7831ea2acc9b021952f1e032687398";

test("write a string, read it back as text and bytes", async (t) => {
  const { avfs } = await freshVault(t);
  const entry = await avfs.write("/src/hello.txt", "hello", { parents: true });
  assert.deepEqual(entryShape(entry), { path: "/src/hello.txt", kind: "file", mode: "0644", size: 5, hash: HELLO_HASH, target: null });
  assert.equal(await avfs.readText("/src/hello.txt"), "hello");
  assert.deepEqual(await avfs.readBytes("/src/hello.txt"), Buffer.from("hello"));
  assert.equal(entry.raw.entry.hash, HELLO_HASH);
});

test("mtimeNs is an exact bigint, the same instant as mtime", async (t) => {
  const { avfs } = await freshVault(t);
  const entry = await avfs.write("/f", "x");
  assert.equal(typeof entry.mtimeNs, "bigint");
  const [, fraction] = entry.mtime.match(/\.(\d+)Z$/);
  assert.equal(entry.mtimeNs % 1_000_000_000n, BigInt(fraction.padEnd(9, "0")));
  assert.equal(entry.mtimeNs / 1_000_000_000n, BigInt(Date.parse(entry.mtime.replace(/\.\d+Z$/, "Z")) / 1000));
  assert.equal(entry.raw.entry.mtime_ns, entry.mtimeNs);
});

test("every byte value round-trips through a Buffer and a Uint8Array", async (t) => {
  const { avfs } = await freshVault(t);
  const bytes = Buffer.from(Array.from({ length: 512 }, (_, i) => i % 256));
  await avfs.write("/all.bin", bytes);
  assert.deepEqual(await avfs.readBytes("/all.bin"), bytes);
  const view = new Uint8Array(bytes.buffer, bytes.byteOffset + 10, 3);
  await avfs.write("/view.bin", view);
  assert.deepEqual(await avfs.readBytes("/view.bin"), Buffer.from([10, 11, 12]));
  assert.equal(await avfs.readText("/all.bin").then((text) => text.includes("\uFFFD")), true, "invalid UTF-8 reads lossily");
});

test("a 20 MiB file (over cat --json's 16 MiB limit) round-trips", async (t) => {
  const { avfs } = await freshVault(t);
  const big = randomBytes(20 * 1024 * 1024);
  const entry = await avfs.write("/big.bin", big);
  assert.equal(entry.size, big.length);
  assert.ok((await avfs.readBytes("/big.bin")).equals(big));
});

test("write: empty content, append, mode, and a path that starts with a dash", async (t) => {
  const { avfs } = await freshVault(t);
  assert.equal((await avfs.write("/empty", "")).size, 0);
  assert.equal(await avfs.readText("/empty"), "");
  await avfs.write("/log", "one\n");
  await avfs.write("/log", Buffer.from("two\n"), { append: true });
  assert.equal(await avfs.readText("/log"), "one\ntwo\n");
  assert.equal((await avfs.write("/secret", "s", { mode: 0o600 })).mode, "0600");
  assert.equal((await avfs.write("/script", "s", { mode: "755" })).mode, "0755");
  assert.equal((await avfs.write("-dash", "d")).path, "/-dash");
  assert.equal((await avfs.write("/made/on/the/way.txt", "p")).path, "/made/on/the/way.txt", "parents by default");
  assert.ok((await rejection(avfs.write("/not/there.txt", "p", { parents: false }))) instanceof PathNotFound);
  await assert.rejects(avfs.write("/x", 42), TypeError);
});

test("mkdir, ls, tree, stat and exists", async (t) => {
  const { avfs } = await freshVault(t);
  const made = await avfs.mkdir(["/a", "/b"]);
  assert.deepEqual(made.map(entryShape), [
    { path: "/a", kind: "dir", mode: "0755", size: 0, hash: null, target: null },
    { path: "/b", kind: "dir", mode: "0755", size: 0, hash: null, target: null },
  ]);
  assert.deepEqual((await avfs.mkdir("/a/deep/er", { parents: true, mode: 0o700 })).map((e) => [e.path, e.mode]), [["/a/deep/er", "0700"]]);
  await avfs.write("/a/f.txt", "hello");
  assert.deepEqual((await avfs.ls()).map((e) => e.path), ["/a", "/b"]);
  assert.deepEqual((await avfs.ls("/a")).map((e) => e.path), ["/a/deep", "/a/f.txt"]);
  assert.deepEqual((await avfs.tree()).map((e) => e.path), ["/", "/a", "/a/deep", "/a/deep/er", "/a/f.txt", "/b"]);
  assert.deepEqual(entryShape(await avfs.stat("/a/f.txt")), { path: "/a/f.txt", kind: "file", mode: "0644", size: 5, hash: HELLO_HASH, target: null });
  assert.equal(await avfs.exists("/a/deep"), true);
  assert.equal(await avfs.exists("/nope"), false);
});

test("cp, mv and rm", async (t) => {
  const { avfs } = await freshVault(t);
  await avfs.write("/src/a.txt", "A", { parents: true });
  assert.equal((await avfs.cp("/src/a.txt", "/b.txt")).path, "/b.txt");
  assert.equal((await avfs.cp("/src", "/src2", { recursive: true })).kind, "dir");
  assert.equal(await avfs.readText("/src2/a.txt"), "A");
  const moved = await avfs.mv("/b.txt", "/src");
  assert.deepEqual([moved.from, moved.entry.path, moved.raw.entry.path], ["/b.txt", "/src/b.txt", "/src/b.txt"]);
  const notRecursive = await rejection(avfs.rm("/src"));
  assert.ok(notRecursive instanceof IsADirectory);
  assert.equal(notRecursive.hint, "use -r for directories");
  assert.deepEqual(await avfs.rm(["/src", "/missing"], { recursive: true, force: true }), [{ path: "/src" }]);
  assert.deepEqual((await avfs.ls()).map((e) => e.path), ["/src2"]);
});

test("file errors: missing path, directory, path above the root", async (t) => {
  const { avfs } = await freshVault(t);
  await avfs.mkdir("/dir");
  for (const read of [() => avfs.readText("/nope"), () => avfs.readBytes("/nope"), () => avfs.stat("/nope")]) {
    const err = await rejection(read());
    assert.ok(err instanceof PathNotFound, `got ${err.name}: ${err.message}`);
    assert.equal(err.message, "no such file or directory: /nope");
  }
  assert.ok((await rejection(avfs.readBytes("/dir"))) instanceof IsADirectory);
  assert.ok((await rejection(avfs.write("/../x", "x"))) instanceof InvalidPath);
  assert.ok((await rejection(avfs.stat(`/${"x".repeat(256)}`))) instanceof PathTooLong);
});

test("importDir and export keep symlinks; non-UTF-8 names come with their exact bytes", async (t) => {
  const { avfs } = await freshVault(t);
  const host = await tempDir(t);
  const oddName = Buffer.from([0x6e, 0xff, 0x2e, 0x74, 0x78, 0x74]); // "n\xff.txt"
  await mkdir(join(host, "sub"));
  await writeFile(join(host, "sub", "hello.txt"), "hello");
  await writeFile(Buffer.concat([Buffer.from(`${host}/`), oddName]), "odd");
  await symlink("sub/hello.txt", join(host, "link"));
  const imported = await avfs.importDir(host, "/in");
  assert.deepEqual(imported.imported, { files: 2, dirs: 1, symlinks: 1, hardLinks: 0, special: 0, bytes: 8, skipped: [] });
  assert.equal(imported.dest, "/in");

  const odd = (await avfs.ls("/in")).find((e) => e.pathB64 !== undefined);
  assert.equal(odd.path, "/in/n\uFFFD.txt");
  assert.deepEqual(exactBytes(odd), Buffer.concat([Buffer.from("/in/"), oddName]));
  assert.deepEqual(exactBytes(await avfs.stat("/in/sub/hello.txt")), Buffer.from("/in/sub/hello.txt"));
  const link = await avfs.stat("/in/link");
  assert.deepEqual([link.kind, link.target], ["symlink", "sub/hello.txt"]);
  assert.ok((await rejection(avfs.readText("/in/link"))) instanceof NotAFile);

  const out = join(await tempDir(t), "out");
  const exported = await avfs.export("/in/sub", out);
  assert.deepEqual([exported.src, exported.hostPath, exported.exported.files], ["/in/sub", out, 1]);
  assert.equal(await readFile(join(out, "hello.txt"), "utf8"), "hello");
  assert.ok((await rejection(avfs.export("/in/sub", out))) instanceof DestinationExists);
  await avfs.write("/in/sub/hello.txt", "changed");
  await avfs.export("/in/sub", out, { force: true });
  assert.deepEqual(await readdir(out), ["hello.txt"]);
  assert.equal(await readFile(join(out, "hello.txt"), "utf8"), "changed");
});
