"""The haproxy engine's side of `log_sample = "auto"` without HAProxy: the stats it reads
set the level (summed over revisions and their slot twins), the level is what `metrics()`
reports and what a HAProxy started again is seeded with (pure: no loop is run)."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from changeover.haproxy import runtime, sampling
from changeover.haproxy.config import BACKEND, Settings
from changeover.haproxy.engine import HaproxyEngine
from changeover.haproxy.process import Layout
from changeover.runtime.fakes import FakeClock

TMP = Path("/nonexistent")
MAPS = "/nonexistent/maps"
SAMPLE_MAP = f"{MAPS}/sample.map"


def engine(
    log_sample: int | Literal["auto"],
    clock: FakeClock,
    access_log: bool = False,
    draw: Callable[[], float] = random.random,
) -> HaproxyEngine:
    layout = Layout(
        config=TMP / "haproxy.cfg",
        master_socket=str(TMP / "master.sock"),
        stats_socket=str(TMP / "stats.sock"),
        log=TMP / "haproxy.log",
        pid_file=TMP / "haproxy.pid",
        workdir=TMP,
    )
    settings = Settings(
        listen_fd=3,
        stats_socket=layout.stats_socket,
        log_socket=str(TMP / "log"),
        map_dir=MAPS,
        log_sample=log_sample,
        access_log=access_log,
    )
    return HaproxyEngine(
        "/usr/sbin/haproxy", layout, settings, log_socket=str(TMP / "log"), clock=clock, draw=draw
    )


def _row(proxy: str, server: str, ok: int) -> runtime.StatRow:
    return runtime.StatRow({"pxname": proxy, "svname": server, "type": "2", "hrsp_2xx": str(ok)})


def serve(eng: HaproxyEngine, clock: FakeClock, per_second: int, seconds: float) -> None:
    """Two revisions, one with a slot twin, serving `per_second` in all; read every 0.5 s."""
    present = {(BACKEND, "r1-1"), (BACKEND, "r2-1"), ("slot0", "r2-1")}
    served = getattr(eng, "_served", 0)
    for _ in range(round(seconds / 0.5)):
        clock.advance(0.5)
        served += per_second // 2
        third = served // 3
        rows = [_row(BACKEND, "r1-1", third), _row(BACKEND, "r2-1", third)]
        rows.append(_row("slot0", "r2-1", served - 2 * third))
        eng.take(rows, present)
    eng._served = served  # type: ignore[attr-defined]  # the next call's start


def test_the_stats_set_the_level_that_metrics_report_and_a_restart_is_seeded_with() -> None:
    clock = FakeClock()
    eng = engine("auto", clock)
    eng.add_endpoint("r1-1", 1, "127.0.0.1", 9111)
    eng.add_endpoint("r2-1", 2, "127.0.0.1", 9112)
    assert eng.metrics()["log_sample"] == {"mode": "auto", "one_in": 1, "level": 0}
    assert eng.start_seed().maps[SAMPLE_MAP] == sampling.entries(0)  # a new agent: every one

    serve(eng, clock, 400, 10)  # under the cap: every response
    assert eng.metrics()["log_sample"]["one_in"] == 1
    serve(eng, clock, 36_000, 3)  # 281 lines a second at 1 in 128
    assert eng.metrics()["log_sample"] == {"mode": "auto", "one_in": 128, "level": 7}
    revisions = eng.metrics()["revisions"]
    served = eng._served  # type: ignore[attr-defined]
    assert revisions["1"]["requests"] + revisions["2"]["requests"] == served  # twins summed
    assert eng.start_seed().maps[SAMPLE_MAP] == (("0:511", "1"),)

    eng.lost(137)  # HAProxy died: its counters are kept, the level too
    assert eng.start_seed().maps[SAMPLE_MAP] == sampling.entries(7)
    eng.take([], present=set())  # the new HAProxy's first read: nothing served yet
    eng._served = 0  # type: ignore[attr-defined]  # its counters start from 0
    serve(eng, clock, 36_000, 3)
    assert eng.metrics()["log_sample"]["level"] == 7

    serve(eng, clock, 100, 10)  # traffic fell for a whole window: every response again
    assert eng.metrics()["log_sample"]["level"] == 0
    assert eng.start_seed().maps[SAMPLE_MAP] == sampling.entries(0)


def test_a_fixed_n_or_the_access_log_has_no_sample_map_and_says_so() -> None:
    clock = FakeClock()
    fixed = engine(10, clock)
    fixed.add_endpoint("r1-1", 1, "127.0.0.1", 9111)
    serve(fixed, clock, 36_000, 3)
    assert fixed.metrics()["log_sample"] == {"mode": "fixed", "one_in": 10, "level": None}
    assert SAMPLE_MAP not in fixed.start_seed().maps
    access = engine("auto", clock, access_log=True)  # it needs every request
    assert access.metrics()["log_sample"] == {"mode": "fixed", "one_in": 1, "level": None}
    assert SAMPLE_MAP not in access.start_seed().maps


def test_a_surge_in_the_log_raises_the_level_before_the_stats_show_it() -> None:
    """Replica lines read faster than twice the cap raise the level at the next tick,
    counted at the level HAProxy's map holds; lines HAProxy answered itself do not count,
    and lines read while the map changes are not counted at either level."""
    clock = FakeClock()
    eng = engine("auto", clock)
    eng.add_endpoint("r1-1", 1, "127.0.0.1", 9111)
    eng._map_haves[SAMPLE_MAP] = sampling.entries(0)  # what HAProxy started with
    eng.log_metrics.check_surge()  # the first tick: the count starts
    for _ in range(2000):
        eng.record(b"<NOSRV> 503 0 SC")  # HAProxy's own: always logged, not sampled
    clock.advance(0.05)
    eng.log_metrics.check_surge()
    assert eng.metrics()["log_sample"]["level"] == 0
    for _ in range(1800):  # 36,000 replica responses a second, every one logged
        eng.record(b"r1-1 200 0 --")
    clock.advance(0.05)
    eng.log_metrics.check_surge()
    assert eng.metrics()["log_sample"]["level"] == 7  # no stats poll came
    for _ in range(1800):  # still at 1 in 1 in HAProxy: not raised again
        eng.record(b"r1-1 200 0 --")
    clock.advance(0.05)
    eng.log_metrics.check_surge()
    assert eng.metrics()["log_sample"]["level"] == 7
    eng._map_haves[SAMPLE_MAP] = sampling.entries(7)  # the reconcile wrote the map
    for _ in range(1800):  # logged before the change, read after it: not counted
        eng.record(b"r1-1 200 0 --")
    clock.advance(0.05)
    eng.log_metrics.check_surge()
    assert eng.metrics()["log_sample"]["level"] == 7
    for _ in range(14):  # 280 lines a second at 1 in 128: 35,840 requests a second
        eng.record(b"r1-1 200 0 --")
    clock.advance(0.05)
    eng.log_metrics.check_surge()
    assert eng.metrics()["log_sample"]["level"] == 7


def histogram_counts(eng: HaproxyEngine, revision: int) -> dict[str, int]:
    return {name: sum(cells) for name, cells, _ in eng.stats.revisions[revision].classes()}


def test_haproxys_own_answers_enter_the_latencies_at_the_replicas_sampling() -> None:
    """HAProxy logs each of its own 502/504s, a replica's answers one in N: its answers
    are counted as errors every time, and kept in the latency histogram one time in N,
    so neither the percentiles nor the 5xx share Prometheus reads are skewed by N."""
    tenths = itertools.cycle([n / 10 for n in range(10)]).__next__  # one draw in 10 is < 0.1
    fixed = engine(10, FakeClock(), draw=tenths)
    fixed.add_endpoint("r1-1", 1, "127.0.0.1", 9111)
    for _ in range(1000):
        fixed.record(b"r1-1 200 3 --")  # one replica answer in 10, as HAProxy logged it
        fixed.record(b"r1-1 504 60000 sH")  # every one of HAProxy's
    assert fixed.stats.revisions[1].errors["504"] == 1000
    assert histogram_counts(fixed, 1)["2xx"] == 1000
    assert histogram_counts(fixed, 1)["5xx"] == 100

    eighths = itertools.cycle([n / 128 for n in range(128)]).__next__
    auto = engine("auto", FakeClock(), draw=eighths)
    auto.add_endpoint("r1-1", 1, "127.0.0.1", 9111)
    auto._map_haves[SAMPLE_MAP] = sampling.entries(7)  # HAProxy logs 1 in 128
    for _ in range(1280):
        auto.record(b"r1-1 502 1 SH")
    assert auto.stats.revisions[1].errors["502"] == 1280
    assert histogram_counts(auto, 1)["5xx"] == 10
    every = engine(1, FakeClock(), draw=lambda: 0.99)
    every.add_endpoint("r1-1", 1, "127.0.0.1", 9111)
    every.record(b"r1-1 502 1 SH")
    assert histogram_counts(every, 1)["5xx"] == 1  # logging every answer: all kept
