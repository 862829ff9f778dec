"""Change events: who listens for new flag states, and what they are told.

Invariant: a listener is called once per installed state that changes at least one flag,
on the refresh thread, after the state is in use; a failing listener is logged and never
stops the others or the refresh.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger("changeover.flags")


@dataclass(frozen=True, slots=True)
class FlagsChanged:
    """A new state is in use; `flags` are the ones whose answers may have changed."""

    flags: frozenset[str]
    etag: str | None


Listener = Callable[[FlagsChanged], None]


class Listeners:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def add(self, listener: Listener) -> Callable[[], None]:
        """Register `listener`; returns the function that unregisters it."""
        with self._lock:
            self._listeners.append(listener)

        def remove() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return remove

    def notify(self, event: FlagsChanged) -> None:
        if not event.flags:
            return  # e.g. the server's first answer equals the bootstrap
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:
                log.exception("flag change listener %r failed", listener)

    def after_fork(self) -> None:
        self._lock = threading.Lock()  # a thread that held it does not exist in the child
