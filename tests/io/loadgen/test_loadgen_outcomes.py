"""Each outcome kind, produced deliberately by a scripted server and counted exactly."""

from __future__ import annotations

import socket
from collections.abc import Callable

import pytest

from changeover.loadgen import Report, Template, run

from ._checks import Arun, assert_exact, hard_reset
from ._servers import Request, Server, ServerConn, response

Closer = Callable[[ServerConn], None]
CLOSERS: dict[str, Closer] = {"fin": ServerConn.close, "rst": hard_reset}


async def _against(server: Server, **options: object) -> tuple[Report, Server]:
    async with server:
        report = await run(server.url, **options)  # type: ignore[arg-type]
    assert_exact(report)
    return report, server


def test_refused_is_counted_per_request(arun: Arun) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound but not listening: every connect is refused
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        report = arun(run(url, rate=500, connections=2, requests=6, timeout=2))
    assert_exact(report)
    assert (report.sent, report.refused, report.failed) == (6, 6, 6)
    assert report.connections_opened == 0
    assert {(f.kind, f.reuse, f.path) for f in report.failures} == {("refused", 0, "/")}


@pytest.mark.parametrize("closer", sorted(CLOSERS))
def test_close_on_accept_is_reset_fresh(arun: Arun, closer: str) -> None:
    server = Server(on_connect=CLOSERS[closer])
    report, srv = arun(_against(server, rate=200, connections=1, requests=3, timeout=2))
    assert (report.reset_fresh, report.failed, report.connections_opened) == (3, 3, 3)
    assert srv.accepted == 3
    assert [f.reuse for f in report.failures] == [0, 0, 0]


@pytest.mark.parametrize("closer", sorted(CLOSERS))
def test_close_on_second_request_is_reset_reused(arun: Arun, closer: str) -> None:
    def handler(conn: ServerConn, req: Request) -> None:
        if req.index == 0:
            conn.write(response())  # keep-alive response
        else:
            CLOSERS[closer](conn)  # the request on the reused connection gets nothing

    report, srv = arun(_against(Server(handler), rate=200, connections=1, requests=4))
    assert (report.ok, report.reset_reused, report.failed) == (2, 2, 2)
    assert [f.reuse for f in report.failures] == [1, 1]
    assert srv.accepted == report.connections_opened == 2
    assert len(srv.received) == 4  # each failed request reached the server: no resend


@pytest.mark.parametrize("closer", sorted(CLOSERS))
def test_half_a_response_is_reset_mid_response(arun: Arun, closer: str) -> None:
    def handler(conn: ServerConn, req: Request) -> None:
        conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part of it")
        CLOSERS[closer](conn)

    report, _ = arun(_against(Server(handler), rate=200, connections=1, requests=3))
    assert (report.reset_mid_response, report.failed, report.completed) == (3, 3, 0)


def test_no_answer_is_timeout_and_connection_is_replaced(arun: Arun) -> None:
    report, srv = arun(
        _against(Server(lambda c, r: None), rate=100, connections=1, requests=2, timeout=0.2)
    )
    assert (report.timeout, report.failed, report.connections_opened) == (2, 2, 2)
    assert srv.accepted == 2
    assert len(srv.received) == 2


def test_partial_response_then_silence_is_timeout(arun: Arun) -> None:
    def handler(conn: ServerConn, req: Request) -> None:
        conn.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")

    report, _ = arun(_against(Server(handler), rate=100, connections=1, requests=1, timeout=0.2))
    assert (report.timeout, report.reset_mid_response) == (1, 0)


def test_non_2xx_counted_per_code(arun: Arun) -> None:
    def handler(conn: ServerConn, req: Request) -> None:
        conn.write(response(502 if req.path == "/bad" else 200))

    mix = [Template(path="/", weight=3), Template(path="/bad", weight=1)]
    report, srv = arun(
        _against(Server(handler), rate=1000, connections=2, requests=40, templates=mix)
    )
    bad = sum(r.path == "/bad" for r in srv.received)
    assert 0 < bad < 40
    assert report.status == report.failed == bad
    assert report.status_codes == {"200": 40 - bad, "502": bad}
    assert {(f.kind, f.status, f.path) for f in report.failures} == {("status", 502, "/bad")}


def test_body_check_counts_bad_body(arun: Arun) -> None:
    def handler(conn: ServerConn, req: Request) -> None:
        conn.write(response(body=b"hello world" if req.path == "/good" else b"goodbye"))

    mix = [Template(path="/good", expect=b"hello"), Template(path="/wrong", expect=b"hello")]
    report, srv = arun(
        _against(Server(handler), rate=1000, connections=2, requests=30, templates=mix)
    )
    wrong = sum(r.path == "/wrong" for r in srv.received)
    assert 0 < wrong < 30
    assert (report.bad_body, report.ok, report.completed) == (wrong, 30 - wrong, 30)
    assert report.status_codes == {"200": 30}


def test_garbage_response_is_protocol_error(arun: Arun) -> None:
    handler = lambda conn, req: conn.write(b"SMTP ready\r\n\r\n")  # noqa: E731
    report, _ = arun(_against(Server(handler), rate=200, connections=1, requests=2))
    assert (report.protocol_error, report.failed) == (2, 2)


def test_interim_1xx_response_is_skipped(arun: Arun) -> None:
    def handler(conn: ServerConn, req: Request) -> None:
        conn.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n" + response())

    report, srv = arun(_against(Server(handler), rate=500, connections=1, requests=3))
    assert (report.ok, report.status_codes, srv.accepted) == (3, {"200": 3}, 1)
