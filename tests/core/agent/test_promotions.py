"""Which release a rollback returns to, and what a promotion says about itself."""

from __future__ import annotations

from dataclasses import replace

from changeover.agent.promotions import (
    outcome,
    promotion_doc,
    rollback_target,
    started_message,
    state,
)
from changeover.store.promotions import Promotion

BASE = Promotion(
    id=1,
    version="1.0.0",
    sha256="a" * 64,
    environment="staging",
    from_environment="dev",
    hotfix=False,
    kind="promote",
    spec_file="changeover.toml",
    requested_by="alice",
    requested_uid=1000,
    requested_at=100.0,
    revision=2,
    rollout_id=2,
    phase="succeeded",
)


def p(id: int, version: str, revision: int | None, phase: str | None = "succeeded") -> Promotion:
    sha = {"1.0.0": "a", "1.1.0": "b", "1.2.0": "c"}[version] * 64
    return replace(
        BASE, id=id, version=version, sha256=sha, revision=revision, rollout_id=revision,
        phase=phase,
    )  # fmt: skip


def test_rollback_goes_to_the_release_that_ran_before_the_current_one() -> None:
    history = [p(2, "1.1.0", 3), p(1, "1.0.0", 2)]  # newest first
    assert rollback_target(history, stable=3) == history[1]


def test_two_rollbacks_toggle_back_like_undo() -> None:
    rolled_back = replace(p(3, "1.0.0", 4), kind="rollback", from_environment=None)
    history = [rolled_back, p(2, "1.1.0", 3), p(1, "1.0.0", 2)]
    target = rollback_target(history, stable=4)
    assert target is not None
    assert target.version == "1.1.0"


def test_releases_that_never_ran_are_skipped() -> None:
    history = [
        p(4, "1.2.0", 5, phase="failed"),  # rolled back: never ran
        p(3, "1.2.0", None, phase=None),  # the agent stopped before its rollout
        p(2, "1.1.0", 3),
        p(1, "1.0.0", 2),
    ]
    target = rollback_target(history, stable=3)
    assert target is not None
    assert target.version == "1.0.0"


def test_none_when_the_environment_ran_one_release_only() -> None:
    assert rollback_target([p(1, "1.0.0", 2)], stable=2) is None
    assert rollback_target([], stable=1) is None
    # the same artifact promoted twice is still one release
    assert rollback_target([p(2, "1.0.0", 3), p(1, "1.0.0", 2)], stable=3) is None


def test_a_deploy_after_the_promotions_counts_as_the_current_release() -> None:
    # revision 7 came from `deploy`, not a promotion: the release before it is 1.1.0
    history = [p(2, "1.1.0", 3), p(1, "1.0.0", 2)]
    target = rollback_target(history, stable=7)
    assert target is not None
    assert target.version == "1.1.0"


def test_after_an_undo_the_stable_revision_names_the_current_release() -> None:
    # `undo` made revision 2 (1.0.0) stable again: a rollback returns to 1.1.0
    target = rollback_target([p(2, "1.1.0", 3), p(1, "1.0.0", 2)], stable=2)
    assert target is not None
    assert target.version == "1.1.0"


def test_the_document_says_its_outcome_and_whether_it_runs_now() -> None:
    doc = promotion_doc(BASE, stable=2)
    assert (doc["outcome"], doc["current"], doc["requested_by"]) == ("succeeded", True, "alice")
    assert promotion_doc(BASE, stable=5)["current"] is False
    unstarted = replace(BASE, revision=None, rollout_id=None, phase=None)
    assert outcome(unstarted) == "not started"
    assert promotion_doc(unstarted, stable=None)["current"] is False


def test_the_event_names_what_where_from_and_who() -> None:
    assert started_message(BASE, 7) == (
        "promotion of 1.0.0 (sha256 aaaaaaaaaaaa) from dev, asked by alice: rollout 7"
    )
    hot = replace(BASE, hotfix=True, kind="rollback", from_environment=None)
    assert started_message(hot, 8) == (
        "rollback to 1.0.0 (HOTFIX) (sha256 aaaaaaaaaaaa), asked by alice: rollout 8"
    )


def test_the_state_reads_the_record_and_the_rollouts_phase() -> None:
    waiting = replace(BASE, state="waiting", revision=None, rollout_id=None, phase=None)
    assert state(waiting) == "waiting"
    assert state(replace(BASE, phase="progressing")) == "rolling out"
    assert state(replace(BASE, phase="paused")) == "rolling out"
    assert state(BASE) == "done"
    assert state(replace(BASE, phase="failed")) == "done"
    assert state(replace(waiting, state="rejected")) == "rejected"
    assert state(replace(waiting, state="superseded")) == "superseded"
    assert promotion_doc(waiting, stable=2)["state"] == "waiting"
