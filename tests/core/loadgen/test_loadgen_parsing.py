"""Pure helpers: URL parsing, request rendering, template choice, histogram, classify."""

from __future__ import annotations

import ipaddress
import math
from collections import Counter

import httptools
import pytest
from hypothesis import given
from hypothesis import strategies as st

from changeover.loadgen import Outcome, Target, Template, parse_url
from changeover.loadgen.histogram import PRECISION, Histogram
from changeover.loadgen.outcome import Exchange, classify
from changeover.loadgen.template import Chooser

_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)
_HOSTS = st.one_of(
    st.lists(_LABEL, min_size=1, max_size=4).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(lambda a: str(ipaddress.IPv6Address(a))),
)
_SEGMENT = st.from_regex(r"[A-Za-z0-9._~-]{1,8}", fullmatch=True)
_BASE = st.lists(_SEGMENT, max_size=3).map(lambda s: "".join("/" + x for x in s))
_PATH = st.from_regex(r"/[A-Za-z0-9._~/?=&-]{0,30}", fullmatch=True)


@given(_HOSTS, st.integers(1, 65535), _BASE, st.sampled_from(["http", "https"]))
def test_parse_url_round_trips(host: str, port: int, base: str, scheme: str) -> None:
    target = Target(host, port, base, scheme)
    assert parse_url(target.url()) == target
    assert parse_url(target.url() + "/") == target


@given(st.text(max_size=60))
def test_parse_url_accepts_only_well_formed_targets(text: str) -> None:
    try:
        target = parse_url(text)
    except ValueError:
        return
    assert 1 <= target.port <= 65535
    assert target.host
    assert target.base_path == "" or (
        target.base_path.startswith("/") and not target.base_path.endswith("/")
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://localhost", Target("localhost", 80)),
        ("http://127.0.0.1:8080/", Target("127.0.0.1", 8080)),
        ("HTTP://[::1]:9000/api/", Target("::1", 9000, "/api")),
        ("https://localhost", Target("localhost", 443, scheme="https")),
        ("HTTPS://127.0.0.1:8443/x", Target("127.0.0.1", 8443, "/x", "https")),
    ],
)
def test_parse_url_examples(url: str, expected: Target) -> None:
    assert parse_url(url) == expected


@pytest.mark.parametrize(
    "url", ["ftp://h", "http://:80", "http://h:0", "http://u@h", "http://h/?q", "http://h:99999"]
)
def test_parse_url_rejects(url: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        parse_url(url)


class _Parsed:
    def __init__(self) -> None:
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.body = b""
        self.complete = 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        self.complete += 1


@given(
    st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH"]),
    _PATH,
    st.binary(max_size=300),
    st.lists(st.tuples(st.sampled_from(["X-A", "X-Trace", "Accept"]), _SEGMENT), max_size=3),
)
def test_rendered_request_parses_back(
    method: str, path: str, body: bytes, headers: list[tuple[str, str]]
) -> None:
    target = Target("::1", 8080, "/base")
    template = Template(method, path, body, tuple(headers))
    parsed = _Parsed()
    parser = httptools.HttpRequestParser(parsed)
    parser.feed_data(template.render(target))
    assert parsed.complete == 1  # exactly one whole request, nothing left over
    assert parser.get_method().decode() == method
    assert parsed.url.decode() == "/base" + path
    assert parsed.body == body
    assert parsed.headers[b"host"] == b"[::1]:8080"
    sent = {name.lower().encode(): value.encode() for name, value in headers}
    assert sent.items() <= parsed.headers.items()
    assert parsed.headers.get(b"content-length") == (
        None if method == "GET" and not body else str(len(body)).encode()
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"method": "GE T"},
        {"method": "HEAD"},
        {"path": "no-slash"},
        {"path": "/a b"},
        {"weight": 0},
        {"headers": (("Content-Length", "1"),)},
        {"headers": (("X-A", "a\r\nX-B: b"),)},
    ],
)
def test_invalid_templates_are_rejected(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        Template(**bad)  # type: ignore[arg-type]


def test_chooser_is_reproducible_and_follows_weights() -> None:
    first = Chooser([8, 1, 1], seed=7)
    again = Chooser([8, 1, 1], seed=7)
    picks = [first.next() for _ in range(5000)]
    assert picks == [again.next() for _ in range(5000)]
    assert picks != [Chooser([8, 1, 1], seed=8).next() for _ in range(5000)]
    share = Counter(picks)[0] / len(picks)
    assert 0.77 < share < 0.83


@given(
    st.lists(st.floats(1e-5, 100.0), min_size=1, max_size=200), st.sampled_from([0.5, 0.9, 0.99])
)
def test_histogram_percentiles_within_precision(values: list[float], q: float) -> None:
    hist = Histogram()
    for v in values:
        hist.record(v)
    exact = sorted(values)[max(1, math.ceil(q * len(values))) - 1]
    got = hist.percentile(q)
    assert got is not None
    assert exact * (1 - 1e-9) <= got <= exact * (1 + PRECISION) * (1 + 1e-9)
    assert hist.max == max(values)


def test_histogram_empty_has_no_percentile() -> None:
    assert Histogram().percentile(0.5) is None


@pytest.mark.parametrize(
    ("ex", "expect", "kind"),
    [
        (Exchange(0, complete=True, status=204), None, Outcome.OK),
        (Exchange(0, complete=True, status=200, body=bytearray(b"yes")), b"es", Outcome.OK),
        (Exchange(0, complete=True, status=200, body=bytearray(b"no")), b"es", Outcome.BAD_BODY),
        (Exchange(3, complete=True, status=502), b"es", Outcome.STATUS),
        (Exchange(0, got_bytes=True, timed_out=True), None, Outcome.TIMEOUT),
        (Exchange(0, got_bytes=True, parse_error=True), None, Outcome.PROTOCOL_ERROR),
        (Exchange(2, got_bytes=True, status=200), None, Outcome.RESET_MID_RESPONSE),
        (Exchange(0), None, Outcome.RESET_FRESH),
        (Exchange(1), None, Outcome.RESET_REUSED),
    ],
)
def test_classify(ex: Exchange, expect: bytes | None, kind: Outcome) -> None:
    assert classify(ex, expect) is kind


def test_template_host_header_overrides_the_default() -> None:
    wire = Template(headers=(("Host", "api.example"),)).render(Target("127.0.0.1", 8080))
    assert wire == b"GET / HTTP/1.1\r\nHost: api.example\r\n\r\n"


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://example.test", "example.test"),
        ("https://example.test:443", "example.test"),
        ("https://example.test:80", "example.test:80"),
        ("http://example.test:443", "example.test:443"),
    ],
)
def test_the_host_header_omits_only_the_schemes_default_port(url: str, host: str) -> None:
    assert parse_url(url).host_header == host
