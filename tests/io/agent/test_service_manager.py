"""What the agent tells systemd over `NOTIFY_SOCKET`, and that telling never fails it."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from changeover.agent.service_manager import ServiceManager


@pytest.fixture
def manager_socket(short_tmp: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(short_tmp / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(5)
        yield sock, path


def received(sock: socket.socket) -> dict[str, str]:
    return dict(line.split("=", 1) for line in sock.recv(4096).decode().splitlines())


def test_ready_stopping_and_main_pid_reach_the_manager(
    manager_socket: tuple[socket.socket, str],
) -> None:
    sock, path = manager_socket
    manager = ServiceManager({"NOTIFY_SOCKET": path})
    assert manager.present
    manager.ready("revision 1 (v1) serving on http://127.0.0.1:8080")
    assert received(sock) == {
        "READY": "1",
        "STATUS": "revision 1 (v1) serving on http://127.0.0.1:8080",
    }
    manager.handed_over(4242)
    assert received(sock)["MAINPID"] == "4242"
    manager.stopping()
    assert received(sock)["STOPPING"] == "1"
    assert [m.split("\n")[0] for m in manager.sent] == ["READY=1", "MAINPID=4242", "STOPPING=1"]


def test_without_a_manager_nothing_is_sent() -> None:
    manager = ServiceManager({})
    assert not manager.present
    manager.ready("serving")
    manager.stopping()
    assert manager.sent == []


def test_an_unreachable_manager_is_logged_not_raised(
    short_tmp: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for address in (str(short_tmp / "nobody-listens"), "relative/path"):
        manager = ServiceManager({"NOTIFY_SOCKET": address})
        with caplog.at_level(logging.WARNING, logger="changeover.agent"):
            manager.ready("serving")
        assert manager.sent == []
        assert f"cannot notify the service manager at {address}" in caplog.text
