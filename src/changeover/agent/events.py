"""Events: every notable change is stored, and waiting readers are woken at once.

Invariant: an event is visible to readers only after it is committed to the store, and
every committed event wakes every long-poll waiter (no lost wake-ups). A replica gets an
event when its state changes or when its reported probe failure does
(`ReplicaInfo.failing`, which the supervisor changes at most once per probe threshold),
never one per probe result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence

from changeover.store import Event, Store
from changeover.supervisor.state import ReplicaState
from changeover.supervisor.supervisor import ReplicaInfo

log = logging.getLogger("changeover.events")


class EventLog:
    def __init__(self, store: Store, wall: Callable[[], float] = time.time) -> None:
        self._store = store
        self._wall = wall
        self._changed: asyncio.Future[None] | None = None
        self.tap: Callable[[Event], None] = lambda event: None  # sees every committed event

    def add(
        self, kind: str, message: str, *, rollout_id: int | None = None, revision: int | None = None
    ) -> Event:
        event = self._store.add_event(
            kind, message, now=self._wall(), rollout_id=rollout_id, revision=revision
        )
        self.committed([event])
        return event

    def committed(self, events: Sequence[Event]) -> None:
        """Log and announce events a store write already committed (with its change)."""
        for event in events:
            log.info("%s", event.message)
            self.tap(event)
        # One future per generation: resolving it wakes every waiter without a lock.
        changed, self._changed = self._changed, None
        if changed is not None and not changed.done():
            changed.set_result(None)

    async def wait_after(
        self,
        after_id: int,
        timeout: float,  # noqa: ASYNC109 - a long-poll bound, part of the API
        limit: int = 200,
    ) -> list[Event]:
        """Events with id > after_id, waiting up to `timeout` for the first one."""
        events = self._store.events(after_id=after_id, limit=limit)
        if events or timeout <= 0:
            return events
        if self._changed is None:
            self._changed = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._changed)
        return self._store.events(after_id=after_id, limit=limit)


class ReplicaWatcher:
    """Turns replica changes into events, by diffing successive snapshots."""

    def __init__(self, log: EventLog) -> None:
        self._log = log
        self._seen: dict[str, tuple[ReplicaState, str]] = {}  # id -> (state, failing)

    def update(self, replicas: list[ReplicaInfo]) -> None:
        for info in replicas:
            before = self._seen.get(info.id)
            if before == (info.state, info.failing):
                continue
            self._seen[info.id] = (info.state, info.failing)
            message = news(info, before)
            if message:
                self._log.add("replica", message, revision=info.revision)
        current = {info.id for info in replicas}
        for gone in set(self._seen) - current:
            del self._seen[gone]


def news(info: ReplicaInfo, before: tuple[ReplicaState, str] | None) -> str:
    """One message for what changed since `before`: a new state says it (with the probe
    failure that caused it), else a probe failure reported, changed or over."""
    state, failing = before or (None, "")
    if info.state is not state:
        said = describe(info, state)
        if info.state is ReplicaState.STARTING and info.failing and info.failing != failing:
            said += f"; not ready: {info.last_error}"  # both since the last snapshot
        return said
    if info.failing == failing:
        return ""  # counted on: the count is in `last_error`, not news
    if info.failing:
        return f"{info.id} not ready: {info.last_error or info.failing}"
    return f"{info.id} probes pass again (they had: {failing})"


def describe(info: ReplicaInfo, before: ReplicaState | None) -> str:
    state = info.state
    if state is ReplicaState.STARTING:
        pid = f" (pid {info.pid})" if info.pid else ""
        return f"{info.id} starting{pid}" + (f", restart {info.restarts}" if info.restarts else "")
    if state is ReplicaState.READY:
        return f"{info.id} ready"
    if state is ReplicaState.NOT_READY:
        if before is not ReplicaState.READY:
            return ""
        return f"{info.id} not ready" + (f": {info.last_error}" if info.failing else "")
    if state is ReplicaState.BACKOFF:
        return f"{info.id} failed: {info.last_error or 'exited'}; restarting after backoff"
    if state is ReplicaState.DRAINING:
        return f"{info.id} draining"
    if state is ReplicaState.EXITED:
        reason = f" ({info.last_error})" if info.last_error else ""
        return f"{info.id} stopped{reason}"
    return ""
