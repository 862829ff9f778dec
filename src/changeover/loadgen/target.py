"""Parsing of the target URL.

Invariant: a `Target` always names an http or https host and a port in 1..65535, and its
`base_path` is either empty or starts with "/" and has no trailing "/", so
`base_path + template.path` is always a well-formed origin-form request target.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class Target:
    """Where the load goes."""

    host: str
    port: int
    base_path: str = ""
    scheme: str = "http"  # or "https": TLS, its handshake counted as part of connecting

    @property
    def host_header(self) -> str:
        """Value of the Host header (IPv6 literals keep their brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def url(self) -> str:
        """The URL this target was parsed from, in canonical form."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}{self.base_path}"


def parse_url(url: str) -> Target:
    """Parse `http(s)://host[:port][/base]`; raise ValueError for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:  # urlsplit rejects bad ports and brackets this way
        raise ValueError(f"invalid URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError(f"only http:// and https:// URLs are supported, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"URL has no host: {url!r}")
    if parts.username is not None or parts.query or parts.fragment:
        raise ValueError(f"URL must not carry credentials, query or fragment: {url!r}")
    if port == 0:
        raise ValueError(f"port 0 is not a valid target: {url!r}")
    text = parts.netloc + parts.path
    if not text.isascii() or any(ord(c) < 0x21 or c == "\x7f" for c in text):
        raise ValueError(f"URL must be ASCII without spaces or control characters: {url!r}")
    port = DEFAULT_PORTS[scheme] if port is None else port
    return Target(parts.hostname, port, parts.path.rstrip("/"), scheme)
