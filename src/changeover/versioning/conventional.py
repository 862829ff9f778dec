"""Conventional Commits 1.0.0: a commit message as type, scope, `!`, description, body
and footers, and back.

Invariant: `parse(format_message(m)) == m` for every message the grammar can write (a
Hypothesis property checks it); a message that does not follow the convention parses to
None, never to a guess. Types are case-insensitive (kept lowercase); the footer token
`BREAKING CHANGE` (or `BREAKING-CHANGE`) counts only in capitals, as the spec says.

Footers start at the first paragraph whose first line is `Token: value` or
`Token #value` (a token is a word with `-` for spaces, or `BREAKING CHANGE`); from there
every such line starts the next footer and any other line continues the value (spec
rules 8-10). One leniency: the blank line after the header may be missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BREAKING_TOKENS = ("BREAKING CHANGE", "BREAKING-CHANGE")
_HEADER = re.compile(
    r"(?P<type>[A-Za-z][A-Za-z0-9-]*)"
    r"(?:\((?P<scope>[^()\r\n]+)\))?"
    r"(?P<bang>!)?"
    r": (?P<description>\S.*)"
)
_FOOTER = re.compile(
    r"(?P<token>BREAKING CHANGE|[A-Za-z][A-Za-z0-9-]*)(?P<sep>: | #)(?P<value>\S.*)"
)


@dataclass(frozen=True)
class Footer:
    token: str
    value: str
    separator: str = ": "  # or " #", as in "Fixes #123"

    @property
    def breaking(self) -> bool:
        return self.token in BREAKING_TOKENS


@dataclass(frozen=True)
class Message:
    type: str
    description: str
    scope: str | None = None
    bang: bool = False  # the `!` before the colon
    body: str = ""
    footers: tuple[Footer, ...] = ()

    @property
    def breaking(self) -> bool:
        return self.bang or any(f.breaking for f in self.footers)

    @property
    def breaking_notes(self) -> tuple[str, ...]:
        """What the `BREAKING CHANGE` footers say (with only `!`, the description says it)."""
        return tuple(f.value for f in self.footers if f.breaking)

    def values(self, token: str) -> tuple[str, ...]:
        """The values of the footers named `token` (tokens compare case-insensitively)."""
        return tuple(f.value for f in self.footers if f.token.lower() == token.lower())


def parse(text: str) -> Message | None:
    """The conventional message in `text`, or None when its header does not follow the spec."""
    header, _, rest = text.replace("\r\n", "\n").strip("\n").partition("\n")
    match = _HEADER.fullmatch(header.rstrip())
    if match is None:
        return None
    lines = rest.strip("\n").split("\n") if rest.strip() else []
    start = _footers_start(lines)
    return Message(
        type=match["type"].lower(),
        description=match["description"].rstrip(),
        scope=match["scope"],
        bang=match["bang"] is not None,
        body="\n".join(lines[:start]).rstrip(),
        footers=_footers(lines[start:]),
    )


def _footers_start(lines: list[str]) -> int:
    """Index of the first line of the footers: a footer line opening a paragraph."""
    for i, line in enumerate(lines):
        if _FOOTER.fullmatch(line.rstrip()) and (i == 0 or not lines[i - 1].strip()):
            return i
    return len(lines)


def _footers(lines: list[str]) -> tuple[Footer, ...]:
    found: list[tuple[str, str, list[str]]] = []
    for line in lines:
        match = _FOOTER.fullmatch(line.rstrip())
        if match is not None:
            found.append((match["token"], match["sep"], [match["value"]]))
        else:
            found[-1][2].append(line)  # a continuation: the first line always matches
    return tuple(Footer(t, "\n".join(v).rstrip(), sep) for t, sep, v in found)


def format_message(message: Message) -> str:
    """The commit message text for `message`: header, blank line, body, blank line, footers."""
    scope = f"({message.scope})" if message.scope is not None else ""
    header = f"{message.type}{scope}{'!' if message.bang else ''}: {message.description}"
    footers = "\n".join(f"{f.token}{f.separator}{f.value}" for f in message.footers)
    return "\n\n".join(part for part in (header, message.body, footers) if part)
