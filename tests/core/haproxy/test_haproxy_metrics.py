"""The haproxy engine's metrics without HAProxy: log lines and stats rows in, a snapshot
that analysis windows read as they read the builtin proxy's (pure: no loop is run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from changeover.analysis.window import Window
from changeover.haproxy import logline, runtime
from changeover.haproxy.config import BACKEND, Settings
from changeover.haproxy.engine import Counts, HaproxyEngine
from changeover.haproxy.process import Layout

DATA = Path(__file__).resolve().parents[2] / "data" / "haproxy"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"r3-1 200 12 --\n", logline.Logged("r3-1", 200, 0.0125, False)),
        (b"r3-1 200 0 --", logline.Logged("r3-1", 200, 0.0005, False)),
        (b"<NOSRV> 503 0 SC\n", logline.Logged(None, 503, 0.0005, True)),
        (b"r3-1 504 60001 sH\n", logline.Logged("r3-1", 504, 60.0015, True)),
        (b"r3-1 -1 -1 CD\n", logline.Logged("r3-1", -1, 0.0, True)),
    ],
)
def test_log_lines_are_read(line: bytes, expected: logline.Logged) -> None:
    assert logline.parse(line) == expected


@pytest.mark.parametrize(
    "line", [b"", b"r3-1 200 12", b"r3-1 OK 12 --", b"r3-1 200 12 ---", b"r3-1 2000 1 --"]
)
def test_a_line_of_another_shape_is_not_guessed_at(line: bytes) -> None:
    assert logline.parse(line) is None


def engine(tmp: Path = Path("/nonexistent")) -> HaproxyEngine:
    layout = Layout(
        config=tmp / "haproxy.cfg",
        master_socket=str(tmp / "master.sock"),
        stats_socket=str(tmp / "stats.sock"),
        log=tmp / "haproxy.log",
        pid_file=tmp / "haproxy.pid",
        workdir=tmp,
    )
    settings = Settings(listen_fd=3, stats_socket=layout.stats_socket)
    return HaproxyEngine("/usr/sbin/haproxy", layout, settings, log_socket=str(tmp / "log"))


def rows() -> list[runtime.StatRow]:
    return runtime.stat_rows((DATA / "show_stat_replicas.csv").read_text())


def test_counts_come_from_the_stats_and_latencies_from_the_log() -> None:
    eng = engine()
    eng.add_endpoint("r3-1", 3, "127.0.0.1", 9111)
    eng.add_endpoint("r4-1", 4, "127.0.0.1", 9112)
    for line in [b"r3-1 200 3 --"] * 36 + [b"r4-1 200 40 --"] * 3 + [b"r4-1 502 1 SH"]:
        eng.record(line)
    eng.take(rows(), present={(BACKEND, "r3-1"), (BACKEND, "r4-1")})
    snap = eng.metrics()
    three, four = snap["revisions"]["3"], snap["revisions"]["4"]
    # show stat's hrsp_*, and HAProxy's own 502 from the log (no server's hrsp_* counts it)
    assert (three["requests"], four["requests"]) == (36, 5)
    assert three["status"]["2xx"] == 36
    assert (four["status"]["2xx"], four["status"]["5xx"]) == (4, 1)
    assert three["latency"]["count"] == 36
    assert 0.003 <= three["latency"]["p50"] <= 0.004
    assert four["latency"]["p95"] > 0.03
    assert four["proxy_errors"]["502"] == 1  # HAProxy's own answer, from the log
    assert snap["endpoints"]["r3-1"]["revision"] == 3
    window = Window.between(4, None, snap, 1.0)
    assert (window.requests, window.errors) == (5, 1)  # as analysis reads the builtin's
    assert window.latency(0.5) == pytest.approx(0.0406, abs=0.002)


def test_a_deleted_servers_counters_are_kept_so_no_counter_goes_down() -> None:
    eng = engine()
    eng.add_endpoint("r3-1", 3, "127.0.0.1", 9111)
    eng.add_endpoint("r4-1", 4, "127.0.0.1", 9112)
    eng.take(rows(), present={(BACKEND, "r3-1"), (BACKEND, "r4-1")})
    before = eng.metrics()
    final = next(Counts.of(r) for r in rows() if r.name == "r4-1")
    eng.deleted("r4-1", final)
    eng.remove_endpoint("r4-1")
    eng.take([r for r in rows() if r.name != "r4-1"], present={(BACKEND, "r3-1")})
    after = eng.metrics()
    assert after["revisions"]["4"]["requests"] == before["revisions"]["4"]["requests"] == 4
    assert Window.between(4, before, after, 1.0).requests == 0  # no reset seen
    assert "r4-1" not in after["endpoints"]


def test_a_server_deleted_while_the_stats_were_read_is_not_counted_twice() -> None:
    eng = engine()
    eng.add_endpoint("r4-1", 4, "127.0.0.1", 9112)
    eng.deleted("r4-1", Counts((0, 4, 0, 0, 0)))
    eng.take(rows(), present=set())  # the row was read before the delete landed
    assert eng.metrics()["revisions"]["4"]["requests"] == 4


def test_haproxy_dying_keeps_the_last_counters_read() -> None:
    eng = engine()
    eng.add_endpoint("r3-1", 3, "127.0.0.1", 9111)
    eng.take(rows(), present={(BACKEND, "r3-1")})
    eng.lost(137)
    assert eng.metrics()["revisions"]["3"]["requests"] == 36
    eng.take([], present=set())  # the new HAProxy counts from zero
    assert eng.metrics()["revisions"]["3"]["requests"] == 36


def test_requests_answered_without_a_replica_are_unrouted_or_rejected() -> None:
    eng = engine()
    for line in (b"<NOSRV> 503 0 SC", b"<NOSRV> 400 0 PR", b"<NOSRV> 408 10000 cR", b"junk"):
        eng.record(line)
    eng.record(b"r9-9 200 1 --")  # a server the agent never had
    snap = eng.metrics()
    assert (snap["unrouted"], snap["rejected"]) == (1, 2)
    assert eng.unparsed_log_lines == 2


def _row(proxy: str, server: str, ok: int, scur: int) -> runtime.StatRow:
    return runtime.StatRow(
        {"pxname": proxy, "svname": server, "type": "2", "hrsp_2xx": str(ok), "scur": str(scur)}
    )


def test_a_replicas_twins_count_each_request_once_and_retire_apart() -> None:
    eng = engine()
    eng.add_endpoint("r2-1", 2, "127.0.0.1", 9111)
    both = {(BACKEND, "r2-1"), ("slot1", "r2-1")}
    eng.take([_row(BACKEND, "r2-1", 30, 1), _row("slot1", "r2-1", 12, 2)], present=both)
    snap = eng.metrics()
    assert snap["revisions"]["2"]["requests"] == 42  # 30 by weight, 12 routed
    assert snap["revisions"]["2"]["inflight"] == 3
    assert snap["endpoints"]["r2-1"]["inflight"] == 3
    eng.deleted("r2-1", Counts((0, 12, 0, 0, 0)), "slot1")  # its slot twin goes first
    eng.take([_row(BACKEND, "r2-1", 31, 0)], present={(BACKEND, "r2-1")})
    assert eng.metrics()["revisions"]["2"]["requests"] == 43
    assert eng.metrics()["revisions"]["2"]["inflight"] == 0
