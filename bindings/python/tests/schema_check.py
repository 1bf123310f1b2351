"""Validates avfs's JSON documents against the checked-in schemas (docs/schema).

`avfs schema --write docs/schema` derives them from the Rust wire types;
index.json says which commands print which document. Every document the
wrapper parses in these tests goes through `validate_for_args` (conftest.py).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Mapping, Sequence, Tuple

import jsonschema

SCHEMA_DIR = Path(__file__).resolve().parents[3] / "docs" / "schema"

#: Global options that take a value, skipped when finding the command words.
_VALUED_GLOBALS = {"--vault"}


@lru_cache(maxsize=None)
def _validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{name}.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@lru_cache(maxsize=None)
def _commands() -> Tuple[Tuple[str, Tuple[str, ...]], ...]:
    """(command words, document names), longest commands first."""
    index = json.loads((SCHEMA_DIR / "index.json").read_text(encoding="utf-8"))
    by_command: Dict[str, List[str]] = {}
    for doc in index["documents"]:
        for command in doc["commands"]:
            by_command.setdefault(command, []).append(doc["name"])
    ordered = sorted(by_command.items(), key=lambda kv: -len(kv[0].split()))
    return tuple((c, tuple(names)) for c, names in ordered)


def validate_named(name: str, document: Mapping[str, Any]) -> None:
    """Raises AssertionError unless `document` is valid against schema `name`."""
    errors = sorted(_validator(name).iter_errors(document), key=lambda e: list(e.path))
    if errors:
        details = "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
        raise AssertionError(f"document does not match docs/schema/{name}.json: {details}")


def documents_for(args: Sequence[Any]) -> Tuple[str, ...]:
    """The documents the command in `args` (avfs's arguments) may print."""
    words: List[str] = []
    skip = False
    for arg in args:
        text = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
        if skip:
            skip = False
            continue
        if text in _VALUED_GLOBALS:
            skip = True
            continue
        if text == "--" or text.startswith("-"):
            if words:
                break
            continue
        words.append(text)
        if len(words) == 2:
            break
    line = " ".join(words)
    for command, names in _commands():
        if line == command or line.startswith(command + " "):
            return names
    raise AssertionError(f"docs/schema/index.json names no document for `avfs {line}`")


def validate_for_args(args: Sequence[Any], document: Mapping[str, Any]) -> None:
    """Validates a document printed by `avfs --json ARGS` (an error, or its command's document)."""
    if "error" in document:
        validate_named("error", document)
        return
    names = documents_for(args)
    failures = []
    for name in names:
        try:
            validate_named(name, document)
            return
        except AssertionError as e:
            failures.append(str(e))
    raise AssertionError(" / ".join(failures))
