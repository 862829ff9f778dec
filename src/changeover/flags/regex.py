"""REGEX constraints use RE2, the engine (and syntax) Unleash specifies for them.

Invariant: a pattern is matched in time linear in the input, whatever the pattern (RE2 has
no backtracking), so a flag definition can never stall the application evaluating it; RE2
rejects what it cannot do in linear time (look-around, back-references).
"""

from __future__ import annotations

from typing import Protocol

import re2  # type: ignore[import-untyped]


class Pattern(Protocol):
    def search(self, text: str) -> object | None: ...


class RegexError(ValueError):
    """The pattern is not valid RE2; the message says why."""


def compile(pattern: str, *, ignore_case: bool = False) -> Pattern:
    options = re2.Options()
    options.log_errors = False  # we report the problem ourselves, with its path
    options.case_sensitive = not ignore_case
    try:
        compiled: Pattern = re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise RegexError(str(reason)) from None
    return compiled
