"""Keeping one replica's process running: spawn, probe, restart with backoff.

Invariant: the task running `run` is the only thing that changes a live replica's state,
and once cancelled it changes nothing more (no state moves in cleanup code), so
termination can take over at any await point. Every probe result is also told to the
run's `ProbeReports`: a reported failure becomes the replica's `last_error` (counted on
at each result) and its `failing` (changed only as `reports` allows, for events), and a
probe's restart gives that failure as its reason.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import NamedTuple

from changeover.spec.models import Probe
from changeover.supervisor.health import Action, Health, Kind
from changeover.supervisor.probes import ProbeOutcome
from changeover.supervisor.process import describe_exit
from changeover.supervisor.replica import Replica
from changeover.supervisor.reports import ProbeReports
from changeover.supervisor.spawn import Child, SpawnError
from changeover.supervisor.state import ReplicaEvent
from changeover.supervisor.termination import stop_child

log = logging.getLogger(__name__)


class _Exit(NamedTuple):
    code: int


class _Result(NamedTuple):
    kind: Kind
    outcome: ProbeOutcome


_Event = _Exit | _Result


async def run(rep: Replica) -> None:
    """Run the replica until cancelled, restarting it after every failure."""
    while True:
        reason = await _run_once(rep)  # already out of routing
        rep.last_error = reason
        if not rep.ready_this_run:
            rep.boot_failures += 1
            port = rep.new_port_after_failed_start()
            if port is not None:
                log.info("replica %s: next start on port %d", rep.id, port)
        rep.move(ReplicaEvent.RUN_ENDED)
        delay = rep.backoff.failure(rep.hooks.clock())
        log.info("replica %s: %s; restarting in %.2fs", rep.id, reason, delay)
        await asyncio.sleep(delay)
        rep.restarts += 1
        rep.move(ReplicaEvent.BACKOFF_ELAPSED)


async def _run_once(rep: Replica) -> str:
    """One process from spawn to exit; returns why it ended."""
    rep.ready_this_run = False
    try:
        child = rep.spawn()
    except SpawnError as exc:
        return str(exc)
    events: asyncio.Queue[_Event] = asyncio.Queue()
    tasks = _ProbeTasks(rep, events)
    watcher = asyncio.create_task(_report_exit(child, events))
    try:
        return await _supervise(rep, child, Health(rep.template.probes), tasks, events)
    finally:
        watcher.cancel()
        await asyncio.gather(watcher, *tasks.cancel_all(), return_exceptions=True)


async def _supervise(
    rep: Replica, child: Child, health: Health, tasks: _ProbeTasks, events: asyncio.Queue[_Event]
) -> str:
    reports = ProbeReports(health.probes)
    actions, said = health.begin(), ""
    while True:
        for action in actions:
            if action is Action.RESTART:
                # the latest result asked for it: its probe failed as often as `said` counts
                return await _restart(rep, child, said or health.reason)
            _apply(rep, action)
        tasks.sync(health)
        event = await events.get()
        if isinstance(event, _Exit):
            rep.set_routable(False)
            rep.process_gone()
            return describe_exit(event.code)
        actions = health.record(event.kind, event.outcome.ok)
        said = _report(rep, reports, event)


def _report(rep: Replica, reports: ProbeReports, result: _Result) -> str:
    """Keep the replica's books on what its probes say; the failure shown, if any."""
    said = reports.record(result.kind, result.outcome)
    if said:
        rep.last_error = said
    rep.set_failing(reports.failing)
    return said


def _apply(rep: Replica, action: Action) -> None:
    if action is Action.READY:
        rep.move(ReplicaEvent.BECAME_READY)
        rep.set_routable(True)
    elif action is Action.NOT_READY:
        rep.set_routable(False)
        rep.move(ReplicaEvent.BECAME_UNREADY)


async def _restart(rep: Replica, child: Child, reason: str) -> str:
    """A probe asked for a restart: out of routing, then stop signal, grace, SIGKILL."""
    rep.set_routable(False)
    rep.move(ReplicaEvent.RESTART_ORDERED)
    term = rep.template.termination
    rep.hooks.escapes.record(rep.id, child)
    await stop_child(child, signal.Signals[term.stop_signal], term.grace_period)
    rep.process_gone()
    return reason


async def _report_exit(child: Child, events: asyncio.Queue[_Event]) -> None:
    events.put_nowait(_Exit(await child.wait()))


class _ProbeTasks:
    """One task per probe that `Health` says should be running."""

    def __init__(self, rep: Replica, events: asyncio.Queue[_Event]) -> None:
        self.rep, self.events = rep, events
        self.start = asyncio.get_running_loop().time()  # initial_delay counts from here
        self.running: dict[Kind, asyncio.Task[None]] = {}
        self.stopped: list[asyncio.Task[None]] = []

    def sync(self, health: Health) -> None:
        wanted = [kind for kind in health.active() if kind in health.probes]
        for kind in [k for k in self.running if k not in wanted]:
            self.running[kind].cancel()
            self.stopped.append(self.running.pop(kind))
        for kind in wanted:
            if kind not in self.running:
                loop = self._loop(kind, health.probes[kind])
                self.running[kind] = asyncio.create_task(loop, name=f"{self.rep.id}-{kind.value}")

    def cancel_all(self) -> list[asyncio.Task[None]]:
        tasks = [*self.running.values(), *self.stopped]
        for task in tasks:
            task.cancel()
        return tasks

    async def _loop(self, kind: Kind, probe: Probe) -> None:
        loop = asyncio.get_running_loop()
        due = self.start + probe.initial_delay
        while True:
            await asyncio.sleep(max(0.0, due - loop.time()))
            due = loop.time() + probe.period
            self.events.put_nowait(_Result(kind, await self._probe(probe)))

    async def _probe(self, probe: Probe) -> ProbeOutcome:
        try:
            return await self.rep.hooks.prober(self.rep.host, self.rep.port, probe)
        except Exception as exc:
            log.exception("replica %s: prober failed; counted as a failure", self.rep.id)
            return ProbeOutcome(False, f"could not be run ({type(exc).__name__})")
