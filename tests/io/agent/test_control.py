"""The control socket is private to its user from the moment it exists."""

from __future__ import annotations

import os
import socket
import stat
import tempfile
from pathlib import Path

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
