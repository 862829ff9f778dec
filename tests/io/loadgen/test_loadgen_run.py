"""Behaviour of a whole run: keep-alive, rate, framing, bodies, headers, stop()."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable

import pytest

from changeover.loadgen import LoadGenerator, Report, Template, run

from ._checks import Arun, assert_exact
from ._servers import Request, Server, ServerConn, response


async def _against(server: Server, **options: object) -> tuple[Report, Server]:
    async with server:
        report = await run(server.url, **options)  # type: ignore[arg-type]
    assert_exact(report)
    return report, server


def test_keep_alive_serves_many_requests_per_connection(arun: Arun) -> None:
    report, srv = arun(_against(Server(), rate=2000, connections=4, requests=200))
    assert (report.sent, report.ok, report.failed) == (200, 200, 0)
    assert report.connections_opened == srv.accepted == 4
    assert len(srv.received) == 200
    assert max(r.index for r in srv.received) >= 40  # ~50 requests on each connection
    assert report.latency_p50 is not None
    assert report.latency_max is not None
    assert 0 < report.latency_p50 <= report.latency_p99 <= report.latency_max


def test_rate_is_honoured_over_the_duration(arun: Arun) -> None:
    async def scenario() -> tuple[float, Report, Server]:
        before = asyncio.get_running_loop().time()  # the schedule starts no earlier
        return (before, *await _against(Server(), rate=300, connections=5, duration=1.0))

    before, report, srv = arun(scenario())
    assert 0 < report.sent <= 300  # a slow machine sends fewer, never more
    assert report.ok == report.sent == len(srv.received)
    assert report.elapsed >= 0.98
    # Request k is due at t0 + k/300 and never sent before: a burst would break this at any load.
    arrivals = sorted(r.at - before for r in srv.received)
    early = [(k, at) for k, at in enumerate(arrivals) if at < k / 300 - 0.005]
    assert early == []


def test_overload_shows_as_late_requests(arun: Arun) -> None:
    def slow(conn: ServerConn, req: Request) -> None:
        conn.later(0.03, conn.write, response())

    report, _ = arun(_against(Server(slow), rate=200, connections=1, requests=8))
    assert (report.sent, report.ok) == (8, 8)
    assert report.late >= 5  # one connection can do ~30/s against a 200/s schedule


def test_request_limit_smaller_than_connection_count(arun: Arun) -> None:
    report, srv = arun(_against(Server(), rate=100, connections=5, requests=3))
    assert report.sent == report.ok == len(srv.received) == 3


@pytest.mark.parametrize(
    "reply",
    [
        pytest.param(response(headers=[("Connection", "close")]), id="connection-close"),
        pytest.param(response(version="1.0"), id="http10"),
        pytest.param(b"HTTP/1.0 200 OK\r\n\r\nbody until eof", id="http10-until-eof"),
    ],
)
def test_non_keep_alive_responses_reconnect_and_are_ok(arun: Arun, reply: bytes) -> None:
    def handler(conn: ServerConn, req: Request) -> None:
        conn.write(reply)
        conn.close()

    tmpl = Template(expect=b"o")
    report, srv = arun(
        _against(Server(handler), rate=500, connections=2, requests=10, templates=[tmpl])
    )
    assert (report.ok, report.failed) == (10, 0)
    assert report.connections_opened == srv.accepted == 10


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_framings_are_parsed(arun: Arun, chunked: bool) -> None:
    body = b"0123456789" * 300

    def handler(conn: ServerConn, req: Request) -> None:
        conn.write(response(body=body, chunked=chunked))

    tmpl = Template(expect=body[1000:2000])
    report, srv = arun(
        _against(Server(handler), rate=500, connections=2, requests=10, templates=[tmpl])
    )
    assert (report.ok, report.failed) == (10, 0)
    assert srv.accepted == 2  # framing understood, so the connections were kept


def test_post_bodies_arrive_intact(arun: Arun) -> None:
    payload = bytes(range(256)) * 16

    def echo(conn: ServerConn, req: Request) -> None:
        conn.write(response(body=req.body if req.method == "POST" else b"plain"))

    mix = [Template(), Template("POST", "/echo", payload, expect=payload, weight=2)]
    report, srv = arun(_against(Server(echo), rate=1000, connections=3, requests=30, templates=mix))
    posts = [r for r in srv.received if r.method == "POST"]
    assert 0 < len(posts) < 30
    assert all(r.body == payload and r.path == "/echo" for r in posts)
    assert all(r.body == b"" for r in srv.received if r.method == "GET")
    assert (report.ok, report.failed) == (30, 0)


def test_count_header_tracks_traffic_shift(arun: Arun) -> None:
    seen: list[int] = []

    def versioned(conn: ServerConn, req: Request) -> None:
        seen.append(1)
        headers = [] if len(seen) > 20 else [("X-Version", "v1" if len(seen) <= 10 else "v2")]
        conn.write(response(headers=headers))

    options = {"rate": 1000, "connections": 2, "requests": 24, "count_header": "x-version"}
    report, _ = arun(_against(Server(versioned), **options))
    assert report.header_counts == {"v1": 10, "v2": 10, "(none)": 4}
    assert report.count_header == "x-version"


def test_stop_lets_the_in_flight_request_finish_and_counts_it(arun: Arun) -> None:
    async def scenario() -> tuple[Report, Report]:
        def slow(conn: ServerConn, req: Request) -> None:
            conn.later(0.3, conn.write, response(body=b"late but fine"))

        async with Server(slow) as srv:
            gen = LoadGenerator(srv.url, rate=20, connections=1)
            await gen.start()
            await _until(lambda: len(srv.received) == 1)
            during = gen.snapshot()
            final = await gen.stop()
            assert await gen.stop() == final  # idempotent
        return during, final

    during, final = arun(scenario())
    assert (during.sent, during.in_flight, during.ok) == (1, 1, 0)
    assert (final.sent, final.ok, final.in_flight) == (1, 1, 0)
    assert final.latency_max is not None
    assert final.latency_max >= 0.25
    assert_exact(final)


def test_stop_wakes_a_worker_waiting_for_its_next_slot(arun: Arun) -> None:
    async def scenario() -> Report:
        async with Server() as srv:
            gen = LoadGenerator(srv.url, rate=0.001, connections=1)  # next slot in 1000 s
            await gen.start()
            await _until(lambda: gen.snapshot().ok == 1)
            return await gen.stop()  # the fixture's guard fails the test if stop() waits

    report = arun(scenario())
    assert (report.sent, report.ok) == (1, 1)


def test_failure_records_are_bounded(arun: Arun) -> None:
    async def scenario() -> Report:
        async with Server(on_connect=ServerConn.close) as srv:
            gen = LoadGenerator(srv.url, rate=500, connections=1, requests=5, max_failure_records=2)
            await gen.start()
            return await gen.wait()

    report = arun(scenario())
    assert_exact(report)
    assert (report.failed, len(report.failures), report.failures_dropped) == (5, 2, 3)
    assert report.failures[0].t <= report.failures[1].t


def test_report_round_trips_through_json(arun: Arun) -> None:
    def mixed(conn: ServerConn, req: Request) -> None:
        conn.write(response(503 if req.index % 2 else 200, headers=[("X-Version", "v1")]))

    report, _ = arun(
        _against(Server(mixed), rate=500, connections=1, requests=6, count_header="X-Version")
    )
    data = json.loads(json.dumps(report.to_dict()))
    assert data["sent"] == 6
    # Every 503 is followed by a fresh connection, whose first answer is a 200 again.
    assert data["status_codes"] == {"200": 3, "503": 3}
    assert data["connections_opened"] == 3
    assert data["failures"][0] == {
        "t": data["failures"][0]["t"],
        "kind": "status",
        "status": 503,
        "path": "/",
        "reuse": 1,
    }
    assert data["header_counts"] == {"v1": 6}
    summary = report.summary()
    assert "ok 3, failed 3" in summary
    assert "503 x3" in summary
    assert "X-Version: v1 6" in summary


def test_invalid_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="rate"):
        LoadGenerator("http://127.0.0.1:1", rate=0)
    with pytest.raises(ValueError, match="connections"):
        LoadGenerator("http://127.0.0.1:1", rate=1, connections=0)
    with pytest.raises(ValueError, match="only http:// and https://"):
        LoadGenerator("ftp://127.0.0.1:1", rate=1)
    with pytest.raises(ValueError, match="an ssl context needs an https:// URL"):
        LoadGenerator("http://127.0.0.1:1", rate=1, ssl_context=ssl.create_default_context())
    with pytest.raises(ValueError, match="duration or a request count"):
        asyncio.run(run("http://127.0.0.1:1", rate=1))


async def _until(condition: Callable[[], bool]) -> None:
    """Poll until `condition` holds; TimeoutError after 5 s."""
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.005)
