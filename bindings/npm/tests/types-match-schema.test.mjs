// index.d.ts and docs/schema (derived from the Rust wire types) agree: every
// field a document's schema lists is declared (camelCased) on the interface
// that types it, and the interface declares nothing the document lacks, save
// what this package adds. A field added in Rust fails here until index.d.ts
// declares it (or this file says why it does not).
import test from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { SCHEMA_DIR } from "./schema-check.mjs";

const DTS = join(dirname(fileURLToPath(import.meta.url)), "..", "index.d.ts");

/** interface -> [schema file, `$defs` entry or "" for the document itself]. */
const SOURCES = {
  Entry: ["entry", "WireEntry"],
  Vault: ["vault", "WireVault"],
  VaultList: ["vault_list", ""],
  Checkpoint: ["checkpoint", "WireCheckpoint"],
  RestoreResult: ["checkpoint_restore", ""],
  ChangeSide: ["diff", "WireSide"],
  Change: ["diff", "DiffChange"],
  DiffSummary: ["diff", "WireSummary"],
  Diff: ["diff", ""],
  Version: ["log", "WireVersion"],
  CheckoutResult: ["checkout", ""],
  RevertResult: ["revert", ""],
  VersionSide: ["version_diff", "VersionSide"],
  VersionDiff: ["version_diff", ""],
  GrepMatch: ["grep", "GrepMatch"],
  GrepResult: ["grep", ""],
  SearchHit: ["search", "SearchResult"],
  VaultStats: ["stats", "WireVaultStats"],
  StoreStats: ["stats", "WireStoreStats"],
  Stats: ["stats", ""],
  GcResult: ["gc", ""],
  PruneResult: ["prune", ""],
  CompactResult: ["compact", ""],
  QuotaInfo: ["quota", ""],
  AuditEntry: ["audit", "AuditEntry"],
  AuditVerification: ["audit_verify", ""],
  AffectedPath: ["verify", "VerifyPath"],
  StoreFault: ["verify", "VerifyFault"],
  StoreVerification: ["verify", ""],
  Moved: ["move", ""],
  RemovedPath: ["removed", "WirePath"],
  Counts: ["import", "WireCounts"],
  ImportResult: ["import", ""],
  ExportResult: ["export", ""],
  Mount: ["mount", ""],
  MountList: ["mounts", ""],
  UnmountResult: ["unmount", ""],
  PathConflict: ["merge", "WireConflict"],
  Merge: ["merge", ""],
  Decision: ["policy_check", ""],
  Violation: ["run", "RunViolation"],
  Rollup: ["run", "WireRollup"],
  Run: ["run", ""],
  Remote: ["remote", "WireRemote"],
  RemoteCheck: ["remote_check", ""],
  Transferred: ["push", "WireMoved"],
  PushResult: ["push", "WirePush"],
  CloneResult: ["clone", "WireClone"],
  PullResult: ["pull", "WirePull"],
  RemoteVaultList: ["remote_vault_list", ""],
  RemoteGcResult: ["remote_gc", ""],
};

/** Interfaces that type no document: options, inputs, error details. */
const NOT_DOCUMENTS = new Set(["RunOptions", "AVFSOptions", "ErrorDetails", "PruneOptions", "PathRule", "Policy"]);

/** Fields this package adds to a document (documented in index.d.ts as "Added by agentvfs"). */
const ADDED = { Run: ["succeeded", "changedFiles", "conflicted"] };

/** Document fields an interface leaves out on purpose. */
const NOT_PARSED = {};

const camel = (key) => key.replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());

function schemaFields(file, def) {
  const schema = JSON.parse(readFileSync(join(SCHEMA_DIR, `${file}.json`), "utf8"));
  const node = def ? schema.$defs[def] : schema;
  return new Set(Object.keys(node.properties ?? {}).map(camel));
}

function declaredInterfaces() {
  const source = ts.createSourceFile(DTS, readFileSync(DTS, "utf8"), ts.ScriptTarget.Latest, true);
  const found = new Map();
  for (const node of source.statements) {
    if (!ts.isInterfaceDeclaration(node)) continue;
    const props = node.members.filter(ts.isPropertySignature).map((m) => m.name.getText(source));
    found.set(node.name.text, new Set(props));
  }
  return found;
}

test("every interface of index.d.ts that types a document names its schema", () => {
  const unmapped = [...declaredInterfaces().keys()].filter((n) => !(n in SOURCES) && !NOT_DOCUMENTS.has(n));
  assert.deepEqual(unmapped, [], "add these interfaces to SOURCES (or NOT_DOCUMENTS)");
});

test("each interface declares exactly its document's fields", () => {
  const declared = declaredInterfaces();
  const disagreements = {};
  for (const [name, [file, def]] of Object.entries(SOURCES)) {
    const ours = new Set([...declared.get(name)].filter((f) => !(ADDED[name] ?? []).includes(f)));
    const theirs = new Set([...schemaFields(file, def)].filter((f) => !(NOT_PARSED[name] ?? []).includes(f)));
    const onlyOurs = [...ours].filter((f) => !theirs.has(f)).sort();
    const onlyTheirs = [...theirs].filter((f) => !ours.has(f)).sort();
    if (onlyOurs.length || onlyTheirs.length) disagreements[name] = { onlyInIndexDts: onlyOurs, onlyInSchema: onlyTheirs };
  }
  assert.deepEqual(disagreements, {}, `index.d.ts vs docs/schema (${SCHEMA_DIR})`);
});
