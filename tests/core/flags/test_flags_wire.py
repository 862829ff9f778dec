"""The HTTP contract's small parsers: wait durations, request targets, semantic versions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.flags.fakes import parse_wait
from changeover.flags.semver import parse as semver
from changeover.flags.transport import Fetcher, duration


@given(st.integers(1, 600_000))
def test_wait_durations_round_trip_in_milliseconds(ms: int) -> None:
    seconds = ms / 1000
    text = duration(seconds)
    assert text.endswith(("s", "ms"))
    assert parse_wait(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("seconds", "text"), [(30, "30s"), (30.0, "30s"), (0.25, "250ms"), (1.5, "1500ms")]
)
def test_wait_uses_the_specs_duration_syntax(seconds: float, text: str) -> None:
    assert duration(seconds) == text


@pytest.mark.parametrize("text", ["", "s", "5", "-5s", "1.5s", "5m", "fives"])
def test_unreadable_waits_are_refused(text: str) -> None:
    assert parse_wait(text) is None


def test_the_wait_parameter_is_added_to_any_query() -> None:
    plain = Fetcher("http://h:1/api/client/features")
    assert plain._target(None) == "/api/client/features"
    assert plain._target(30) == "/api/client/features?wait=30s"
    query = Fetcher("http://h/flags?project=web")
    assert query._target(0.5) == "/flags?project=web&wait=500ms"
    assert Fetcher("https://h")._target(None) == "/"


@given(st.tuples(*[st.integers(0, 50)] * 3), st.tuples(*[st.integers(0, 50)] * 3))
def test_release_versions_order_like_their_numbers(
    a: tuple[int, int, int], b: tuple[int, int, int]
) -> None:
    ka, kb = semver(".".join(map(str, a))), semver(".".join(map(str, b)))
    assert ka is not None
    assert kb is not None
    assert (ka < kb) == (a < b)
    assert (ka == kb) == (a == b)


@given(st.text(max_size=12))
def test_any_text_parses_or_is_refused_without_raising(text: str) -> None:
    key = semver(text)
    assert key is None or len(key) == 5
