"""The policy document (docs/json.md, "Policies") as dataclasses you can build or read.

avfs validates and normalizes policies; this module only converts between these
classes and the JSON object, so a policy avfs rejects raises `InvalidPolicy` from
the binary, never from here. JSON `env.pass`/`env.set` are `EnvRules.passed`/`.fixed`
(`pass` is a Python keyword).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Mapping, Optional, Union

__all__ = ["Policy", "CommandRules", "PathRule", "EnvRules", "PolicyInput"]


@dataclass
class CommandRules:
    """Command globs: a command runs if no `deny` glob matches and (no `allow` list or one matches)."""

    allow: Optional[List[str]] = None
    deny: List[str] = field(default_factory=list)

    def to_json(self) -> Dict[str, Any]:
        """The JSON object, without absent fields."""
        doc: Dict[str, Any] = {}
        if self.allow is not None:
            doc["allow"] = list(self.allow)
        if self.deny:
            doc["deny"] = list(self.deny)
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> CommandRules:
        """Parses a `commands` object."""
        allow = doc.get("allow")
        return cls(allow=None if allow is None else list(allow), deny=list(doc.get("deny", [])))


@dataclass
class PathRule:
    """A vault-relative glob and the operations (read, write, create, delete) it grants, or a denial."""

    glob: str
    ops: List[str] = field(default_factory=list)
    deny: bool = False

    def to_json(self) -> Dict[str, Any]:
        """The JSON object (`deny` only when true, as avfs normalizes it)."""
        doc: Dict[str, Any] = {"glob": self.glob, "ops": list(self.ops)}
        if self.deny:
            doc["deny"] = True
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> PathRule:
        """Parses one `paths` item."""
        return cls(glob=doc["glob"], ops=list(doc.get("ops", [])), deny=bool(doc.get("deny", False)))


@dataclass
class EnvRules:
    """The environment a proxied command sees: variables passed through, and fixed ones."""

    passed: List[str] = field(default_factory=list)
    fixed: Dict[str, str] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        """The JSON object (`pass` and `set`)."""
        return {"pass": list(self.passed), "set": dict(self.fixed)}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> EnvRules:
        """Parses an `env` object."""
        return cls(passed=list(doc.get("pass", [])), fixed=dict(doc.get("set", {})))


@dataclass
class Policy:
    """A vault policy; every field is optional and None means absent (durations like "5m", sizes like "1MiB")."""

    commands: Optional[CommandRules] = None
    paths: Optional[List[PathRule]] = None
    env: Optional[EnvRules] = None
    timeout: Optional[str] = None
    grace: Optional[str] = None
    checkpoint: Optional[str] = None
    output_limit: Optional[str] = None
    on_conflict: Optional[str] = None
    workdir: Optional[str] = None

    def to_json(self) -> Dict[str, Any]:
        """The JSON object avfs reads, without absent fields."""
        doc: Dict[str, Any] = {}
        if self.commands is not None:
            doc["commands"] = self.commands.to_json()
        if self.paths is not None:
            doc["paths"] = [rule.to_json() for rule in self.paths]
        if self.env is not None:
            doc["env"] = self.env.to_json()
        for key in ("timeout", "grace", "checkpoint", "output_limit", "on_conflict", "workdir"):
            value = getattr(self, key)
            if value is not None:
                doc[key] = value
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Policy:
        """Parses a policy object (as `policy show` prints it)."""
        commands, paths, env = doc.get("commands"), doc.get("paths"), doc.get("env")
        return cls(
            commands=None if commands is None else CommandRules.from_json(commands),
            paths=None if paths is None else [PathRule.from_json(p) for p in paths],
            env=None if env is None else EnvRules.from_json(env),
            timeout=doc.get("timeout"),
            grace=doc.get("grace"),
            checkpoint=doc.get("checkpoint"),
            output_limit=doc.get("output_limit"),
            on_conflict=doc.get("on_conflict"),
            workdir=doc.get("workdir"),
        )


#: What the policy methods accept: a `Policy`, its JSON object as a mapping, or the path of a policy file.
PolicyInput = Union[Policy, Mapping[str, Any], str, "os.PathLike[str]"]


@contextlib.contextmanager
def policy_file(policy: PolicyInput) -> Iterator[str]:
    """Yields the path of a file holding `policy` (a temporary one unless it already is a path)."""
    if isinstance(policy, (str, os.PathLike)):
        yield os.fspath(policy)
        return
    document = policy.to_json() if isinstance(policy, Policy) else dict(policy)
    # avfs reads policies from files only; a private temporary directory keeps the
    # file's name readable in error messages ("... (in /tmp/avfs-policy-x/policy.json)").
    with tempfile.TemporaryDirectory(prefix="avfs-policy-") as directory:
        path = os.path.join(directory, "policy.json")
        with open(path, "w", encoding="utf-8") as file:
            json.dump(document, file)
        yield path
