"""Soak evidence: what the source environment's agent says of a release it ran, and how it
counts the requests the release served there.

Invariant: evidence is computed by the source agent from its own store (when the
release's revision became stable, when it stopped being stable, the analysis runs of its
rollouts) and its own proxy's per-revision counters, never from anything a client says.
The counters live in memory and restart from zero with the agent: `counted_since` says
from when they count (the later of the release becoming stable and the agent starting),
so a restart can only make the evidence smaller (a soak measured again), never larger.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from changeover.agent.artifact_format import SHA256, VERSION
from changeover.store import Revision, Rollout, RolloutKind
from changeover.store.analysis import RunRecord
from changeover.store.promotions import Promotion

SUCCEEDED = "succeeded"


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
