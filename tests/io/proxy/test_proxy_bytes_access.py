"""The access log through the fakes: the JSON line each request ends with (served,
pipelined, refused, failed, cut short, timed out), written in batches on the sweep and at
shutdown, nothing when off; no socket, virtual time, a virtual wall clock (kit's WALL)."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from changeover.proxy import access
from changeover.proxy.config import ProxyConfig
from changeover.proxy.downstream import Downstream
from changeover.proxy.errors import error_body
from tests.io.proxy.bytes_kit import CLIENT_IP, Connect, Reply, Then, get, ok, rig, run, settle

SWEEP = ProxyConfig().sweep_interval  # 0.25 s: lines are written at the latest this late
START = "2027-01-15T08:00:00"  # kit.WALL, the wall time at virtual time 0


def config(folder: Path, **extra: Any) -> ProxyConfig:
    return ProxyConfig(access_log=str(folder / "access.log"), **extra)


def lines(folder: Path) -> list[dict[str, Any]]:
    path = folder / "access.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def line(**fields: Any) -> dict[str, Any]:
    """A line as the proxy writes it for a request of kit.get() on the test's client."""
    base: dict[str, Any] = {
        "revision": 1,
        "replica": "r1-1",
        "method": "GET",
        "path": "/",
        "status": 200,
        "duration": 0.0,
        "bytes": 2,
        "request_id": "t",
        "client": CLIENT_IP,
        "error": None,
    }
    return base | fields


def without_time(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in entry.items() if k != "time"} for entry in found]


def canned(status: int, why: str) -> int:
    return len(error_body(status, why))


