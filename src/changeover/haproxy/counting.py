"""`Counters`: HAProxy's per-server counters from `show stat`, summed per revision.

Invariant: per-revision counters never go down while the agent runs. A server's counters
are read one last time before it is deleted and kept (`deleted`), and when HAProxy dies
its last-read counters are kept the same way (`lost`; what it served after that last
read is lost with it). A replica's twins (the weighted backend's server and its slot's,
routes.py) each count only the requests HAProxy sent to that backend, so their sum
counts each request once. Gauges (in flight, idle) are never kept for a server gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from changeover.haproxy.config import BACKEND
from changeover.haproxy.runtime import StatRow
from changeover.histogram import STATUS_CLASSES
from changeover.proxy.metrics import RevisionStats


@dataclass(frozen=True)
class Counts:
    """A server's (or a revision's) cumulative counters from `show stat`, and gauges."""

    classes: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)  # hrsp_1xx .. hrsp_5xx
    aborted: int = 0  # cli_abrt + srv_abrt
    inflight: int = 0  # scur
    idle: int = 0  # srv_icur

    @classmethod
    def of(cls, row: StatRow) -> Counts:
        classes = tuple(row.number(f"hrsp_{c}") for c in STATUS_CLASSES)
        return cls(
            classes=classes,  # type: ignore[arg-type]  # five, by STATUS_CLASSES
            aborted=row.number("cli_abrt") + row.number("srv_abrt"),
            inflight=row.number("scur"),
            idle=row.number("srv_icur"),
        )

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            classes=tuple(a + b for a, b in zip(self.classes, other.classes, strict=True)),  # type: ignore[arg-type]
            aborted=self.aborted + other.aborted,
            inflight=self.inflight + other.inflight,
            idle=self.idle + other.idle,
        )

    def retired(self) -> Counts:
        """What outlives the server: its counters, not its gauges."""
        return replace(self, inflight=0, idle=0)

    @property
    def requests(self) -> int:
        return sum(self.classes)


class Counters:
    """The live servers' last-read counters and the retired ones' per revision; a server
    is counted for the revision `revision_of` names (the engine's map of every server
    ever wanted, shared, not copied)."""

    def __init__(self, revision_of: Mapping[str, int]) -> None:
        self._revision_of = revision_of
        self._live: dict[tuple[str, str], Counts] = {}  # (backend, server): last `show stat`
        self._retired: dict[int, Counts] = {}  # per revision: servers deleted, HAProxy dead

    def take(self, rows: Iterable[StatRow], present: set[tuple[str, str]]) -> dict[int, Counts]:
        """Counters of the servers HAProxy has (`present`: backend, server) from its
        server rows; a server deleted while they were read is retired already, so it is
        left out. The totals per revision after them."""
        self._live = {
            (row.proxy, row.name): Counts.of(row)
            for row in rows
            if (row.proxy, row.name) in present
        }
        return self.totals()

    def deleted(self, server: str, final: Counts | None, backend: str = BACKEND) -> None:
        """HAProxy deleted `server` of `backend`: its counters as last read are kept."""
        self._live.pop((backend, server), None)
        revision = self._revision_of.get(server)
        if final is not None and revision is not None:
            self._retire(revision, final)

    def lost(self) -> None:
        """HAProxy died: its servers went with it; keep the last counters read."""
        for (_backend, server), counts in self._live.items():
            revision = self._revision_of.get(server)
            if revision is not None:
                self._retire(revision, counts)
        self._live.clear()

    def _retire(self, revision: int, counts: Counts) -> None:
        self._retired[revision] = self._retired.get(revision, Counts()) + counts.retired()

    def totals(self) -> dict[int, Counts]:
        totals = dict(self._retired)
        for (_backend, server), counts in self._live.items():
            revision = self._revision_of.get(server)
            if revision is not None:
                totals[revision] = totals.get(revision, Counts()) + counts
        return totals

    def per_server(self) -> dict[str, Counts]:
        """Each live server's twins summed."""
        out: dict[str, Counts] = {}
        for (_backend, server), counts in self._live.items():
            out[server] = out.get(server, Counts()) + counts
        return out

    def fill(self, revisions: dict[str, Any]) -> None:
        """The totals into a snapshot's `revisions` (the shape `proxy.metrics` documents)."""
        for revision, counts in sorted(self.totals().items()):
            entry = revisions.setdefault(str(revision), RevisionStats().snapshot())
            # HAProxy's own 502/503/504 for a replica count in no server's hrsp_* (only
            # in eresp/econ, which a retry that then succeeded counts too): they come
            # from the log, where every one is (never sampled), as the builtin counts
            # its own among the revision's requests and 5xx
            own = sum(entry["proxy_errors"].values())
            classes = (*counts.classes[:-1], counts.classes[-1] + own)
            entry["requests"] = counts.requests + own
            entry["status"] = dict(zip(STATUS_CLASSES, classes, strict=True))
            entry["aborted"] = counts.aborted
            entry["inflight"] = counts.inflight


__all__ = ["Counters", "Counts"]
