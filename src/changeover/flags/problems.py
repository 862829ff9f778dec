"""Problems found in a flag state document, each with the path to the offending key.

Invariant: every problem names a path in the document (`features[2].strategies[0].name`) and
says what is expected there; `FlagStateError` carries all of them, never just the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from pydantic import ValidationError


class Problem(NamedTuple):
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class FlagStateError(ValueError):
    """A flag state document is invalid; `problems` lists every place and what is expected."""

    def __init__(self, problems: Sequence[Problem], source: str = "flag state") -> None:
        self.problems = list(problems)
        self.source = source
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{source} is invalid:\n{lines}")


def format_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def from_validation(exc: ValidationError) -> list[Problem]:
    """One problem per pydantic error, worded as 'what is expected (got what)'."""
    return [Problem(format_path(err["loc"]), _message(err)) for err in exc.errors()]


def _message(err: Any) -> str:
    kind = str(err["type"])
    if kind == "missing":
        return "required key is missing"
    msg = str(err["msg"]).removeprefix("Value error, ")
    msg = msg[:1].lower() + msg[1:]
    return f"{msg} (got {_show(err.get('input'))})"


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
