"""An environment's record of a release, from its agent's documents to the notes'
evidence: counts, verdicts with the latest value of each metric, the soak the promotion
carried, gates, approvals (not rejections), rollbacks, a hotfix's skipped gates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from changeover.cli.release_notes import evidence_doc
from changeover.cli.release_record import chosen, evidence_of, moved_back
from changeover.versioning.evidence import render_evidence

T0 = datetime(2026, 1, 12, 10, 4, tzinfo=UTC).timestamp()
SHA, OTHER = "a" * 64, "b" * 64


def promotion(**more: Any) -> dict[str, Any]:
    return {
        "id": 3, "kind": "promote", "version": "1.3.0", "sha256": SHA, "rollout_id": 7,
        "from_environment": "dev", "hotfix": False, "requested_by": "alice",
        "requested_at": T0 - 60, "state": "done", "outcome": "succeeded",
        "gates": [
            {"gate": "soak", "item": None, "state": "met", "summary": "stable in dev for 1h"},
            {"gate": "approvals", "item": None, "state": "met", "summary": "1 of 1: bob"},
            {"gate": "checklist", "item": "support told", "state": "met", "summary": "ticked"},
        ],
        "approvals": [
            {"verdict": "reject", "by": "carol", "at": T0 - 50, "note": "wait", "uid": 3},
            {"verdict": "approve", "by": "bob", "at": T0 - 30, "note": "", "uid": 2},
        ],
        "evidence": {
            "environment": "dev", "stable_since": T0 - 3660, "stable_until": None,
            "at": T0 - 60, "served": 51000, "failed": 0, "counted_since": T0 - 3660,
        },
        **more,
    }  # fmt: skip


def rollout(phase: str = "succeeded", reason: str = "") -> dict[str, Any]:
    return {"id": 7, "strategy": "canary", "phase": phase, "reason": reason,
            "started_at": T0, "finished_at": T0 + 120}  # fmt: skip


RUNS = [
    {
        "key": "step-2", "template": "slo", "status": "successful", "summary": "",
        "measurements": [
            {"metric": "success", "outcome": "passed", "value": 0.99, "message": "99% >= 99%"},
            {"metric": "p95", "outcome": "passed", "value": 0.2, "message": "200ms <= 300ms"},
            {"metric": "success", "outcome": "passed", "value": 0.9994,
             "message": "99.94% >= 99%"},
        ],
    }
]  # fmt: skip
OWN = {"stable_since": T0 + 120, "served": 4000, "failed": 0, "rollout_served": 900,
       "rollout_failed": 1}  # fmt: skip


def test_a_succeeded_promotion_renders_its_whole_record() -> None:
    e = evidence_of("staging", promotion(), rollout(), RUNS, OWN)
    assert render_evidence([e]) == [
        "### Evidence",
        "",
        "#### staging",
        "- Deployed 2026-01-12 10:04 UTC with canary: succeeded (promoted from dev, asked by "
        "alice)",
        "- Requests during the rollout: 900 served, 1 failed (0.111%)",
        "- Requests since it became stable: 4,000 served, 0 failed",
        "- Analysis `slo (step-2)`: successful",
        "  - `success` passed: 0.9994 (99.94% >= 99%)",  # the latest value of each metric
        "  - `p95` passed: 0.2 (200ms <= 300ms)",
        "- Soak: 1h, 51,000 requests: passed (in dev, 0 failed)",
        "- Gate `soak`: met (stable in dev for 1h)",
        "- Gate `approvals`: met (1 of 1: bob)",
        "- Gate `checklist: support told`: met (ticked)",
        "- Approved by bob at 2026-01-12 10:03 UTC",  # carol's rejection is no approval
    ]
    doc = evidence_doc(e)
    assert (doc["rollout"], doc["since_stable"]) == (
        {"served": 900, "failed": 1},
        {"served": 4000, "failed": 0},
    )
    assert doc["analyses"][0]["measurements"][0]["value"] == 0.9994
    assert doc["approvals"] == [{"by": "bob", "at": "2026-01-12T10:03:30+00:00"}]


@pytest.mark.parametrize(
    ("phase", "outcome"), [("failed", "failed, rolled back"), ("aborted", "aborted, rolled back")]
)
def test_a_rolled_back_rollout_says_when_and_why(phase: str, outcome: str) -> None:
    e = evidence_of("staging", promotion(), rollout(phase, "analysis slo failed"), [], None)
    assert e.outcome == outcome
    assert [(r.reason, r.at.timestamp()) for r in e.rollbacks] == [
        ("analysis slo failed", T0 + 120)
    ]
    assert (e.traffic, e.since_stable) == (None, None)  # it never became stable there


def test_a_hotfix_names_the_gates_it_skipped_and_its_soak_did_not_pass() -> None:
    gates = [{"gate": "soak", "item": None, "state": "skipped", "summary": "HOTFIX: skipped"}]
    e = evidence_of("staging", promotion(hotfix=True, gates=gates), rollout(), [], OWN)
    assert e.skipped_gates == ("soak",)
    assert e.soak is not None
    assert not e.soak.passed
    assert e.soak.detail == "in dev, 0 failed; skipped for a hotfix"
    assert "- Hotfix: skipped soak" in render_evidence([e])


def test_no_soak_without_a_soak_gate_or_the_evidence_carried() -> None:
    assert evidence_of("dev", promotion(gates=[]), rollout(), [], OWN).soak is None
    assert evidence_of("staging", promotion(evidence=None), rollout(), [], OWN).soak is None


def test_the_newest_promotion_that_started_a_rollout_of_the_artifact() -> None:
    waiting = {"rollout_id": None, "sha256": SHA}
    other = {"rollout_id": 9, "sha256": OTHER}
    ran = {"rollout_id": 7, "sha256": SHA}
    assert chosen([waiting, other, ran], SHA) is ran
    assert chosen([waiting, other, ran], None) is other  # no record here: any artifact
    assert chosen([waiting], SHA) is None


def test_a_first_environment_names_who_asked_and_a_soak_shows_whole_seconds() -> None:
    carried = {**promotion()["evidence"], "stable_since": T0 - 66.4, "at": T0 - 60}
    e = evidence_of("dev", promotion(from_environment=None, evidence=carried), rollout(), [], OWN)
    lines = render_evidence([e])
    assert lines[3] == "- Deployed 2026-01-12 10:04 UTC with canary: succeeded (asked by alice)"
    assert "- Soak: 6s, 51,000 requests: passed (in dev, 0 failed)" in lines


def later(rid: int, kind: str, frm: int, to: int, phase: str = "succeeded") -> dict[str, Any]:
    return {"id": rid, "kind": kind, "from_revision": frm, "to_revision": to, "phase": phase,
            "started_at": T0 + rid * 100, "finished_at": T0 + rid * 100 + 30}  # fmt: skip


def test_a_later_release_rollback_or_undo_off_the_release_is_one_of_its_rollbacks() -> None:
    ran = promotion(revision=4)  # the release ran as revision 4, by rollout 7
    rollouts = [
        later(6, "undo", 4, 3),  # before the release's own rollout: not about it
        later(8, "deploy", 4, 5),  # a newer release promoted: progress, no rollback
        later(9, "deploy", 5, 6),  # the rollback promotion: off revision 5, not 4
        later(10, "undo", 6, 4),  # back onto the release
        later(11, "deploy", 4, 7),  # `release rollback` off the release (promotion below)
        later(12, "undo", 7, 4, phase="failed"),  # failed: nothing moved
        later(13, "undo", 4, 3),  # undo off the release
    ]
    promotions = [
        {"kind": "rollback", "rollout_id": 11, "version": "1.2.0", "requested_by": "dana"},
        {"kind": "rollback", "rollout_id": 9, "version": "1.1.0", "requested_by": None},
        {"kind": "promote", "rollout_id": 8, "version": "1.4.0", "requested_by": "alice"},
    ]
    back = moved_back(ran, rollouts, promotions)
    assert [(r.at.timestamp(), r.reason) for r in back] == [
        (T0 + 1130, "release rollback to 1.2.0 by dana"),
        (T0 + 1330, "undo to revision 3"),
    ]
    evidence = evidence_of("prod", ran, rollout(), RUNS, OWN, back)
    notes = "\n".join(render_evidence([evidence]))
    assert "Rolled back at" in notes
    assert "release rollback to 1.2.0 by dana" in notes
    assert [r["reason"] for r in evidence_doc(evidence)["rollbacks"]] == [
        "release rollback to 1.2.0 by dana",
        "undo to revision 3",
    ]
    assert moved_back(promotion(), rollouts, promotions) == ()  # no revision: never ran
