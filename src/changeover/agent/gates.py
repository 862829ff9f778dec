"""The gates of a promotion, evaluated: a pure function of plain values.

Invariant: `evaluate` reads only what it is given (the environment's settings from the
agent's own spec, never the artifact's; the promotion; the soak evidence; approvals,
freezes and checklist entries from the store; `now`) and answers, for every gate the
environment sets and for freezes, `met`, `unmet` with what would meet it, or `skipped`
(a hotfix release, for the gates `hotfix_skips` lists: the gate is still evaluated and
its evidence kept, so what was skipped is on record). A promotion may start only when
no gate is unmet (`passed`). Checklist commands are run by the agent, not here: their
item is met only by a run of this evaluation (`commands_at`), so a stale success never
lets a promotion through.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from changeover.agent.evidence import SoakEvidence
from changeover.spec.environments import ChecklistItem, EnvironmentSettings, TimeWindow
from changeover.spec.windows import time_zone
from changeover.store.gates import Approval, ChecklistEntry, Freeze
from changeover.store.promotions import Promotion
from changeover.units import format_duration

State = Literal["met", "unmet", "skipped"]
SUCCESSFUL = "successful"
HORIZON = 8 * 24 * 60  # minutes ahead searched for a window to open (a week and a day)


@dataclass(frozen=True)
class GateResult:
    gate: str  # soak, approvals, windows, freezes, checklist
    state: State
    summary: str  # what holds now, one line
    needs: str | None = None  # what would meet it (unmet)
    item: str | None = None  # the checklist item
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.gate if self.item is None else f"{self.gate}: {self.item}"

    def doc(self) -> dict[str, Any]:
        return {
            "gate": self.gate,
            "item": self.item,
            "state": self.state,
            "summary": self.summary,
            "needs": self.needs,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class Inputs:
    """Everything a promotion's gates are evaluated on, besides its settings and `now`."""

    evidence: SoakEvidence | None = None
    approvals: Sequence[Approval] = ()
    freezes: Sequence[Freeze] = ()
    checklist: Sequence[ChecklistEntry] = ()
    commands_at: float | None = None  # when this evaluation ran the command items


def evaluate(
    settings: EnvironmentSettings,
    environment: str,
    promotion: Promotion,
    inputs: Inputs,
    now: float,
) -> list[GateResult]:
    """Every gate of `promotion` to `environment`, in a fixed order."""
    results: list[GateResult] = []
    if settings.soak or settings.soak_requests or settings.soak_analysis:
        results.append(soak(settings, promotion, inputs.evidence))
    if settings.approvals:
        results.append(approvals(settings, environment, promotion, inputs.approvals))
    if settings.windows:
        results.append(windows(settings.windows, now))
    results.append(freezes(environment, inputs.freezes, now))
    for item in settings.checklist:
        results.append(checklist(item, environment, promotion, inputs))
    if promotion.hotfix:
        results = [_skip(r) if r.gate in settings.hotfix_skips else r for r in results]
    return results


def passed(results: Sequence[GateResult]) -> bool:
    return all(r.state != "unmet" for r in results)


def commands_due(results: Sequence[GateResult], settings: EnvironmentSettings) -> bool:
    """Whether the checklist's commands should run now: they are all that is unmet."""
    commands = {i.name for i in settings.checklist if i.command is not None}
    unmet = [r for r in results if r.state == "unmet"]
    return bool(unmet) and all(r.gate == "checklist" and r.item in commands for r in unmet)


def unmet(results: Sequence[GateResult]) -> list[GateResult]:
    return [r for r in results if r.state == "unmet"]


def _skip(result: GateResult) -> GateResult:
    return replace(
        result,
        state="skipped",
        summary=f"HOTFIX: skipped (hotfix_skips lists {result.gate}); {result.summary}",
        needs=None,
    )


