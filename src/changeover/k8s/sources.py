"""Where a spec value comes from, as the user would edit it.

Invariant: `Sources.key(path)` names the key to edit for the merged spec being rendered:
the environment's overlay key when the overlay sets it, else the base key, marked
"(default)" when no file sets it; rendering never names a key that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from changeover.k8s.draft import Origin
from changeover.spec.environments import overlay_has
from changeover.spec.models import Spec

_TOKEN = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


class Sources:
    def __init__(
        self, spec: Spec, environment: str | None = None, overlay: Mapping[str, Any] | None = None
    ) -> None:
        self.spec = spec
        self.environment = environment
        self.overlay = overlay or {}

    def key(self, path: str) -> str:
        if self.environment is not None and overlay_has(self.overlay, path):
            return f"environments.{self.environment}.spec.{path}"
        return path if self.is_set(path) else f"{path} (default)"

    def origin(self, *paths: str, why: str = "", options: tuple[str, ...] = ()) -> Origin:
        """The origin of a value derived from spec `paths` and command-line `options`."""
        return Origin((*(self.key(p) for p in paths), *options), why)

    def is_set(self, path: str) -> bool:
        """Whether the spec file (or the overlay) wrote `path`, rather than a default."""
        node: Any = self.spec
        for m in _TOKEN.finditer(path):
            name, index = m.group(1), m.group(2)
            if index is not None:
                if not isinstance(node, list) or int(index) >= len(node):
                    return False
                node = node[int(index)]
            elif isinstance(node, BaseModel):
                if name not in node.model_fields_set:
                    return False
                node = getattr(node, name)
            elif isinstance(node, Mapping) and name in node:
                node = node[name]
            else:
                return False
        return True


def option(name: str, why: str = "") -> Origin:
    """The origin of a value set by a command-line option of `k8s render` alone."""
    return Origin((name,), why)


FIXED = Origin(("(convention)",), "")


def fixed(why: str) -> Origin:
    """A value the rendering always writes: a convention, not a setting."""
    return Origin(FIXED.keys, why)
