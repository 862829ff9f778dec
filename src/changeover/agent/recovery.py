"""Restart is recovery: what an agent started after a crash does with the replicas its
predecessor left running (decided by `supervisor.recovery`, carried out here).

Invariant: before the new agent serves, every recorded replica has met its one fate:
adopted ones are still recorded (same pid, create time and port) and are handed to the
supervisor before the proxy accepts; replaced and stopped ones are dead and forgotten;
gone and reused ones are forgotten without a signal. Each fate is one stored event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from changeover.agent.core import Agent
from changeover.agent.releases import revision_spec
from changeover.spec.models import Probe
from changeover.store import Store
from changeover.supervisor.adopt import Adoptee, Verdict, observe
from changeover.supervisor.model import Prober
from changeover.supervisor.orphans import kill_orphans
from changeover.supervisor.probes import probe_http
from changeover.supervisor.recovery import (
    Fate,
    Judgement,
    ProbeGate,
    Recorded,
    adoption_probe,
    survivor_without_probe,
    triage,
)
from changeover.supervisor.sockets import HOST

log = logging.getLogger("changeover.agent")

STOP_GRACE = 5.0  # SIGTERM, then SIGKILL of the group, for the replicas not adopted
AFTER = "after an agent restart"


@dataclass(frozen=True)
class Recovered:
    survivors: tuple[Recorded, ...]  # to adopt, in record order
    ids: tuple[str, ...]  # every recorded id: none is given to a new replica


async def recover(
    store: Store,
    *,
    prober: Prober = probe_http,
    clock: Callable[[], float] = time.monotonic,
    grace: float = STOP_GRACE,
) -> Recovered:
    """Judge every recorded replica, stop those not adopted; say which to adopt."""
    stable = store.stable_revision()
    probe = None if stable is None else adoption_probe(revision_spec(stable.id, stable.spec).probes)
    records = [
        Recorded(r.id, r.revision, r.pid, r.pgid, r.create_time, r.port)
        for r in store.recorded_replicas()
    ]
    judged: list[Judgement] = []
    candidates: list[Recorded] = []
    for record in records:
        verdict = triage(record, observe(record.pid), None if stable is None else stable.id)
        if verdict is None:
            candidates.append(record)
        else:
            judged.append(verdict)
    judged += await asyncio.gather(*(_probe(c, probe, prober, clock) for c in candidates))
    await _stop([j for j in judged if j.fate in (Fate.REPLACE, Fate.STOP)], grace)
    for judgement in judged:
        if judgement.fate is not Fate.ADOPT:
            store.forget_replica(judgement.record.replica_id)
            _event(store, judgement)
    survivors = tuple(j.record for j in judged if j.fate is Fate.ADOPT)
    return Recovered(survivors, tuple(r.replica_id for r in records))


async def _probe(
    record: Recorded, probe: Probe | None, prober: Prober, clock: Callable[[], float]
) -> Judgement:
    if probe is None:
        return survivor_without_probe(record)
    assert record.port is not None  # triage replaces a replica without a port
    gate = ProbeGate(record, probe, clock())
    while True:
        try:
            passed = (await prober(HOST, record.port, probe)).ok
        except Exception:
            log.exception("replica %s: prober failed; counted as a failure", record.replica_id)
            passed = False
        judgement = gate.result(passed, clock())
        if judgement is not None:
            return judgement
        await asyncio.sleep(gate.wait(clock()))


async def _stop(judged: Sequence[Judgement], grace: float) -> None:
    records = [j.record for j in judged]
    if records:
        await kill_orphans(
            [(r.replica_id, r.pid, r.pgid, r.create_time) for r in records], grace=grace
        )


def adopt(agent: Agent, recovered: Recovered) -> None:
    """Give the survivors to the supervisor, routable at once: their probe just passed.
    Call before the proxy accepts, so the first request already finds them."""
    for replica_id in recovered.ids:
        agent.supervisor.reserve(replica_id)  # "r1-2" keeps naming one process history
    for record in recovered.survivors:
        assert record.port is not None
        # no socket to hand over: the replica's process holds its own listening socket
        # (fd 3, or the port it bound), and the proxy connects to its port
        entry = Adoptee(record.replica_id, record.pid, record.create_time, record.port, None, True)
        verdict = agent.supervisor.adopt(agent.template(record.revision), entry)
        if verdict is Verdict.ADOPT:
            agent.events.add(
                "agent",
                f"adopted {record.replica_id} (pid {record.pid}) {AFTER}",
                revision=record.revision,
            )
        else:  # it died since it was probed: the supervisor starts it again
            agent.store.forget_replica(record.replica_id)
            agent.events.add(
                "agent",
                f"{record.replica_id} (pid {record.pid}) exited before it could be adopted; "
                "starting it again",
                revision=record.revision,
            )


_SAID = {
    Fate.REPLACE: "replaced {id} (pid {pid}) {after}: {reason}",
    Fate.STOP: "stopped {id} (pid {pid}) {after}: {reason}",
    Fate.GONE: "{id} (pid {pid}) is not adopted {after}: {reason}",
    Fate.REUSED: "{id} is not adopted {after}: {reason}",
}


def _event(store: Store, judgement: Judgement) -> None:
    record = judgement.record
    message = _SAID[judgement.fate].format(
        id=record.replica_id, pid=record.pid, after=AFTER, reason=judgement.reason
    )
    log.info("%s", message)
    store.add_event("agent", message, now=time.time(), revision=record.revision)
