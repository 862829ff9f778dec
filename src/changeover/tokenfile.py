"""A bearer token read from a file (`[flags] token_file`).

A leaf module (the standard library only): `spec.rules` checks the file while the
spec is validated, and the agent reads the token the same way when it serves.

Invariant: a token comes only from a regular file no one but its owner may access
(mode & 0o077 == 0) that holds one word of visible ASCII; anything else is a
TokenFileError saying what is wrong with which file, and what to run.
"""

from __future__ import annotations

import os
import pwd
import shlex
import stat
from pathlib import Path


class TokenFileError(ValueError):
    pass


def read_token(path: Path) -> str:
    """The token in `path` (surrounding whitespace, such as a final newline, dropped)."""
    shown, quoted = str(path), shlex.quote(str(path))
    try:
        info = path.stat()
    except FileNotFoundError:
        raise TokenFileError(
            f"{shown} does not exist; create it with `(umask 077; openssl rand -hex 32 > {quoted})`"
        ) from None
    except OSError as exc:
        raise TokenFileError(f"cannot read {shown}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise TokenFileError(f"{shown} is not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise TokenFileError(
            f"{shown} is open to group or others (mode {mode:04o}), so other users could "
            f"read the token; run `chmod 600 {quoted}`"
        )
    try:
        raw = path.read_bytes()
    except PermissionError:
        user = user_name()
        raise TokenFileError(
            f"cannot read {shown}: permission denied for the agent's user {user}; "
            f"run `chown {user} {quoted}`"
        ) from None
    except OSError as exc:
        raise TokenFileError(f"cannot read {shown}: {exc.strerror or exc}") from None
    return _token(raw, shown, quoted)


def _token(raw: bytes, shown: str, quoted: str) -> str:
    text = raw.strip()
    if not text:
        raise TokenFileError(
            f"{shown} is empty; write a token into it: `openssl rand -hex 32 > {quoted}`"
        )
    if not all(33 <= byte <= 126 for byte in text):
        raise TokenFileError(
            f"{shown}: expected one word of visible ASCII characters (no spaces or line "
            "breaks inside), such as the output of `openssl rand -hex 32`"
        )
    return text.decode("ascii")


def user_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a uid without a passwd entry (containers)
        return str(os.geteuid())
