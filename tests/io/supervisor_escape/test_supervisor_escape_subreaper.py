"""An agent that is a child subreaper (played by a subprocess, so pytest never becomes
one): a daemon orphaned by a double fork is killed with its replica and reaped, and
orphans that exit on their own while the replica runs are reaped, leaving no zombie."""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.io.supervisor_escape.escape_kit import TOKEN_VAR, exists

ROOT = Path(__file__).parents[3]
MODULE = "tests.io.supervisor_escape.escape_agent"


class AgentProc:
    """The agent subprocess: JSON lines out, stdin kept open until the test has looked."""

    def __init__(self, proc: subprocess.Popen[str], stderr: Path) -> None:
        self.proc, self.stderr = proc, stderr
        assert proc.stdout is not None
        self._sel = selectors.DefaultSelector()
        self._sel.register(proc.stdout, selectors.EVENT_READ)

    def line(self, within: float = 30.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        if not self._sel.select(within):
            raise AssertionError(f"agent said nothing for {within}s; {self.log()}")
        text = self.proc.stdout.readline()
        fields: dict[str, Any] = json.loads(text) if text else {"error": "agent exited"}
        assert "error" not in fields, f"{fields['error']}; {self.log()}"
        return fields

    def log(self) -> str:
        return "agent stderr:\n" + self.stderr.read_text()


@contextmanager
def agent(folder: Path, token: str, *args: str) -> Iterator[AgentProc]:
    stderr = folder / "agent.err"
    with open(stderr, "w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", MODULE, *args],
            cwd=ROOT,
            env={**os.environ, TOKEN_VAR: token, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    try:
        yield AgentProc(proc, stderr)
    finally:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        proc.stdout.close()


def test_double_forked_daemon_is_killed_with_its_replica_and_reaped(
    tmp_path: Path, token: str
) -> None:
    with agent(tmp_path, token, "double-fork", str(tmp_path)) as proc:
        assert proc.line() == {"step": "started", "subreaper": True}
        orphaned = proc.line()
        pid = orphaned["pid"]
        assert orphaned["pgid"] not in (pid, orphaned["replica"])  # left the group, no leader
        assert proc.line() == {"step": "stopped", "zombies": []}
        # While the agent still lives: no process, not even a zombie, under that pid.
        assert not exists(pid)
        assert proc.proc.poll() is None
    assert proc.proc.returncode == 0, proc.log()


def test_orphans_exiting_on_their_own_are_reaped(tmp_path: Path, token: str) -> None:
    with agent(tmp_path, token, "daemons", str(tmp_path), "3") as proc:
        assert proc.line()["subreaper"] is True
        orphaned = proc.line()
        assert len(orphaned["pids"]) == 6
        assert len(orphaned["leaders"]) == 3  # setsid() after the orphaning: pgid == pid
        assert proc.line() == {"step": "reaped", "zombies": [], "replica_running": True}
        assert not any(exists(pid) for pid in orphaned["pids"])
    assert proc.proc.returncode == 0, proc.log()