# --- soak --------------------------------------------------------------------------------
def soak(
    settings: EnvironmentSettings, promotion: Promotion, evidence: SoakEvidence | None
) -> GateResult:
    source = settings.promote_from or "?"
    asked = {
        "soak": format_duration(settings.soak),
        "soak_requests": settings.soak_requests,
        "soak_analysis": settings.soak_analysis,
    }
    if evidence is None:
        return GateResult(
            "soak",
            "unmet",
            f"no evidence from {source}",
            f"release {promotion.version} running in {source} (promote it there first); "
            f"`changeover release promote` brings the evidence from {source}'s agent",
            evidence={"asked": asked},
        )
    wrong = _wrong_evidence(evidence, source, promotion)
    if wrong:
        return GateResult("soak", "unmet", wrong, f"evidence of this release from {source}",
                          evidence={"asked": asked, **evidence.model_dump()})  # fmt: skip
    lacks, said = _soak_lacks(settings, evidence, source)
    doc = {"asked": asked, **evidence.model_dump()}
    if lacks:
        return GateResult("soak", "unmet", "; ".join(said), "; ".join(lacks), evidence=doc)
    return GateResult("soak", "met", "; ".join(said), evidence=doc)


def _wrong_evidence(evidence: SoakEvidence, source: str, promotion: Promotion) -> str | None:
    if evidence.environment != source:
        return f"the evidence comes from {evidence.environment}, not from {source}"
    if (evidence.version, evidence.sha256) != (promotion.version, promotion.sha256):
        return (
            f"the evidence is of release {evidence.version} (sha256 {evidence.sha256[:12]}), "
            f"not {promotion.version} (sha256 {promotion.sha256[:12]})"
        )
    return None


def _soak_lacks(
    settings: EnvironmentSettings, e: SoakEvidence, source: str
) -> tuple[list[str], list[str]]:
    """What the soak still lacks, and what the evidence shows."""
    if e.stable_since is None:
        never = f"release {e.version} was never stable in {source} (revision {e.revision})"
        return [f"its rollout in {source} to succeed, then the soak"], [never]
    end = e.stable_until if e.stable_until is not None else e.at
    stable_for = max(0.0, end - e.stable_since)
    now_or_then = "" if e.stable_until is None else f" (until {stamp(e.stable_until)})"
    said = [
        f"stable in {source} for {_seconds(stable_for)}{now_or_then}",
        f"{e.served} requests served there ({e.failed} failed) since {stamp(e.counted_since)}",
    ]
    lacks = []
    if stable_for < settings.soak:
        more = settings.soak - stable_for
        if e.stable_until is None:
            lacks.append(
                f"{_seconds(more)} more stable in {source} (soak {_seconds(settings.soak)})"
            )
        else:
            lacks.append(f"stable in {source} for {_seconds(settings.soak)}: it is no longer")
    if e.served < settings.soak_requests:
        lacks.append(f"{settings.soak_requests - e.served} more requests served in {source} "
                     f"(soak_requests {settings.soak_requests})")  # fmt: skip
    if settings.soak_analysis is not None:
        verdict, missing = _analysis(settings.soak_analysis, e, source)
        said.append(verdict)
        if missing:
            lacks.append(missing)
    return lacks, said


def _analysis(name: str, e: SoakEvidence, source: str) -> tuple[str, str | None]:
    runs = sorted((v for v in e.analysis if v.template == name), key=lambda v: v.started_at)
    if not runs:
        return (
            f"analysis {name} never ran for it in {source}",
            f"analysis {name} to pass in {source} (a canary step, background or "
            "post-promotion analysis of its rollout there)",
        )
    last = runs[-1]
    said = f"analysis {name} {last.status} in {source} (rollout {last.rollout_id}, {last.key})"
    if last.status == SUCCESSFUL:
        return said, None
    return said, f"analysis {name} to pass in {source} (its last run is {last.status})"


