"""The endpoint's small parsers: `?wait=` durations and `If-None-Match` lists."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.agent.flags import MAX_WAIT, encode, etag_matches, etag_of, parse_wait
from changeover.agent.releases import BadRequest
from changeover.flags.transport import duration

tags = st.text(st.characters(min_codepoint=0x23, max_codepoint=0x7E), min_size=1, max_size=8)


@given(st.integers(1, 60_000))
def test_every_wait_the_client_sends_is_read_back(ms: int) -> None:
    assert parse_wait(duration(ms / 1000)) == pytest.approx(ms / 1000)


@pytest.mark.parametrize(("raw", "seconds"), [(None, 0.0), ("", 0.0), ("2", 2.0), ("1.5", 1.5)])
def test_plain_seconds_and_no_wait(raw: str | None, seconds: float) -> None:
    assert parse_wait(raw) == seconds


def test_waits_are_capped() -> None:
    assert parse_wait("3600s") == MAX_WAIT


@pytest.mark.parametrize("raw", ["soon", "-1s", "5m", "1e3", "s", "nan"])
def test_unreadable_waits_are_refused_naming_the_value(raw: str) -> None:
    with pytest.raises(BadRequest, match="wait: expected a duration like 30s or 500ms"):
        parse_wait(raw)


@given(st.lists(tags, max_size=4), tags, st.booleans(), st.booleans())
def test_if_none_match_matches_exactly_when_the_etag_is_listed(
    others: list[str], tag: str, listed: bool, weak: bool
) -> None:
    etag = f'"{tag}"'
    entries = [f'"{o}"' for o in others if o != tag] + (
        [("W/" if weak else "") + etag] if listed else []
    )
    assert etag_matches(", ".join(entries) or None, etag) is listed


def test_a_star_matches_anything_and_nothing_matches_no_header() -> None:
    assert etag_matches("*", '"a"')
    assert not etag_matches(None, '"a"')


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=5))
def test_the_same_content_gives_the_same_bytes_in_any_key_order(doc: dict[str, object]) -> None:
    shuffled = dict(reversed(list(doc.items())))
    assert encode(doc) == encode(shuffled)
    assert etag_of(encode(doc)) == etag_of(encode(shuffled))
