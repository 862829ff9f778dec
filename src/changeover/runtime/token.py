"""A stop token that threads and event loops can both wait on.

Invariant: once set it stays set, and every waiter (thread or coroutine, on any loop)
registered before or after the set wakes up; `set` is safe from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading


class StopToken:
    """Set when the application should stop taking new work."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    def __repr__(self) -> str:
        return f"<StopToken {'set' if self.is_set() else 'clear'}>"

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        with self._lock:
            self._event.set()
            waiters, self._waiters = self._waiters, []
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    def wait(self, timeout: float | None = None) -> bool:
        """Block this thread until set (or `timeout`); True if set."""
        return self._event.wait(timeout)

    async def wait_async(self) -> None:
        """Wait on the running loop until set."""
        event = asyncio.Event()
        entry = (asyncio.get_running_loop(), event)
        with self._lock:
            if self._event.is_set():
                return
            self._waiters.append(entry)
        try:
            await event.wait()
        finally:
            with self._lock, contextlib.suppress(ValueError):
                self._waiters.remove(entry)  # a cancelled waiter must not pile up
