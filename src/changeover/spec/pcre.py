"""Whether a header route's regex (Python `re`, as the builtin proxy runs it) means the
same to HAProxy's PCRE2 when the haproxy engine matches it (pure).

Invariant: `problems` names every difference this module knows for a pattern Python
compiles, each with what to write instead; an empty list means the pattern is read the
same way by both, as far as these checks go (docs/haproxy.md lists the rest).
The haproxy engine matches a route against the whole header block, one `name: value`
line per header (`req.hdrs`), so a pattern that can match a line feed (a negated class
without `\\n`, `\\s`, `\\D`, `\\W`, `.` under `(?s)`) could run past the header's own
line into the next one, and `^`, `$`, `\\A`, `\\Z` would be read against the block,
not the value: such a pattern is refused rather than matched differently.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from re import _constants as c  # type: ignore[attr-defined]
from re import _parser  # type: ignore[attr-defined]
from typing import Any

LF = 10
_PYTHON_FLAGS = re.compile(r"\(\?[aiLmsux-]*[aLu][aiLmsux-]*[:)]")
_EMPTY_MIN = re.compile(r"(?<!\\)\{,\d*\}")  # `{,n}`: PCRE2 10.42 reads it literally
_CRLF_CATEGORIES = {c.CATEGORY_SPACE, c.CATEGORY_NOT_DIGIT, c.CATEGORY_NOT_WORD}
_CRLF_CATEGORIES |= {c.CATEGORY_LINEBREAK, c.CATEGORY_UNI_SPACE, c.CATEGORY_UNI_NOT_DIGIT}
_CRLF_CATEGORIES |= {c.CATEGORY_UNI_NOT_WORD, c.CATEGORY_UNI_LINEBREAK}


def problems(pattern: str) -> list[str]:
    """What makes `pattern` (valid for Python) mean something else to HAProxy's PCRE2."""
    try:
        parsed = _parser.parse(pattern)
    except re.error as exc:
        return [f"is not a valid regex: {exc}"]
    out = []
    if _PYTHON_FLAGS.search(pattern):
        out.append("uses a Python-only inline flag (a, L or u), which PCRE2 refuses")
    if _EMPTY_MIN.search(pattern):
        out.append("uses {,n}, which PCRE2 10.42 reads as text: write {0,n}")
    if "\\N{" in pattern:
        out.append("uses \\N{name}, which PCRE2 does not know: write the character")
    leaves = list(_leaves(parsed.data, bool(parsed.state.flags & re.DOTALL)))
    if any(_reaches_lf(op, av, dotall) for op, av, dotall in leaves):
        out.append(
            "can match a line feed (a negated class without \\n, \\s, \\D, \\W, or . under "
            "(?s)), so on HAProxy it could run into the next header line: exclude \\r\\n, "
            "e.g. [^;\\r\\n] instead of [^;]"
        )
    if any(op is c.AT and av in _LINE_ANCHORS for op, av, _ in leaves):
        out.append(
            "anchors with ^, $, \\A or \\Z, which HAProxy would read against its whole "
            "header block, not the value: drop them, a route's regex matches the whole "
            "value already"
        )
    return out


_LINE_ANCHORS = {c.AT_BEGINNING, c.AT_BEGINNING_STRING, c.AT_END, c.AT_END_STRING}


def _leaves(items: Any, dotall: bool) -> Iterator[tuple[Any, Any, bool]]:
    """Every node that matches or asserts something, with whether `.` matches \\n there."""
    for op, av in items:
        if op is c.SUBPATTERN:
            _group, add, remove, sub = av
            scoped = (dotall or bool(add & re.DOTALL)) and not remove & re.DOTALL
            yield from _leaves(sub, scoped)
        elif op is c.BRANCH:
            for branch in av[1]:
                yield from _leaves(branch, dotall)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
            yield from _leaves(av[2], dotall)
        elif op is c.ATOMIC_GROUP:
            yield from _leaves(av, dotall)
        elif op in (c.ASSERT, c.ASSERT_NOT):  # a lookaround could look past the line too
            yield from _leaves(av[1], dotall)
        elif op is c.GROUPREF_EXISTS:
            _group, yes, no = av
            yield from _leaves(yes, dotall)
            if no is not None:
                yield from _leaves(no, dotall)
        else:
            yield op, av, dotall


def _reaches_lf(op: Any, av: Any, dotall: bool) -> bool:
    if op is c.LITERAL:
        return bool(av == LF)
    if op is c.NOT_LITERAL:
        return bool(av != LF)
    if op is c.ANY:
        return dotall
    if op is c.IN:
        return _set_has_lf(av)
    return False  # anchors, group references


def _set_has_lf(items: Any) -> bool:
    negate = False
    has = False
    for op, av in items:
        if op is c.NEGATE:
            negate = True
        elif op is c.LITERAL:
            has = has or av == LF
        elif op is c.RANGE:
            has = has or av[0] <= LF <= av[1]
        elif op is c.CATEGORY:
            has = has or av in _CRLF_CATEGORIES
    return has != negate


__all__ = ["problems"]
