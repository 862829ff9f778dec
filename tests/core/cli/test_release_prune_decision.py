"""Which artifacts `release prune` removes from the build store: never one of the `keep`
newest by semver precedence, never one an environment runs, waits for or rolls out;
every other one; and what an agent's promotions say an environment needs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from semver import Version

from changeover.cli.release_pruning import (
    ROLLS_OUT,
    RUNS,
    WAITS,
    Need,
    Stored,
    Verdict,
    decide,
    needs_of,
)


def stored(*versions: str) -> list[Stored]:
    return [Stored(v, 1000 + i) for i, v in enumerate(versions)]


def removed(verdicts: list[Verdict]) -> list[str]:
    return [v.version for v in verdicts if v.remove]


@pytest.mark.parametrize(
    ("versions", "keep", "needs", "gone"),
    [
        # semver precedence, not text nor creation order: 1.10.0 is newer than 1.9.0
        (["1.9.0", "1.10.0", "1.2.0"], 1, [], ["1.9.0", "1.2.0"]),
        (["1.0.0", "1.0.0-rc.1", "0.9.0"], 2, [], ["0.9.0"]),
        (["1.0.0-rc.1", "1.0.0", "0.9.0"], 1, [], ["1.0.0-rc.1", "0.9.0"]),
        (["1.0.0", "2.0.0"], 5, [], []),
        ([], 1, [], []),
        # what an environment needs stays whatever keep says
        (["1.0.0", "1.1.0", "1.2.0", "1.3.0"], 1, [Need("1.0.0", "prod", RUNS)],
         ["1.2.0", "1.1.0"]),
        (["1.0.0", "1.1.0", "1.2.0"], 1,
         [Need("1.1.0", "prod", WAITS), Need("1.0.0", "staging", ROLLS_OUT)], []),
        # a need of a release not stored here changes nothing
        (["1.0.0", "1.1.0"], 1, [Need("0.1.0", "prod", RUNS)], ["1.0.0"]),
        # a version that is not semver ranks below every semver one
        (["nightly-3", "1.0.0"], 1, [], ["nightly-3"]),
    ],
)  # fmt: skip
def test_verdicts(versions: list[str], keep: int, needs: list[Need], gone: list[str]) -> None:
    verdicts = decide(stored(*versions), keep, needs)
    assert removed(verdicts) == gone
    assert sorted(v.version for v in verdicts) == sorted(versions)  # one verdict each


def test_reasons_name_the_environment_and_the_newest() -> None:
    needs = [Need("1.0.0", "prod", RUNS), Need("1.0.0", "prod", RUNS), Need("1.2.0", "dev", WAITS)]
    verdicts = {v.version: v for v in decide(stored("1.0.0", "1.1.0", "1.2.0"), 1, needs)}
    assert verdicts["1.2.0"].reasons == ("one of the 1 newest", "dev a promotion of it waits")
    assert verdicts["1.0.0"].reasons == ("prod runs it",)  # said once
    assert (verdicts["1.1.0"].remove, verdicts["1.1.0"].reasons) == (True, ())
    assert verdicts["1.1.0"].size == 1001


def test_keep_must_be_at_least_one() -> None:
    with pytest.raises(ValueError, match="keep must be at least 1, got 0"):
        decide(stored("1.0.0"), 0, [])


def test_needs_from_an_agents_promotions() -> None:
    promotions: list[dict[str, object]] = [
        {"version": "1.3.0", "state": "waiting", "current": False},
        {"version": "1.2.0", "state": "rolling out", "current": False},
        {"version": "1.1.0", "state": "done", "current": True},
        {"version": "1.0.0", "state": "done", "current": False},  # ran before: not needed
        {"version": "0.9.0", "state": "rejected", "current": False},
        {"version": "0.8.0", "state": "superseded", "current": False},
    ]
    assert needs_of("prod", promotions) == [
        Need("1.3.0", "prod", WAITS),
        Need("1.2.0", "prod", ROLLS_OUT),
        Need("1.1.0", "prod", RUNS),
    ]


semvers = st.builds(
    lambda a, b, c, pre: f"{a}.{b}.{c}" + (f"-rc.{pre}" if pre is not None else ""),
    st.integers(0, 3),
    st.integers(0, 12),
    st.integers(0, 3),
    st.none() | st.integers(0, 2),
)


@given(
    versions=st.lists(semvers, unique=True, max_size=12),
    keep=st.integers(1, 6),
    needed=st.lists(st.tuples(st.integers(0, 11), st.sampled_from([RUNS, WAITS, ROLLS_OUT]))),
)
def test_never_a_needed_or_newest_one_and_every_other(
    versions: list[str], keep: int, needed: list[tuple[int, str]]
) -> None:
    needs = [Need(versions[i], "env", why) for i, why in needed if i < len(versions)]
    verdicts = decide(stored(*versions), keep, needs)
    newest = set(sorted(versions, key=Version.parse, reverse=True)[:keep])
    must_stay = newest | {n.version for n in needs}
    assert {v.version for v in verdicts if not v.remove} == must_stay
    assert {v.version for v in verdicts if v.remove} == set(versions) - must_stay
    assert all(bool(v.reasons) != v.remove for v in verdicts)
