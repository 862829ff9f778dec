"""Readiness notification to real datagram sockets, by path and in the abstract namespace."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from changeover.runtime import NotifyError, notify
from changeover.runtime.notify import encode_state, socket_address


def test_notify_to_a_path_socket(short_tmp: Path) -> None:
    path = str(short_tmp / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        env = {"NOTIFY_SOCKET": path}
        assert notify("READY=1", environ=env) is True
        assert server.recv(100) == b"READY=1"
        assert notify({"STATUS": "draining", "STOPPING": "1"}, unset_environment=True, environ=env)
        assert server.recv(100) == b"STATUS=draining\nSTOPPING=1"
        assert "NOTIFY_SOCKET" not in env


def test_notify_to_an_abstract_socket() -> None:
    name = f"changeover-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(b"\0" + name.encode())
        assert notify("READY=1", environ={"NOTIFY_SOCKET": "@" + name})
        assert server.recv(100) == b"READY=1"


def test_no_manager_means_false() -> None:
    assert notify("READY=1", environ={}) is False


@pytest.mark.parametrize("raw", ["relative.sock", "@", "tcp://x"])
def test_bad_address_is_refused(raw: str) -> None:
    with pytest.raises(NotifyError, match="NOTIFY_SOCKET: expected an absolute path or '@'"):
        socket_address(raw)


@pytest.mark.parametrize("state", ["", "READY", "=1", "READY=1\nnonsense", {}])
def test_bad_state_is_refused(state: str) -> None:
    with pytest.raises(NotifyError, match="notify: expected"):
        encode_state(state)
