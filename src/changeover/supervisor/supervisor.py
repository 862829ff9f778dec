"""The supervisor facade: a reconciled set of replicas per revision.

Invariant: every replica has exactly one owner task at a time: its run task while live,
then its termination task; `scale` only starts replicas or hands them over to
termination, so calling it again with the same arguments changes nothing. Where a
rollout decides, `scale` stops exactly the replicas the decision names (chosen by
`rollout.observe.removal_order`, which the availability proof assumes); its own order
serves only where nothing decides (a warm revision's end, `stop_all`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from changeover.supervisor import adopt, lifecycle, termination
from changeover.supervisor.adopt import AdoptedProcess, Adoptee, Verdict
from changeover.supervisor.backoff import Backoff
from changeover.supervisor.escapes import EscapeGuard
from changeover.supervisor.model import Hooks, Prober, ReplicaInfo, ReplicaTemplate
from changeover.supervisor.probes import probe_http
from changeover.supervisor.replica import Replica, notify
from changeover.supervisor.routing import Routing
from changeover.supervisor.spawn import Child, PosixSpawner, Spawner
from changeover.supervisor.state import ReplicaEvent, ReplicaState

__all__ = ["Adoptee", "Backoff", "ReplicaInfo", "ReplicaTemplate", "Routing", "Supervisor"]

log = logging.getLogger(__name__)

KEEP_EXITED = 16  # exited replicas kept for status, oldest dropped first
SETTLE = 1.0  # how long stop_all waits for killed escapees to be reaped
# Where no rollout names the replicas, scale-down picks those that serve nothing first,
# in this order, then the newest ready.
_SCALE_DOWN_RANK = {ReplicaState.BACKOFF: 0, ReplicaState.STARTING: 1, ReplicaState.NOT_READY: 2}


def _ignore(_: ReplicaInfo) -> None:
    return None


class Supervisor:
    """Replicas of every revision, reconciled by `scale`; all methods run on the agent's loop.

    Callbacks run synchronously inside the supervisor and must return quickly without
    calling back into it (set an event instead); their exceptions are logged and ignored.
    `on_change()` follows every state change and every change of a replica's reported
    probe failure (`ReplicaInfo.failing`); `on_started(info)` follows every spawn, with
    `info.pid` (which is also the pgid) and `info.create_time` for the orphan records;
    `on_exited(info)` follows every exit of that process, its group already SIGKILLed.
    `backoff` makes one `Backoff` per replica; `prober` replaces the HTTP probe in tests.
    Once a second it also records each running replica's descendants and reaps orphans the
    agent adopted (`escapes`); descendants that left a replica's group die with it.
    """

    def __init__(
        self,
        *,
        routing: Routing,
        logs_dir: Path,
        spawner: Spawner | None = None,
        clock: Callable[[], float] = time.monotonic,
        backoff: Callable[[], Backoff] = Backoff,
        on_change: Callable[[], None] = lambda: None,
        on_started: Callable[[ReplicaInfo], None] = _ignore,
        on_exited: Callable[[ReplicaInfo], None] = _ignore,
        prober: Prober = probe_http,
    ) -> None:
        spawner = PosixSpawner() if spawner is None else spawner
        self._escapes = EscapeGuard(self._processes)
        self._hooks = Hooks(
            routing, spawner, clock, prober, on_change, on_started, on_exited, self._escapes
        )
        self._logs_dir = logs_dir
        self._backoff = backoff
        self._replicas: dict[str, Replica] = {}
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._stops: dict[str, asyncio.Task[None]] = {}
        self._next_index: collections.Counter[int] = collections.Counter()
        self._exited: collections.deque[str] = collections.deque()
        self._closed = False

    def scale(
        self, template: ReplicaTemplate, count: int, *, remove: Sequence[str] | None = None
    ) -> None:
        """Start or terminate replicas so exactly `count` of the revision are live.

        `remove` names the replicas to stop (a rollout's decision, made on this
        supervisor's view): exactly those are stopped, skipping any that are already
        stopping or gone, and ValueError is raised if that leaves more than `count` live.
        Without `remove`, the supervisor picks: not serving first, then the newest ready.
        """
        if count < 0:
            raise ValueError(f"replica count must be >= 0, got {count}")
        if self._closed:
            raise RuntimeError("supervisor is stopped; scale() is no longer possible")
        asyncio.get_running_loop()  # fail here, not later, when called outside the loop
        live = self._live(template.revision)
        if remove is None:
            extra = sorted(live, key=_scale_down_key)[: max(0, len(live) - count)]
        else:
            extra = _named(live, remove, count, template.revision)
        for _ in range(count - (len(live) - len(extra))):
            self._start(template)
        for rep in extra:
            self._terminate(rep)

    def replicas(self) -> list[ReplicaInfo]:
        return [rep.info() for rep in self._replicas.values()]

    def replica(self, replica_id: str) -> ReplicaInfo:
        try:
            return self._replicas[replica_id].info()
        except KeyError:
            known = ", ".join(self._replicas) or "none"
            raise KeyError(f"no replica {replica_id!r} (known: {known})") from None

    async def wait_terminated(self, revision: int | None = None) -> None:
        """Return once no replica (of `revision`, if given) is being terminated."""
        while tasks := [
            task
            for rid, task in self._stops.items()
            if revision is None or self._replicas[rid].template.revision == revision
        ]:
            await asyncio.wait(tasks)

    async def stop_all(self) -> None:
        """Terminate every replica in parallel and wait until every process is gone."""
        self._closed = True
        for rid in list(self._runs):
            self._terminate(self._replicas[rid])
        await self.wait_terminated()
        await self._escapes.close(settle=SETTLE)

    def reserve(self, replica_id: str) -> None:
        """Never give `replica_id` ("r3-2") to a new replica: a previous agent's had it."""
        revision, index = _parse_id(replica_id)
        self._next_index[revision] = max(self._next_index[revision], index)

    def adopt(self, template: ReplicaTemplate, entry: Adoptee) -> Verdict:
        """Take over a replica a previous agent ran: its process, port and, after a
        handover, its listening socket (after a crash the process alone holds it: the
        replica gets a socket again before its next process, see `Replica.spawn`)."""
        _, index = _parse_id(entry.replica_id)
        self._next_index[template.revision] = max(self._next_index[template.revision], index)
        verdict, child = Verdict.GONE, None
        if entry.pid is not None:
            verdict, child = AdoptedProcess.open(entry.pid, entry.create_time)
        if verdict is Verdict.REUSED:
            log.warning("replica %s: pid %d was reused; not adopted", entry.replica_id, entry.pid)
        adopted = (entry.port, entry.sock)
        rep = Replica(template, index, self._logs_dir, self._hooks, self._backoff(), adopted)
        self._hooks.routing.add_endpoint(rep.id, template.revision, rep.host, rep.port)
        self._replicas[rep.id] = rep
        if child is None:
            run = lifecycle.run(rep)  # gone since: start it again, as a restart would
        else:
            rep.child, rep.started_at = child, self._hooks.clock()
            if entry.ready:  # routable at once: the previous agent still routes to it
                rep.move(ReplicaEvent.BECAME_READY)
                rep.set_routable(True)
            run = adopt.run_adopted(rep, child, entry.ready)
        task = asyncio.create_task(run, name=f"changeover-replica-{rep.id}")
        task.add_done_callback(lambda t: _log_crash(rep, t))
        self._runs[rep.id] = task
        self._escapes.start()
        notify(self._hooks.on_change)
        return verdict

    def handover(self) -> list[tuple[ReplicaInfo, socket.socket | None]]:
        """Every live replica with the listening socket a next agent must keep."""
        return [(self._replicas[rid].info(), self._replicas[rid].sock) for rid in self._runs]

    async def detach(self) -> None:
        """Stop supervising without touching any process: a new agent has adopted them."""
        self._closed = True
        tasks = [*self._runs.values(), *self._stops.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._escapes.close()
        for rep in self._replicas.values():
            if rep.child is not None and hasattr(rep.child, "close"):
                rep.child.close()  # stop watching; the process is the new agent's now
            rep.close_socket()
        self._runs.clear()
        self._stops.clear()

    def _processes(self) -> list[tuple[str, Child]]:
        """Every replica's current process, terminating ones included."""
        return [(r.id, r.child) for r in self._replicas.values() if r.child is not None]

    def _live(self, revision: int) -> list[Replica]:
        running = (self._replicas[rid] for rid in self._runs)
        return [rep for rep in running if rep.template.revision == revision]

    def _start(self, template: ReplicaTemplate) -> None:
        # Indices start at 1 and are never reused: "r3-1" names one process history.
        self._next_index[template.revision] += 1
        index = self._next_index[template.revision]
        rep = Replica(template, index, self._logs_dir, self._hooks, self._backoff())
        try:
            self._hooks.routing.add_endpoint(rep.id, template.revision, rep.host, rep.port)
        except BaseException:
            rep.close_socket()
            raise
        self._replicas[rep.id] = rep
        task = asyncio.create_task(lifecycle.run(rep), name=f"changeover-replica-{rep.id}")
        task.add_done_callback(lambda t: _log_crash(rep, t))
        self._runs[rep.id] = task
        self._escapes.start()
        notify(self._hooks.on_change)

    def _terminate(self, rep: Replica) -> None:
        run_task = self._runs.pop(rep.id, None)
        if run_task is None:
            return  # an on_change callback re-entered scale() and got here first
        termination.begin(rep, run_task)
        stopping = termination.finish(rep, run_task)
        task = asyncio.create_task(stopping, name=f"changeover-stop-{rep.id}")
        task.add_done_callback(lambda t: self._terminated(rep, t))
        self._stops[rep.id] = task

    def _terminated(self, rep: Replica, task: asyncio.Task[None]) -> None:
        del self._stops[rep.id]
        _log_crash(rep, task)
        self._exited.append(rep.id)
        while len(self._exited) > KEEP_EXITED:
            del self._replicas[self._exited.popleft()]


def _named(live: list[Replica], remove: Sequence[str], count: int, revision: int) -> list[Replica]:
    """The live replicas `remove` names; they must bring the revision down to `count`."""
    by_id = {rep.id: rep for rep in live}
    named = [by_id[rid] for rid in dict.fromkeys(remove) if rid in by_id]
    if len(live) - len(named) > count:
        kept = ", ".join(sorted(by_id.keys() - {rep.id for rep in named}))
        raise ValueError(
            f"scale revision {revision} to {count}: the replicas to stop "
            f"({', '.join(remove) or 'none'}) would leave {kept} live"
        )
    return named


def _parse_id(replica_id: str) -> tuple[int, int]:
    """(revision, index) of "r{revision}-{index}"; ValueError naming the id otherwise."""
    revision, sep, index = replica_id.removeprefix("r").partition("-")
    if not (replica_id.startswith("r") and sep and revision.isdigit() and index.isdigit()):
        raise ValueError(f'replica id {replica_id!r}: expected "r<revision>-<index>"')
    return int(revision), int(index)


def _scale_down_key(rep: Replica) -> tuple[int, float, int]:
    if rep.state is ReplicaState.READY and rep.ready_since is not None:
        return (len(_SCALE_DOWN_RANK), -rep.ready_since, -rep.index)
    return (_SCALE_DOWN_RANK.get(rep.state, 0), 0.0, -rep.index)


def _log_crash(rep: Replica, task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("replica %s: supervision task failed", rep.id, exc_info=task.exception())
