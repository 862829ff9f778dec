"""Probe failures in words: what is reported, with which count, and how rarely it changes."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from changeover.spec.models import Probe
from changeover.supervisor.health import Kind
from changeover.supervisor.probes import ProbeOutcome
from changeover.supervisor.reports import ProbeReports, Streak

OK = ProbeOutcome(True, "answered 200")
E503 = ProbeOutcome(False, "answered 503")
SLOW = ProbeOutcome(False, "timed out after 1s")
REFUSED = ProbeOutcome(False, "connection refused")


def streak(failure: int = 3, success: int = 1) -> Streak:
    probe = Probe(path="/readyz", failure_threshold=failure, success_threshold=success)
    return Streak(Kind.READINESS, probe)


def test_a_failure_is_reported_at_its_threshold_and_counted_on() -> None:
    s = streak(failure=3)
    assert [s.record(E503) for _ in range(2)] == ["", ""]  # still within the threshold
    assert s.reported == ""
    assert s.record(E503) == "readiness GET /readyz answered 503 (3 times in a row)"
    assert s.reported == "readiness GET /readyz answered 503"
    assert s.record(E503) == "readiness GET /readyz answered 503 (4 times in a row)"
    assert s.reported == "readiness GET /readyz answered 503"


def test_a_threshold_of_one_reports_the_first_failure_once() -> None:
    s = streak(failure=1)
    assert s.record(REFUSED) == "readiness GET /readyz connection refused (once)"


def test_mixed_failures_count_toward_the_threshold_and_the_latest_is_shown() -> None:
    s = streak(failure=3)
    s.record(REFUSED)
    s.record(SLOW)
    assert s.record(E503) == "readiness GET /readyz answered 503 (once)"
    assert s.reported == "readiness GET /readyz answered 503"


def test_the_reason_changes_only_once_the_new_answer_repeats_its_threshold() -> None:
    s = streak(failure=2)
    s.record(E503)
    s.record(E503)
    assert s.record(SLOW) == "readiness GET /readyz timed out after 1s (once)"
    assert s.reported == "readiness GET /readyz answered 503"  # one timeout is no news
    assert s.record(E503) == "readiness GET /readyz answered 503 (once)"
    s.record(SLOW)
    assert s.record(SLOW) == "readiness GET /readyz timed out after 1s (2 times in a row)"
    assert s.reported == "readiness GET /readyz timed out after 1s"


def test_recovery_takes_the_success_threshold() -> None:
    s = streak(failure=2, success=2)
    s.record(E503)
    s.record(E503)
    assert s.record(OK) == ""
    assert s.reported == "readiness GET /readyz answered 503"  # one success is not enough
    assert s.record(E503) == "readiness GET /readyz answered 503 (once)"  # counted anew
    s.record(OK)
    s.record(OK)
    assert s.reported == ""
    assert s.record(E503) == ""  # failing again needs the full threshold again


def test_the_reports_of_a_process_name_the_failing_probe() -> None:
    startup = Probe(path="/healthz", failure_threshold=1)
    readiness = Probe(path="/readyz", failure_threshold=1)
    reports = ProbeReports({Kind.STARTUP: startup, Kind.READINESS: readiness})
    assert reports.failing == ""
    assert reports.record(Kind.READINESS, E503) == "readiness GET /readyz answered 503 (once)"
    assert reports.failing == "readiness GET /readyz answered 503"
    reports.record(Kind.STARTUP, SLOW)
    assert reports.failing == "startup GET /healthz timed out after 1s"
    reports.record(Kind.STARTUP, OK)
    reports.record(Kind.READINESS, OK)
    assert reports.failing == ""


@given(
    outcomes=st.lists(st.sampled_from([OK, E503, SLOW, REFUSED]), max_size=80),
    failure=st.integers(1, 4),
    success=st.integers(1, 3),
)
def test_the_report_changes_only_after_a_full_threshold_of_its_cause(
    outcomes: list[ProbeOutcome], failure: int, success: int
) -> None:
    """Whatever the probe answers, each change of `reported` is backed by the results
    right before it, so changes (and the events made of them) are spaced by a threshold."""
    s = streak(failure, success)
    changes = []
    for i, outcome in enumerate(outcomes):
        before = s.reported
        shown = s.record(outcome)
        assert bool(shown) == (bool(s.reported) and not outcome.ok)
        if s.reported == before:
            continue
        changes.append(i)
        history = outcomes[: i + 1]
        if s.reported == "":  # recovered
            assert len(history) >= success
            assert all(o.ok for o in history[-success:])
        elif before == "":  # failing
            assert len(history) >= failure
            assert not any(o.ok for o in history[-failure:])
        else:  # a new reason, repeated
            assert history[-failure:] == [outcome] * failure
        assert s.reported in ("", f"readiness GET /readyz {outcome.detail}")
    gaps = [b - a for a, b in itertools.pairwise(changes)]
    assert all(gap >= min(failure, success) for gap in gaps), (changes, failure, success)
