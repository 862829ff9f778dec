"""Soak evidence: what the source environment's agent says of a release it ran, and how it
counts the requests the release served there.

Invariant: evidence is computed by the source agent from its own store (when the
release's revision became stable, when it stopped being stable, the analysis runs of its
rollouts) and its own proxy's per-revision counters, never from anything a client says.
The counters live in memory and restart from zero with the agent: `counted_since` says
from when they count (the later of the release becoming stable and the agent starting),
so a restart can only make the evidence smaller (a soak measured again), never larger.
`SoakWitness` is the agent's part: it notes the counts each second and answers evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from changeover.agent.artifact_format import SHA256, VERSION
from changeover.rollout.phase import Phase
from changeover.store import Revision, Rollout, RolloutKind, Store
from changeover.store.analysis import RunRecord
from changeover.store.promotions import Promotion

SUCCEEDED = "succeeded"
EVIDENCE_SCAN = 1000  # promotions and rollouts the soak evidence looks back through


class AnalysisVerdict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    template: str = Field(max_length=100)
    status: str = Field(max_length=40)  # running, successful, failed, inconclusive, ...
    key: str = Field(max_length=100)  # which run of its rollout: step-2, background, ...
    rollout_id: int
    started_at: float
    finished_at: float | None = None
    summary: str = Field(default="", max_length=2000)


class SoakEvidence(BaseModel):
    """GET /v1/releases/V/evidence of the source agent; sent on with the promotion."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    environment: str = Field(max_length=32)  # the source environment (its agent's own name)
    version: str = Field(pattern=VERSION.pattern)
    sha256: str = Field(pattern=SHA256.pattern)
    revision: int  # the release's revision there
    stable_since: float | None  # None: never stable there (rolling out, or rolled back)
    stable_until: float | None  # None: stable there now
    counted_since: float  # the counters below count from then
    served: int = Field(ge=0)  # requests its revision answered there since counted_since
    failed: int = Field(ge=0)  # of which 5xx answers or aborted exchanges
    analysis: list[AnalysisVerdict] = Field(default_factory=list, max_length=200)
    at: float
    # what its revision served during the rollout that made it stable (until it was), when
    # this agent counted the whole rollout (it started before it); None otherwise
    rollout_served: int | None = Field(default=None, ge=0)
    rollout_failed: int | None = Field(
        default=None, ge=0
    )  # the source agent's clock when it answered


@dataclass
class SoakCounts:
    """Per stable revision, the proxy's counters when it became stable here (or when this
    agent started) and, once it is no longer stable, when that was and its final counts.
    Fed by `note` every second from the agent's traffic sampler."""

    started_at: float
    _stable: int | None = None
    _base: dict[int, tuple[float, int, int]] = field(default_factory=dict)  # at, served, failed
    _final: dict[int, tuple[float, int, int]] = field(default_factory=dict)

    def note(
        self, stable: int | None, counts: Callable[[int], tuple[int, int]], now: float
    ) -> None:
        if stable == self._stable:
            return
        if self._stable is not None and self._stable in self._base:
            self._final[self._stable] = (now, *counts(self._stable))
        if stable is not None:
            self._base[stable] = (now, *counts(stable))
            self._final.pop(stable, None)
        self._stable = stable

    def at_stable(self, revision: int) -> tuple[float, int, int] | None:
        """(when, served, failed) of `revision` as it became stable here (or as this agent
        started, if it was stable then), or None if this agent never saw it stable."""
        return self._base.get(revision)

    def since(
        self, revision: int, counts: Callable[[int], tuple[int, int]]
    ) -> tuple[float, int, int] | None:
        """(counted since, served, failed) of `revision` while stable here, or None if this
        agent never saw it stable."""
        base = self._base.get(revision)
        if base is None:
            return None
        _, served, failed = self._final.get(revision) or (0.0, *counts(revision))
        return base[0], served - base[1], failed - base[2]


def ran_release(promotions: Sequence[Promotion], version: str, sha256: str) -> Promotion | None:
    """The newest promotion here whose rollout of this artifact succeeded, if any."""
    return next(
        (
            p
            for p in promotions
            if p.version == version and p.sha256 == sha256 and p.phase == SUCCEEDED
        ),
        None,
    )


