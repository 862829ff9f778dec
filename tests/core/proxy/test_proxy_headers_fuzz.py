"""Hypothesis fuzzes head rewriting (`headers.rewrite_request`, `rewrite_response`).

Properties: what comes out is a well-formed HTTP/1.1 head (checked by a strict reader
written here and by httptools); hop-by-hop headers and those named in Connection never
cross; X-Forwarded-For is appended to, never replaced; X-Forwarded-Proto and -Host are
ours unless the peer is trusted, then its own if it sent them; framing is stated exactly once;
a CR or LF in a client's bytes can never become a header line of its own (the parser
refuses the head, or it comes out as the same headers); rewriting a rewritten head
changes nothing more (requests: but for the hop just added to X-Forwarded-For).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser, HttpResponseParser
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from changeover.proxy.headers import (
    CHUNKED,
    HOP_BY_HOP,
    Headers,
    RequestHead,
    ResponseHead,
    rewrite_request,
    rewrite_response,
)

CLIENT = b"198.51.100.7"
FIELD_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+): ([^\r\n\x00]*)")
SPECIAL = [
    "Host",
    "Content-Length",
    "Transfer-Encoding",
    "Connection",
    "Keep-Alive",
    "Proxy-Connection",
    "TE",
    "Trailer",
    "Upgrade",
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Host",
    "X-Request-Id",
]
COMMON = ["Accept", "Cookie", "User-Agent", "Cache-Control", "Date", "Server", "X-Custom"]


def spelled(name: str) -> st.SearchStrategy[bytes]:
    """`name` as a client might spell it: canonical, lower, upper or mixed case."""
    return st.sampled_from(
        [name.encode(), name.lower().encode(), name.upper().encode(), name.swapcase().encode()]
    )


NAMES = st.one_of(
    st.sampled_from(SPECIAL + COMMON).flatmap(spelled),
    st.from_regex(rb"\A[A-Za-z][A-Za-z0-9-]{0,14}\Z"),
)
# What llhttp accepts in a field value: visible ASCII, SP, HTAB and obs-text, trimmed.
VALUE = st.binary(max_size=24).map(
    lambda b: bytes(c for c in b if c == 9 or 32 <= c <= 126 or c >= 128).strip(b" \t")
)
VALUES = st.one_of(
    VALUE,
    st.sampled_from([b"chunked", b"close", b"keep-alive", b"upgrade", b"0", b"5", b"x-custom"]),
    # Connection options naming fields, ours among them.
    st.sampled_from([b"keep-alive, X-Custom", b"Upgrade, Cookie", b"te, trailer", b"Host"]),
    st.sampled_from([b"content-length", b"X-Forwarded-For", b"x-request-id, date"]),
)
HEADERS = st.lists(st.tuples(NAMES, VALUES), max_size=12)  # anything, framing included

# Heads the proxy accepts more often than not: one Host, at most one framing header with
# a value llhttp lets through, everything else as above but framing, in any order.
FRAMED = {"Host", "Content-Length", "Transfer-Encoding"}
OTHERS = st.lists(
    st.tuples(
        st.one_of(
            st.sampled_from([n for n in SPECIAL + COMMON if n not in FRAMED]).flatmap(spelled),
            st.from_regex(rb"\AX-[A-Za-z0-9-]{1,12}\Z"),
        ),
        VALUES,
    ),
    max_size=10,
)
FRAMING = st.sampled_from(
    [
        [],
        [(b"Content-Length", b"0")],
        [(b"content-length", b"12")],
        [(b"Transfer-Encoding", b"chunked")],
        [(b"transfer-encoding", b"Chunked")],
    ]
)
HOST = st.tuples(spelled("Host"), VALUE)
# A Connection header naming options and fields: plain ones, hop-by-hop ones, ours.
OPTIONS = [b"close", b"keep-alive", b"upgrade", b"X-Custom", b"Cookie", b"te", b"Host"]
OPTIONS += [b"content-length", b"x-forwarded-for", b"X-Request-Id", b"Date"]
CONNECTION = st.lists(
    st.tuples(
        spelled("Connection"),
        st.lists(st.sampled_from(OPTIONS), min_size=1, max_size=3).map(b", ".join),
    ),
    max_size=1,
)
REQUEST_HEADERS = st.builds(
    lambda h, o, c, f: [h, *o, *c, *f], HOST, OTHERS, CONNECTION, FRAMING
).flatmap(st.permutations)
RESPONSE_HEADERS = st.builds(lambda o, c, f: [*o, *c, *f], OTHERS, CONNECTION, FRAMING).flatmap(
    st.permutations
)


def head_lines(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The start line and (name, value) pairs of a head, read strictly by this test."""
    assert data.endswith(b"\r\n\r\n"), data
    start, *rest = data[:-4].split(b"\r\n")
    fields = []
    for line in rest:
        match = FIELD_LINE.fullmatch(line)
        assert match is not None, f"not a field line: {line!r}"
        fields.append((match.group(1), match.group(2)))
    return start, fields


