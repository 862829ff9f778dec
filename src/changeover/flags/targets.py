"""Parameters of the built-in strategies: user id lists, addresses, host names, percentages.

Invariant: parameter text is parsed once, when the state is compiled; malformed parts are
reported as Problems and left out (an invalid address never matches), and a missing or
unreadable percentage disables its strategy rather than guessing a number.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping

from changeover.flags.context import Fields, text
from changeover.flags.effects import Effects
from changeover.flags.problems import Problem

Test = Callable[[Fields, Effects], bool]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def percent(params: Mapping[str, str], key: str, at: str, problems: list[Problem]) -> int | None:
    raw = params.get(key)
    if raw is None:
        problems.append(Problem(f"{at}.{key}", "required: a whole percentage from 0 to 100"))
        return None
    digits = raw.strip()
    if not digits.isascii() or not digits.isdigit():
        problems.append(Problem(f"{at}.{key}", f"expected a whole number 0..100 (got {raw!r})"))
        return None
    value = int(digits)
    if value > 100:
        problems.append(Problem(f"{at}.{key}", f"expected at most 100 (got {raw!r}); using 100"))
    return min(value, 100)


def _listed(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def user_ids_test(params: Mapping[str, str], at: str, problems: list[Problem]) -> Test:
    raw = params.get("userIds")
    if raw is None:
        problems.append(Problem(f"{at}.userIds", "required: comma-separated user ids"))
    ids = frozenset(_listed(raw or ""))

    def test(fields: Fields, effects: Effects) -> bool:
        user = fields.get("userId")
        return user is not None and text(user) in ids

    return test


class Networks:
    """IP networks parsed from text; unreadable entries are kept aside, never matched."""

    def __init__(self, valid: list[Network], invalid: list[tuple[str, str]]) -> None:
        self.valid = valid
        self.invalid = invalid  # (where, raw text)

    def contains(self, value: object) -> bool:
        if value is None or not self.valid:
            return False
        try:
            address = ipaddress.ip_address(text(value).strip())
        except ValueError:
            return False
        return any(address in net for net in self.valid)


def networks(raws: Iterable[str], wheres: Iterable[str]) -> Networks:
    """Parse IPs (`10.1.2.3`) and CIDR ranges (`10.0.0.0/8`, `2001:db8::/32`)."""
    valid: list[Network] = []
    invalid: list[tuple[str, str]] = []
    for raw, where in zip(raws, wheres, strict=True):
        try:
            valid.append(ipaddress.ip_network(raw.strip(), strict=False))
        except ValueError:
            invalid.append((where, raw))
    return Networks(valid, invalid)


def remote_address_test(params: Mapping[str, str], at: str, problems: list[Problem]) -> Test:
    raw = params.get("IPs")
    if raw is None:
        problems.append(Problem(f"{at}.IPs", "required: comma-separated IPs or CIDR ranges"))
    parts = _listed(raw or "")
    nets = networks(parts, [f"{at}.IPs"] * len(parts))
    for where, bad in nets.invalid:
        problems.append(Problem(where, f"not an IP or CIDR range: {bad!r} (ignored)"))
    contains = nets.contains
    return lambda fields, effects: contains(fields.get("remoteAddress"))


def hostname_test(params: Mapping[str, str]) -> Test:
    names = frozenset(name.lower() for name in _listed(params.get("hostNames", "")))

    def test(fields: Fields, effects: Effects) -> bool:
        return effects.hostname.lower() in names

    return test
