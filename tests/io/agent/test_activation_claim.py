"""The public listener claimed from real passed fds, in a child process given them at 3..
as systemd does (`LISTEN_PID` set by an `exec` trampoline); bad input is a clear error."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from changeover.agent.activation import PUBLIC_NAME

TRAMPOLINE = 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"'
CLAIM = """
import json, os, sys
from changeover.agent.activation import claim_public
from changeover.runtime.activation import ActivationError
try:
    sock = claim_public(sys.argv[1])
except ActivationError as exc:
    print(json.dumps({"error": str(exc)}))
    sys.exit(2)
print(json.dumps({
    "fd": None if sock is None else sock.fileno(),
    "address": None if sock is None else list(sock.getsockname()[:2]),
    "left": sorted(k for k in os.environ if k.startswith("LISTEN_")),
}))
"""


def spawn_with_fds(
    argv: Sequence[str], fds: Sequence[int], env: dict[str, str], *, trampoline: bool = True
) -> tuple[int, str]:
    """Run `argv` with `fds` as 3, 4, ...; its exit code and output."""
    if trampoline:
        argv = ["/bin/sh", "-c", TRAMPOLINE, "sh", *argv]
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 20) for fd in fds]
    read, write = os.pipe()
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, write, 1),
        (os.POSIX_SPAWN_DUP2, write, 2),
        *((os.POSIX_SPAWN_DUP2, fd, 3 + i) for i, fd in enumerate(high)),
    ]
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")} | env
    try:
        pid = os.posix_spawn(argv[0], list(argv), child_env, file_actions=actions)
    finally:
        os.close(write)
        for fd in high:
            os.close(fd)
    with os.fdopen(read) as output:
        text = output.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), text


def claim(listen: str, fds: Sequence[int], env: dict[str, str], **kw: bool) -> dict[str, object]:
    code, text = spawn_with_fds([sys.executable, "-c", CLAIM, listen], fds, env, **kw)
    doc: dict[str, object] = json.loads(text.strip().splitlines()[-1])
    assert code == (2 if "error" in doc else 0), text
    return doc


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield sock


def port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


def test_the_passed_listener_is_claimed_by_address_and_the_variables_removed(
    listener: socket.socket,
) -> None:
    doc = claim(f"127.0.0.1:{port(listener)}", [listener.fileno()], {"LISTEN_FDS": "1"})
    assert doc == {"fd": 3, "address": ["127.0.0.1", port(listener)], "left": []}


def test_the_socket_named_public_is_claimed_among_others(listener: socket.socket) -> None:
    with socket.create_server(("127.0.0.1", 0)) as other:
        env = {"LISTEN_FDS": "2", "LISTEN_FDNAMES": f"metrics:{PUBLIC_NAME}"}
        doc = claim("127.0.0.1:8080", [other.fileno(), listener.fileno()], env)
    assert doc["fd"] == 4
    assert doc["address"] == ["127.0.0.1", port(listener)]


def test_fds_meant_for_another_process_are_left_alone(listener: socket.socket) -> None:
    env = {"LISTEN_FDS": "1", "LISTEN_PID": "1"}  # not us: the agent binds itself
    doc = claim(f"127.0.0.1:{port(listener)}", [listener.fileno()], env, trampoline=False)
    assert doc["fd"] is None


def udp() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def unlistening() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.mark.parametrize(
    ("make", "env", "message"),
    [
        (None, {"LISTEN_FDS": "two"}, "LISTEN_FDS: expected a count >= 0, got 'two'"),
        (
            "listener",
            {"LISTEN_FDS": "1", "LISTEN_FDNAMES": "a:b"},
            "LISTEN_FDNAMES: expected 1 colon-separated name(s) to match LISTEN_FDS, got 2",
        ),
        (None, {"LISTEN_FDS": "1"}, "LISTEN_FDS: fd 3 (unknown) is not open in this process"),
        (udp, {"LISTEN_FDS": "1"}, "(a SOCK_DGRAM socket, not a stream)"),
        (unlistening, {"LISTEN_FDS": "1"}, "(a TCP socket that is not listening)"),
        ("listener", {"LISTEN_FDS": "1"}, "LISTEN_FDS: no passed socket listens on proxy.listen"),
    ],
)
def test_bad_activation_is_a_clear_error(
    make: object, env: dict[str, str], message: str, listener: socket.socket
) -> None:
    sock = listener if make == "listener" else make() if callable(make) else None
    try:
        fds = [] if sock is None else [sock.fileno()]
        doc = claim("127.0.0.1:1", fds, env)
    finally:
        if sock is not None and sock is not listener:
            sock.close()
    assert message in str(doc["error"])


def test_the_agent_refuses_bad_activation_before_touching_anything(tmp_path: Path) -> None:
    spec = tmp_path / "changeover.toml"
    spec.write_text('[app]\nname = "svc"\ncommand = "true"\n')
    argv = [sys.executable, "-m", "changeover.agent", "--spec", str(spec)]
    argv += ["--state-dir", str(tmp_path / "state")]
    code, text = spawn_with_fds(argv, [], {"LISTEN_FDS": "-1"})
    assert code == 2, text
    assert "changeover: socket activation: LISTEN_FDS: expected a count >= 0, got '-1'" in text
    assert not list((tmp_path / "state" / "logs").glob("*.log"))  # no replica ever started
