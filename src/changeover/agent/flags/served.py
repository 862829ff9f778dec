"""The served flag document: its bytes and ETag, and the long-polls waiting for a change.

Invariant: body and strong ETag change together, and only when the document does; each
change bumps `generation` and wakes every waiting long-poll (one future per generation, so
no wake-up is lost); once `stopping` is set, held requests answer at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from changeover.agent.flags.wire import encode, etag_matches, etag_of


class ServedDocument:
    def __init__(self, stopping: asyncio.Event | None = None) -> None:
        self._stopping = stopping  # set when the agent stops: long-polls answer at once
        self._changed: asyncio.Future[None] | None = None
        self.generation = 0
        self.body, self.etag = b"", ""

    @property
    def waiting(self) -> bool:
        """Whether a long-poll has waited since the last change (for tests and status)."""
        return self._changed is not None

    def update(self, document: Mapping[str, Any]) -> bool:
        """Serve `document` from now on; True (and long-polls woken) if its bytes changed."""
        body = encode(document)
        if body == self.body:
            return False
        self.body, self.etag = body, etag_of(body)
        self.generation += 1
        changed, self._changed = self._changed, None
        if changed is not None and not changed.done():
            changed.set_result(None)
        return True

    async def answer(self, if_none_match: str | None, wait: float) -> tuple[int, bytes, str]:
        """Status, body and ETag; a matching request with `wait` is held until a change."""
        if wait > 0 and etag_matches(if_none_match, self.etag):
            await self._wait_for_change(wait)
        if etag_matches(if_none_match, self.etag):
            return 304, b"", self.etag
        return 200, self.body, self.etag

    async def _wait_for_change(self, wait: float) -> None:
        if self._stopping is not None and self._stopping.is_set():
            return
        if self._changed is None:
            self._changed = asyncio.get_running_loop().create_future()
        changed = self._changed
        stop = asyncio.ensure_future(self._stopping.wait()) if self._stopping else None
        try:
            waiting: set[asyncio.Future[Any]] = {changed} if stop is None else {changed, stop}
            await asyncio.wait(waiting, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if stop is not None:
                stop.cancel()
