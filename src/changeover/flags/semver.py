"""Semantic versions (semver.org 2.0.0) as sort keys, for the SEMVER_* constraint operators.

Invariant: `parse` accepts exactly the semver.org grammar (no leading `v`, no leading zeros,
dot-separated pre-release identifiers) and returns None for anything else; keys order
versions by semver precedence, and build metadata never affects the order.
"""

from __future__ import annotations

import re

_NUM = r"0|[1-9]\d*"
_IDENT = r"(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)"
_SEMVER = re.compile(
    rf"({_NUM})\.({_NUM})\.({_NUM})"
    rf"(?:-({_IDENT}(?:\.{_IDENT})*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?",
    re.ASCII,
)

# A pre-release identifier's key: numeric ones sort before alphanumeric ones.
Ident = tuple[int, int, str]
SemverKey = tuple[int, int, int, int, tuple[Ident, ...]]


def parse(text: str) -> SemverKey | None:
    match = _SEMVER.fullmatch(text)
    if match is None:
        return None
    major, minor, patch, pre = match.groups()
    if pre is None:
        # A release sorts after every pre-release of the same version.
        return (int(major), int(minor), int(patch), 1, ())
    return (int(major), int(minor), int(patch), 0, tuple(_ident(p) for p in pre.split(".")))


def _ident(part: str) -> Ident:
    return (0, int(part), "") if part.isdigit() else (1, 0, part)