# --- approvals ---------------------------------------------------------------------------
def approvals(
    settings: EnvironmentSettings,
    environment: str,
    promotion: Promotion,
    given: Sequence[Approval],
) -> GateResult:
    needed = settings.approvals
    valid: dict[str, Approval] = {}
    for a in given:
        if a.verdict == "approve" and may_approve(settings, promotion, a.by, a.uid) is None:
            valid.setdefault(a.by, a)
    rejected = next((a for a in given if a.verdict == "reject"), None)
    doc = {
        "needed": needed,
        "approvers": list(settings.approvers),
        "requested_by": promotion.requested_by,
        "given": [_approval_doc(a) for a in given],
    }
    if rejected is not None:
        why = f": {rejected.note}" if rejected.note else ""
        return GateResult(
            "approvals",
            "unmet",
            f"rejected by {rejected.by} at {stamp(rejected.at)}{why}",
            "a new promotion request (`changeover release promote`) once the reason is "
            "dealt with; approvals start over",
            evidence=doc,
        )
    who = ", ".join(f"{a.by} ({stamp(a.at)})" for a in valid.values()) or "none yet"
    summary = f"{len(valid)} of {needed} approval(s): {who}"
    if len(valid) >= needed:
        return GateResult("approvals", "met", summary, evidence=doc)
    return GateResult(
        "approvals",
        "unmet",
        summary,
        f"{needed - len(valid)} more approval(s) by {_who_may(settings, promotion, valid)}: "
        f"`changeover release approve {promotion.version} --to {environment}`",
        evidence=doc,
    )


def may_approve(
    settings: EnvironmentSettings, promotion: Promotion, account: str, uid: int | None
) -> str | None:
    """Why `account` may not approve `promotion`, or None if it may."""
    if account == promotion.requested_by or (uid is not None and uid == promotion.requested_uid):
        return (
            f"{account} asked for this promotion and cannot approve it: another account "
            "must (the requester never approves)"
        )
    if settings.approvers and account not in settings.approvers:
        return (
            f"{account} is not an approver of this environment "
            f"(approvers: {', '.join(settings.approvers)})"
        )
    return None


def _who_may(
    settings: EnvironmentSettings, promotion: Promotion, valid: dict[str, Approval]
) -> str:
    if settings.approvers:
        left = [a for a in settings.approvers if a not in valid and a != promotion.requested_by]
        return "one of " + ", ".join(left) if left else "no one left (approvers: all used)"
    return f"any account but {promotion.requested_by} (who asked)"


def _approval_doc(a: Approval) -> dict[str, Any]:
    return {"verdict": a.verdict, "by": a.by, "uid": a.uid, "note": a.note, "at": a.at}


# --- windows and freezes -----------------------------------------------------------------
def allowed(windows: Sequence[TimeWindow], instant: datetime) -> bool:
    """Outside every deny range, and inside an allow range if any is listed."""
    if any(w.deny is not None and w.window().contains(instant) for w in windows):
        return False
    allows = [w for w in windows if w.allow is not None]
    return not allows or any(w.window().contains(instant) for w in allows)