def named(fields: list[tuple[bytes, bytes]], name: bytes) -> list[bytes]:
    return [v for n, v in fields if n.lower() == name]


def connection_options(headers: Headers) -> set[bytes]:
    values = [v for n, v in headers if n.lower() == b"connection"]
    return {t.strip().lower() for v in values for t in v.split(b",")}


@dataclass
class Parsed:
    """What httptools made of a head: its headers, or that it refused it."""

    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    done: bool = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.done = True


def parse(data: bytes, response: bool = False) -> Parsed | None:
    parsed = Parsed()
    parser = (HttpResponseParser if response else HttpRequestParser)(parsed)
    try:
        parser.feed_data(data)
    except HttpParserUpgrade:
        pass
    except HttpParserError:
        return None
    return parsed if parsed.done else None


def rewrite(
    method: bytes,
    headers: Headers,
    upgrade: bool = False,
    http11: bool = True,
    trusted: bool = False,
) -> RequestHead | str:
    return rewrite_request(
        method, b"/p?q=1", http11, headers, upgrade, CLIENT, b"http", lambda: b"gen-1", trusted
    )


# -- requests -----------------------------------------------------------------------------------

METHODS = st.sampled_from([b"GET", b"POST", b"PUT", b"HEAD", b"DELETE", b"OPTIONS"])


@settings(max_examples=150, deadline=None)
@given(METHODS, HEADERS, st.booleans(), st.booleans(), st.booleans())
def test_a_rewritten_request_is_a_well_formed_head(
    method: bytes, headers: Headers, upgrade: bool, http11: bool, trusted: bool
) -> None:
    head = rewrite(method, headers, upgrade, http11, trusted)
    if isinstance(head, str):
        return  # refused: answered 400, nothing forwarded
    start, fields = head_lines(head.data)
    assert start == method + b" /p?q=1 HTTP/1.1"
    parsed = parse(head.data)
    assert parsed is not None
    assert parsed.headers == fields
    assert len(named(fields, b"host")) == 1  # exactly one Host, always
    framing = named(fields, b"content-length") + named(fields, b"transfer-encoding")
    assert len(framing) <= 1
    assert named(fields, b"transfer-encoding") in ([], [b"chunked"])
    assert (named(fields, b"transfer-encoding") == [b"chunked"]) == (head.body == CHUNKED)
    assert named(fields, b"x-request-id") == [head.request_id]
    assert len(named(fields, b"x-forwarded-proto")) == 1


