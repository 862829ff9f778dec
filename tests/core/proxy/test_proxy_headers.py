"""Pure tests of request/response head rewriting."""

from __future__ import annotations

import pytest

from changeover.proxy.headers import (
    CHUNKED,
    CLOSE,
    LENGTH,
    NONE,
    RequestHead,
    ResponseHead,
    interim_head,
    rewrite_request,
    rewrite_response,
)


def req(
    headers: list[tuple[bytes, bytes]],
    *,
    http11: bool = True,
    upgrade: bool = False,
    method: bytes = b"GET",
    trusted: bool = False,
) -> RequestHead | str:
    return rewrite_request(
        method,
        b"/p?q=1",
        http11,
        headers,
        upgrade,
        b"10.0.0.9",
        b"https",
        lambda: b"gen-1",
        trusted,
    )


def lines(data: bytes) -> list[bytes]:
    assert data.endswith(b"\r\n\r\n")
    return data[:-4].split(b"\r\n")


def test_request_is_rebuilt_with_forwarding_headers() -> None:
    head = req([(b"Host", b"shop.test"), (b"Accept", b"*/*")])
    assert isinstance(head, RequestHead)
    assert lines(head.data) == [
        b"GET /p?q=1 HTTP/1.1",
        b"Host: shop.test",
        b"Accept: */*",
        b"X-Forwarded-For: 10.0.0.9",
        b"X-Forwarded-Proto: https",
        b"X-Forwarded-Host: shop.test",
        b"X-Request-Id: gen-1",
    ]
    assert head.body == NONE
    assert head.request_id == b"gen-1"


def test_existing_forwarded_for_is_appended_and_request_id_kept() -> None:
    head = req(
        [
            (b"Host", b"h"),
            (b"X-Forwarded-For", b"1.1.1.1"),
            (b"x-forwarded-for", b"2.2.2.2"),
            (b"X-Forwarded-Proto", b"gopher"),
            (b"X-Forwarded-Host", b"evil"),
            (b"X-Request-Id", b"client-42"),
        ]
    )
    assert isinstance(head, RequestHead)
    out = lines(head.data)
    assert b"X-Forwarded-For: 1.1.1.1, 2.2.2.2, 10.0.0.9" in out
    assert b"X-Forwarded-Proto: https" in out
    assert b"X-Forwarded-Proto: gopher" not in out
    assert b"X-Forwarded-Host: h" in out
    assert b"X-Forwarded-Host: evil" not in out
    assert b"X-Request-Id: client-42" in out
    assert head.request_id == b"client-42"


LB_SENT = [
    (b"Host", b"shop.internal:8080"),
    (b"X-Forwarded-For", b"203.0.113.7"),
    (b"x-forwarded-proto", b"https"),
    (b"X-Forwarded-Host", b"shop.example"),
]


def forwarding(head: RequestHead | str) -> list[bytes]:
    assert isinstance(head, RequestHead)
    return [line for line in lines(head.data) if line.lower().startswith(b"x-forwarded-")]


def test_a_trusted_peers_forwarded_proto_and_host_are_kept() -> None:
    assert forwarding(req(LB_SENT, trusted=True)) == [
        b"X-Forwarded-For: 203.0.113.7, 10.0.0.9",
        b"X-Forwarded-Proto: https",
        b"X-Forwarded-Host: shop.example",
    ]


def test_anyone_elses_are_overwritten() -> None:
    sent = [*LB_SENT[:2], (b"X-Forwarded-Proto", b"gopher"), (b"X-Forwarded-Host", b"evil")]
    assert forwarding(req(sent)) == [
        b"X-Forwarded-For: 203.0.113.7, 10.0.0.9",
        b"X-Forwarded-Proto: https",  # the listener's scheme
        b"X-Forwarded-Host: shop.internal:8080",  # the Host
    ]


def test_a_trusted_peer_that_sends_none_gets_them_set_as_anyone() -> None:
    sent = [(b"Host", b"shop.internal"), (b"Keep-Alive", b"300"), (b"TE", b"trailers")]
    assert forwarding(req(sent, trusted=True)) == [
        b"X-Forwarded-For: 10.0.0.9",
        b"X-Forwarded-Proto: https",
        b"X-Forwarded-Host: shop.internal",
    ]
    # no Host: no X-Forwarded-Host to set, but a trusted one is kept
    http10 = [(b"X-Forwarded-Host", b"shop.example")]
    assert forwarding(req(http10, http11=False, trusted=True))[-1] == (
        b"X-Forwarded-Host: shop.example"
    )
    assert not [x for x in forwarding(req(http10, http11=False)) if b"Host" in x]


def test_a_trusted_peers_repeated_fields_are_kept_as_one_list() -> None:
    sent = [*LB_SENT, (b"X-Forwarded-Proto", b"http"), (b"x-forwarded-host", b"b.example")]
    assert forwarding(req(sent, trusted=True))[1:] == [
        b"X-Forwarded-Proto: https, http",
        b"X-Forwarded-Host: shop.example, b.example",
    ]


def test_hop_by_hop_and_connection_named_headers_are_dropped() -> None:
    head = req(
        [
            (b"Host", b"h"),
            (b"Connection", b"keep-alive, X-Secret"),
            (b"Keep-Alive", b"300"),
            (b"Proxy-Connection", b"x"),
            (b"TE", b"trailers"),
            (b"Trailer", b"X"),
            (b"Upgrade", b"h2c"),
            (b"X-Secret", b"s"),
            (b"X-Kept", b"k"),
        ]
    )
    assert isinstance(head, RequestHead)
    names = {line.split(b":")[0].lower() for line in lines(head.data)[1:]}
    assert names.isdisjoint(
        {
            b"connection",
            b"keep-alive",
            b"proxy-connection",
            b"te",
            b"trailer",
            b"upgrade",
            b"x-secret",
        }
    )
    assert b"x-kept" in names


