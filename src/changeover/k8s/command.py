"""`app.command` for a pod: the server binds the container port itself.

Invariant: a command is rewritten only in the forms listed in `FORMS`, each changing only
how the server listens (no other argument moves); any other command that does not say
where it listens (`{port}`) is refused with what to write instead, never guessed.

Locally the agent binds each replica's socket and passes it as fd 3 (systemd protocol),
or substitutes a free port for `{port}`. In a pod nothing passes a socket, and a server
bound to loopback is unreachable from the Service, so:

- `{port}` becomes the container port, and a loopback host next to it (`--host
  127.0.0.1`, `--bind localhost:{port}`) becomes `0.0.0.0`;
- uvicorn `--fd 3` becomes `--host 0.0.0.0 --port PORT`;
- hypercorn `--bind fd://3` becomes `--bind 0.0.0.0:PORT`;
- gunicorn, which finds fd 3 itself through `LISTEN_FDS`, gets `--bind 0.0.0.0:PORT`
  (a `--bind fd://3` is replaced by it).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass

FORMS = (
    "{port} anywhere in the command (granian, any server taking a port)",
    "uvicorn --fd 3",
    "hypercorn --bind fd://3",
    "gunicorn (LISTEN_FDS)",
)
_LOOPBACK = r"(?:127(?:\.\d{1,3}){3}|localhost|\[?::1\]?)"
_HOST_OPTIONS = ("--host", "-H", "--bind", "-b", "--listen", "--address")
_PYTHON = re.compile(r"python[\d.]*")


@dataclass(frozen=True)
class Rewrite:
    argv: list[str] | None  # None: cannot be rewritten
    why: str


def rewrite(command: str, port: int) -> Rewrite:
    argv = shlex.split(command)
    server = server_of(argv)
    if any("{port}" in arg for arg in argv):
        out = _unloop(argv)
        return Rewrite(
            [arg.replace("{port}", str(port)) for arg in out],
            f"{{port}} is the container port {port}; a loopback host becomes 0.0.0.0",
        )
    if server == "uvicorn" and _find(argv, "--fd") is not None:
        return Rewrite(
            _replace(argv, "--fd", ["--host", "0.0.0.0", "--port", str(port)]),
            f"uvicorn --fd 3 (the agent's socket) becomes --host 0.0.0.0 --port {port}",
        )
    if server in ("hypercorn", "gunicorn") and _fd_bind(argv) is not None:
        return Rewrite(
            _replace(argv, _fd_bind(argv) or "", ["--bind", f"0.0.0.0:{port}"]),
            f"{server} --bind fd://3 (the agent's socket) becomes --bind 0.0.0.0:{port}",
        )
    if server == "gunicorn" and not _binds(argv):
        return Rewrite(
            [*argv, "--bind", f"0.0.0.0:{port}"],
            f"gunicorn takes fd 3 from LISTEN_FDS locally; in a pod it binds 0.0.0.0:{port}",
        )
    return Rewrite(
        None,
        "cannot tell how this command listens in a pod: it has no {port} and is none of "
        f"the forms changeover rewrites ({'; '.join(FORMS)}); write {{port}} where the "
        "port goes (the agent then passes a port instead of fd 3)",
    )


def server_of(argv: list[str]) -> str:
    """`uvicorn` for `uvicorn ...`, `/venv/bin/uvicorn ...` and `python -m uvicorn ...`."""
    head = os.path.basename(argv[0])
    if _PYTHON.fullmatch(head) and len(argv) > 2 and argv[1] == "-m":
        return argv[2]
    return head


def _find(argv: list[str], option: str) -> int | None:
    for i, arg in enumerate(argv):
        if arg == option or arg.startswith(f"{option}="):
            return i
    return None


def _replace(argv: list[str], option: str, new: list[str]) -> list[str]:
    """`argv` with `option VALUE` (or `option=VALUE`) replaced by `new`."""
    i = _find(argv, option)
    assert i is not None
    width = 1 if "=" in argv[i] else 2
    return [*argv[:i], *new, *argv[i + width :]]


def _fd_bind(argv: list[str]) -> str | None:
    """The option (`--bind` or `-b`) whose value is `fd://N`, if any."""
    for i, arg in enumerate(argv):
        for option in ("--bind", "-b"):
            if arg == option and i + 1 < len(argv) and argv[i + 1].startswith("fd://"):
                return option
            if arg.startswith(f"{option}=fd://"):
                return option
    return None


def _binds(argv: list[str]) -> bool:
    return any(_find(argv, option) is not None for option in ("--bind", "-b"))


def _unloop(argv: list[str]) -> list[str]:
    """A loopback host given as a host option, or before `:{port}`, becomes 0.0.0.0."""
    out = list(argv)
    for i, arg in enumerate(out):
        out[i] = re.sub(rf"(^|=|//){_LOOPBACK}(?=:\{{port\}})", r"\g<1>0.0.0.0", arg)
        host_value = i > 0 and out[i - 1] in _HOST_OPTIONS
        if host_value and re.fullmatch(_LOOPBACK, arg):
            out[i] = "0.0.0.0"
        for option in _HOST_OPTIONS:
            if re.fullmatch(rf"{re.escape(option)}={_LOOPBACK}", arg):
                out[i] = f"{option}=0.0.0.0"
    return out
