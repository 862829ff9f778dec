"""Proxy tunables.

Invariant: a ProxyConfig is immutable once built and every value is validated at
construction, so the hot path can trust it without re-checking.
"""

from __future__ import annotations

from dataclasses import dataclass

from changeover.networks import parse_networks


@dataclass(frozen=True)
class ProxyConfig:
    """All times are in seconds."""

    connect_timeout: float = 5.0  # TCP connect to a replica
    header_timeout: float = 10.0  # full request head must arrive within this
    idle_timeout: float = 60.0  # idle client keep-alive connection closed after this
    response_timeout: float = 60.0  # upstream status line must start within this, else 504
    write_timeout: float = 30.0  # a client whose writes stay paused this long is aborted
    upstream_idle_timeout: float = 1.0  # below every common app keep-alive (gunicorn: 2 s)
    max_header_bytes: int = 65536  # request head larger than this -> 400
    max_headers: int = 100  # request header fields (trailers not counted); more -> 431
    max_idle_per_endpoint: int = 64
    forwarded_proto: str = "http"
    # peers whose X-Forwarded-Proto/-Host are passed on as sent (`networks` entries)
    trusted_proxies: tuple[str, ...] = ()
    access_log: str | None = None  # file the access log is appended to; None: no log
    access_log_query: bool = False  # keep query strings in its paths (they may hold secrets)

    def __post_init__(self) -> None:
        for name in (
            "connect_timeout",
            "header_timeout",
            "idle_timeout",
            "response_timeout",
            "upstream_idle_timeout",
            "write_timeout",
        ):
            value = getattr(self, name)
            # bool is an int to Python, and NaN fails every comparison: both are refused.
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be > 0 (a number of seconds), got {value!r}")
        if self.max_header_bytes < 1024:
            raise ValueError("max_header_bytes must be >= 1024")
        if isinstance(self.max_headers, bool) or not isinstance(self.max_headers, int):
            raise ValueError(f"max_headers must be an integer, got {self.max_headers!r}")
        if self.max_headers < 1:
            raise ValueError(f"max_headers must be >= 1, got {self.max_headers}")
        if self.max_idle_per_endpoint < 0:
            raise ValueError("max_idle_per_endpoint must be >= 0")
        if not self.forwarded_proto.isascii() or not self.forwarded_proto.isalnum():
            raise ValueError("forwarded_proto must be an ASCII token such as 'http'")
        try:
            parse_networks(self.trusted_proxies)
        except ValueError as exc:
            raise ValueError(f"trusted_proxies{exc}") from None
        if self.access_log is not None and (
            not isinstance(self.access_log, str) or not self.access_log
        ):
            raise ValueError(f"access_log must be a file path or None, got {self.access_log!r}")

    @property
    def sweep_interval(self) -> float:
        """How often the single housekeeping timer runs: fine enough for the smallest timeout."""
        smallest = min(
            self.header_timeout,
            self.idle_timeout,
            self.response_timeout,
            self.upstream_idle_timeout,
            self.write_timeout,
        )
        return max(0.02, min(0.5, smallest / 4))