def stable_period(
    revision: Revision, rollouts: Sequence[Rollout]
) -> tuple[float | None, float | None]:
    """When `revision` last became stable here, and when it stopped being (None: it did
    not), from the rollouts (any order)."""
    ordered = sorted(rollouts, key=lambda r: r.id)
    since = until = None
    for r in ordered:
        if r.kind is RolloutKind.RESTORE or r.phase.value != SUCCEEDED:
            continue
        if r.to_revision == revision.id:
            since, until = r.finished_at, None
        elif r.from_revision == revision.id and since is not None and until is None:
            until = r.finished_at
    return since, until


def verdicts(runs: Sequence[RunRecord]) -> list[AnalysisVerdict]:
    return [
        AnalysisVerdict(
            template=r.template,
            status=r.status,
            key=r.key,
            rollout_id=r.rollout_id,
            started_at=r.started_at,
            finished_at=r.finished_at,
            summary=r.summary[:2000],
        )
        for r in runs
    ]


class SoakWitness:
    """What this agent says of the releases it ran: `SoakCounts` fed from its proxy's
    per-revision counters (`metrics`, the snapshot `proxy.metrics` documents) and the
    evidence read from its store."""

    def __init__(
        self,
        *,
        store: Store,
        metrics: Callable[[], dict[str, Any]],
        wall: Callable[[], float],
        started_at: float,
        environment: str | None,
        counts: SoakCounts,
    ) -> None:
        self._store = store
        self._metrics = metrics
        self._wall = wall
        self._started_at = started_at
        self._environment = environment
        self.counts = counts

    def note(self) -> None:
        stable = self._store.stable_revision()
        self.counts.note(None if stable is None else stable.id, self.served, self._wall())

    def served(self, revision: int) -> tuple[int, int]:
        """Requests `revision` answered through this agent's proxy, and of those failed
        (5xx answers and exchanges aborted before a complete answer)."""
        stats = self._metrics()["revisions"].get(str(revision))
        if stats is None:
            return 0, 0
        return int(stats["requests"]), int(stats["status"]["5xx"] + stats["aborted"])

    def evidence(self, version: str, sha256: str) -> SoakEvidence:
        """What this agent says of release `version` (`sha256`) for a promotion from here:
        when it became stable, the requests its revision served since, its analyses."""
        store = self._store
        found = ran_release(store.promotions(version, limit=EVIDENCE_SCAN), version, sha256)
        where = f"environment {self._environment}" if self._environment else "this agent"
        if found is None or found.revision is None:
            raise KeyError(
                f"release {version} (sha256 {sha256[:12]}) never ran in {where}: no promotion "
                f"of it succeeded here, so there is no soak evidence (promote it here first)"
            )
        revision = store.revision(found.revision)
        rollouts = store.rollouts(limit=EVIDENCE_SCAN)
        since, until = stable_period(revision, rollouts)
        counted = self.counts.since(revision.id, self.served)
        at, served, failed = counted or (max(self._started_at, since or 0.0), 0, 0)
        runs = [run for r in rollouts if r.to_revision == revision.id for run in store.runs(r.id)]
        during = self._rollout_counts(revision.id, rollouts)
        return SoakEvidence(
            environment=self._environment or "",
            version=version,
            sha256=sha256,
            revision=revision.id,
            stable_since=since,
            stable_until=until,
            counted_since=at,
            served=served,
            failed=failed,
            analysis=verdicts(runs),
            at=self._wall(),
            rollout_served=None if during is None else during[0],
            rollout_failed=None if during is None else during[1],
        )

    def _rollout_counts(self, revision: int, rollouts: Sequence[Rollout]) -> tuple[int, int] | None:
        """What `revision` served during the rollout that made it stable: its counters when
        it became stable, if this agent ran that whole rollout (a new revision counts from
        zero); None when the agent started later, or it became stable here more than once
        (the counters then hold more than one rollout)."""
        noted = self.counts.at_stable(revision)
        made = [
            r
            for r in rollouts
            if r.to_revision == revision
            and r.phase is Phase.SUCCEEDED
            and r.kind is not RolloutKind.RESTORE
        ]
        if noted is None or len(made) != 1 or made[0].started_at < self._started_at:
            return None
        return noted[1], noted[2]
