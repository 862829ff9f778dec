"""What a release met in each environment, as plain frozen values, and its Markdown.

Invariant: these values hold only data (strings, numbers, aware datetimes), so the
agent's promotion records can fill them and the notes render without the agent; a value
that could not be true (a naive time, more failed requests than served) is refused when
built. Strings mirror the agent's words: analysis outcomes `passed|failed|inconclusive|
error`, run statuses `successful|failed|inconclusive|error`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from changeover.units import format_duration


def _aware(what: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what}: expected a time with a UTC offset, got {value.isoformat()}")


@dataclass(frozen=True)
class Measured:
    """One metric of an analysis as measured: outcome, value, and its one-line account."""

    metric: str
    outcome: str
    value: float | None = None
    message: str = ""  # e.g. "success rate 99.8% >= 99%"


@dataclass(frozen=True)
class AnalysisVerdict:
    name: str
    status: str
    measurements: tuple[Measured, ...] = ()


@dataclass(frozen=True)
class Traffic:
    """Requests the proxy relayed during the rollout, and how many of them failed."""

    served: int
    failed: int

    def __post_init__(self) -> None:
        if not 0 <= self.failed <= self.served:
            raise ValueError(
                f"traffic: expected 0 <= failed <= served, got {self.failed} failed "
                f"of {self.served} served"
            )


@dataclass(frozen=True)
class Soak:
    duration: float  # seconds the release soaked
    requests: int
    passed: bool
    detail: str = ""  # e.g. the soak analysis and its status


@dataclass(frozen=True)
class Approval:
    by: str
    at: datetime

    def __post_init__(self) -> None:
        _aware(f"approval by {self.by}", self.at)


@dataclass(frozen=True)
class Rollback:
    at: datetime
    reason: str

    def __post_init__(self) -> None:
        _aware("rollback", self.at)


@dataclass(frozen=True)
class GateNote:
    """A gate of the promotion as the target agent last judged it: met, skipped, unmet."""

    gate: str  # soak, approvals, windows, freezes, checklist: ITEM
    state: str
    summary: str


@dataclass(frozen=True)
class Evidence:
    """One environment's record of the release."""

    environment: str
    deployed_at: datetime
    strategy: str
    outcome: str  # e.g. succeeded, rolled back, failed, in progress
    analyses: tuple[AnalysisVerdict, ...] = ()
    traffic: Traffic | None = None
    soak: Soak | None = None
    approvals: tuple[Approval, ...] = ()
    rollbacks: tuple[Rollback, ...] = ()
    skipped_gates: tuple[str, ...] = ()  # a hotfix's gates skipped by `hotfix_skips`
    since_stable: Traffic | None = None  # requests served since it became stable there
    gates: tuple[GateNote, ...] = ()
    promoted_from: str | None = None
    requested_by: str | None = None

    def __post_init__(self) -> None:
        _aware(f"evidence of {self.environment}: deployed_at", self.deployed_at)


def when(at: datetime) -> str:
    """A time as the notes show it: in UTC, to the minute, whatever the source's zone."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_evidence(evidence: Sequence[Evidence]) -> list[str]:
    """The `### Evidence` part of a release's notes: one subsection per environment."""
    if not evidence:
        return []
    lines = ["### Evidence"]
    for record in evidence:
        lines += ["", f"#### {record.environment}", *_environment(record)]
    return lines


def _environment(e: Evidence) -> list[str]:
    lines = [f"- Deployed {when(e.deployed_at)} with {e.strategy}: {e.outcome}{_asked(e)}"]
    if e.traffic is not None:
        lines.append(f"- Requests during the rollout: {_traffic(e.traffic)}")
    if e.since_stable is not None:
        lines.append(f"- Requests since it became stable: {_traffic(e.since_stable)}")
    for verdict in e.analyses:
        lines.append(f"- Analysis `{verdict.name}`: {verdict.status}")
        lines += [f"  - {_measured(m)}" for m in verdict.measurements]
    if e.soak is not None:
        lines.append(f"- Soak: {_soak(e.soak)}")
    lines += [f"- Gate `{g.gate}`: {g.state} ({g.summary})" for g in e.gates]
    lines += [f"- Approved by {a.by} at {when(a.at)}" for a in e.approvals]
    lines += [f"- Rolled back at {when(r.at)}: {r.reason}" for r in e.rollbacks]
    if e.skipped_gates:
        lines.append(f"- Hotfix: skipped {', '.join(e.skipped_gates)}")
    return lines


def _asked(e: Evidence) -> str:
    origin = f"promoted from {e.promoted_from}" if e.promoted_from else ""
    by = f"asked by {e.requested_by}" if e.requested_by else ""
    said = ", ".join(part for part in (origin, by) if part)
    return f" ({said})" if said else ""


def _traffic(t: Traffic) -> str:
    share = f" ({t.failed / t.served * 100:.3g}%)" if t.served and t.failed else ""
    return f"{t.served:,} served, {t.failed:,} failed{share}"


def _measured(m: Measured) -> str:
    value = f"{m.value:g}" if m.value is not None else ""
    account = f"({m.message})" if m.message else ""
    detail = " ".join(part for part in (value, account) if part)
    return f"`{m.metric}` {m.outcome}: {detail}" if detail else f"`{m.metric}` {m.outcome}"


def _soak(s: Soak) -> str:
    result = "passed" if s.passed else "failed"
    detail = f" ({s.detail})" if s.detail else ""
    # whole seconds: the notes say how long, not to the microsecond
    return f"{format_duration(round(s.duration))}, {s.requests:,} requests: {result}{detail}"
