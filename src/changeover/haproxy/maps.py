"""HAProxy 2.6's map commands without IO: a map's whole content replaced atomically.

A map is replaced by `prepare map <file>` (HAProxy answers `New version created: N`),
`add map @N <file> <key> <value>` per entry, then `commit map @N <file>`: requests see
the old content until the commit and the new one after it, never a half-written map
(the routes' order is kept, as `map_reg` takes the first entry that matches).

Invariant: a rendered command is one line and one command. HAProxy's CLI splits words
at spaces and commands at `;`, and reads `\\` as an escape (`\\\\` is one backslash), so
every key and value is escaped (`quote`): a user's regex reaches the map as written.
Line breaks cannot be escaped and are refused. The answers of HAProxy 2.6: nothing on
success, a sentence on failure (`Unknown map identifier. ...`).
"""

from __future__ import annotations

import re

from changeover.haproxy.runtime import Command

_PATH = re.compile(r"/[A-Za-z0-9_./+-]+")
_VERSION = re.compile(r"New version created: (\d+)")


def quote(word: str) -> str:
    """One CLI word: backslash, space, tab and `;` escaped with a backslash."""
    if not word or any(ch in word for ch in "\r\n\0"):
        raise ValueError(f"a map key or value must be one non-empty line, got {word!r}")
    return re.sub(r"([\\ \t;])", r"\\\1", word)


def checked_file(path: str) -> str:
    if not _PATH.fullmatch(path):
        raise ValueError(f"a map file must be an absolute path of plain characters: {path!r}")
    return path


def _silent(text: str) -> bool:
    return text.strip() == ""


def prepare(path: str) -> Command:
    return Command(f"prepare map {checked_file(path)}", lambda text: bool(_VERSION.search(text)))


def version(answer: str) -> int:
    """The version `prepare map` created."""
    found = _VERSION.search(answer)
    if found is None:
        raise ValueError(f"prepare map: no version in {answer.strip()!r}")
    return int(found.group(1))


def add(path: str, at: int, key: str, value: str) -> Command:
    text = f"add map @{int(at)} {checked_file(path)} {quote(key)} {quote(value)}"
    return Command(text, _silent)


def commit(path: str, at: int) -> Command:
    return Command(f"commit map @{int(at)} {checked_file(path)}", _silent)


def show(path: str) -> Command:
    """`<id> <key> <value>` lines (what a test reads back)."""
    return Command(f"show map {checked_file(path)}", lambda text: "Unknown map" not in text)


def entries(answer: str) -> list[tuple[str, str]]:
    """`show map`'s lines as (key, value); a key with a space cannot be told apart from
    its value there, so this is for keys without one (the ones changeover writes)."""
    out = []
    for line in answer.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3:
            out.append((parts[1], parts[2]))
    return out


__all__ = ["add", "checked_file", "commit", "entries", "prepare", "quote", "show", "version"]
