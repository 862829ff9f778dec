"""Chaining the stop signals: the runtime hears them first, the server's handler later.

Invariant: our handler only records the signal and wakes the driver (nothing that takes a
lock, so it cannot deadlock the thread it interrupts); the server's own handler, saved at
install, is called exactly once per signal received, when the drain releases it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def callable_handler(handler: Handler) -> Callable[[int, FrameType | None], Any] | None:
    """The handler if it is a Python function (not SIG_DFL, SIG_IGN or None)."""
    if isinstance(handler, int) or handler is None:
        return None  # SIG_DFL and SIG_IGN are ints (enum members)
    return handler


class SignalRelay:
    """Installs a front handler for the stop signals and calls the saved ones on release."""

    def __init__(self, wake: Callable[[], None]) -> None:
        self._wake = wake
        self.previous: dict[int, Handler] = {}
        self.received: list[int] = []  # appends are atomic: safe in a signal handler
        self._released = 0

    def install(self, signals: tuple[int, ...] = STOP_SIGNALS) -> bool:
        """Install in front of the current handlers; False off the main thread."""
        if threading.current_thread() is not threading.main_thread():
            return False
        for sig in signals:
            current = signal.getsignal(sig)
            if current == self._handle:
                continue  # installed already (a second lifespan startup, a reload)
            self.previous[sig] = current
            signal.signal(sig, self._handle)
        return True

    def _handle(self, sig: int, frame: FrameType | None) -> None:
        self.received.append(sig)
        self._wake()

    @property
    def server_handles_stop(self) -> bool:
        """Whether a server handler (one we can call) sits behind ours."""
        return any(callable_handler(h) is not None for h in self.previous.values())

    def release(self) -> None:
        """Call the saved handler for every signal not yet passed on (SIGTERM if none came:
        a drain started by `Lifecycle.stop()` stops the server the same way)."""
        pending = self.received[self._released :]
        if not self.received and not self._released:
            pending = [signal.SIGTERM]
        self._released = max(len(self.received), 1)
        for sig in pending:
            handler = callable_handler(self.previous.get(sig))
            if handler is not None:
                handler(sig, None)

    def restore(self) -> None:
        """Put the saved handlers back (main thread only; used by tests and reloads)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, handler in self.previous.items():
            if signal.getsignal(sig) == self._handle:
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self.previous.clear()
