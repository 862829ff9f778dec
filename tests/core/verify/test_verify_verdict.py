"""The verdict: passed only with zero failed requests and a succeeded rollout."""

from __future__ import annotations

import pytest

from changeover.verify.verdict import TABLE, Verdict, decide


def test_the_table_covers_every_combination_once() -> None:
    assert set(TABLE) == {(a, b) for a in (True, False) for b in (True, False)}
    assert sorted(TABLE.values()) == sorted(Verdict)


def test_zero_failures_and_a_succeeded_rollout_pass() -> None:
    decision = decide(failed=0, in_flight=0, sent=500, rollout_phase="succeeded")
    assert decision.verdict is Verdict.PASSED
    assert decision.verdict.exit_code == 0
    assert decision.reasons == ("all 500 requests succeeded and the rollout succeeded",)


def test_failed_requests_fail_the_run() -> None:
    decision = decide(failed=3, in_flight=0, sent=500, rollout_phase="succeeded")
    assert decision.verdict is Verdict.REQUESTS_FAILED
    assert decision.verdict.exit_code == 1
    assert decision.reasons == ("3 of 500 requests failed",)


@pytest.mark.parametrize("phase", ["failed", "aborted", "interrupted", "rolling-back"])
def test_a_rollout_that_did_not_succeed_fails_the_run(phase: str) -> None:
    decision = decide(
        failed=0, in_flight=0, sent=10, rollout_phase=phase, rollout_reason="crashed at boot"
    )
    assert decision.verdict is Verdict.ROLLOUT_FAILED
    assert decision.verdict.exit_code == 1
    assert decision.reasons == (f"the rollout ended {phase}: crashed at boot",)


def test_both_failing_are_both_reported() -> None:
    decision = decide(failed=1, in_flight=0, sent=10, rollout_phase="failed")
    assert decision.verdict is Verdict.BOTH_FAILED
    assert decision.reasons == ("1 of 10 requests failed", "the rollout ended failed")


def test_unfinished_or_missing_requests_never_pass() -> None:
    pending = decide(failed=0, in_flight=2, sent=10, rollout_phase="succeeded")
    assert pending.verdict is Verdict.REQUESTS_FAILED
    assert "2 requests never finished" in pending.reasons
    nothing = decide(failed=0, in_flight=0, sent=0, rollout_phase="succeeded")
    assert nothing.verdict is Verdict.REQUESTS_FAILED
    assert "no request was sent, so nothing was verified" in nothing.reasons
    assert repr(Verdict.PASSED) == "Verdict.PASSED"


@pytest.mark.parametrize("phase", ["aborted", "succeeded"])
def test_a_rollout_aborted_by_verify_never_passes(phase: str) -> None:
    decision = decide(
        failed=0, in_flight=0, sent=10, rollout_phase=phase, rollout_reason="aborted by operator",
        aborted_after=3.04,
    )  # fmt: skip
    assert decision.verdict is Verdict.ROLLOUT_FAILED
    assert decision.verdict.exit_code == 1
    assert decision.reasons[0] == (
        "the rollout was aborted by verify after 3.0 s: it had not finished within --max-wait"
    )
    ended = [r for r in decision.reasons if r.startswith("the rollout ended")]
    assert ended == (
        [] if phase == "succeeded" else ["the rollout ended aborted: aborted by operator"]
    )
