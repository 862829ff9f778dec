"""The document the old agent hands the new one: which inherited fd is what, and replicas.

Invariant: `parse(dump(m)) == m`, and `parse` accepts nothing else: every problem is
reported as `handover manifest: <where>: <what is expected>`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

VERSION = 1


class ManifestError(ValueError):
    pass


@dataclass(frozen=True)
class Entry:
    id: str  # "r{revision}-{index}"
    revision: int
    pid: int | None  # None while the replica was between two processes
    create_time: float
    port: int
    fd: int | None  # inherited listening socket of the replica (None in port mode)
    ready: bool


@dataclass(frozen=True)
class Manifest:
    old_pid: int
    public_fd: int
    control_fd: int
    lock_fd: int
    replicas: tuple[Entry, ...]
    # what the old agent listened on by its spec (None: an agent that did not say), so the
    # new one binds its spec's address instead when that changed (`agent.relisten`)
    listen: str | None = None
    generation: int = 0  # the old agent's data plane generation; the new one's is +1

    def fds(self) -> list[int]:
        """Every fd the new agent must inherit."""
        own = [self.public_fd, self.control_fd, self.lock_fd]
        return own + [e.fd for e in self.replicas if e.fd is not None]


def dump(manifest: Manifest) -> str:
    doc = asdict(manifest) | {"version": VERSION}
    return json.dumps(doc, separators=(",", ":"))


def parse(text: str) -> Manifest:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ManifestError(f"handover manifest: not JSON: {exc}") from None
    _require(doc, "", dict)
    if doc.get("version") != VERSION:
        raise ManifestError(f"handover manifest: version: expected {VERSION}")
    replicas = _require(doc.get("replicas"), "replicas", list)
    return Manifest(
        old_pid=_int(doc, "old_pid"),
        public_fd=_int(doc, "public_fd"),
        control_fd=_int(doc, "control_fd"),
        lock_fd=_int(doc, "lock_fd"),
        replicas=tuple(_entry(item, f"replicas[{i}]") for i, item in enumerate(replicas)),
        listen=_optional_str(doc, "listen"),
        generation=_int(doc, "generation", optional=True) or 0,
    )


def _optional_str(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    return str(_require(value, key, str))


def _entry(item: Any, where: str) -> Entry:
    _require(item, where, dict)
    rid = _require(item.get("id"), f"{where}.id", str)
    if not rid.startswith("r") or not rid[1:].replace("-", "", 1).isdigit():
        raise ManifestError(f"handover manifest: {where}.id: expected r<revision>-<n>, got {rid!r}")
    create_time = item.get("create_time")
    if isinstance(create_time, bool) or not isinstance(create_time, int | float):
        raise ManifestError(f"handover manifest: {where}.create_time: expected a number")
    return Entry(
        id=rid,
        revision=_int(item, "revision", where),
        pid=_int(item, "pid", where, optional=True),
        create_time=float(create_time),
        port=_int(item, "port", where),
        fd=_int(item, "fd", where, optional=True),
        ready=_require(item.get("ready"), f"{where}.ready", bool),
    )


def _int(doc: dict[str, Any], key: str, where: str = "", *, optional: bool = False) -> Any:
    value = doc.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        path = f"{where}.{key}" if where else key
        raise ManifestError(f"handover manifest: {path}: expected an integer >= 0, got {value!r}")
    return value


def _require(value: Any, where: str, kind: type) -> Any:
    if not isinstance(value, kind):
        name = {dict: "an object", list: "a list", str: "a string", bool: "true or false"}[kind]
        raise ManifestError(f"handover manifest: {where or 'document'}: expected {name}")
    return value
