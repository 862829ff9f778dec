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

A map FILE (what HAProxy reads at its start, `file_text`) has no escapes at all: HAProxy
2.6 (`pat_ref_read_from_file_smp`) reads each line with `fgets` into its trash buffer
(`tune.bufsize`, 16384 bytes at least), skips a line starting with `#` and blank lines,
takes the first word (up to a space or tab) as the key and the rest of the line, trimmed
of blanks, as the value. So an entry is written as `key value` only if it reads back
exactly: a key with a blank, or starting with `#`, a value with blanks at either end,
and a line longer than `FILE_LINE` are refused (ValueError), never written differently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from changeover.haproxy.runtime import Command

_PATH = re.compile(r"/[A-Za-z0-9_./+-]+")
# Bytes of a map file's line before its newline that HAProxy reads as one line: fgets
# into the trash buffer reads at most its size - 1 (a newline left alone reads as an
# empty line), and the buffer has 16384 bytes at least (tune.bufsize is never set lower:
# config.MIN_BUFSIZE).
FILE_LINE = 16383
FILE_HEAD = "# changeover: this map as HAProxy started; changed since through the runtime API\n"
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


def file_line(key: str, value: str) -> str:
    """One entry as a map file's line, read back by HAProxy 2.6 as exactly this key and
    value (see the module), else ValueError."""
    if not key or key.startswith("#") or any(ch in key for ch in " \t\r\n\0"):
        raise ValueError(
            f"a map file cannot hold the key {key!r}: it must be one word, without spaces or "
            "tabs, not starting with #"
        )
    if not value or value != value.strip(" \t") or any(ch in value for ch in "\r\n\0"):
        raise ValueError(
            f"a map file cannot hold the value {value!r}: one line, no blanks at its ends"
        )
    line = f"{key} {value}"
    if len(line.encode()) > FILE_LINE:
        raise ValueError(
            f"a map file cannot hold a line of {len(line.encode())} bytes (HAProxy reads "
            f"{FILE_LINE}): the key {key[:40]!r}..."
        )
    return line + "\n"


def file_text(entries: Iterable[tuple[str, str]]) -> str:
    """A whole map file that HAProxy 2.6 reads as `entries`, in order; ValueError if one
    cannot be written so (`file_line`)."""
    return FILE_HEAD + "".join(file_line(key, value) for key, value in entries)


def entries(answer: str) -> list[tuple[str, str]]:
    """`show map`'s lines as (key, value); a key with a space cannot be told apart from
    its value there, so this is for keys without one (the ones changeover writes)."""
    out = []
    for line in answer.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3:
            out.append((parts[1], parts[2]))
    return out


__all__ = [
    "FILE_LINE",
    "add",
    "checked_file",
    "commit",
    "entries",
    "file_line",
    "file_text",
    "prepare",
    "quote",
    "show",
    "version",
]