@settings(max_examples=150, deadline=None)
@given(METHODS, REQUEST_HEADERS, st.booleans())
def test_hop_by_hop_and_connection_named_headers_never_cross(
    method: bytes, headers: Headers, upgrade: bool
) -> None:
    head = rewrite(method, headers, upgrade)
    assume(isinstance(head, RequestHead))
    assert isinstance(head, RequestHead)
    _, fields = head_lines(head.data)
    ours = {b"transfer-encoding": [b"chunked"]}  # the framing we state ourselves
    if upgrade and any(n.lower() == b"upgrade" for n, _ in headers):
        ours[b"connection"] = [b"upgrade"]
        ours[b"upgrade"] = named(headers, b"upgrade")[-1:]
    for name in HOP_BY_HOP:
        assert named(fields, name) in ([], ours.get(name)), name
    assert len(named(fields, b"host")) == 1  # naming Host in Connection can't strip it
    # Fields the client named in Connection are its own hop's, except those we rebuild.
    rebuilt = {b"host", b"content-length", b"x-forwarded-for", b"x-request-id"}
    rebuilt |= {b"x-forwarded-proto", b"x-forwarded-host", *ours}
    for option in connection_options(headers) - rebuilt:
        assert named(fields, option) == [], option


@settings(max_examples=200, deadline=None)
@given(METHODS, REQUEST_HEADERS, st.booleans())
def test_x_forwarded_for_is_appended_to_not_replaced(
    method: bytes, headers: Headers, trusted: bool
) -> None:
    head = rewrite(method, headers, trusted=trusted)
    assume(isinstance(head, RequestHead))
    assert isinstance(head, RequestHead)
    _, fields = head_lines(head.data)
    before = named(headers, b"x-forwarded-for")
    assert named(fields, b"x-forwarded-for") == [b", ".join([*before, CLIENT])]


@settings(max_examples=300, deadline=None)
@given(METHODS, REQUEST_HEADERS, st.booleans())
def test_forwarded_proto_and_host_are_a_trusted_peers_own_else_ours(
    method: bytes, headers: Headers, trusted: bool
) -> None:
    head = rewrite(method, headers, trusted=trusted)
    assume(isinstance(head, RequestHead))
    assert isinstance(head, RequestHead)
    _, fields = head_lines(head.data)
    sent_proto = named(headers, b"x-forwarded-proto")
    sent_host = named(headers, b"x-forwarded-host")
    ours_proto, ours_host = [b"http"], named(headers, b"host")[:1]
    if trusted:  # kept as sent (several joined as one list), else set as for anyone
        kept_proto = [b", ".join(sent_proto)] if sent_proto else ours_proto
        assert named(fields, b"x-forwarded-proto") == kept_proto
        assert named(fields, b"x-forwarded-host") == (
            [b", ".join(sent_host)] if sent_host else ours_host
        )
    else:
        assert named(fields, b"x-forwarded-proto") == ours_proto
        assert named(fields, b"x-forwarded-host") == ours_host


@settings(max_examples=200, deadline=None)
@given(METHODS, REQUEST_HEADERS, st.booleans(), st.booleans())
def test_rewriting_twice_only_adds_the_hop_to_x_forwarded_for_again(
    method: bytes, headers: Headers, upgrade: bool, trusted: bool
) -> None:
    once = rewrite(method, headers, upgrade, trusted=trusted)
    assume(isinstance(once, RequestHead))
    assert isinstance(once, RequestHead)
    parsed = parse(once.data)
    assert parsed is not None
    twice = rewrite(method, parsed.headers, upgrade, trusted=trusted)
    assert isinstance(twice, RequestHead)
    assert (twice.body, twice.request_id) == (once.body, once.request_id)
    line = b"\r\nX-Forwarded-For: " + _xff(once.data)
    assert twice.data == once.data.replace(line, line + b", " + CLIENT, 1)


def _xff(data: bytes) -> bytes:
    match = re.search(rb"\r\nX-Forwarded-For: ([^\r\n]*)\r\n", data)
    assert match is not None
    return match.group(1)