def test_upgrade_request_keeps_upgrade_headers() -> None:
    head = req(
        [(b"Host", b"h"), (b"Connection", b"Upgrade"), (b"Upgrade", b"websocket")], upgrade=True
    )
    assert isinstance(head, RequestHead)
    assert b"Connection: upgrade" in lines(head.data)
    assert b"Upgrade: websocket" in lines(head.data)


def test_body_framing_is_normalised() -> None:
    chunked = req([(b"Host", b"h"), (b"Transfer-Encoding", b"Chunked")], method=b"POST")
    length = req([(b"Host", b"h"), (b"Content-Length", b"12")], method=b"POST")
    empty = req([(b"Host", b"h"), (b"Content-Length", b"0")], method=b"POST")
    assert isinstance(chunked, RequestHead)
    assert chunked.body == CHUNKED
    assert b"Transfer-Encoding: chunked" in lines(chunked.data)
    assert isinstance(length, RequestHead)
    assert length.body == LENGTH
    assert b"Content-Length: 12" in lines(length.data)
    assert isinstance(empty, RequestHead)
    assert empty.body == NONE


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ([(b"Content-Length", b"3"), (b"Transfer-Encoding", b"chunked")], "both Content-Length"),
        ([(b"Content-Length", b"3"), (b"Content-Length", b"3")], "multiple Content-Length"),
        ([(b"Content-Length", b"3x")], "invalid Content-Length"),
        ([(b"Content-Length", b"-1")], "invalid Content-Length"),
        ([(b"Transfer-Encoding", b"gzip, chunked")], "unsupported Transfer-Encoding"),
        ([(b"Transfer-Encoding", b"chunked"), (b"Transfer-Encoding", b"chunked")], "multiple"),
        ([(b"Host", b"again")], "multiple Host"),
    ],
)
def test_ambiguous_requests_are_refused(headers: list[tuple[bytes, bytes]], reason: str) -> None:
    result = req([(b"Host", b"h"), *headers], method=b"POST")
    assert isinstance(result, str)
    assert reason in result


def test_host_is_required_on_http11_only() -> None:
    assert req([]) == "missing Host header"
    head = req([], http11=False)
    assert isinstance(head, RequestHead)
    assert b"Host: " in lines(head.data)


def test_connect_and_upgrade_with_body_are_refused() -> None:
    assert "CONNECT" in str(req([(b"Host", b"h")], upgrade=True, method=b"CONNECT"))
    with_body = req([(b"Host", b"h"), (b"Upgrade", b"x"), (b"Content-Length", b"2")], upgrade=True)
    assert "body" in str(with_body)


def resp(
    headers: list[tuple[bytes, bytes]],
    *,
    status: int = 200,
    no_body: bool = False,
    client11: bool = True,
    keep_alive: bool = True,
) -> ResponseHead:
    head = rewrite_response(status, b"OK", headers, b"rid-1", no_body, client11, keep_alive)
    assert isinstance(head, ResponseHead)
    return head


def test_response_with_length_passes_through_and_gets_request_id() -> None:
    head = resp([(b"Content-Length", b"5"), (b"Connection", b"keep-alive"), (b"Server", b"s")])
    assert lines(head.data) == [
        b"HTTP/1.1 200 OK",
        b"Server: s",
        b"Content-Length: 5",
        b"X-Request-Id: rid-1",
    ]
    assert (head.upstream_body, head.chunked, head.keep_alive) == (LENGTH, False, True)


def test_close_delimited_response_is_chunked_for_http11_and_closed_for_http10() -> None:
    to11 = resp([(b"Connection", b"close")])
    assert (to11.upstream_body, to11.chunked, to11.keep_alive) == (CLOSE, True, True)
    assert b"Transfer-Encoding: chunked" in lines(to11.data)
    to10 = resp([], client11=False)
    assert (to10.chunked, to10.keep_alive) == (False, False)
    assert b"Connection: close" in lines(to10.data)


def test_chunked_response_and_http10_keep_alive() -> None:
    head = resp([(b"Transfer-Encoding", b"chunked")])
    assert (head.upstream_body, head.chunked) == (CHUNKED, True)
    ten = resp([(b"Content-Length", b"1")], client11=False)
    assert b"Connection: keep-alive" in lines(ten.data)
    closing = resp([(b"Content-Length", b"1")], keep_alive=False)
    assert b"Connection: close" in lines(closing.data)


def test_bodyless_response_keeps_length_and_drops_transfer_encoding() -> None:
    head = resp([(b"Content-Length", b"10"), (b"Transfer-Encoding", b"chunked")], no_body=True)
    assert head.upstream_body == NONE
    assert b"Content-Length: 10" in lines(head.data)
    assert all(b"Transfer-Encoding" not in line for line in lines(head.data))


def test_switching_protocols_keeps_upgrade() -> None:
    head = resp([(b"Upgrade", b"websocket"), (b"Connection", b"upgrade")], status=101, no_body=True)
    assert b"Connection: upgrade" in lines(head.data)
    assert b"Upgrade: websocket" in lines(head.data)


def test_unsupported_response_transfer_encoding_is_an_error() -> None:
    out = rewrite_response(200, b"OK", [(b"Transfer-Encoding", b"gzip")], b"r", False, True, True)
    assert isinstance(out, str)


def test_interim_head_drops_hop_by_hop() -> None:
    data = interim_head(103, b"Early Hints", [(b"Link", b"</a>"), (b"Connection", b"x")])
    assert data == b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
