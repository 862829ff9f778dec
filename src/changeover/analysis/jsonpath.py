"""A small JSON path subset for the web provider: `$.a.b[0].c`, `a.b.0.c`, or `$` itself.

Invariant: `parse_path(format_path(p)) == p` for every path `p` this module builds, and
every failure (bad syntax, missing key, index past the end) raises with the position or
the part of the path that failed, never a bare KeyError.

Grammar: an optional `$`, then segments: `.name` (no `.`, `[`, `]` or whitespace)
or `[N]` (a list index); without `$` the first name needs no dot. A name made of digits
indexes a list too, so `items.0.ok` reads the first item of `items`.
"""

from __future__ import annotations

import re
from typing import Any

Path = tuple[str | int, ...]
_TOKEN = re.compile(r"\.([^.\[\]\s]+)|\[(\d+)\]")
_TYPES = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}


class JsonPathError(ValueError):
    """A JSON path that cannot be parsed, or that does not lead to a value."""


def parse_path(text: str) -> Path:
    """The segments of `text`; JsonPathError naming where it stopped making sense."""
    s = text.strip()
    if not s:
        raise JsonPathError("empty JSON path; expected something like $.a.b[0].c or a.b.0.c")
    rest, shift = (s[1:], 1) if s.startswith("$") else ("." + s, -1)
    out: list[str | int] = []
    pos = 0
    while pos < len(rest):
        m = _TOKEN.match(rest, pos)
        if m is None:
            raise JsonPathError(
                f"invalid JSON path {s!r} at character {pos + shift}: "
                "expected .name or [index], as in $.a.b[0].c"
            )
        out.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
        pos = m.end()
    return tuple(out)


def format_path(path: Path) -> str:
    return "$" + "".join(f"[{seg}]" if isinstance(seg, int) else f".{seg}" for seg in path)


def _describe(value: Any) -> str:
    return "null" if value is None else _TYPES.get(type(value), "a number")


def lookup(document: Any, path: Path) -> Any:
    """The value at `path` in `document`; JsonPathError saying which segment is missing."""
    here = document
    for i, seg in enumerate(path):
        where = format_path(path[:i])
        if isinstance(here, dict):
            if str(seg) not in here:
                raise JsonPathError(f"no key {str(seg)!r} in the object at {where}")
            here = here[str(seg)]
        elif isinstance(here, list):
            if isinstance(seg, str) and not (seg.isascii() and seg.isdigit()):
                raise JsonPathError(f"{where} is a list; {seg!r} is not an index")
            if (index := int(seg)) >= len(here):
                raise JsonPathError(f"index {index} is past the end of the list at {where}")
            here = here[index]
        else:
            raise JsonPathError(f"{where} is {_describe(here)}, so it has no {seg!r}")
    return here