def test_a_served_request_is_one_line_written_on_the_next_sweep(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(config(tmp_path)) as r:
            r.replica(Reply(ok(b"hello"), after=0.125))
            client = r.client()
            client.feed(get(b"/items/7?token=s3cret", b"req-1"))
            await asyncio.sleep(0.2)
            assert client.take().endswith(b"hello")
            assert lines(tmp_path) == []  # buffered: no write on the request path
            await asyncio.sleep(SWEEP)
            (entry,) = lines(tmp_path)
            assert entry == {
                "time": f"{START}.125Z",
                "revision": 1,
                "replica": "r1-1",
                "method": "GET",
                "path": "/items/7",  # no query string: it may carry a secret
                "status": 200,
                "duration": pytest.approx(0.125, abs=1e-5),
                "bytes": 5,
                "request_id": "req-1",
                "client": CLIENT_IP,
                "error": None,
            }
            assert list(entry) == ["time", *line()]  # the contract's order

    run(main)


def test_the_query_string_is_kept_only_when_configured(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(config(tmp_path, access_log_query=True)) as r:
            r.replica(ok())
            await r.exchange(r.client(), get(b"/search?q=a%20b&page=2"))
        assert without_time(lines(tmp_path)) == [line(path="/search?q=a%20b&page=2")]

    run(main)


def test_a_pipelined_pair_is_two_lines_in_order_with_the_proxy_made_request_id(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with rig(config(tmp_path)) as r:
            r.replica(Reply(ok(b"slow"), after=1.0), ok(b"fast!"))
            client = r.client()
            no_id = b"POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
            client.feed(get(b"/1", b"a") + no_id)
            await asyncio.sleep(1.0 + SWEEP)
            first, second = lines(tmp_path)
            made = second["request_id"]  # the client sent none: the proxy's, echoed
            assert client.take().count(b"\r\nX-Request-Id: %s\r\n" % made.encode()) == 1
            at = "2027-01-15T08:00:01.000Z"  # both ended a second after they arrived
            assert first == line(path="/1", request_id="a", duration=1.0, bytes=4) | {"time": at}
            assert second == line(method="POST", path="/2", duration=1.0, bytes=5) | {
                "request_id": made,
                "time": at,
            }

    run(main)


def test_a_refused_request_names_no_replica_and_says_why(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(config(tmp_path)) as r:
            replica = r.replica(ok())
            client = r.client()
            reply = await r.exchange(client, b"GET /x?k=v HTTP/1.1\r\nAccept: */*\r\n\r\n")
            assert reply.startswith(b"HTTP/1.1 400 ")
            assert replica.attempts == 0
        why = "missing Host header"
        assert without_time(lines(tmp_path)) == [
            line(
                revision=None,
                replica=None,
                path="/x",
                status=400,
                bytes=canned(400, why),
                request_id=None,  # no head was rebuilt, so none was made or sent
                error=why,
            )
        ]

    run(main)


def test_a_malformed_head_and_a_late_one_have_no_method_or_path(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(config(tmp_path)) as r:
            r.replica(ok())
            await r.exchange(r.client(40001), b"GET /x HTTP/1.1 junk\r\nHost: h\r\n\r\n")
            late = r.client(40002)
            late.feed(b"GET /slow HTTP/1.1\r\nHost: h\r\n")
            await asyncio.sleep(ProxyConfig().header_timeout + SWEEP)
            assert late.take().startswith(b"HTTP/1.1 408 ")
        malformed, timed_out = without_time(lines(tmp_path))
        assert malformed["status"] == 400
        assert malformed["error"].startswith("malformed request (")
        refused = {"revision": None, "replica": None, "method": None, "path": None}
        assert malformed | refused == malformed
        why = "request head not received in time"
        assert timed_out == line(
            **refused, status=408, bytes=canned(408, why), request_id=None, error=why
        )

    run(main)


def test_a_request_over_the_header_count_keeps_its_method_and_path(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(config(tmp_path, max_headers=2)) as r:
            r.replica(ok())
            many = b"DELETE /a?x=1 HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n"
            assert (await r.exchange(r.client(), many)).startswith(b"HTTP/1.1 431 ")
        why = "more than 2 request header fields"
        assert without_time(lines(tmp_path)) == [
            line(
                revision=None,
                replica=None,
                method="DELETE",
                path="/a",
                status=431,
                bytes=canned(431, why),
                request_id=None,
                error=why,
            )
        ]

    run(main)


def test_a_502_names_the_revision_tried_but_no_replica(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(config(tmp_path)) as r:
            r.replica(connect=Connect.REFUSE)
            reply = await r.exchange(r.client(), get(b"/", b"t", b"HEAD"))
            assert reply.startswith(b"HTTP/1.1 502 ")
        (entry,) = without_time(lines(tmp_path))
        why = "could not connect to upstream r1-1: [Errno 111] Connection refused"
        assert entry == line(method="HEAD", replica=None, status=502, bytes=0, error=why)

    run(main)


def test_a_504_names_the_revision_but_no_replica(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(config(tmp_path)) as r:
            r.replica(Reply(ok(), after=120))
            client = r.client()
            client.feed(get())
            await asyncio.sleep(ProxyConfig().response_timeout + SWEEP)
            assert client.take().startswith(b"HTTP/1.1 504 ")
        (entry,) = without_time(lines(tmp_path))
        why = "upstream r1-1 did not start responding within 60s"
        assert entry == line(
            replica=None, status=504, bytes=canned(504, why), error=why, duration=entry["duration"]
        )
        assert entry["duration"] == pytest.approx(60.0, abs=SWEEP)

    run(main)


def test_a_503_names_no_revision(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(config(tmp_path)) as r:
            r.replica(ok(), routable=False)
            assert (await r.exchange(r.client(), get(b"/a"))).startswith(b"HTTP/1.1 503 ")
            preview = r.client(40001, preview=True)
            assert (await r.exchange(preview, get(b"/p", b"u"))).startswith(b"HTTP/1.1 503 ")
        public = "no replica is available to serve this request"
        assert without_time(lines(tmp_path)) == [
            line(
                revision=None,
                replica=None,
                path="/a",
                status=503,
                bytes=canned(503, public),
                error=public,
            ),
            line(
                revision=None,
                replica=None,
                path="/p",
                status=503,
                bytes=canned(503, "no preview revision"),
                request_id="u",
                error="no preview revision",
            ),
        ]

    run(main)


def test_a_response_cut_short_keeps_its_status_bytes_so_far_and_why(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(config(tmp_path)) as r:
            head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"
            r.replica(Reply(head + b"abcd", then=Then.CLOSE))
            client = r.client()
            client.feed(get())
            await settle()
            assert client.aborted
        why = "upstream r1-1 closed the connection before completing the response"
        assert without_time(lines(tmp_path)) == [line(bytes=4, error=why)]

    run(main)


def test_a_client_that_leaves_before_the_answer_gets_a_line_without_status(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        async with rig(config(tmp_path)) as r:
            r.replica(Reply(ok(), after=5))
            client = r.client()
            client.feed(get(b"/wait"))
            await asyncio.sleep(1)
            client.reset()
            await settle()
        why = "the client closed the connection before the response ended"
        assert without_time(lines(tmp_path)) == [
            line(path="/wait", status=None, bytes=0, duration=1.0, error=why)
        ]

    run(main)


def test_bytes_count_the_body_as_relayed_not_its_framing(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(config(tmp_path)) as r:
            chunked = (
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"3\r\nabc\r\n5;ext=1\r\ndefgh\r\n0\r\n\r\n"
            )
            empty = b"HTTP/1.1 204 No Content\r\n\r\n"
            r.replica(chunked, empty, ok(b"hidden"))
            client = r.client()
            await r.exchange(client, get(b"/c"))
            await r.exchange(client, get(b"/e"))
            await r.exchange(client, get(b"/h", b"t", b"HEAD"))
        assert [e["bytes"] for e in lines(tmp_path)] == [8, 0, 0]
        assert [e["status"] for e in lines(tmp_path)] == [200, 204, 200]

    run(main)


def test_nothing_is_logged_and_no_file_made_when_off(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig() as r:
            r.replica(ok())
            client = r.client()
            await r.exchange(client, get())
            await r.exchange(r.client(40001), b"GET / HTTP/1.1\r\n\r\n")
            await asyncio.sleep(SWEEP * 2)
            protocol = client.protocol
            assert type(protocol) is Downstream  # plain: the request path checks nothing
            assert protocol.access is None

    run(main)
    assert list(tmp_path.iterdir()) == []


def test_waiting_lines_are_written_at_shutdown(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(config(tmp_path)) as r:
            r.replica(ok(), ok())
            client = r.client()
            await r.exchange(client, get(b"/1", b"a"))
            await r.exchange(client, get(b"/2", b"b"))
            assert lines(tmp_path) == []  # no sweep yet: less than SWEEP has passed
        assert [e["request_id"] for e in lines(tmp_path)] == ["a", "b"]

    run(main)


def test_a_full_buffer_is_written_before_the_sweep_once_its_last_response_is_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(access, "MAX_RECORDS", 2)
    responses_out: list[int] = []  # complete responses the client had, at each write
    write = access.AccessLog.flush

    async def main() -> None:
        async with rig(config(tmp_path)) as r:
            r.replica(ok(), ok(), ok())
            client = r.client()

            def flush(log: access.AccessLog) -> None:
                responses_out.append(bytes(client.written).count(b"HTTP/1.1 200 OK"))
                write(log)

            monkeypatch.setattr(access.AccessLog, "flush", flush)
            for n in range(3):
                await r.exchange(client, get(b"/", b"%d" % n))
            assert [e["request_id"] for e in lines(tmp_path)] == ["0", "1"]
        assert [e["request_id"] for e in lines(tmp_path)] == ["0", "1", "2"]

    run(main)
    assert responses_out[0] == 2  # not inside the second response: after it was sent


def test_a_failing_write_drops_its_batch_warns_once_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "logs"  # missing at first: every write fails

    async def main() -> None:
        async with rig(config(folder)) as r:
            r.replica(ok(), ok(), ok())
            client = r.client()
            for request_id in (b"lost-1", b"lost-2"):
                await r.exchange(client, get(b"/", request_id))
                await asyncio.sleep(SWEEP)
            folder.mkdir()
            await r.exchange(client, get(b"/", b"kept"))

    with caplog.at_level(logging.WARNING, logger="changeover.proxy"):
        run(main)
    assert [e["request_id"] for e in lines(folder)] == ["kept"]
    warnings = [rec.getMessage() for rec in caplog.records]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith(f"access log: cannot write {folder / 'access.log'}: ")
    assert warnings[1] == f"access log: writing {folder / 'access.log'} again (2 lines dropped)"


def test_a_log_renamed_away_is_reopened_at_its_path(tmp_path: Path) -> None:
    async def main() -> None:
        async with rig(config(tmp_path)) as r:
            r.replica(ok(), ok())
            client = r.client()
            await r.exchange(client, get(b"/", b"old"))
            await asyncio.sleep(SWEEP)
            (tmp_path / "access.log").rename(tmp_path / "access.log.1")
            await r.exchange(client, get(b"/", b"new"))
        assert [e["request_id"] for e in lines(tmp_path)] == ["new"]
        old = (tmp_path / "access.log.1").read_text()
        assert [json.loads(text)["request_id"] for text in old.splitlines()] == ["old"]

    run(main)