def next_allowed(windows: Sequence[TimeWindow], now: float) -> float | None:
    """The first whole minute after `now` at which `allowed` holds (ranges are in whole
    minutes), within `HORIZON`; None if there is none."""
    start = int(now // 60) * 60
    for minute in range(1, HORIZON):
        at = start + 60 * minute
        if allowed(windows, datetime.fromtimestamp(at, UTC)):
            return float(at)
    return None


def windows(listed: Sequence[TimeWindow], now: float) -> GateResult:
    instant = datetime.fromtimestamp(now, UTC)
    ranges = [
        {
            "deny": w.deny,
            "allow": w.allow,
            "timezone": w.timezone,
            "inside": w.window().contains(instant),
        }
        for w in listed
    ]
    zone = listed[0].timezone
    local = instant.astimezone(time_zone(zone)).strftime("%a %H:%M")
    doc: dict[str, Any] = {"ranges": ranges, "now": now}
    if allowed(listed, instant):
        return GateResult(
            "windows", "met", f"inside the allowed time ({local} {zone})", evidence=doc
        )
    opens = next_allowed(listed, now)
    doc["opens_at"] = opens
    when = (
        f"the window to open at {stamp(opens, zone)}"
        if opens
        else "an allowed time (none within a week)"
    )
    return GateResult(
        "windows", "unmet", f"outside the allowed time ({local} {zone})", when, evidence=doc
    )


def freezes(environment: str, listed: Sequence[Freeze], now: float) -> GateResult:
    active = sorted((f for f in listed if f.active(now)), key=lambda f: f.until)
    doc = {"active": [_freeze_doc(f) for f in active]}
    if not active:
        return GateResult("freezes", "met", "no freeze in force", evidence=doc)
    last = active[-1]
    said = "; ".join(f"frozen by {f.by} until {stamp(f.until)}: {f.reason}" for f in active)
    return GateResult(
        "freezes",
        "unmet",
        said,
        f"the freeze to end at {stamp(last.until)}, or `changeover -E {environment} unfreeze`",
        evidence=doc,
    )


def _freeze_doc(f: Freeze) -> dict[str, Any]:
    return {"id": f.id, "until": f.until, "reason": f.reason, "by": f.by, "at": f.at}


# --- checklist ---------------------------------------------------------------------------
def checklist(
    item: ChecklistItem, environment: str, promotion: Promotion, inputs: Inputs
) -> GateResult:
    entries = [e for e in inputs.checklist if e.item == item.name]
    if item.manual:
        return _manual(item, environment, promotion, entries)
    return _command(item, [e for e in entries if e.kind == "command"], inputs.commands_at)


def _manual(
    item: ChecklistItem, environment: str, promotion: Promotion, entries: list[ChecklistEntry]
) -> GateResult:
    tick = next((e for e in entries if e.kind == "manual" and e.ok), None)
    if tick is not None:
        doc = {"kind": "manual", "by": tick.by, "at": tick.at}
        return GateResult("checklist", "met", f"ticked by {tick.by} at {stamp(tick.at)}",
                          item=item.name, evidence=doc)  # fmt: skip
    return GateResult(
        "checklist",
        "unmet",
        "not ticked",
        f'`changeover release check {promotion.version} --to {environment} "{item.name}"`',
        item=item.name,
        evidence={"kind": "manual"},
    )


def _command(
    item: ChecklistItem, runs: list[ChecklistEntry], commands_at: float | None
) -> GateResult:
    doc: dict[str, Any] = {"kind": "command", "command": item.command}
    fresh = [e for e in runs if commands_at is not None and e.at >= commands_at]
    if fresh:
        run = fresh[-1]
        doc |= {"ok": run.ok, "detail": run.detail, "at": run.at}
        if run.ok:
            return GateResult("checklist", "met", f"`{item.command}` passed ({run.detail})",
                              item=item.name, evidence=doc)  # fmt: skip
        return GateResult("checklist", "unmet", f"`{item.command}` failed: {run.detail}",
                          f"`{item.command}` to pass (run again at each promotion request)",
                          item=item.name, evidence=doc)  # fmt: skip
    last = runs[-1] if runs else None
    said = (
        "not run yet"
        if last is None
        else (f"last run at {stamp(last.at)}: {'passed' if last.ok else 'failed'} ({last.detail})")
    )
    if last is not None:
        doc |= {"ok": last.ok, "detail": last.detail, "at": last.at}
    return GateResult("checklist", "unmet", said,
                      f"`{item.command}` to pass: the agent runs it once every other gate is met",
                      item=item.name, evidence=doc)  # fmt: skip


# --- words -------------------------------------------------------------------------------
def stamp(ts: float, zone: str = "UTC") -> str:
    """An instant in ISO 8601, in `zone` (UTC by default, written with Z)."""
    when = datetime.fromtimestamp(ts, UTC).astimezone(time_zone(zone)).replace(microsecond=0)
    text = when.isoformat()
    return text.replace("+00:00", "Z") if zone == "UTC" else f"{text} ({zone})"


def _seconds(value: float) -> str:
    """Whole seconds as "1h2m3s", "11m40s", "45s"."""
    left, parts = round(value), []
    for unit, size in (("h", 3600), ("m", 60)):
        if left >= size:
            parts.append(f"{left // size}{unit}")
            left %= size
    if left or not parts:
        parts.append(f"{left}s")
    return "".join(parts)
