"""EventLog long-polling and the replica watcher, on the real store."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from changeover.agent.events import EventLog, ReplicaWatcher, describe, news
from changeover.spec.models import Probe, Probes, Termination
from changeover.store import Store
from changeover.supervisor.fakes import FakeSpawner, RecordingRouting, ScriptedProber
from changeover.supervisor.model import ReplicaInfo, ReplicaTemplate
from changeover.supervisor.probes import ProbeOutcome
from changeover.supervisor.state import ReplicaState
from changeover.supervisor.supervisor import Supervisor
from tests.helpers import bounded

from ._fakes import replica_info

S = ReplicaState
T = TypeVar("T")
GUARD = 10.0  # seconds; only ever reached when a test is about to fail


def run(coro: Coroutine[Any, Any, T]) -> T:
    return bounded(coro, GUARD)


async def settle(condition: Callable[[], bool], turns: int = 50) -> None:
    """Let the loop run until `condition` holds; counted in loop turns, not seconds."""
    for _ in range(turns):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError(f"not true after {turns} loop turns: {condition}")


def test_add_stores_the_event_with_the_wall_time(store: Store) -> None:
    log = EventLog(store, wall=lambda: 123.5)
    event = log.add("rollout", "hello", rollout_id=None, revision=None)
    assert (event.ts, event.kind, event.message) == (123.5, "rollout", "hello")
    assert store.events() == [event]
    store.create_revision(version="v", path="/", command="x", env={}, spec={}, replicas=1, now=1.0)
    second = log.add("replica", "r1-1 ready", revision=1)
    assert second.id > event.id
    assert store.events(after_id=event.id) == [second]


def test_wait_after_returns_at_once_when_events_exist(store: Store) -> None:
    log = EventLog(store)
    first, second = log.add("a", "one"), log.add("a", "two")

    async def main() -> None:
        # A timeout far beyond GUARD: it can only pass by not waiting at all.
        waiter = asyncio.ensure_future(log.wait_after(first.id, timeout=3600))
        await settle(waiter.done)
        assert waiter.result() == [second]
        assert await log.wait_after(0, timeout=0) == [first, second]
        assert await log.wait_after(second.id, timeout=0) == []
        assert await log.wait_after(0, timeout=3600, limit=1) == [first]

    run(main())


def test_a_waiter_wakes_as_soon_as_an_event_is_added(store: Store) -> None:
    log = EventLog(store)
    before = log.add("a", "old")

    async def main() -> None:
        waiter = asyncio.create_task(log.wait_after(before.id, timeout=3600))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not waiter.done()  # nothing new yet: it is waiting

        async def producer() -> None:
            log.add("b", "new")

        await asyncio.create_task(producer())
        await settle(waiter.done)  # a few loop turns, not the 3600 s timeout
        assert [e.message for e in waiter.result()] == ["new"]

    run(main())


def test_every_concurrent_waiter_wakes(store: Store) -> None:
    log = EventLog(store)

    async def main() -> None:
        waiters = [asyncio.create_task(log.wait_after(0, timeout=3600)) for _ in range(5)]
        late = asyncio.create_task(log.wait_after(0, timeout=3600))
        await asyncio.sleep(0)
        assert not any(w.done() for w in [*waiters, late])
        log.add("a", "for everyone")
        await settle(lambda: all(w.done() for w in [*waiters, late]))
        assert {tuple(e.message for e in w.result()) for w in [*waiters, late]} == {
            ("for everyone",)
        }

    run(main())


def test_wait_after_times_out_with_nothing(store: Store) -> None:
    log = EventLog(store)

    async def main() -> None:
        assert await log.wait_after(0, timeout=0.05) == []
        assert await log.wait_after(0, timeout=0) == []
        assert await log.wait_after(0, timeout=-1) == []
        # A waiter that timed out leaves nothing stale behind: the next one still wakes.
        waiter = asyncio.create_task(log.wait_after(0, timeout=3600))
        await asyncio.sleep(0)
        log.add("a", "later")
        await settle(waiter.done)
        assert [e.message for e in waiter.result()] == ["later"]

    run(main())


def test_a_cancelled_waiter_does_not_block_the_others(store: Store) -> None:
    log = EventLog(store)

    async def main() -> None:
        gone = asyncio.create_task(log.wait_after(0, timeout=3600))
        stays = asyncio.create_task(log.wait_after(0, timeout=3600))
        await asyncio.sleep(0)
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        log.add("a", "still delivered")
        await settle(stays.done)
        assert [e.message for e in stays.result()] == ["still delivered"]

    run(main())


def messages(store: Store, after: int = 0) -> list[str]:
    return [e.message for e in store.events(after_id=after)]


def test_watcher_reports_each_state_change_once(store: Store) -> None:
    for _ in range(2):
        store.create_revision(
            version="v", path="/", command="x", env={}, spec={}, replicas=1, now=1.0
        )
    watcher = ReplicaWatcher(EventLog(store))
    watcher.update([replica_info("r1-1", S.STARTING, pid=41)])
    watcher.update([replica_info("r1-1", S.STARTING, pid=41)])  # unchanged: nothing
    assert messages(store) == ["r1-1 starting (pid 41)"]
    watcher.update([replica_info("r1-1", S.READY), replica_info("r2-1", S.STARTING, pid=None)])
    watcher.update([replica_info("r1-1", S.READY), replica_info("r2-1", S.STARTING, pid=None)])
    assert messages(store)[1:] == ["r1-1 ready", "r2-1 starting"]
    assert [e.revision for e in store.events()] == [1, 1, 2]
    assert {e.kind for e in store.events()} == {"replica"}


def test_watcher_forgets_replicas_that_disappeared(store: Store) -> None:
    store.create_revision(version="v", path="/", command="x", env={}, spec={}, replicas=1, now=1)
    watcher = ReplicaWatcher(EventLog(store))
    watcher.update([replica_info("r1-1", S.READY)])
    watcher.update([])
    watcher.update([replica_info("r1-1", S.READY)])  # seen anew: reported again
    assert messages(store) == ["r1-1 ready", "r1-1 ready"]


def test_watcher_skips_states_without_a_message(store: Store) -> None:
    store.create_revision(version="v", path="/", command="x", env={}, spec={}, replicas=1, now=1)
    watcher = ReplicaWatcher(EventLog(store))
    watcher.update([replica_info("r1-1", S.STARTING, pid=None)])
    watcher.update([replica_info("r1-1", S.NOT_READY)])  # never ready: no news
    watcher.update([replica_info("r1-1", S.READY)])
    watcher.update([replica_info("r1-1", S.NOT_READY)])
    watcher.update([replica_info("r1-1", S.DRAINING)])
    watcher.update([replica_info("r1-1", S.STOPPING)])
    watcher.update([replica_info("r1-1", S.EXITED, pid=None)])
    assert messages(store) == [
        "r1-1 starting",
        "r1-1 ready",
        "r1-1 not ready",
        "r1-1 draining",
        "r1-1 stopped",
    ]


@pytest.mark.parametrize(
    ("state", "before", "kw", "expected"),
    [
        (S.STARTING, None, {"pid": 7}, "r1-1 starting (pid 7)"),
        (S.STARTING, S.BACKOFF, {"pid": 8, "restarts": 2}, "r1-1 starting (pid 8), restart 2"),
        (S.STARTING, S.BACKOFF, {"pid": None, "restarts": 1}, "r1-1 starting, restart 1"),
        (S.READY, S.STARTING, {}, "r1-1 ready"),
        (S.NOT_READY, S.READY, {}, "r1-1 not ready"),
        (S.NOT_READY, S.STARTING, {}, ""),
        (S.NOT_READY, None, {}, ""),
        (
            S.BACKOFF,
            S.STARTING,
            {"last_error": "exited with code 3"},
            "r1-1 failed: exited with code 3; restarting after backoff",
        ),
        (S.BACKOFF, S.READY, {}, "r1-1 failed: exited; restarting after backoff"),
        (S.DRAINING, S.READY, {}, "r1-1 draining"),
        (S.STOPPING, S.DRAINING, {}, ""),
        (S.EXITED, S.STOPPING, {}, "r1-1 stopped"),
        (
            S.EXITED,
            S.STOPPING,
            {"last_error": "did not exit within grace period 5s; killed"},
            "r1-1 stopped (did not exit within grace period 5s; killed)",
        ),
    ],
)
def test_describe(
    state: ReplicaState, before: ReplicaState | None, kw: dict[str, Any], expected: str
) -> None:
    assert describe(replica_info("r1-1", state, **kw), before) == expected


def failing_info(state: ReplicaState, failing: str = "", last_error: str = "") -> ReplicaInfo:
    return dataclasses.replace(replica_info("r1-1", state, last_error=last_error), failing=failing)


E503 = "readiness GET /readyz answered 503"


@pytest.mark.parametrize(
    ("info", "before", "expected"),
    [
        # a probe failure reported, while the state stays
        (
            failing_info(S.STARTING, E503, f"{E503} (2 times in a row)"),
            (S.STARTING, ""),
            f"r1-1 not ready: {E503} (2 times in a row)",
        ),
        # its reason changed
        (
            failing_info(S.STARTING, "readiness GET /readyz timed out after 1s", "... (3 times)"),
            (S.STARTING, E503),
            "r1-1 not ready: ... (3 times)",
        ),
        # counted on: not news
        (failing_info(S.STARTING, E503, f"{E503} (9 times in a row)"), (S.STARTING, E503), ""),
        # over without a change of state
        (
            failing_info(S.STARTING),
            (S.STARTING, E503),
            f"r1-1 probes pass again (they had: {E503})",
        ),
        # over because it is ready: the state says it
        (failing_info(S.READY), (S.STARTING, E503), "r1-1 ready"),
        # the state change it caused carries it
        (
            failing_info(S.NOT_READY, E503, f"{E503} (2 times in a row)"),
            (S.READY, ""),
            f"r1-1 not ready: {E503} (2 times in a row)",
        ),
        # a new process and its failure, seen in one snapshot
        (
            failing_info(S.STARTING, E503, f"{E503} (2 times in a row)"),
            (S.BACKOFF, ""),
            f"r1-1 starting (pid 4000001); not ready: {E503} (2 times in a row)",
        ),
        # the process ended: its exit is the news, not the end of its probes
        (
            failing_info(S.BACKOFF, "", "exited with code 3"),
            (S.STARTING, E503),
            "r1-1 failed: exited with code 3; restarting after backoff",
        ),
    ],
)
def test_news_of_probe_failures(
    info: ReplicaInfo, before: tuple[ReplicaState, str], expected: str
) -> None:
    assert news(info, before) == expected


def test_a_failing_probe_gives_one_event_not_one_per_period(store: Store, tmp_path: Path) -> None:
    store.create_revision(version="v", path="/", command="x", env={}, spec={}, replicas=1, now=1)
    watcher, prober = ReplicaWatcher(EventLog(store)), ScriptedProber()
    template = ReplicaTemplate(
        revision=1,
        version="v1",
        command="app",
        workdir=tmp_path,
        env={},
        probes=Probes(readiness=Probe(path="/readyz", period="10ms", failure_threshold=3)),
        termination=Termination(drain_timeout="1s", grace_period="1s"),
    )
    ok, e503 = ProbeOutcome(True, "answered 200"), ProbeOutcome(False, "answered 503")
    refused = ProbeOutcome(False, "connection refused")

    async def main() -> None:
        sup = Supervisor(
            routing=RecordingRouting(), logs_dir=tmp_path, spawner=FakeSpawner(), prober=prober
        )
        sup.scale(template, 1)
        # a snapshot after every probe: the most an agent could ever see
        script = [*[e503] * 40, refused, e503, *[refused] * 3, *[e503] * 2, ok, *[e503] * 20]
        for outcome in script:
            await prober.answer(outcome)
            watcher.update(sup.replicas())
        await sup.stop_all()

    run(main())
    assert [m for m in messages(store) if "starting" not in m] == [
        f"r1-1 not ready: {E503} (3 times in a row)",
        "r1-1 not ready: readiness GET /readyz connection refused (3 times in a row)",
        "r1-1 ready",
        "r1-1 not ready: readiness GET /readyz answered 503 (3 times in a row)",
    ]
