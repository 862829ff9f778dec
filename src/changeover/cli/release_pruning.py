"""Which release artifacts `release prune` removes from the build store: a pure decision.

Invariant: an artifact is removed only when its release is none of the `keep` newest of
those whose artifact is still here (semver precedence; a version that is not semver
ranks below every semver one), and no environment needs it: none runs it (its stable
revision's release), none has a promotion of it waiting for its gates or rolling out.
Every release given gets one verdict, with its reasons when kept. Records (`V.json`) are
not the decision's business: they always stay.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from semver import Version

RUNS, WAITS, ROLLS_OUT = "runs it", "a promotion of it waits", "rolls it out"


@dataclass(frozen=True)
class Stored:
    """A release whose artifact is in the build store."""

    version: str
    size: int


@dataclass(frozen=True)
class Need:
    """An environment still needs release `version`: `why` is RUNS, WAITS or ROLLS_OUT."""

    version: str
    environment: str
    why: str


@dataclass(frozen=True)
class Verdict:
    version: str
    size: int
    remove: bool
    reasons: tuple[str, ...]  # why it is kept; empty when removed


def needs_of(environment: str, promotions: Iterable[dict[str, object]]) -> list[Need]:
    """What `environment` needs, from its agent's `GET /v1/promotions` documents: the
    release of its current (stable) revision, and those of promotions waiting or rolling
    out."""
    found = []
    for p in promotions:
        version = str(p["version"])
        if p.get("current"):
            found.append(Need(version, environment, RUNS))
        if p.get("state") == "waiting":
            found.append(Need(version, environment, WAITS))
        elif p.get("state") == "rolling out":
            found.append(Need(version, environment, ROLLS_OUT))
    return found


def decide(stored: Sequence[Stored], keep: int, needs: Iterable[Need]) -> list[Verdict]:
    """A verdict per stored release, newest first."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    newest_first = sorted(stored, key=lambda s: precedence(s.version), reverse=True)
    why: dict[str, list[str]] = {}
    for need in needs:
        reason = f"{need.environment} {need.why}"
        if reason not in why.setdefault(need.version, []):
            why[need.version].append(reason)
    verdicts = []
    for rank, s in enumerate(newest_first):
        reasons = [f"one of the {keep} newest"] if rank < keep else []
        reasons += why.get(s.version, [])
        verdicts.append(Verdict(s.version, s.size, not reasons, tuple(reasons)))
    return verdicts


def precedence(version: str) -> tuple[int, Version, str]:
    """Semver precedence; a version that is not semver (a store may hold one) ranks below
    every semver one, by its text."""
    try:
        return (1, Version.parse(version), version)
    except ValueError:
        return (0, Version(0), version)
