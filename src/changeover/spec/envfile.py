"""Env files (`[app] env_file`, `deploy --env-file`): the dotenv syntax, parsed by hand.

Invariant: parsing returns every variable of the file, or raises `EnvFileError` naming
`file:line` and what is expected there; an error message never quotes the file's text,
which may hold a secret.

The syntax (docs/spec.md, "Env files"):
- blank lines, and lines whose first non-blank character is `#`, are ignored;
- `KEY=VALUE`, optionally after `export `; blanks around `=` are allowed; KEY is a valid
  variable name (letters, digits, `_`, not starting with a digit);
- an unquoted VALUE ends at ` #` (a comment) or the end of the line, blanks trimmed;
- a VALUE in single quotes is literal; in double quotes `\\n`, `\\t`, `\\r`, `\\"`, `\\\\`
  and `\\$` are escapes (any other backslash stays); both may span lines;
- after a closing quote, only blanks and a comment may follow;
- no `${VAR}` expansion: `$` is an ordinary character; a repeated KEY: the last one wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGN = re.compile(r"[ \t]*(?:export[ \t]+)?([^=]*?)[ \t]*=")
_TRAILER = re.compile(r"[ \t]*(?:#.*)?")
_COMMENT = re.compile(r"[ \t]+#.*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}
Scan = Callable[[str], tuple[str, int] | None]  # (value, end) of a closed quote, or None
EXPECTED = "expected KEY=VALUE, a comment (# ...) or a blank line"
BAD_NAME = "invalid variable name: expected letters, digits and _, not starting with a digit"


class EnvFileError(Exception):
    """What is wrong in an env file, and where (`line` None: the file as a whole)."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path, self.line, self.message = path, line, message
        where = path if line is None else f"{path}:{line}"
        super().__init__(f"{where}: {message}")


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of the env file at `path` (EnvFileError if unreadable or invalid)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise EnvFileError(str(path), None, f"cannot read: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise EnvFileError(str(path), line, "not UTF-8 text") from None
    return parse_env_text(text, str(path))


def parse_env_text(text: str, source: str) -> dict[str, str]:
    """The variables of an env file's text; `source` names the file in errors."""
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n")
    out: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line, number = lines[i], i + 1
        if not line.strip(" \t") or line.lstrip(" \t").startswith("#"):
            i += 1
            continue
        match = _ASSIGN.match(line)
        if match is None:
            raise EnvFileError(source, number, EXPECTED)
        if not _NAME.fullmatch(match.group(1)):
            raise EnvFileError(source, number, BAD_NAME)
        value, used = _value(lines, i, match.end(), source)
        if "\0" in value:
            raise EnvFileError(source, number, "a value cannot hold a NUL character")
        out[match.group(1)] = value
        i += 1 + used
    return out


def _value(lines: list[str], index: int, column: int, source: str) -> tuple[str, int]:
    """The value after the `=` at `lines[index][column - 1]`, and how many more lines it
    took; a `#` after a blank starts a comment, even right after the `=`."""
    rest = lines[index][column:]
    start = column + len(rest) - len(rest.lstrip(" \t"))
    quote = lines[index][start : start + 1]
    if quote == "'":
        return _quoted(lines, index, start + 1, source, _single)
    if quote == '"':
        return _quoted(lines, index, start + 1, source, _double)
    return _COMMENT.sub("", rest).strip(" \t"), 0


def _single(text: str) -> tuple[str, int] | None:
    """The literal value up to the closing `'`, and where it ends; None: not closed."""
    end = text.find("'")
    return None if end < 0 else (text[:end], end + 1)


def _double(text: str) -> tuple[str, int] | None:
    """The value up to the closing unescaped `"`, escapes applied; None: not closed."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(out), i + 1
        if char == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(char)
        i += 1
    return None


def _quoted(lines: list[str], index: int, column: int, source: str, scan: Scan) -> tuple[str, int]:
    """A quoted value from `lines[index][column:]`, spanning lines until it closes."""
    text = lines[index][column:]
    used = 0
    while True:
        found = scan(text)
        if found is not None:
            value, end = found
            if not _TRAILER.fullmatch(text[end:]):
                raise EnvFileError(
                    source,
                    index + used + 1,
                    "unexpected text after the closing quote; expected a comment (# ...) "
                    "or the end of the line",
                )
            return value, used
        if index + used + 1 >= len(lines):
            quote = "'" if scan is _single else '"'
            raise EnvFileError(source, index + 1, f"the value's opening {quote} is never closed")
        used += 1
        text += "\n" + lines[index + used]
