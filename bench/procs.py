"""Processes the benchmarks start: free ports, waiting for a listener, CPU and memory of a
process tree, and stopping by pid.

Invariant: every process started through `Started` is stopped (SIGTERM, then SIGKILL of
its pid) when its `with` block ends, whatever happened inside.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import psutil


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_listening(
    port: int, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode} before listening")
        if time.monotonic() > deadline:
            raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")
        time.sleep(0.05)


def tree(pid: int, descendants: bool = True) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)] if descendants else [root]


def cpu_seconds(pid: int, descendants: bool = True) -> float:
    """User + system CPU time of a process and (unless told not to) its descendants."""
    total = 0.0
    for proc in tree(pid, descendants):
        with contextlib.suppress(psutil.NoSuchProcess):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


def rss_bytes(pid: int, descendants: bool = True) -> int:
    """Resident memory of a process and (unless told not to) its descendants."""
    total = 0
    for proc in tree(pid, descendants):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += proc.memory_info().rss
    return total


class Started:
    """`with Started(argv, cwd=...) as proc:` runs a process for the block's duration."""

    def __init__(self, argv: Sequence[str], cwd: Path | None = None, log: Path | None = None,
                 env: dict[str, str] | None = None) -> None:  # fmt: skip
        out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - closed in __exit__
        self._out = out
        self.proc = subprocess.Popen(list(argv), cwd=cwd, stdout=out, stderr=out, env=env)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def __enter__(self) -> Started:
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        stop(self.proc)
        if not isinstance(self._out, int):
            self._out.close()


def stop(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM, wait up to `grace`, then SIGKILL; always reaps."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()
