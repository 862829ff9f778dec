"""A manifest under construction: plain data, and where each of its values came from.

Invariant: every value of a manifest is written through `Draft.put`, which records its
origin under the same path, so `explain` can answer for every value it lists; the body
holds only plain JSON data (dicts, lists, strings, numbers, booleans).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Any

_SEGMENT = re.compile(r"([^.\[\]]+)((?:\[\d+\])*)")


@dataclass(frozen=True)
class Origin:
    """The spec keys (or command-line options) a value is derived from, and why so."""

    keys: tuple[str, ...]
    why: str = ""


@dataclass(frozen=True)
class Manifest:
    body: dict[str, Any]
    origins: dict[str, Origin] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return str(self.body["kind"])

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def filename(self) -> str:
        """`deployment-hello.yaml`: one file per object with `render -o DIR`."""
        return f"{self.kind.lower()}-{self.name}.yaml"


class Draft:
    """An object being filled in; `manifest()` freezes it."""

    def __init__(self, api_version: str, kind: str, name: str, labels: dict[str, str]) -> None:
        self.body: dict[str, Any] = {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": {"name": name, "labels": dict(labels)},
        }
        self.origins: dict[str, Origin] = {}

    def put(self, path: str, value: Any, origin: Origin) -> None:
        """Set the value at `path` ("spec.template.spec.containers[0].image") and its origin."""
        parts = _parse(path)
        node: Any = self.body
        for here, after in itertools.pairwise(parts):
            node = _child(node, here, after)
        _assign(node, parts[-1], value)
        self.origins[path] = origin

    def manifest(self) -> Manifest:
        return Manifest(self.body, dict(self.origins))


def _parse(path: str) -> list[str | int]:
    parts: list[str | int] = []
    for segment in path.split("."):
        m = _SEGMENT.fullmatch(segment)
        if m is None:
            raise ValueError(f"bad manifest path {path!r} at {segment!r}")
        parts.append(m.group(1))
        parts += [int(i) for i in re.findall(r"\[(\d+)\]", m.group(2))]
    return parts


def _child(node: Any, key: str | int, after: str | int) -> Any:
    empty: Any = [] if isinstance(after, int) else {}
    if isinstance(key, int):
        if key == len(node):
            node.append(empty)
        return node[key]
    return node.setdefault(key, empty)


def _assign(node: Any, key: str | int, value: Any) -> None:
    if isinstance(key, int) and key == len(node):
        node.append(value)
    else:
        node[key] = value
