// Type-checked (never run) by tests/package.test.mjs: the declarations as a
// CommonJS TypeScript user sees them.
import agentvfs = require("agentvfs");

const avfs = new agentvfs.AVFS("agent-workspace");

async function main(): Promise<void> {
  const run = await avfs.proxyExec(["cargo", "test"], { timeout: "5m" });
  const exitCode: number | null = run.exitCode;
  try {
    await avfs.vaultInfo("nope");
  } catch (err) {
    if (err instanceof agentvfs.PolicyDenied) {
      console.log(err.result.decision.rule);
    }
    if (err instanceof agentvfs.VaultNotFound) {
      const status: number | null = err.exitStatus;
      console.log(status, exitCode);
    }
  }
  const versions = await avfs.log("/f");
  const version: number = versions[versions.length - 1].version;
  const hits = await avfs.search("hello");
  console.log(version, hits.map((hit) => hit.score), (await avfs.auditVerify()).problems);
  const err = await avfs.revert("/f").catch((e: unknown) => e);
  if (err instanceof agentvfs.NothingToRevert || err instanceof agentvfs.VersionNotFound) {
    console.log(err.code);
  }
  // @ts-expect-error checkpointSave's message goes in the options
  await avfs.checkpointSave("name", "message");
  const pushed = await avfs.push({ checkpoints: true });
  const generation: number = pushed.generation;
  const check = await avfs.remoteCheck("origin");
  const conditional: boolean = check.conditionalWrites;
  const cloned = await avfs.clone("origin", "work", { lazy: true });
  const ran = await avfs.proxyShell("make", { push: true });
  if (ran.push && "error" in ran.push) console.log(ran.push.error.code);
  console.log(generation, conditional, cloned.downloaded.chunks, (await avfs.pull()).status);
  // @ts-expect-error credentials are never arguments
  await avfs.remoteAdd("origin", "s3://b/p", { accessKey: "x" });
}

export = main;
