"""The control socket is private to its user from the moment it exists."""

from __future__ import annotations

import os
import socket
import stat
import tempfile
from pathlib import Path

from changeover.agent import control
from changeover.agent.control import bind_control_socket


def test_control_socket_is_created_with_mode_0600_and_replaces_a_stale_file() -> None:
    with tempfile.TemporaryDirectory(prefix="co-") as folder:
        path = Path(folder) / "agent.sock"
        path.write_text("stale file of a dead agent")
        sock = bind_control_socket(path)
        try:
            assert stat.S_ISSOCK(os.stat(path).st_mode)
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.connect(str(path))
        finally:
            sock.close()


def test_idle_control_connections_stay_open_for_a_cli_over_ssh(short_tmp: Path) -> None:
    """A CLI over ssh holds one connection for its whole run: the control server keeps an
    idle one for IDLE_KEEP_ALIVE (uvicorn's own default, 5 s, would close it between two
    requests of a command that pauses)."""
    sock = control.bind_control_socket(short_tmp / "agent.sock")
    try:
        server = control.ControlServer(lambda *args: None, sock)  # type: ignore[arg-type,return-value]
        assert server._server.config.timeout_keep_alive == control.IDLE_KEEP_ALIVE >= 60
    finally:
        sock.close()
