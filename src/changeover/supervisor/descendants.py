"""Pure decisions about processes that left a replica's process group.

Invariant: a process is named for a kill only if it is identified as one of the
replica's own processes by pid *and* create_time (recorded earlier as a descendant, a
descendant of such a process, or an orphan the agent adopted that carries the replica's
marker), so a reused pid is never named; a pid is named for reaping only if it is a
zombie child of the agent that nothing else in the agent waits for.

Stop order is unchanged: stop signal to the main process, grace period, SIGKILL of the
group. Escaped descendants get no stop signal of their own: the app's main process is the
one that owns a graceful shutdown, so they are SIGKILLed together with the group's final
SIGKILL (also when the main process exited on its own and its group is killed).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from changeover.supervisor.orphans import CREATE_TIME_TOLERANCE

MARKER = "CHANGEOVER_REPLICA"  # set in every replica's and hook's environment


class ProcView(NamedTuple):
    """One process as read from the process table."""

    ppid: int
    pgid: int
    create_time: float  # psutil's create_time, the pid-reuse guard
    zombie: bool = False
    marker: str | None = None  # MARKER of its environment; read only for the agent's orphans


Table = Mapping[int, ProcView]
Identities = Mapping[int, float]  # pid -> create_time


@dataclass(frozen=True)
class AgentView:
    pid: int
    pgid: int
    owned: frozenset[int]  # pids something in the agent waits for: never reaped, never killed


@dataclass(frozen=True)
class Target:
    """The replica whose process group was just SIGKILLed."""

    replica_id: str
    pgid: int  # == the pid of its main process
    started: float | None  # create_time of that main process


def same_time(a: float, b: float) -> bool:
    return abs(a - b) <= CREATE_TIME_TOLERANCE


def alive_as(table: Table, pid: int, create_time: float) -> bool:
    """`pid` still names the very process that had `create_time`, and it is not a zombie."""
    view = table.get(pid)
    return view is not None and not view.zombie and same_time(view.create_time, create_time)


def subtree(table: Table, roots: Iterable[int]) -> set[int]:
    """`roots` (those in the table) and every descendant of them in the table."""
    children: dict[int, list[int]] = {}
    for pid, view in table.items():
        children.setdefault(view.ppid, []).append(pid)
    found: set[int] = set()
    todo = [pid for pid in roots if pid in table]
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo.extend(children.get(pid, ()))
    return found


def orphans(table: Table, agent: AgentView) -> Iterator[int]:
    """Children of the agent that nothing in the agent spawned and waits for."""
    for pid, view in table.items():
        if view.ppid == agent.pid and pid not in agent.owned and pid != agent.pid:
            yield pid


def to_kill(recorded: Identities, table: Table, target: Target, agent: AgentView) -> set[int]:
    """Live processes of `target` outside its process group (the group kill misses them)."""
    roots = {pid for pid, created in recorded.items() if alive_as(table, pid, created)}
    roots.update(pid for pid in orphans(table, agent) if _marked(table[pid], target))
    return {
        pid
        for pid in subtree(table, roots)
        if not table[pid].zombie
        and table[pid].pgid != target.pgid
        and pid != agent.pid
        and pid not in agent.owned
    }


def _marked(view: ProcView, target: Target) -> bool:
    """An orphan started on behalf of `target` while its current main process ran."""
    if view.marker != target.replica_id:
        return False
    return target.started is None or view.create_time >= target.started - CREATE_TIME_TOLERANCE


def to_reap(table: Table, agent: AgentView, adopted: Identities) -> list[int]:
    """Zombie children of the agent no other waiter in the agent owns.

    Everything the agent starts itself stays in the agent's process group or leads its
    own (posix_spawn with setpgroup, start_new_session), so a child in a third group was
    adopted; a group leader is reaped only if it was seen earlier as a deeper descendant.
    """
    reap = []
    for pid in orphans(table, agent):
        view = table[pid]
        if not view.zombie:
            continue
        seen = adopted.get(pid)
        if view.pgid not in (agent.pgid, pid) or (
            seen is not None and same_time(seen, view.create_time)
        ):
            reap.append(pid)
    return sorted(reap)
