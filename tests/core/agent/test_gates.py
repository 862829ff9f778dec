"""The gates of a promotion, evaluated as a pure function of plain values on a fixed
clock: every gate met, unmet (saying what would meet it) and skipped for a hotfix;
windows at their boundaries, freezes, the rules of approvals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from changeover.agent.evidence import AnalysisVerdict, SoakEvidence
from changeover.agent.gates import (
    Inputs,
    allowed,
    commands_due,
    evaluate,
    may_approve,
    next_allowed,
    passed,
    stamp,
)
from changeover.spec.environments import EnvironmentSettings, TimeWindow
from changeover.store.gates import Approval, ChecklistEntry, Freeze
from changeover.store.promotions import Promotion

MON = datetime(2026, 5, 4, 12, 0, tzinfo=UTC).timestamp()  # a Monday, 12:00 UTC
NOW = MON
SHA = "a" * 64
ASKED = Promotion(
    id=3, version="1.4.0", sha256=SHA, environment="prod", from_environment="staging",
    hotfix=False, kind="promote", spec_file="changeover.toml", requested_by="alice",
    requested_uid=1001, requested_at=NOW - 60, revision=None, rollout_id=None, phase=None,
    state="waiting",
)  # fmt: skip


def settings(**raw: Any) -> EnvironmentSettings:
    return EnvironmentSettings.model_validate({"promote_from": "staging", **raw})


def evidence(**changes: Any) -> SoakEvidence:
    base: dict[str, Any] = {
        "environment": "staging", "version": "1.4.0", "sha256": SHA, "revision": 4,
        "stable_since": NOW - 700, "stable_until": None, "counted_since": NOW - 700,
        "served": 1200, "failed": 0, "at": NOW,
        "analysis": [AnalysisVerdict(template="slo", status="successful", key="step-2",
                                     rollout_id=4, started_at=NOW - 800)],
    }  # fmt: skip
    return SoakEvidence.model_validate({**base, **changes})


def one(results: list[Any], gate: str) -> Any:
    (found,) = [r for r in results if r.gate == gate]
    return found


def gate(s: EnvironmentSettings, name: str, inputs: Inputs = Inputs(), **kw: Any) -> Any:
    return one(evaluate(s, "prod", kw.get("promotion", ASKED), inputs, kw.get("now", NOW)), name)


# --- soak ---------------------------------------------------------------------------------
SOAK = settings(soak="10m", soak_requests=1000, soak_analysis="slo")


def test_the_soak_is_met_by_time_requests_and_the_analysis_in_the_source() -> None:
    met = gate(SOAK, "soak", Inputs(evidence=evidence()))
    assert met.state == "met"
    assert "stable in staging for 11m40s" in met.summary
    assert "1200 requests served there (0 failed)" in met.summary
    assert "analysis slo successful in staging" in met.summary
    assert met.evidence["served"] == 1200
    assert met.evidence["asked"]["soak"] == "10m"


def test_the_soak_unmet_says_how_much_more_of_each() -> None:
    young = gate(SOAK, "soak", Inputs(evidence=evidence(stable_since=NOW - 540, served=900)))
    assert young.state == "unmet"
    assert young.needs == (
        "1m more stable in staging (soak 10m); "
        "100 more requests served in staging (soak_requests 1000)"
    )


def test_the_soak_without_evidence_or_with_anothers_is_unmet() -> None:
    none = gate(SOAK, "soak")
    assert (none.state, none.summary) == ("unmet", "no evidence from staging")
    assert "`changeover release promote` brings the evidence" in none.needs
    other = gate(SOAK, "soak", Inputs(evidence=evidence(environment="dev")))
    assert other.summary == "the evidence comes from dev, not from staging"
    wrong = gate(SOAK, "soak", Inputs(evidence=evidence(sha256="b" * 64)))
    assert wrong.state == "unmet"
    assert "not 1.4.0 (sha256 aaaaaaaaaaaa)" in wrong.summary


def test_the_soak_needs_the_analysis_to_have_passed_last() -> None:
    failed = AnalysisVerdict(template="slo", status="failed", key="background", rollout_id=4,
                             started_at=NOW - 100)  # fmt: skip
    ok = evidence().analysis[0]
    last_failed = gate(SOAK, "soak", Inputs(evidence=evidence(analysis=[ok, failed])))
    assert last_failed.needs == "analysis slo to pass in staging (its last run is failed)"
    never = gate(SOAK, "soak", Inputs(evidence=evidence(analysis=[])))
    assert never.summary.endswith("analysis slo never ran for it in staging")


def test_a_release_no_longer_stable_in_the_source_counts_its_stable_time_only() -> None:
    gone = evidence(stable_since=NOW - 700, stable_until=NOW - 400)
    result = gate(SOAK, "soak", Inputs(evidence=gone))
    assert result.state == "unmet"
    assert "stable in staging for 5m (until" in result.summary
    assert result.needs.startswith("stable in staging for 10m: it is no longer")
    never = gate(SOAK, "soak", Inputs(evidence=evidence(stable_since=None)))
    assert never.needs.startswith("its rollout in staging to succeed")


# --- approvals ----------------------------------------------------------------------------
APPROVALS = settings(approvals=2, approvers=["alice", "bob", "carol"])


def approval(by: str, uid: int, verdict: str = "approve", note: str = "") -> Approval:
    return Approval(3, verdict, by, uid, note, NOW - 10)  # type: ignore[arg-type]


def test_approvals_count_distinct_listed_accounts_never_the_requester() -> None:
    given = [approval("alice", 1001), approval("bob", 1002), approval("bob", 1002)]
    one_left = gate(APPROVALS, "approvals", Inputs(approvals=given))
    assert one_left.state == "unmet"
    assert one_left.summary.startswith("1 of 2 approval(s): bob (")
    assert one_left.needs.startswith("1 more approval(s) by one of carol: `changeover release")
    met = gate(APPROVALS, "approvals", Inputs(approvals=[*given, approval("carol", 1003)]))
    assert met.state == "met"


def test_who_may_approve() -> None:
    assert may_approve(APPROVALS, ASKED, "bob", 1002) is None
    requester = may_approve(APPROVALS, ASKED, "alice", 1001)
    assert requester is not None
    assert "asked for this promotion and cannot approve it" in requester
    same_uid = may_approve(APPROVALS, ASKED, "alias-of-alice", 1001)
    assert same_uid is not None  # the uid the requester had, under another name
    stranger = may_approve(APPROVALS, ASKED, "mallory", 1666)
    assert stranger == (
        "mallory is not an approver of this environment (approvers: alice, bob, carol)"
    )
    anyone = settings(approvals=1)
    assert may_approve(anyone, ASKED, "mallory", 1666) is None
    assert "any account but alice (who asked)" in gate(anyone, "approvals").needs


def test_a_rejection_blocks_until_a_new_request() -> None:
    given = [approval("bob", 1002), approval("carol", 1003), approval("bob", 1002, "reject", "no")]
    rejected = gate(APPROVALS, "approvals", Inputs(approvals=given))
    assert rejected.state == "unmet"
    assert rejected.summary.startswith("rejected by bob at ")
    assert rejected.summary.endswith(": no")
    assert rejected.needs.startswith("a new promotion request")


# --- windows ------------------------------------------------------------------------------
WEEKEND = [TimeWindow(deny="Fri 16:00 - Mon 08:00")]


def at(day: int, hour: int, minute: int) -> datetime:
    return datetime(2026, 5, 4 + day, hour, minute, tzinfo=UTC)  # day 0 is Monday


def test_a_deny_window_at_its_boundaries() -> None:
    assert allowed(WEEKEND, at(4, 15, 59))
    assert not allowed(WEEKEND, at(4, 16, 0))
    assert not allowed(WEEKEND, at(0, 7, 59))
    assert allowed(WEEKEND, at(0, 8, 0))


def test_an_allow_window_in_a_time_zone() -> None:
    office = [TimeWindow(allow="09:00 - 17:00", timezone="Europe/Paris")]  # UTC+2 in May
    assert not allowed(office, at(1, 6, 59))
    assert allowed(office, at(1, 7, 0))
    assert allowed(office, at(1, 14, 59))
    assert not allowed(office, at(1, 15, 0))
    both = [*office, *WEEKEND]
    assert not allowed(both, at(0, 7, 30))  # 09:30 in Paris, but still the weekend in UTC


def test_outside_the_window_says_when_it_opens() -> None:
    s = settings(windows=[{"deny": "Fri 16:00 - Mon 08:00"}])
    friday = at(4, 18, 30).timestamp()
    closed = gate(s, "windows", now=friday)
    assert (closed.state, closed.summary) == ("unmet", "outside the allowed time (Fri 18:30 UTC)")
    assert closed.needs == "the window to open at 2026-05-11T08:00:00Z"
    assert next_allowed(s.windows, friday) == at(7, 8, 0).timestamp()
    assert gate(s, "windows", now=at(7, 8, 0).timestamp()).state == "met"
    never = [TimeWindow(deny="Mon 00:00 - Sun 23:59"), TimeWindow(deny="23:59 - 00:00")]
    assert next_allowed(never, friday) is None


# --- freezes ------------------------------------------------------------------------------
def test_a_freeze_in_force_blocks_until_it_ends_or_is_lifted() -> None:
    frozen = Freeze(1, until=NOW + 3600, reason="release party", by="carol", uid=1003, at=NOW - 5)
    s = settings()
    blocked = gate(s, "freezes", Inputs(freezes=[frozen]))
    assert blocked.state == "unmet"
    assert blocked.summary == f"frozen by carol until {stamp(NOW + 3600)}: release party"
    assert blocked.needs.endswith("or `changeover -E prod unfreeze`")
    assert gate(s, "freezes", Inputs(freezes=[frozen]), now=NOW + 3600).state == "met"
    lifted = replace(frozen, lifted_at=NOW - 1, lifted_by="bob")
    assert gate(s, "freezes", Inputs(freezes=[lifted])).state == "met"
    assert gate(s, "freezes").summary == "no freeze in force"


# --- checklist ----------------------------------------------------------------------------
LIST = settings(checklist=[{"name": "backup taken", "command": "./check-backup"},
                           {"name": "support told", "manual": True}])  # fmt: skip


def entry(item: str, kind: str, ok: bool, at: float) -> ChecklistEntry:
    return ChecklistEntry(3, item, kind, ok, "exit 0" if ok else "exit 1: stale", "bob", 1002, at)  # type: ignore[arg-type]


def items(inputs: Inputs) -> dict[str, Any]:
    results = evaluate(LIST, "prod", ASKED, inputs, NOW)
    return {r.item: r for r in results if r.gate == "checklist"}


def test_a_manual_item_is_met_by_a_tick_with_who_and_when() -> None:
    before = items(Inputs())["support told"]
    assert before.needs == '`changeover release check 1.4.0 --to prod "support told"`'
    after = items(Inputs(checklist=[entry("support told", "manual", True, NOW - 3)]))
    assert after["support told"].state == "met"
    assert after["support told"].summary == f"ticked by bob at {stamp(NOW - 3)}"


def test_a_command_item_is_met_only_by_a_run_of_this_evaluation() -> None:
    not_run = items(Inputs())["backup taken"]
    assert not_run.needs.endswith("the agent runs it once every other gate is met")
    stale = items(Inputs(checklist=[entry("backup taken", "command", True, NOW - 60)]))
    assert stale["backup taken"].state == "unmet"  # passed before: not enough
    fresh = Inputs(checklist=[entry("backup taken", "command", True, NOW)], commands_at=NOW - 1)
    assert items(fresh)["backup taken"].state == "met"
    failed = Inputs(checklist=[entry("backup taken", "command", False, NOW)], commands_at=NOW)
    assert items(failed)["backup taken"].summary == "`./check-backup` failed: exit 1: stale"


def test_commands_run_only_when_they_are_all_that_is_left() -> None:
    ticked = Inputs(checklist=[entry("support told", "manual", True, NOW - 3)])
    assert commands_due(evaluate(LIST, "prod", ASKED, ticked, NOW), LIST)
    assert not commands_due(evaluate(LIST, "prod", ASKED, Inputs(), NOW), LIST)


# --- hotfix -------------------------------------------------------------------------------
def test_a_hotfix_skips_exactly_the_gates_listed_loudly_keeping_the_evidence() -> None:
    s = settings(soak="10m", approvals=1, hotfix_skips=["soak"],
                 windows=[{"deny": "Fri 16:00 - Mon 08:00"}])  # fmt: skip
    hotfix = replace(ASKED, hotfix=True)
    results = evaluate(s, "prod", hotfix, Inputs(evidence=evidence(stable_since=NOW - 5)), NOW)
    soak = one(results, "soak")
    assert soak.state == "skipped"
    assert soak.needs is None
    assert soak.summary.startswith("HOTFIX: skipped (hotfix_skips lists soak); stable in staging")
    assert soak.evidence["stable_since"] == NOW - 5
    assert one(results, "approvals").state == "unmet"  # never skipped unless listed
    assert one(results, "windows").state == "met"
    assert not passed(results)
    plain = evaluate(s, "prod", ASKED, Inputs(evidence=evidence(stable_since=NOW - 5)), NOW)
    assert one(plain, "soak").state == "unmet"  # the same release, no hotfix: no skip


def test_passed_when_nothing_is_unmet() -> None:
    s = settings(soak="10m", approvals=1, checklist=[{"name": "told", "manual": True}])
    inputs = Inputs(
        evidence=evidence(analysis=[]),
        approvals=[approval("bob", 1002)],
        checklist=[entry("told", "manual", True, NOW)],
    )
    results = evaluate(s, "prod", ASKED, inputs, NOW)
    assert [(r.name, r.state) for r in results] == [
        ("soak", "met"), ("approvals", "met"), ("freezes", "met"), ("checklist: told", "met"),
    ]  # fmt: skip
    assert passed(results)
