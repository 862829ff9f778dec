"""Request templates and the seeded choice among them.

Invariant: a `Template` always renders to one complete, well-formed HTTP/1.1 request
(explicit Content-Length whenever there is a body), and a `Chooser` built from the same
templates and seed yields the same sequence of choices on every run.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate

from changeover.loadgen.target import Target

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_RESERVED = frozenset({"content-length", "transfer-encoding"})


@dataclass(frozen=True, slots=True)
class Template:
    """One kind of request in the mix, chosen with probability weight / total weight."""

    method: str = "GET"
    path: str = "/"
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    weight: float = 1.0
    expect: bytes | None = None
    """If set, a 2xx response whose body lacks this substring counts as `bad_body`."""

    def __post_init__(self) -> None:
        if not _TOKEN.fullmatch(self.method):
            raise ValueError(f"invalid method {self.method!r}")
        # HEAD responses have no body despite Content-Length; the parser can't be told.
        if self.method.upper() in ("HEAD", "CONNECT"):
            raise ValueError(f"method {self.method} is not supported")
        if not self.path.startswith("/") or not _printable(self.path):
            raise ValueError(f"path must start with '/' and be printable ASCII: {self.path!r}")
        if not self.weight > 0:
            raise ValueError(f"weight must be positive, got {self.weight!r}")
        for name, value in self.headers:
            if not _TOKEN.fullmatch(name) or name.lower() in _RESERVED:
                raise ValueError(f"invalid or reserved header name {name!r}")
            if not value.isascii() or any(ord(c) < 0x20 and c != "\t" for c in value):
                raise ValueError(f"header {name!r} value must be ASCII without controls")

    def full_path(self, target: Target) -> str:
        """The request target as sent: the URL's base path plus this template's path."""
        return target.base_path + self.path

    def render(self, target: Target) -> bytes:
        """The exact bytes sent on the wire for this template against `target`."""
        lines = [f"{self.method} {self.full_path(target)} HTTP/1.1"]
        if not any(name.lower() == "host" for name, _ in self.headers):
            lines.append(f"Host: {target.host_header}")  # a template may name another vhost
        lines.extend(f"{name}: {value}" for name, value in self.headers)
        # Always sent for non-GET so servers never wait for a body that isn't coming.
        if self.body or self.method != "GET":
            lines.append(f"Content-Length: {len(self.body)}")
        head = "\r\n".join(lines) + "\r\n\r\n"
        return head.encode("latin-1") + self.body


def _printable(text: str) -> bool:
    return text.isascii() and all(0x21 <= ord(c) < 0x7F for c in text)


class Chooser:
    """Seeded weighted choice of a template index."""

    def __init__(self, weights: Sequence[float], seed: int | str) -> None:
        if not weights or not all(w > 0 for w in weights):
            raise ValueError("need at least one weight, all positive")
        self._indices = range(len(weights))
        self._cum = list(accumulate(weights))
        self._rng = random.Random(seed)

    def next(self) -> int:
        """Index of the next template."""
        if len(self._cum) == 1:
            return 0
        return self._rng.choices(self._indices, cum_weights=self._cum)[0]
