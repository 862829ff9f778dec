"""What the supervisor remembers between looks at the process table (pure, no I/O).

Invariant: each replica's recorded descendants are (pid, create_time) pairs that were
seen below its main process and are still alive as that same process; `adopted` holds
only identities proven not to be the agent's own spawns (seen below a child of the
agent, attributed to a replica by its marker, or killed as a replica's escapee), so
reaping them can never steal a child another waiter in the agent owns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from changeover.supervisor.descendants import Table, alive_as, same_time, subtree

LOOK_INTERVAL = 1.0  # at most one recording per replica per this many seconds


class Watch:
    def __init__(self, agent_pid: int, interval: float = LOOK_INTERVAL) -> None:
        self.agent_pid = agent_pid
        self.interval = interval
        self.recorded: dict[str, dict[int, float]] = {}  # replica id -> {pid: create_time}
        self.adopted: dict[int, float] = {}  # reapable once they are the agent's zombies
        self.checked: dict[int, float] = {}  # orphans whose marker was already read
        self._looked: dict[str, float] = {}

    def due(self, replica_id: str, now: float) -> bool:
        last = self._looked.get(replica_id)
        return last is None or now - last >= self.interval

    def record(self, replica_id: str, leader: int, table: Table, now: float) -> None:
        """Keep what was recorded and still lives; add what runs below `leader` now."""
        old = self.recorded.get(replica_id, {})
        kept = {pid: ct for pid, ct in old.items() if alive_as(table, pid, ct)}
        below = subtree(table, [leader]) - {leader}
        found = {pid: table[pid].create_time for pid in below if not table[pid].zombie}
        self.recorded[replica_id] = kept | found
        self._looked[replica_id] = now

    def forget(self, replica_id: str) -> dict[int, float]:
        """Drop a replica whose process is gone; returns what was recorded for it."""
        self._looked.pop(replica_id, None)
        return self.recorded.pop(replica_id, {})

    def remember(self, table: Table) -> None:
        """Note the agent's deeper descendants (orphaned later, they were adopted); prune."""
        direct = {pid for pid, view in table.items() if view.ppid == self.agent_pid}
        deeper = subtree(table, direct) - direct
        self.adopted = _existing(self.adopted, table)
        self.adopted.update((pid, table[pid].create_time) for pid in deeper)
        self.checked = _existing(self.checked, table)

    def adopt(self, table: Table, pids: Iterable[int]) -> None:
        self.adopted.update((pid, table[pid].create_time) for pid in pids if pid in table)

    def unchecked(self, table: Table, candidates: Iterable[int]) -> list[int]:
        """Candidates whose marker has not been read yet (each identity is read once)."""
        todo = []
        for pid in candidates:
            seen = self.checked.get(pid)
            if seen is None or not same_time(seen, table[pid].create_time):
                todo.append(pid)
                self.checked[pid] = table[pid].create_time
        return todo


def _existing(identities: Mapping[int, float], table: Table) -> dict[int, float]:
    """The identities still in the table as the same process (zombies included)."""
    return {
        pid: ct
        for pid, ct in identities.items()
        if pid in table and same_time(table[pid].create_time, ct)
    }
