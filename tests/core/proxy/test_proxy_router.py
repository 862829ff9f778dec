"""Pure tests of the smooth weighted round-robin revision chooser."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changeover.proxy.router import WeightedRouter

weight_maps = st.dictionaries(st.integers(0, 50), st.integers(0, 100), min_size=1, max_size=8)
# Pure and fast, but thousands of picks per example: no per-example deadline, so a busy
# machine cannot turn a passing property into a DeadlineExceeded flake.
no_deadline = settings(deadline=None)


def picks(router: WeightedRouter, available: object, n: int) -> Counter[int | None]:
    return Counter(router.choose(available) for _ in range(n))  # type: ignore[arg-type]


def test_ninety_ten_is_exact_over_2000_requests() -> None:
    router = WeightedRouter({1: 90, 2: 10})
    assert picks(router, {1, 2}, 2000) == {1: 1800, 2: 200}


def test_picks_are_interleaved_not_bunched() -> None:
    router = WeightedRouter({1: 90, 2: 10})
    sequence = [router.choose({1, 2}) for _ in range(100)]
    positions = [i for i, rev in enumerate(sequence) if rev == 2]
    assert len(positions) == 10
    assert max(b - a for a, b in itertools.pairwise(positions)) <= 11


@no_deadline
@given(weight_maps, st.integers(1, 4))
def test_every_full_cycle_gives_exact_proportions(weights: dict[int, int], cycles: int) -> None:
    total = sum(weights.values())
    router = WeightedRouter(weights)
    if total == 0:
        assert router.choose(set(weights)) is None
        return
    counts = picks(router, set(weights), total * cycles)
    assert counts == {rev: w * cycles for rev, w in weights.items() if w > 0}


@no_deadline
@given(weight_maps)
def test_any_prefix_stays_close_to_the_exact_share(weights: dict[int, int]) -> None:
    total = sum(weights.values())
    positive = [rev for rev, w in weights.items() if w > 0]
    router = WeightedRouter(weights)
    counts: Counter[int] = Counter()
    for n in range(1, total + 1):
        choice = router.choose(set(weights))
        assert choice is not None
        counts[choice] += 1
        for rev in positive:
            assert abs(counts[rev] - n * weights[rev] / total) < max(len(positive), 2)


@no_deadline
@given(weight_maps, st.data())
def test_revisions_without_endpoints_are_skipped(
    weights: dict[int, int], data: st.DataObject
) -> None:
    available = data.draw(st.sets(st.sampled_from(sorted(weights))))
    eligible = {rev: w for rev, w in weights.items() if rev in available and w > 0}
    router = WeightedRouter(weights)
    total = sum(eligible.values())
    counts = picks(router, available, max(total, 1) * 2)
    if not eligible:
        assert counts == {None: 2}
    else:
        assert counts == {rev: 2 * w for rev, w in eligible.items()}


def test_all_zero_weights_choose_nothing() -> None:
    router = WeightedRouter({1: 0, 2: 0})
    assert router.choose({1, 2}) is None


def test_unlisted_revision_is_never_chosen() -> None:
    router = WeightedRouter({1: 1})
    assert picks(router, {1, 7}, 10) == {1: 10}
    assert router.choose({7}) is None


def test_revision_that_comes_back_resumes_its_share() -> None:
    router = WeightedRouter({1: 50, 2: 50})
    first = picks(router, {1, 2}, 3)
    gap = picks(router, {1}, 10)
    after = picks(router, {1, 2}, 97)
    assert gap == {1: 10}
    assert first[2] + after[2] == 50


def test_negative_weight_is_rejected() -> None:
    with pytest.raises(ValueError, match="must be >= 0"):
        WeightedRouter({1: -1})
