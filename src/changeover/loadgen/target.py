"""Parsing of the target URL.

Invariant: a `Target` always names a plain-HTTP host and a port in 1..65535, and its
`base_path` is either empty or starts with "/" and has no trailing "/", so
`base_path + template.path` is always a well-formed origin-form request target.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Target:
    """Where the load goes."""

    host: str
    port: int
    base_path: str = ""

    @property
    def host_header(self) -> str:
        """Value of the Host header (IPv6 literals keep their brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == 80 else f"{host}:{self.port}"

    def url(self) -> str:
        """The URL this target was parsed from, in canonical form."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{self.base_path}"


def parse_url(url: str) -> Target:
    """Parse `http://host[:port][/base]`; raise ValueError for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:  # urlsplit rejects bad ports and brackets this way
        raise ValueError(f"invalid URL {url!r}: {exc}") from None
    if parts.scheme.lower() != "http":
        raise ValueError(f"only http:// URLs are supported, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"URL has no host: {url!r}")
    if parts.username is not None or parts.query or parts.fragment:
        raise ValueError(f"URL must not carry credentials, query or fragment: {url!r}")
    if port == 0:
        raise ValueError(f"port 0 is not a valid target: {url!r}")
    text = parts.netloc + parts.path
    if not text.isascii() or any(ord(c) < 0x21 or c == "\x7f" for c in text):
        raise ValueError(f"URL must be ASCII without spaces or control characters: {url!r}")
    return Target(parts.hostname, 80 if port is None else port, parts.path.rstrip("/"))
