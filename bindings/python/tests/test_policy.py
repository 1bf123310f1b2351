"""Policies: set (from a Policy, a dict or a file), show, check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agentvfs import AVFS, CommandRules, EnvRules, InvalidPolicy, PathRule, Policy, PolicyCheck


def test_no_policy_allows_everything(avfs: AVFS) -> None:
    assert avfs.policy_show() is None
    check = avfs.policy_check("rm", "-rf", "/")
    assert isinstance(check, PolicyCheck)
    assert (check.allowed, check.rule, check.policy_source) == (True, None, "none")
    assert check.command == ["rm", "-rf", "/"]


def test_set_a_policy_object_and_read_it_back_normalized(avfs: AVFS) -> None:
    policy = Policy(
        commands=CommandRules(allow=["cargo *", "git *"], deny=["git push *"]),
        paths=[PathRule("**", ["read"]), PathRule("src/**", ["read", "write"]), PathRule("secrets/**", deny=True)],
        env=EnvRules(passed=["PATH"], fixed={"CI": "1"}),
        timeout="600s",
        checkpoint="auto",
        output_limit="1048576",
    )
    stored = avfs.policy_set(policy)
    assert stored.timeout == "10m"  # normalized by avfs to its largest exact unit
    assert stored.output_limit == "1MiB"
    assert stored.commands == policy.commands
    assert stored.paths is not None and stored.paths[2] == PathRule("secrets/**", [], deny=True)
    assert stored.env == EnvRules(passed=["PATH"], fixed={"CI": "1"})
    assert avfs.policy_show() == stored


def test_check_against_the_vault_policy(avfs: AVFS) -> None:
    avfs.policy_set({"commands": {"allow": ["git *"], "deny": ["git push *"]}})
    denied = avfs.policy_check("git", "push", "origin")
    assert (denied.allowed, denied.rule, denied.policy_source) == (False, "git push *", "vault")
    assert "git push *" in denied.reason
    allowed = avfs.policy_check("/usr/bin/git", "status")
    assert (allowed.allowed, allowed.rule) == (True, "git *")
    not_listed = avfs.policy_check("curl", "x")
    assert (not_listed.allowed, not_listed.rule) == (False, None)


def test_check_against_a_policy_file(avfs: AVFS, tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"commands": {"deny": ["curl *"]}}))
    check = avfs.policy_check("curl", "example.com", policy=path)
    assert (check.allowed, check.policy_source) == (False, "file")
    assert avfs.policy_check("curl", policy={"commands": {"allow": ["curl"]}}).allowed
    assert avfs.policy_set(str(path)).commands == CommandRules(deny=["curl *"])


def test_invalid_policy_names_the_field(avfs: AVFS) -> None:
    with pytest.raises(InvalidPolicy) as caught:
        avfs.policy_set({"paths": [{"glob": "**", "ops": ["exec"]}]})
    assert "paths[0].ops[0]" in caught.value.message
    assert caught.value.exit_status == 2
    with pytest.raises(InvalidPolicy, match="timeout"):
        avfs.policy_set(Policy(timeout="5 minutes"))
    assert avfs.policy_show() is None


def test_policy_round_trips_through_json() -> None:
    document = {
        "commands": {"allow": ["a *"], "deny": ["b"]},
        "paths": [{"glob": "x/**", "ops": ["read"]}, {"glob": "y", "ops": [], "deny": True}],
        "env": {"pass": ["HOME"], "set": {"K": "v"}},
        "timeout": "1m",
        "grace": "2s",
        "checkpoint": "never",
        "output_limit": "1KiB",
    }
    assert Policy.from_json(document).to_json() == document
    assert Policy().to_json() == {}
