"""Records of what verify itself did (promotes, an abort) and their messages."""

from __future__ import annotations

from changeover.verify.actions import (
    EVENT_KIND,
    abort_action,
    aborted_by_verify,
    promote_action,
)
from changeover.verify.timeline import RolloutEvent
from changeover.verify.wait import Action


def test_a_promote_names_the_canary_step_or_the_pause() -> None:
    step = promote_action(1000.0, 1.5, 2)
    assert (step.action, step.accepted, step.message) == (
        Action.PROMOTE,
        True,
        "verify promoted step 2",
    )
    assert promote_action(1000.0, 1.5, None).message == "verify promoted the paused rollout"


def test_a_refused_promote_says_why() -> None:
    refused = promote_action(1000.0, 1.5, None, "a rolling update has no steps to promote")
    assert not refused.accepted
    assert refused.message == (
        "verify could not promote the paused rollout: a rolling update has no steps to promote"
    )


def test_an_abort_says_how_long_verify_waited() -> None:
    abort = abort_action(1000.0, 3.04, 3.0)
    assert (abort.action, abort.accepted) == (Action.ABORT, True)
    assert abort.message == (
        "verify aborted the rollout: not finished 3.0 s after the deploy (--max-wait 3)"
    )
    late = abort_action(1000.0, 3.04, 3.0, "cannot abort a rollout that is rolling-back")
    assert not late.accepted
    assert late.message.endswith(": cannot abort a rollout that is rolling-back")


def test_only_an_accepted_abort_counts_as_aborted_by_verify() -> None:
    promote = promote_action(1000.0, 1.0, 2)
    refused = abort_action(1003.0, 3.0, 3.0, "cannot abort a rollout that is succeeded")
    assert aborted_by_verify([promote, refused]) is None
    accepted = abort_action(1003.0, 3.0, 3.0)
    assert aborted_by_verify([promote, accepted]) is accepted


def test_actions_become_timeline_events_with_ids_below_the_agents() -> None:
    promote = promote_action(1000.0, 1.0, 2)
    assert promote.as_event(0) == RolloutEvent(-1, 1000.0, EVENT_KIND, "verify promoted step 2")
    assert promote.as_event(4).id == -5
    assert promote.to_dict(1.25) == {
        "t": 1.25,
        "elapsed": 1.0,
        "action": "promote",
        "accepted": True,
        "message": "verify promoted step 2",
    }
