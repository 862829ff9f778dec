"""What `changeover dial` does, light enough to start fast: connect stdin and stdout to the
control socket of the selected environment's agent and copy bytes both ways.

Invariant: this module loads no third-party package (no typer, rich, pydantic, httpx) and
nothing of the agent but its paths, so `changeover dial`, which ssh starts on the host for
every CLI command on a remote environment, starts in the time of a bare interpreter.
`cli.app.main` serves `dial` here without importing the rest of the CLI.

Bytes flow until either side closes: EOF on stdin half-closes the socket (an answer in
flight still arrives), EOF from the agent or a closed stdout ends `dial` with 0; no agent
to connect to ends it with 3 and a message on stderr, before any byte is copied.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from changeover.agent.paths import StatePaths

OK, BAD_INPUT, UNREACHABLE = 0, 2, 3
CHUNK = 65536
ENVIRONMENT_VAR = "CHANGEOVER_ENVIRONMENT"
DEFAULT_SPEC = "changeover.toml"


@dataclass(frozen=True)
class DialArgs:
    environment: str | None
    file: Path
    state_dir: str | None


def parse_argv(argv: Sequence[str], environ: Mapping[str, str]) -> DialArgs | None:
    """`[-E NAME] dial [-f FILE] [--state-dir DIR]` (each option also as `--opt=value`,
    `-Xvalue`); None for any other command line, which the typer app then reads (`--help`,
    mistakes), so both ways agree on everything this one accepts."""
    environment = environ.get(ENVIRONMENT_VAR) or None
    rest = list(argv)
    while rest and rest[0] != "dial":
        value = _option(rest, ("-E", "--environment"))
        if value is None:
            return None
        environment = value or None
    if not rest:
        return None
    rest.pop(0)
    file, state_dir = Path(DEFAULT_SPEC), None
    while rest:
        name = rest[0].partition("=")[0] if rest[0].startswith("--") else rest[0][:2]
        value = _option(rest, ("-f", "--file", "--state-dir"))
        if value is None:
            return None
        if name == "--state-dir":
            state_dir = value
        else:
            file = Path(value)
    return DialArgs(environment, file, state_dir)


def _option(rest: list[str], names: tuple[str, ...]) -> str | None:
    """Take one option among `names` (and its value) off the front of `rest`."""
    word = rest.pop(0)
    if word in names:
        return rest.pop(0) if rest else None
    name, eq, value = word.partition("=")
    if eq and name.startswith("--") and name in names:
        return value
    short = word[:2]
    if not word.startswith("--") and len(word) > 2 and short in names:
        return word[2:]
    return None


def dial(file: Path, state_dir: str | os.PathLike[str] | None, environment: str | None) -> int:
    """Splice stdin/stdout to the agent's control socket; the exit code."""
    spec = Path(os.path.abspath(file))
    problem = _unknown_environment(spec, environment) if environment else None
    if problem:
        return _error(BAD_INPUT, problem)
    paths = StatePaths.resolve(state_dir, spec, environment)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(paths.control_socket))
    except OSError as exc:
        sock.close()
        selected = f" -E {environment}" if environment else ""
        return _error(
            UNREACHABLE,
            f"no agent is running for {paths.root} ({paths.control_socket}: "
            f"{exc.strerror or exc}); start one with `changeover{selected} up --detach`",
        )
    with sock:
        splice(sock, sys.stdin.fileno(), sys.stdout.fileno())
    return OK


def splice(sock: socket.socket, source: int, sink: int) -> None:
    """Copy `source` into `sock` (in a thread) and `sock` into `sink`; return when the
    peer behind `sock` closes or `sink` is gone."""

    def upstream() -> None:
        with contextlib.suppress(OSError):
            while data := os.read(source, CHUNK):
                sock.sendall(data)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)

    threading.Thread(target=upstream, name="dial-upstream", daemon=True).start()
    with contextlib.suppress(OSError):
        while data := sock.recv(CHUNK):
            view = memoryview(data)
            while view:
                view = view[os.write(sink, view) :]


def _unknown_environment(spec: Path, name: str) -> str | None:
    """Why `name` cannot be served from this spec, if the spec says so (a spec that cannot
    be read leaves the state directory to decide)."""
    try:
        data = tomllib.loads(spec.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    envs = data.get("environments")
    if isinstance(envs, dict) and name in envs:
        return None
    known = ", ".join(sorted(envs)) if isinstance(envs, dict) and envs else "none"
    return f"{spec}: unknown environment {name!r}; the spec defines: {known}"


def _error(code: int, message: str) -> int:
    print(f"changeover dial: error: {message}", file=sys.stderr)
    return code
