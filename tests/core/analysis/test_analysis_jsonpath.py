"""The JSON path subset of the web provider: parsing, lookup, errors, round trips."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.analysis.jsonpath import JsonPathError, format_path, lookup, parse_path

DOC = {"a": {"b": [{"c": 0.97}, {"c": 1}]}, "items": [True], "7": "seven"}


@pytest.mark.parametrize(
    ("text", "path", "value"),
    [
        ("$.a.b[0].c", ("a", "b", 0, "c"), 0.97),
        ("a.b.0.c", ("a", "b", "0", "c"), 0.97),
        ("a.b[1].c", ("a", "b", 1, "c"), 1),
        ("$.items[0]", ("items", 0), True),
        ("$.7", ("7",), "seven"),
        ("  $  ", (), DOC),
    ],
)
def test_both_forms_reach_the_value(text: str, path: tuple[Any, ...], value: Any) -> None:
    assert parse_path(text) == path
    assert lookup(DOC, path) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty JSON path"),
        ("a..b", r"'a\.\.b' at character 1: expected \.name or \[index\]"),
        ("$.a[", "at character 3"),
        ("$.a[x]", "at character 3"),
        ("$a", "at character 1"),
        ("a b", "at character 1"),
    ],
)
def test_bad_syntax_says_where(text: str, message: str) -> None:
    with pytest.raises(JsonPathError, match=message):
        parse_path(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("$.a.x", r"no key 'x' in the object at \$\.a$"),
        ("$.a.b[5]", r"index 5 is past the end of the list at \$\.a\.b"),
        ("$.a.b.first", r"\$\.a\.b is a list; 'first' is not an index"),
        ("$.a.b[0].c.d", r"\$\.a\.b\[0\]\.c is a number, so it has no 'd'"),
        ("$.items[0].x", "is a boolean"),
    ],
)
def test_missing_values_say_which_segment(text: str, message: str) -> None:
    with pytest.raises(JsonPathError, match=message):
        lookup(DOC, parse_path(text))


names = st.text(st.characters(exclude_characters=".[]", exclude_categories=["Z", "C"]), min_size=1)
paths = st.lists(st.one_of(names, st.integers(0, 10**6)), max_size=6).map(tuple)


@given(paths)
def test_format_then_parse_round_trips(path: tuple[str | int, ...]) -> None:
    assert parse_path(format_path(path)) == path


@given(paths, st.integers())
def test_lookup_finds_what_was_nested_along_the_path(
    path: tuple[str | int, ...], leaf: int
) -> None:
    doc: Any = leaf
    for seg in reversed(path):
        doc = [None] * seg + [doc] if isinstance(seg, int) and seg < 50 else {str(seg): doc}
    assert lookup(doc, path) == leaf
