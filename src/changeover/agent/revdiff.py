"""What changed between two revisions: release fields, environment, and the spec snapshot.

Invariant: pure and total over two revision documents; every difference is reported
once, as a key path with its old and new value (None when absent), sorted by path, so
`history` and `history --diff` show the same changes for the same pair.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RELEASE = ("version", "path", "command", "replicas")
MISSING: Any = None


@dataclass(frozen=True)
class Change:
    path: str  # "command", "env.LOG_LEVEL", "spec.strategy.max_surge"
    old: Any
    new: Any

    def describe(self) -> str:
        if self.old is None:
            return f"{self.path} added: {_show(self.new)}"
        if self.new is None:
            return f"{self.path} removed (was {_show(self.old)})"
        return f"{self.path}: {_show(self.old)} -> {_show(self.new)}"


def changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """Differences from `old` to `new` (revision documents, `spec` optional in both)."""
    found = [Change(k, old.get(k), new.get(k)) for k in RELEASE if old.get(k) != new.get(k)]
    found += _mapping_changes("env", old.get("env") or {}, new.get("env") or {})
    if "spec" in old and "spec" in new:
        found += _mapping_changes("spec", _flat(old["spec"]), _flat(new["spec"]))
    return sorted(found, key=lambda c: c.path)


def notable(found: list[Change]) -> list[Change]:
    """The changes worth a line in `history`: not the version (it has its own column),
    nor a spec key that only repeats a release field's change (spec.app.command)."""
    return [c for c in found if c.path != "version" and not _echo(c, found)]


def _mapping_changes(prefix: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    keys = sorted(set(old) | set(new))
    return [
        Change(f"{prefix}.{k}", old.get(k, MISSING), new.get(k, MISSING))
        for k in keys
        if old.get(k, MISSING) != new.get(k, MISSING)
    ]


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested tables as dotted key paths; lists stay whole values."""
    if not isinstance(tree, Mapping):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            out.update(_flat(value, path))
        else:
            out[path] = value
    return out


def _echo(change: Change, found: list[Change]) -> bool:
    """A spec key that only repeats a release field's change (spec.app.command, ...)."""
    paths = {c.path for c in found}
    if change.path.startswith("spec.app.env."):
        return "env." + change.path.removeprefix("spec.app.env.") in paths
    mirror = {"spec.app.command": "command", "spec.app.replicas": "replicas"}
    return mirror.get(change.path) in paths


def _show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 80 else text[:77] + "..."