# Raw heads with hostile bytes where values go: CR, LF, NUL, a colon, spaces.
HOSTILE = st.lists(
    st.tuples(
        st.sampled_from([b"X-A", b"Host", b"Cookie", b"X-Forwarded-For", b"X-Request-Id"]),
        st.lists(
            st.sampled_from([b"v", b"\r", b"\n", b"\r\n", b"\x00", b":", b" ", b"X-B: 1"])
        ).map(b"".join),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(HOSTILE)
def test_cr_or_lf_in_a_value_never_becomes_a_header_of_its_own(
    raw_headers: list[tuple[bytes, bytes]],
) -> None:
    raw = b"GET / HTTP/1.1\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in raw_headers)
    parsed = parse(raw + b"\r\n")
    assume(parsed is not None)  # llhttp refused it: a 400, nothing forwarded
    assert parsed is not None
    head = rewrite(b"GET", parsed.headers)
    if isinstance(head, str):
        return
    _, fields = head_lines(head.data)  # each line a well-formed field: nothing smuggled
    expected = [n.lower() for n, _ in parsed.headers if n.lower() != b"x-forwarded-for"]
    expected = [n for n in expected if n != b"x-request-id"] + [b"x-request-id"]
    added = {b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host"}
    assert [n.lower() for n, _ in fields if n.lower() not in added] == expected
    assert all(b"\r" not in v and b"\n" not in v for _, v in fields)


# -- responses ----------------------------------------------------------------------------------

STATUSES = st.one_of(
    st.sampled_from([200, 201, 204, 301, 304, 404, 500, 503]), st.integers(200, 599)
)


@settings(max_examples=150, deadline=None)
@given(STATUSES, VALUE, RESPONSE_HEADERS, st.booleans(), st.booleans(), st.booleans())
def test_a_rewritten_response_is_a_well_formed_head_with_one_framing(
    status: int, reason: bytes, headers: Headers, no_body: bool, client11: bool, keep: bool
) -> None:
    assume(not (status in (204, 304) and not no_body))  # the exchange says so for these
    head = rewrite_response(status, reason, headers, b"rid-1", no_body, client11, keep)
    if isinstance(head, str):
        assert "Transfer-Encoding" in head  # the only response it refuses
        return
    start, fields = head_lines(head.data)
    assert start == b"HTTP/1.1 %d " % status + reason
    parsed = parse(head.data, response=True)
    assert parsed is not None
    assert parsed.headers == fields
    assert named(fields, b"x-request-id") == [b"rid-1"]
    lengths, encodings = named(fields, b"content-length"), named(fields, b"transfer-encoding")
    assert not (lengths and encodings)
    assert encodings in ([], [b"chunked"])
    assert (encodings == [b"chunked"]) == head.chunked
    assert not head.chunked or client11  # an HTTP/1.0 client never sees chunks
    for name in HOP_BY_HOP - {b"transfer-encoding", b"connection"}:
        assert named(fields, name) == [], name
    assert named(fields, b"connection") in ([], [b"close"], [b"keep-alive"])
    expect_close = not head.keep_alive
    assert (named(fields, b"connection") == [b"close"]) == expect_close


@settings(max_examples=200, deadline=None)
@given(STATUSES, VALUE, RESPONSE_HEADERS, st.booleans(), st.booleans(), st.booleans())
def test_rewriting_a_rewritten_response_changes_nothing(
    status: int, reason: bytes, headers: Headers, no_body: bool, client11: bool, keep: bool
) -> None:
    once = rewrite_response(status, reason, headers, b"rid-1", no_body, client11, keep)
    assume(isinstance(once, ResponseHead))
    assert isinstance(once, ResponseHead)
    _, fields = head_lines(once.data)
    twice = rewrite_response(status, reason, fields, b"rid-1", no_body, client11, keep)
    assert isinstance(twice, ResponseHead)
    # The same bytes; only `upstream_body` may differ: it describes what came in.
    assert (twice.data, twice.chunked, twice.keep_alive) == (
        once.data,
        once.chunked,
        once.keep_alive,
    )
