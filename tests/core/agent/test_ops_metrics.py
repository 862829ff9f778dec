"""The pure parts of the agent's metrics: exported buckets, restarts that outlive replicas,
and the rule file's shape."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from changeover.agent.ops.collector import EXPORTED, LE, buckets
from changeover.agent.ops.rules import Target, render, rules
from changeover.agent.ops.tally import RestartTally, Tally
from changeover.histogram import BOUNDS
from tests.io.agent._fakes import replica_info

COUNTS = st.lists(st.integers(0, 1000), min_size=len(BOUNDS) + 1, max_size=len(BOUNDS) + 1)


@given(COUNTS)
def test_exported_buckets_are_exact_cumulative_counts_at_the_proxys_own_bounds(
    counts: list[int],
) -> None:
    got = buckets(counts)
    assert [le for le, _ in got] == [*LE, "+Inf"]
    for (le, cumulative), index in zip(got, EXPORTED, strict=False):
        assert float(le) == BOUNDS[index]
        assert cumulative == sum(counts[: index + 1])  # every request at or below `le`
    assert got[-1][1] == sum(counts)


def test_every_second_bound_from_a_quarter_millisecond_to_a_minute() -> None:
    assert (LE[0], LE[-1], len(LE)) == ("0.00025", "60", 37)


def test_restarts_of_replicas_gone_since_stay_in_their_revisions_total() -> None:
    tally = RestartTally()
    tally.update([replica_info("r3-1"), replica_info("r3-2")])
    assert tally.snapshot() == {"3": 0}  # the series exists from zero
    tally.update([replica_info("r3-1", restarts=2), replica_info("r3-2", restarts=1)])
    tally.update([replica_info("r3-1", restarts=3)])  # r3-2 removed: its one restart stays
    assert tally.snapshot() == {"3": 4}
    tally.update([replica_info("r3-1", restarts=3), replica_info("r4-1", restarts=5)])
    assert tally.snapshot() == {"3": 4, "4": 0}  # first seen with 5: adopted, not ours


def test_the_tally_starts_every_outcome_at_zero() -> None:
    tally = Tally()
    assert dict(tally.outcomes) == dict.fromkeys(
        ("succeeded", "rolled-back", "failed", "aborted", "interrupted"), 0
    )
    tally.measured("guard", "slo", "errors", "failed", 0.3)
    tally.measured("guard", "slo", "errors", "inconclusive", None)
    assert tally.measurements["slo", "errors", "failed"] == 1
    assert tally.values == {("guard", "slo", "errors"): 0.3}


def test_the_rule_file_names_five_alerts_each_selecting_the_service() -> None:
    target = Target("hello", "staging", window=60.0, hold=30.0)
    text = render(target)
    names = re.findall(r"- alert: (\w+)", text)
    assert names == [
        "ChangeoverHighErrorRatio",
        "ChangeoverSlowRevision",
        "ChangeoverCrashLooping",
        "ChangeoverRolloutFailed",
        "ChangeoverAgentDown",
    ]
    for rule in rules(target):
        assert 'service="hello",environment="staging"' in rule.expr
        assert rule.runbook
    assert text.count('service: "hello"') == 5
    assert text.count('environment: "staging"') == 5
    assert text.count('changeover_action: "notify"') == 2
    assert "[1m]" in text  # the rate window
    assert "[12m]" in text  # the stable revision's p95: twelve windows
    assert "for: 30s" in text


def test_without_an_environment_the_selector_matches_series_that_have_none() -> None:
    text = render(Target("hello"))
    assert 'service="hello",environment=""' in text
    assert "environment:" not in text
