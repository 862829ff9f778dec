"""Socket activation: the pure parser (with Hypothesis) and a real inherited fd."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.runtime.activation import ActivationError, ListenFd, parse_listen_env

CHILD = """
import json, os, socket
from changeover.runtime import listen_fds
fds = listen_fds()
report = {
    "fds": [[f.fd, f.name] for f in fds],
    "inheritable": [os.get_inheritable(f.fd) for f in fds],
    "env_left": [v for v in ("LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES") if v in os.environ],
}
print(json.dumps(report), flush=True)
if fds:
    conn, _ = fds[0].socket().accept()
    conn.sendall(b"served by the inherited socket")
    conn.close()
"""


TRAMPOLINE = """
import os, sys
os.dup2(int(sys.argv[1]), 3)  # the socket lands on fd 3, inheritable, as a manager passes it
os.environ.update(LISTEN_FDS="1", LISTEN_FDNAMES="http")
os.environ["LISTEN_PID"] = str(os.getpid()) if sys.argv[2] == "self" else sys.argv[2]
os.execv(sys.executable, [sys.executable, "-c", sys.argv[3]])  # exec keeps the pid
"""


def start_child(listener: socket.socket, pid: str) -> subprocess.Popen[str]:
    fd = listener.fileno()
    return subprocess.Popen(
        [sys.executable, "-c", TRAMPOLINE, str(fd), pid, CHILD],
        pass_fds=(fd,),
        stdout=subprocess.PIPE,
        text=True,
    )


def report_of(child: subprocess.Popen[str]) -> dict[str, object]:
    assert child.stdout is not None
    report: dict[str, object] = json.loads(child.stdout.readline())
    return report


def test_child_claims_the_inherited_socket_named_and_close_on_exec() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        child = start_child(listener, "self")
        try:
            assert report_of(child) == {
                "fds": [[3, "http"]],
                "inheritable": [False],
                "env_left": [],
            }
            with socket.create_connection(listener.getsockname(), timeout=10) as conn:
                assert conn.recv(100) == b"served by the inherited socket"
        finally:
            child.kill()
            child.wait()
            child.stdout.close()  # type: ignore[union-attr]


def test_fds_meant_for_another_process_are_left_alone() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        child = start_child(listener, "1")
        try:
            assert report_of(child)["fds"] == []
            assert child.wait(timeout=30) == 0
        finally:
            child.kill()
            child.wait()
            child.stdout.close()  # type: ignore[union-attr]


def test_listen_fds_refuses_an_fd_that_is_not_open() -> None:
    script = (
        "import os; from changeover.runtime import listen_fds;"
        "os.environ['LISTEN_PID'] = str(os.getpid()); listen_fds()"
    )
    env = {**os.environ, "LISTEN_FDS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "ActivationError: LISTEN_FDS: fd 3 (unknown) is not open" in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LISTEN_FDS": "two"}, "LISTEN_FDS: expected a count >= 0, got 'two'"),
        ({"LISTEN_FDS": "1", "LISTEN_PID": "me"}, "LISTEN_PID: expected a process id"),
        ({"LISTEN_FDS": "2", "LISTEN_FDNAMES": "http"}, "expected 2 colon-separated name"),
    ],
)
def test_malformed_environment_names_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ActivationError, match=message):
        parse_listen_env(env, pid=7)


def test_missing_names_read_as_unknown_and_no_pid_means_ours() -> None:
    env = {"LISTEN_FDS": "2", "LISTEN_FDNAMES": "http:"}
    assert parse_listen_env(env, 7) == [ListenFd(3, "http"), ListenFd(4, "unknown")]
    assert parse_listen_env({}, 7) == []


names = st.lists(st.text(st.characters(exclude_characters=":\0"), min_size=1), max_size=8)


@given(names, st.integers(1, 2**22))
def test_names_and_fds_round_trip(given_names: list[str], pid: int) -> None:
    env = {
        "LISTEN_FDS": str(len(given_names)),
        "LISTEN_PID": str(pid),
        "LISTEN_FDNAMES": ":".join(given_names),
    }
    fds = parse_listen_env(env, pid) if given_names else []
    assert [f.fd for f in fds] == list(range(3, 3 + len(given_names)))
    assert [f.name for f in fds] == given_names
    assert parse_listen_env(env, pid + 1) == []
