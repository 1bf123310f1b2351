"""`avfs mcp` driven by a real MCP client: the official Python SDK over stdio.

The server is the avfs binary under test ($AVFS_BIN); every structured result is
validated against the checked-in JSON Schema of the document its tool returns.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from .schema_check import validate_named

CRATE_TOML = """[package]
name = "tiny"
version = "0.1.0"
edition = "2021"

[dependencies]
"""

CRATE_LIB = """pub fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[cfg(test)]
mod tests {
    #[test]
    fn adds() {
        assert_eq!(super::add(2, 2), 4);
    }
}
"""

TOOLS = {
    "vault_list",
    "vault_create",
    "vault_fork",
    "vault_merge",
    "ls",
    "read",
    "write",
    "search",
    "grep",
    "checkpoint_save",
    "checkpoint_list",
    "checkpoint_restore",
    "diff",
    "log",
    "proxy_exec",
}


def _document(result: Any) -> Dict[str, Any]:
    """A tool result's JSON document (structured content, else its text)."""
    doc = getattr(result, "structured_content", None)
    if doc is None:
        doc = getattr(result, "structuredContent", None)
    if doc is None:
        doc = json.loads(result.content[0].text)
    text = json.loads(result.content[0].text)
    assert text == doc, "the text content and the structured content differ"
    return doc


def _is_error(result: Any) -> bool:
    flag = getattr(result, "is_error", None)
    if flag is None:
        flag = getattr(result, "isError", None)
    return bool(flag)


class Server:
    """One MCP session with `avfs [GLOBAL...] mcp [ARGS...]` on a private store."""

    def __init__(self, session: ClientSession) -> None:
        self.session = session

    async def ok(self, tool: str, schema: str, **arguments: Any) -> Dict[str, Any]:
        """Calls a tool that must succeed; checks its document against `schema`."""
        result = await self.session.call_tool(tool, arguments)
        doc = _document(result)
        assert not _is_error(result), f"{tool} failed: {doc}"
        validate_named(schema, doc)
        return doc

    async def error(self, tool: str, **arguments: Any) -> Dict[str, Any]:
        """Calls a tool that must fail; returns its structured document."""
        result = await self.session.call_tool(tool, arguments)
        doc = _document(result)
        assert _is_error(result), f"{tool} unexpectedly succeeded: {doc}"
        return doc


def _run(avfs_bin: str, home: Path, global_args: List[str], mcp_args: List[str], body) -> None:
    env = {
        "AVFS_HOME": str(home),
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(home)),
    }
    for name in ("CARGO_HOME", "RUSTUP_HOME", "RUSTUP_TOOLCHAIN"):
        if name in os.environ:
            env[name] = os.environ[name]
    params = StdioServerParameters(command=avfs_bin, args=[*global_args, "mcp", *mcp_args], env=env)

    async def main() -> None:
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                await body(Server(session))

    anyio.run(main)


