"""`spec.pcre`: a header route's regex that HAProxy's PCRE2 would read differently from
Python's `re` is named, with what to write instead; the rest passes."""

from __future__ import annotations

import re

import pytest

from changeover.haproxy.routes import route_pattern
from changeover.proxy.policy import HeaderRoute
from changeover.spec.pcre import problems


@pytest.mark.parametrize(
    "regex",
    ["v1", "v[0-9]+ (rc|final)", r"[^;\r\n]+", r"\S+", r"(?i)canary", r"v\b.*", "a{0,3}"],
)
def test_a_portable_regex_has_no_problem(regex: str) -> None:
    assert problems(regex) == []


@pytest.mark.parametrize(
    ("regex", "said"),
    [
        ("[^;]*", "can match a line feed"),
        (r"\s+", "can match a line feed"),
        (r"\W", "can match a line feed"),
        ("(?s)a.b", "can match a line feed"),
        ("(?=[^;]*x)v", "can match a line feed"),  # a lookahead looks past the line too
        ("^v1$", "anchors with ^, $"),
        (r"\Av1", "anchors with ^, $"),
        ("a{,3}", "uses {,n}"),
        ("(?a)v", "Python-only inline flag"),
        (r"\N{BULLET}", "\\N{name}"),
    ],
)
def test_what_pcre_would_read_differently_is_named(regex: str, said: str) -> None:
    found = problems(regex)
    assert any(said in problem for problem in found), found


def test_a_line_feed_reaching_regex_really_would_match_across_header_lines() -> None:
    """Why `[^;]` is refused: on the header block it reaches the next header's line."""
    block = "x-group: beta\r\nx-next: 1\r\n\r\n"
    wide = re.compile(route_pattern(HeaderRoute("x-group", 2, regex="beta[^;]*1")))
    narrow = re.compile(route_pattern(HeaderRoute("x-group", 2, regex=r"beta[^;\r\n]*1")))
    assert wide.search(block) is not None  # a false match
    assert narrow.search(block) is None
    assert not HeaderRoute("x-group", 2, regex="beta[^;]*1").matches([(b"x-group", b"beta")])
