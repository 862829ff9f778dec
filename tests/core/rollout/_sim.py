"""A tiny fake supervisor: pure functions that apply decisions and let fake time pass.

Replicas boot in STARTING, become READY after a per-replica number of ticks (or never),
may crash-loop at boot, and spend one tick DRAINING when removed. Readiness is never
lost once gained, so any drop in availability is caused by a decision. Like the real
supervisor, `apply` stops exactly the replicas a decision names (`Decision.remove`)
and refuses a decision whose named removals do not reach its counts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from changeover.rollout.decision import Decision
from changeover.rollout.observe import ReplicaObs, RevisionObs, available, live
from changeover.rollout.strategy import Strategy
from changeover.supervisor.state import ReplicaState

S = ReplicaState


@dataclass(frozen=True)
class Behaviour:
    ready_after: tuple[int | None, ...] = (0,)  # per spawned replica, cycled; None = never
    crash: bool = False  # every boot exits after one tick


@dataclass(frozen=True)
class SimReplica:
    id: str
    revision: int
    state: ReplicaState
    ready_after: int | None
    crash: bool
    age: int = 0
    ready_since: float | None = None
    boot_failures: int = 0


@dataclass(frozen=True)
class World:
    now: float
    behaviours: Mapping[int, Behaviour]
    replicas: tuple[SimReplica, ...] = ()
    spawned: Mapping[int, int] = field(default_factory=dict)


def seeded(behaviours: Mapping[int, Behaviour], stable: int | None, count: int) -> World:
    """A world whose stable revision (if any) has `count` long-ready replicas."""
    if stable is None:
        return World(0.0, behaviours)
    ready = tuple(
        SimReplica(f"r{stable}-{i + 1}", stable, S.READY, 0, False, ready_since=-1e6)
        for i in range(count)
    )
    return World(0.0, behaviours, ready, {stable: count})


def observe(world: World) -> dict[int, RevisionObs]:
    revs = sorted({r.revision for r in world.replicas})
    return {
        rev: RevisionObs(rev, tuple(_obs(r) for r in world.replicas if r.revision == rev))
        for rev in revs
    }


def _obs(r: SimReplica) -> ReplicaObs:
    return ReplicaObs(r.id, r.state, r.ready_since, r.boot_failures)


def apply(world: World, decision: Decision) -> World:
    """Reconcile to the decision's counts, stopping exactly the replicas it names."""
    for rev, want in decision.scale.items():
        world = _reconcile(world, rev, want, decision.remove.get(rev, ()))
    return world


def _reconcile(world: World, rev: int, want: int, remove: tuple[str, ...]) -> World:
    current = observe(world).get(rev, RevisionObs(rev))
    alive = {r.id for r in current.replicas if not r.state.terminating}
    doomed = alive & set(remove)  # as the supervisor: ones already stopping are skipped
    have = len(alive) - len(doomed)
    assert have <= want, f"revision {rev}: stopping {remove} leaves {have} live, want {want}"
    replicas = [replace(r, state=S.DRAINING) if r.id in doomed else r for r in world.replicas]
    spawned = dict(world.spawned)
    behaviour = world.behaviours.get(rev, Behaviour())
    for _ in range(want - have):
        n = spawned.get(rev, 0)
        spawned[rev] = n + 1
        after = behaviour.ready_after[n % len(behaviour.ready_after)]
        replicas.append(SimReplica(f"r{rev}-{n + 1}", rev, S.STARTING, after, behaviour.crash))
    return replace(world, replicas=tuple(replicas), spawned=spawned)


def tick(world: World, dt: float = 1.0) -> World:
    now = world.now + dt
    replicas = tuple(_age(r, now) for r in world.replicas if r.state is not S.DRAINING)
    return replace(world, now=now, replicas=replicas)


def _age(r: SimReplica, now: float) -> SimReplica:
    if r.state is S.BACKOFF:
        return replace(r, state=S.STARTING, age=0)
    if r.state is not S.STARTING:
        return r
    age = r.age + 1
    if r.crash:
        return replace(r, state=S.BACKOFF, age=age, boot_failures=r.boot_failures + 1)
    if r.ready_after is not None and age > r.ready_after:
        return replace(r, state=S.READY, age=age, ready_since=now, boot_failures=0)
    return replace(r, age=age)


def total_available(world: World, min_ready: float) -> int:
    return sum(available(rev, world.now, min_ready) for rev in observe(world).values())


def total_live(world: World) -> int:
    return sum(live(rev) for rev in observe(world).values())


Check = Callable[[World, World, Decision], None]


def run(
    machine: Strategy, world: World, check: Check | None = None, max_ticks: int = 5000
) -> tuple[World, list[Decision]]:
    """Step, apply and tick until the machine reaches a terminal phase."""
    decisions: list[Decision] = []
    for _ in range(max_ticks):
        decision = machine.step(observe(world), world.now, {})
        after = apply(world, decision)
        if check is not None:
            check(world, after, decision)
        decisions.append(decision)
        if decision.phase.terminal:
            return after, decisions
        world = tick(after)
    raise AssertionError(f"rollout did not terminate in {max_ticks} ticks")