def _avfs(avfs_bin: str, home: Path, *args: str) -> Dict[str, Any]:
    out = subprocess.run(
        [avfs_bin, "--json", *args],
        env={**os.environ, "AVFS_HOME": str(home)},
        capture_output=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return json.loads(out.stdout)


def test_mcp_client_writes_runs_cargo_test_and_is_refused(avfs_bin: str, home: Path, tmp_path: Path) -> None:
    if shutil.which("cargo") is None:
        pytest.fail("cargo is needed: proxy_exec runs `cargo test` on a small crate", pytrace=False)
    _avfs(avfs_bin, home, "vault", "create", "crate")
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"commands": {"allow": ["cargo *"], "deny": ["curl *"]}}))
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret\n")

    async def body(server: Server) -> None:
        listed = await server.session.list_tools()
        names = {t.name for t in listed.tools}
        assert TOOLS <= names, f"missing tools: {TOOLS - names}"
        proxy = next(t for t in listed.tools if t.name == "proxy_exec")
        assert "policy" in (proxy.description or "")

        vaults = await server.ok("vault_list", "vault_list")
        assert [v["name"] for v in vaults["vaults"]] == ["crate"]

        entry = await server.ok("write", "entry", path="/Cargo.toml", content=CRATE_TOML)
        assert entry["entry"]["path"] == "/Cargo.toml"
        await server.ok("write", "entry", path="/src/lib.rs", content=CRATE_LIB, parents=True)
        read = await server.ok("read", "file_content", path="/src/lib.rs")
        assert read["content"] == CRATE_LIB
        await server.ok("checkpoint_save", "checkpoint", name="before-test", message="crate written")

        run = await server.ok(
            "proxy_exec", "run", command=["cargo", "test", "--offline"], timeout="10m"
        )
        assert run["decision"]["allowed"] is True
        assert run["decision"]["policy"] == "file"
        assert run["exit_code"] == 0, run["stderr"][-2000:]
        assert "test tests::adds ... ok" in run["stdout"]
        changed = {c["path"] for c in run["changes"]}
        assert "/Cargo.lock" in changed, sorted(changed)[:20]
        # Agents get the summary: target/ once, with counts and bytes.
        assert run["changes_mode"] == "summary"
        assert not any(p.startswith("/target") for p in changed)
        assert [r["path"] for r in run["rollups"]] == ["/target"]
        assert run["rollups"][0]["added"] > 10 and run["rollups"][0]["bytes_added"] > 0
        assert run["summary"]["total"] == len(run["changes"]) + run["rollups"][0]["total"]

        listing = await server.ok("ls", "listing", path="/")
        assert {e["path"] for e in listing["entries"]} >= {"/Cargo.toml", "/Cargo.lock", "/src", "/target"}
        diff = await server.ok("diff", "diff", **{"from": "before-test", "paths": ["/Cargo.lock"]})
        assert [c["change"] for c in diff["changes"]] == ["added"]

        # Denied by the policy: not run, a tool error carrying the run document.
        denied = await server.error("proxy_exec", command=["curl", "http://127.0.0.1:9/"])
        validate_named("run", denied)
        assert denied["decision"]["allowed"] is False
        assert denied["decision"]["rule"] == "curl *"
        assert denied["exit_code"] is None
        denied = await server.error("proxy_exec", shell="rm -rf src")
        assert denied["decision"]["allowed"] is False

        # Nothing outside the vault: `..` cannot climb out, absolute host paths are vault paths.
        escaped = await server.error("read", path="/../../../../" + str(secret))
        validate_named("error", escaped)
        assert escaped["error"]["code"] == "invalid_path"
        missing = await server.error("read", path=str(secret))
        assert missing["error"]["code"] == "path_not_found"

        # Our stable codes travel as tool errors.
        nope = await server.error("checkpoint_restore", name="nope")
        assert nope["error"]["code"] == "checkpoint_not_found"
        unknown_vault = await server.error("ls", vault="nope")
        assert unknown_vault["error"]["code"] == "vault_not_found"

        # Vaults: create, fork (O(1), independent), list.
        created = await server.ok("vault_create", "vault", name="scratch")
        assert created["vault"]["name"] == "scratch"
        forked = await server.ok("vault_fork", "vault", source="crate", name="crate-try")
        assert forked["vault"]["forked_from"] == "crate"
        await server.ok("write", "entry", vault="crate-try", path="/only-in-fork", content="x")
        gone = await server.error("read", vault="crate", path="/only-in-fork")
        assert gone["error"]["code"] == "path_not_found"
        names = [v["name"] for v in (await server.ok("vault_list", "vault_list"))["vaults"]]
        assert names == ["crate", "crate-try", "scratch"]
        taken = await server.error("vault_create", name="scratch")
        assert taken["error"]["code"] == "vault_exists"

        # Merging a fork back: a fast-forward, then a conflict that merges nothing.
        merged = await server.ok("vault_merge", "merge", source="crate-try")
        assert (merged["target"], merged["status"]) == ("crate", "fast_forward")
        assert [c["path"] for c in merged["changes"]] == ["/only-in-fork"]
        await server.ok("read", "file_content", vault="crate", path="/only-in-fork")
        await server.ok("write", "entry", vault="crate", path="/both", content="base\n")
        await server.ok("vault_fork", "vault", source="crate", name="crate-other")
        await server.ok("write", "entry", vault="crate", path="/both", content="ours\n")
        await server.ok("write", "entry", vault="crate-other", path="/both", content="theirs\n")
        refused = await server.error("vault_merge", source="crate-other")
        validate_named("error", refused)
        assert refused["error"]["code"] == "merge_conflict"
        assert refused["error"]["merge"]["status"] == "conflict"
        assert [c["path"] for c in refused["error"]["merge"]["conflicts"]] == ["/both"]
        still = await server.ok("read", "file_content", vault="crate", path="/both")
        assert still["content"] == "ours\n"

    _run(avfs_bin, home, [], ["--policy", str(policy)], body)


def test_mcp_serves_one_vault_and_says_every_command_is_allowed_without_policy(
    avfs_bin: str, home: Path
) -> None:
    _avfs(avfs_bin, home, "vault", "create", "a")
    _avfs(avfs_bin, home, "vault", "create", "b")

    async def body(server: Server) -> None:
        listed = await server.session.list_tools()
        proxy = next(t for t in listed.tools if t.name == "proxy_exec")
        assert "EVERY command is allowed" in (proxy.description or "")
        vaults = await server.ok("vault_list", "vault_list")
        assert [v["name"] for v in vaults["vaults"]] == ["b"]
        other = await server.error("ls", vault="a")
        validate_named("error", other)
        assert other["error"]["code"] == "vault_not_served"
        fork = await server.error("vault_fork", name="c")
        assert fork["error"]["code"] == "vault_not_served"
        merge = await server.error("vault_merge", source="a")
        assert merge["error"]["code"] == "vault_not_served"
        await server.ok("write", "entry", path="/note.md", content="hello mcp\n")
        found = await server.ok("grep", "grep", pattern="mcp")
        assert [m["path"] for m in found["matches"]] == ["/note.md"]
        hits = await server.ok("search", "search", query="hello")
        assert [h["path"] for h in hits["results"]] == ["/note.md"]
        log = await server.ok("log", "log", path="/note.md")
        assert [v["version"] for v in log["versions"]] == [1]
        # No policy anywhere: the run is allowed, and says so.
        run = await server.ok("proxy_exec", "run", shell="echo hi > out.txt", on_conflict="theirs")
        assert run["decision"]["policy"] == "none" and run["exit_code"] == 0
        assert (run["merge"], run["on_conflict"], run["fork"]) == ("fast_forward", "theirs", None)
        assert "/out.txt" in [c["path"] for c in run["changes"]]
        saved = await server.ok("checkpoint_list", "checkpoint_list")
        assert saved["vault"] == "b"
        restored = await server.ok("checkpoint_restore", "checkpoint_restore", name=run["checkpoint"]["name"])
        assert restored["checkpoint"]["name"] == run["checkpoint"]["name"]

    _run(avfs_bin, home, ["--vault", "b"], [], body)
    # The other vault was never touched.
    assert _avfs(avfs_bin, home, "--vault", "a", "ls", "/")["entries"] == []
