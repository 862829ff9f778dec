"""The drain driver: one daemon thread that runs the lifecycle's step on every wake.

Invariant: wakes never block and never take a lock (a self-pipe write, safe inside a
signal handler); the step runs on this thread only, so drain decisions never run inside
a signal handler or on a request's thread, and a timer wake comes when the step asks.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
from collections.abc import Callable

log = logging.getLogger("changeover.runtime")
Step = Callable[[], float | None]  # returns seconds until it wants to run again (None: idle)


class Driver:
    def __init__(self, step: Step, name: str = "changeover-drain") -> None:
        self._step = step
        self._name = name
        self._pipe: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0

    def start(self) -> None:
        """Start the thread (again after a fork: threads do not survive one)."""
        if self._thread is not None and self._pid == os.getpid():
            return
        self._pipe = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._pid = os.getpid()
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        if self._pipe is not None:
            with contextlib.suppress(BlockingIOError):  # a full pipe already means "wake"
                os.write(self._pipe[1], b"\0")

    def _run(self) -> None:
        assert self._pipe is not None
        reader = self._pipe[0]
        timeout: float | None = None
        while True:
            select.select([reader], [], [], timeout)
            with contextlib.suppress(BlockingIOError):
                os.read(reader, 4096)
            try:
                timeout = self._step()
            except Exception:  # the drain must go on: log and keep the thread alive
                log.exception("changeover.runtime: drain step failed")
                timeout = 0.1
