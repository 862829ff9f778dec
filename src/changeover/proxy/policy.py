"""Traffic policy values: weights, header routes and the sticky-user key (pure, frozen).

Invariant: a policy object is fully validated when built (bad weights, a route with
other than exactly one matcher, an invalid regex or header name raise ValueError naming
the field and what is expected), so the request path only matches, never re-checks.
Matching works on the raw header list the client parser produced: names compare
case-insensitively, values as their bytes (matchers are encoded as UTF-8), with the
trailing whitespace llhttp keeps removed. No sockets, clocks or asyncio here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal, cast

Headers = Sequence[tuple[bytes, bytes]]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token: header/cookie names
_OWS = b" \t"


def _token(what: str, name: object) -> bytes:
    if not isinstance(name, str) or not _TOKEN.fullmatch(name):
        raise ValueError(f"{what} must be an HTTP token (letters, digits, -_.), got {name!r}")
    return name.encode("ascii")


@dataclass(frozen=True)
class HeaderRoute:
    """Requests whose header `header` matches always go to `revision`.

    Exactly one of `value` (equal), `prefix` (starts with) or `regex` (re.fullmatch) is
    set. A request matches when any of its lines of that header matches.
    """

    header: str
    revision: int
    value: str | None = None
    prefix: str | None = None
    regex: str | None = None
    _name: bytes = field(init=False, repr=False, compare=False)
    _text: bytes = field(init=False, repr=False, compare=False)  # value or prefix, encoded
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        name = _token("header route: header", self.header).lower()
        if not isinstance(self.revision, int) or isinstance(self.revision, bool):
            raise ValueError(f"header route {self.header}: revision must be an int")
        given = [k for k in ("value", "prefix", "regex") if getattr(self, k) is not None]
        if len(given) != 1:
            got = ", ".join(given) or "none"
            raise ValueError(
                f"header route {self.header}: set exactly one of value, prefix, regex; got {got}"
            )
        pattern = None
        if self.regex is not None:
            try:
                pattern = re.compile(self.regex)
            except re.error as exc:
                raise ValueError(
                    f"header route {self.header}: regex {self.regex!r} is invalid: {exc}"
                ) from None
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_text", (self.value or self.prefix or "").encode())
        object.__setattr__(self, "_pattern", pattern)

    def matches(self, headers: Headers) -> bool:
        name = self._name
        for hname, hvalue in headers:
            if len(hname) == len(name) and hname.lower() == name and self._value_ok(hvalue):
                return True
        return False

    def _value_ok(self, raw: bytes) -> bool:
        raw = raw.rstrip(_OWS)
        pattern = self._pattern
        if pattern is not None:
            return pattern.fullmatch(raw.decode("utf-8", "surrogateescape")) is not None
        return raw == self._text if self.value is not None else raw.startswith(self._text)


@dataclass(frozen=True)
class Sticky:
    """What identifies a user: a cookie's value or a request header's value."""

    kind: Literal["cookie", "header"]
    name: str
    _key: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in ("cookie", "header"):
            raise ValueError(f"sticky kind must be 'cookie' or 'header', got {self.kind!r}")
        key = _token(f"sticky {self.kind} name", self.name)
        # Cookie names are case-sensitive; header names are not.
        object.__setattr__(self, "_key", key if self.kind == "cookie" else key.lower())

    @classmethod
    def parse(cls, text: str) -> Sticky:
        """'cookie:NAME' or 'header:NAME' (as the spec's `strategy.sticky` holds it)."""
        kind, sep, name = text.strip().partition(":")
        if not sep or kind not in ("cookie", "header") or not name:
            raise ValueError(f'sticky must look like "cookie:NAME" or "header:NAME", got {text!r}')
        return cls(cast(Literal["cookie", "header"], kind), name.strip())

    def key(self, headers: Headers) -> bytes | None:
        """The user's key in this request, or None when it carries none (or an empty one)."""
        if self.kind == "header":
            return _header_value(headers, self._key)
        return _cookie_value(headers, self._key)


def _header_value(headers: Headers, lname: bytes) -> bytes | None:
    for name, value in headers:
        if len(name) == len(lname) and name.lower() == lname:
            return value.strip(_OWS) or None
    return None


def _cookie_value(headers: Headers, cname: bytes) -> bytes | None:
    """The value of the first `name=value` pair (of the `;`-separated pairs, whitespace
    around each part ignored) whose name is `cname`, in the first Cookie line having one.

    Found by searching for the name instead of splitting every pair: a browser's Cookie
    line often carries dozens of pairs, and only the sticky one matters."""
    size = len(cname)
    for name, value in headers:
        if len(name) != 6 or name.lower() != b"cookie":
            continue
        at = value.find(cname)
        while at >= 0:
            before = value[:at].rstrip(_OWS)
            after = value[at + size :].lstrip(_OWS)
            if (not before or before.endswith(b";")) and after.startswith(b"="):
                return after[1:].split(b";", 1)[0].strip(_OWS) or None
            at = value.find(cname, at + 1)
    return None


@dataclass(frozen=True)
class TrafficPolicy:
    """How public traffic is split. `weights` None: every routable endpoint shares it."""

    weights: Mapping[int, int] | None = None
    header_routes: tuple[HeaderRoute, ...] = ()
    sticky: Sticky | None = None

    def __post_init__(self) -> None:
        if self.weights is not None:
            object.__setattr__(self, "weights", MappingProxyType(_checked(self.weights)))
        routes = tuple(self.header_routes)
        for index, route in enumerate(routes):
            if not isinstance(route, HeaderRoute):
                raise ValueError(f"header_routes[{index}] must be a HeaderRoute, got {route!r}")
        object.__setattr__(self, "header_routes", routes)
        if self.sticky is not None and not isinstance(self.sticky, Sticky):
            raise ValueError(f"sticky must be a Sticky or None, got {self.sticky!r}")

    @property
    def reads_headers(self) -> bool:
        """True when choosing a revision needs the request's headers."""
        return bool(self.header_routes) or self.sticky is not None


def _checked(weights: Mapping[int, int]) -> dict[int, int]:
    for revision, weight in weights.items():
        if not isinstance(revision, int) or isinstance(revision, bool):
            raise ValueError(f"weights: revision must be an int, got {revision!r}")
        if not isinstance(weight, int) or isinstance(weight, bool) or weight < 0:
            raise ValueError(
                f"weights: weight for revision {revision} must be an int >= 0, got {weight!r}"
            )
    return dict(sorted(weights.items()))
