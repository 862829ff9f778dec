"""The background thread that keeps a client's state fresh: fetch, judge, install, wait.

Invariant: the refresher decides with the pure `Poller` and only then acts; a response
replaces the state only when it is a 200 whose body validates, so an unreachable server, an
error status or a broken document leaves the last good state serving. It is a thread, not an
asyncio task, so flags refresh the same way under Flask, Django, Celery or asyncio apps.
"""

from __future__ import annotations

import http.client
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from changeover.flags.engine import State
from changeover.flags.load import parse_state
from changeover.flags.poll import Outcome, Poller
from changeover.flags.problems import FlagStateError
from changeover.flags.transport import Fetcher, Response

log = logging.getLogger("changeover.flags")

Install = Callable[[State, str | None], None]


@dataclass(frozen=True, slots=True)
class Status:
    mode: str  # the Poller's mode: probing, long-poll or interval
    etag: str | None
    failures: int  # consecutive failed refreshes (0 when the last one worked)
    last_error: str | None


class Refresher:
    def __init__(
        self,
        fetcher: Fetcher,
        poller: Poller,
        install: Install,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetcher = fetcher
        self._poller = poller
        self._install = install
        self._clock = clock
        self._stop = threading.Event()
        self._last_body: bytes | None = None
        self.last_error: str | None = None
        self._thread = threading.Thread(target=self._run, name="changeover-flags", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._fetcher.close()  # unblocks a long-poll in flight
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def forked(self) -> Refresher:
        """A new refresher for a forked child, where this one's thread does not exist."""
        self._fetcher.forget()
        child = Refresher(self._fetcher.clone(), self._poller, self._install, clock=self._clock)
        child._last_body = self._last_body
        return child

    def status(self) -> Status:
        p = self._poller
        return Status(p.mode.value, p.etag, p.failures, self.last_error)

    def _run(self) -> None:
        while not self._stop.is_set():
            request = self._poller.request()
            started = self._clock()
            outcome, etag = self._once(request.etag, request.wait)
            if self._stop.is_set():
                return
            delay = self._poller.observe(outcome, self._clock() - started, etag)
            if delay > 0:
                self._stop.wait(delay)

    def _once(self, etag: str | None, wait: float | None) -> tuple[Outcome, str | None]:
        try:
            response = self._fetcher.fetch(etag, wait)
        except (OSError, http.client.HTTPException) as exc:
            return self._failed(f"cannot reach the flag server: {exc!r}"), None
        try:
            return self._judge(response)
        except Exception as exc:  # an install callback or a parser bug must not kill refresh
            log.exception("flag refresh failed")
            return self._failed(f"refresh failed: {exc!r}"), None

    def _judge(self, response: Response) -> tuple[Outcome, str | None]:
        if response.status == 304:
            self.last_error = None
            return Outcome.UNCHANGED, response.etag
        if response.status != 200:
            return self._failed(f"flag server answered HTTP {response.status}"), None
        if response.body == self._last_body:
            self.last_error = None
            return Outcome.SAME, response.etag
        try:
            state = parse_state(response.body, source="flag document from server")
        except FlagStateError as exc:
            return self._failed(str(exc)), None
        self._last_body = response.body
        self.last_error = None
        for warning in state.warnings:
            log.warning("flag document: %s", warning)
        self._install(state, response.etag)
        return (Outcome.CHANGED if response.etag else Outcome.SAME), response.etag

    def _failed(self, message: str) -> Outcome:
        if message != self.last_error:
            log.warning("%s; serving the last known flags", message)
        self.last_error = message
        return Outcome.FAILED
