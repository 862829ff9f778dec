"""`--request` parsing and the load options' ranges."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.loadgen import Template
from changeover.verify.requests import (
    RequestSpecError,
    check_load,
    filler,
    format_request,
    parse_request,
    parse_requests,
)


def test_default_is_one_get_of_the_root() -> None:
    assert parse_requests([]) == [Template("GET", "/")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("GET /", Template("GET", "/")),
        ("/", Template("GET", "/")),
        ("  post   /echo  body=12 ", Template("POST", "/echo", filler(12))),
        ("/slow?ms=300 weight=0.5", Template("GET", "/slow?ms=300", weight=0.5)),
        ("PUT /x weight=3 body=0", Template("PUT", "/x", weight=3.0)),
    ],
)
def test_valid_requests_parse(text: str, expected: Template) -> None:
    assert parse_request(text) == expected


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "it is empty"),
        ("GET", "a path starting with '/' is required"),
        ("GET x", "a path starting with '/' is required"),
        ("GET / weight=0", "weight='0': expected a positive number"),
        ("GET / weight=nan", "weight='nan': expected a positive number"),
        ("GET / weight=inf", "weight='inf': expected a positive number"),
        ("GET / body=-1", "body='-1': expected a byte count"),
        ("GET / body=1e3", "body='1e3': expected a byte count"),
        ("GET / colour=red", "unknown option 'colour=red'"),
        ("GET / weight", "unknown option 'weight'"),
        ("HEAD /", "method HEAD is not supported"),
        ("G(T /", "invalid method"),
    ],
)
def test_bad_requests_name_the_value_the_problem_and_the_form(text: str, problem: str) -> None:
    with pytest.raises(RequestSpecError) as exc:
        parse_request(text)
    message = str(exc.value)
    assert message.startswith(f"--request {text!r}: ")
    assert problem in message
    assert message.endswith("expected '[METHOD] /path [weight=W] [body=BYTES]'")


def test_filler_has_the_exact_size() -> None:
    assert [len(filler(n)) for n in (0, 1, 9, 10, 11, 1000)] == [0, 1, 9, 10, 11, 1000]


methods = st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
paths = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=20).map(
    lambda s: "/" + s
)
weights = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False).map(lambda w: float(f"{w:g}"))


@given(methods, paths, weights, st.integers(min_value=0, max_value=5000))
def test_format_then_parse_gives_the_same_template(
    method: str, path: str, weight: float, body: int
) -> None:
    template = Template(method, path, filler(body), weight=weight)
    assert parse_request(format_request(template)) == template


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_a_request_error(text: str) -> None:
    message = ""
    try:
        template = parse_request(text)
    except RequestSpecError as exc:
        message = str(exc)
    if message:
        assert message.startswith(f"--request {text!r}: ")
    else:
        assert template.path.startswith("/")
        assert template.weight > 0


GOOD = {"rate": 100.0, "connections": 4, "warmup": 0.0, "cooldown": 2.0, "timeout": 5.0}


def test_sane_load_options_pass() -> None:
    assert check_load(**GOOD) is None  # type: ignore[arg-type]
    assert check_load(**GOOD, max_wait=None) is None  # type: ignore[arg-type]
    assert check_load(**GOOD, max_wait=0.5) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("rate", 0.0, "--rate 0: expected a positive number of requests per second"),
        ("rate", math.inf, "--rate inf: expected a positive number"),
        ("rate", math.nan, "--rate nan: expected a positive number"),
        ("connections", 0, "--connections 0: expected from 1 to 10000"),
        ("connections", 10_001, "--connections 10001: expected from 1 to 10000"),
        ("warmup", -1.0, "--warmup -1: expected seconds >= 0"),
        ("cooldown", math.inf, "--cooldown inf: expected seconds >= 0"),
        ("timeout", 0.0, "--timeout 0: expected seconds > 0"),
        ("max_wait", 0.0, "--max-wait 0: expected seconds > 0"),
        ("max_wait", -2.0, "--max-wait -2: expected seconds > 0"),
        ("max_wait", math.nan, "--max-wait nan: expected seconds > 0"),
        ("max_wait", math.inf, "--max-wait inf: expected seconds > 0"),
    ],
)
def test_out_of_range_load_options_are_named(name: str, value: float, message: str) -> None:
    problem = check_load(**{**GOOD, name: value})  # type: ignore[arg-type]
    assert problem is not None
    assert problem.startswith(message)
