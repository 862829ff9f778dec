"""The pure run state machine: scheduling, limits, no-data, background, illegal use."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changeover.analysis.model import (
    TABLE,
    IllegalUse,
    Measurement,
    Outcome,
    RunEvent,
    RunStatus,
)
from changeover.analysis.run import AnalysisRun
from changeover.machine import IllegalTransition
from tests.io.analysis._helpers import m, template

PASS, FAIL, INC, ERR = Outcome.PASSED, Outcome.FAILED, Outcome.INCONCLUSIVE, Outcome.ERROR
TWO = (
    {"name": "a", "provider": "builtin", "query": "success_rate"},
    {"name": "b", "provider": "builtin", "query": "error_rate"},
)


def feed(run: AnalysisRun, *rounds: Outcome | tuple[Outcome, ...]) -> list[RunStatus]:
    """Record each round at its due time (a fake clock); return the status after each."""
    names = [x.name for x in run.template.metrics]
    out = []
    for outcomes in rounds:
        due = run.next_due()
        assert due is not None
        row = outcomes if isinstance(outcomes, tuple) else (outcomes,)
        run.record([m(n, o) for n, o in zip(names, row, strict=True)], due)
        out.append(run.status)
    return out


def test_first_round_waits_initial_delay_plus_interval_then_every_interval() -> None:
    run = AnalysisRun(template(interval="10s", initial_delay="5s"), started_at=100.0)
    assert run.next_due() == 115.0
    run.record([m("success", PASS)], 117.0)  # late rounds shift the schedule, as Argo does
    assert run.next_due() == 127.0


def test_count_rounds_all_passed_is_successful_and_ends_the_schedule() -> None:
    run = AnalysisRun(template(count=3), 0.0)
    assert feed(run, PASS, PASS) == [RunStatus.RUNNING] * 2
    assert run.summary == "running: 2 of 3 rounds done"
    assert feed(run, PASS) == [RunStatus.SUCCESSFUL]
    assert run.next_due() is None
    assert run.rounds == 3
    assert len(run.measurements) == 3
    assert run.summary == "the metric passed in 3 rounds"


def test_failures_over_the_limit_fail_at_once_naming_metric_and_values() -> None:
    run = AnalysisRun(template(count=5, failure_limit=1), 0.0)
    statuses = []
    for t, outcome, value in ((10.0, FAIL, 0.7), (20.0, PASS, 1.0), (30.0, FAIL, 0.6)):
        text = f"success_rate {value} < min 0.99"
        run.record([m("success", outcome, value, text)], t)
        statuses.append(run.status)
    assert statuses == [RunStatus.RUNNING, RunStatus.RUNNING, RunStatus.FAILED]  # 1 is allowed
    assert run.summary == 'metric "success" failed 2 times (limit 1): success_rate 0.6 < min 0.99'
    assert run.next_due() is None


def test_failures_within_the_limit_still_succeed_when_something_passed() -> None:
    run = AnalysisRun(template(count=3, failure_limit=2), 0.0)
    assert feed(run, FAIL, PASS, FAIL)[-1] is RunStatus.SUCCESSFUL


def test_inconclusive_over_the_limit_stops_inconclusive() -> None:
    run = AnalysisRun(template(count=5, inconclusive_limit=1), 0.0)
    assert feed(run, INC, PASS, INC) == [
        RunStatus.RUNNING,
        RunStatus.RUNNING,
        RunStatus.INCONCLUSIVE,
    ]
    assert run.summary.startswith('metric "success" was inconclusive 2 times (limit 1): ')


def test_consecutive_errors_over_the_limit_end_in_error() -> None:
    run = AnalysisRun(template(count=10, consecutive_error_limit=2), 0.0)
    assert feed(run, ERR, ERR)[-1] is RunStatus.RUNNING
    assert feed(run, ERR) == [RunStatus.ERROR]
    assert run.summary == 'metric "success" had an error 3 times in a row (limit 2): success error'


def test_an_answer_resets_the_error_streak_and_errors_are_not_failures() -> None:
    run = AnalysisRun(template(count=7, consecutive_error_limit=2, failure_limit=0), 0.0)
    statuses = feed(run, ERR, ERR, PASS, ERR, ERR, PASS, ERR)
    assert statuses[-1] is RunStatus.SUCCESSFUL  # 6 errors never 3 in a row; none a failure
    assert run.tallies["success"].counts[ERR] == 5


def test_no_data_is_never_a_pass() -> None:
    run = AnalysisRun(template(count=2, inconclusive_limit=5), 0.0)
    assert feed(run, INC, INC)[-1] is RunStatus.INCONCLUSIVE
    assert run.summary == 'metric "success" never passed in 2 rounds: success inconclusive'


def test_every_metric_needs_a_pass() -> None:
    run = AnalysisRun(template(*TWO, count=2, consecutive_error_limit=5), 0.0)
    assert feed(run, (PASS, ERR), (PASS, ERR))[-1] is RunStatus.INCONCLUSIVE
    assert run.summary.startswith('metric "b" never passed in 2 rounds')


def test_failed_beats_error_beats_inconclusive_in_one_round() -> None:
    both = template(*TWO, count=3, consecutive_error_limit=0)
    assert feed(AnalysisRun(both, 0.0), (ERR, FAIL))[-1] is RunStatus.FAILED
    assert feed(AnalysisRun(both, 0.0), (INC, ERR))[-1] is RunStatus.ERROR


def test_background_ignores_count_and_applies_limits_cumulatively() -> None:
    run = AnalysisRun(template(count=1, failure_limit=2), 0.0, background=True)
    assert feed(run, PASS, FAIL, PASS, FAIL, PASS) == [RunStatus.RUNNING] * 5
    assert run.summary == "running in the background: 5 rounds done"
    assert feed(run, FAIL) == [RunStatus.FAILED]  # the third failure, four rounds after the first


def test_stop_judges_the_rounds_so_far_and_is_idempotent() -> None:
    run = AnalysisRun(template(count=1), 0.0, background=True)
    feed(run, PASS, PASS)
    assert run.stop() is RunStatus.SUCCESSFUL
    assert run.stop() is RunStatus.SUCCESSFUL
    early = AnalysisRun(template(), 0.0)
    assert early.stop() is RunStatus.INCONCLUSIVE
    assert early.summary == 'metric "success" never passed in 0 rounds: no measurement was taken'


def test_illegal_use_raises() -> None:
    run = AnalysisRun(template(*TWO, count=1), 0.0)
    with pytest.raises(IllegalUse, match="one measurement per metric"):
        run.record([], 10.0)
    with pytest.raises(IllegalUse, match=r"got \['a'\]"):
        run.record([m("a", PASS)], 10.0)
    with pytest.raises(IllegalUse, match="one measurement per metric"):
        run.record([m("a", PASS), m("a", PASS)], 10.0)
    with pytest.raises(IllegalUse, match=r"before it was due at 10\.000"):
        run.record([m("a", PASS), m("b", PASS)], 9.0)
    run.record([m("a", PASS), m("b", PASS)], 10.0)
    with pytest.raises(IllegalTransition, match="cannot take round-recorded when successful"):
        run.record([m("a", PASS), m("b", PASS)], 20.0)
    with pytest.raises(ValueError, match=r"repeated: \['a'\]"):
        AnalysisRun(template(TWO[0], TWO[0]), 0.0)


def test_status_table_reprs_and_terminal() -> None:
    assert repr(RunStatus.FAILED) == "<RunStatus failed>"
    assert repr(Outcome.INCONCLUSIVE) == "<Outcome inconclusive>"
    assert repr(RunEvent.ALL_PASSED) == "<RunEvent all-passed>"
    assert [s for s in RunStatus if not s.terminal] == [RunStatus.RUNNING]


# Where each event leads from RUNNING; every ended status takes nothing.
ENDINGS = {
    RunEvent.ROUND_RECORDED: RunStatus.RUNNING,
    RunEvent.FAILURE_LIMIT_CROSSED: RunStatus.FAILED,
    RunEvent.ERROR_LIMIT_CROSSED: RunStatus.ERROR,
    RunEvent.INCONCLUSIVE_LIMIT_CROSSED: RunStatus.INCONCLUSIVE,
    RunEvent.ALL_PASSED: RunStatus.SUCCESSFUL,
    RunEvent.NOT_ALL_PASSED: RunStatus.INCONCLUSIVE,
}


@pytest.mark.parametrize("event", list(RunEvent))
@pytest.mark.parametrize("status", list(RunStatus))
def test_table_answers_every_event_in_every_status(status: RunStatus, event: RunEvent) -> None:
    if status is RunStatus.RUNNING:
        assert TABLE.transition(status, event) is ENDINGS[event]
        return
    with pytest.raises(
        IllegalTransition,
        match=f"^analysis run cannot take {event.value} when {status.value} "
        r"\(it accepts nothing: it is final\)",
    ):
        TABLE.transition(status, event)


def test_measurement_round_trips_through_json_and_is_one_line() -> None:
    run = AnalysisRun(template(count=1), 0.0)
    run.record([Measurement("success", FAIL, 0.7, 1.5e9, "success_rate 0.7 < min 0.99")], 10.0)
    doc = json.loads(json.dumps(run.to_dict()))
    assert doc["status"] == "failed"
    assert doc["rounds"] == 1
    assert Measurement.from_dict(doc["measurements"][0]) == run.measurements[0]
    assert Measurement("x", INC, float("nan"), 0.0, "nan").to_dict()["value"] is None
    with pytest.raises(ValueError, match="one line"):
        Measurement("x", ERR, None, 0.0, "two\nlines")


@settings(deadline=None)  # shared 2-core machine: no per-example time limit
@given(
    outcomes=st.lists(st.sampled_from(list(Outcome)), min_size=1, max_size=12),
    limits=st.tuples(*[st.integers(0, 3)] * 3),
    count=st.integers(1, 12),
)
def test_run_ends_exactly_when_a_rule_says_so(
    outcomes: list[Outcome], limits: tuple[int, int, int], count: int
) -> None:
    fails, incs, errs = limits
    t = template(
        count=count, failure_limit=fails, inconclusive_limit=incs, consecutive_error_limit=errs
    )
    run = AnalysisRun(t, 0.0)
    seen: list[Outcome] = []
    for outcome in outcomes:
        if run.status.terminal:
            break
        feed(run, outcome)
        seen.append(outcome)
        streak = len(seen) - max((i + 1 for i, o in enumerate(seen) if o is not ERR), default=0)
        expected = RunStatus.RUNNING
        if seen.count(FAIL) > fails:
            expected = RunStatus.FAILED
        elif streak > errs:
            expected = RunStatus.ERROR
        elif seen.count(INC) > incs:
            expected = RunStatus.INCONCLUSIVE
        elif len(seen) == count:
            expected = RunStatus.SUCCESSFUL if PASS in seen else RunStatus.INCONCLUSIVE
        assert run.status is expected, (seen, run.summary)
    assert run.rounds == len(seen) <= count
