"""The recorder: every ok request of a real load run is sampled once, on the load's clock."""

from __future__ import annotations

import time

import pytest

from changeover.loadgen import Template
from changeover.verify.recorder import RecordingTally, recorded_load
from tests.io.verify._server import TinyServer


def test_every_ok_request_is_sampled_with_its_finish_time() -> None:
    before = time.time()
    with TinyServer() as server:
        mix = (Template(path="/", weight=3), Template(path="/missing", weight=1))
        load, recorder = recorded_load(
            server.url, rate=200, connections=2, requests=60, templates=mix
        )
        with load:
            start = recorder.wall_start()
            load.wait_until(lambda r: r.sent == 60 and r.in_flight == 0, timeout=30)
    report = load.report
    samples = recorder.samples
    assert report.sent == 60
    assert report.failed == report.status > 0  # the 404s: failures, never samples
    assert len(samples) == report.ok == 60 - report.failed
    assert all(0 <= t <= report.elapsed for t in samples.t)
    assert all(0 < latency < 10 for latency in samples.latency)
    assert all(0 <= f.t <= report.elapsed for f in report.failures)
    assert before <= start <= time.time()


def test_reading_the_start_before_the_load_started_is_refused() -> None:
    with TinyServer() as server:
        load, recorder = recorded_load(server.url, rate=50, connections=1, requests=5)
        assert isinstance(recorder, RecordingTally)
        with pytest.raises(RuntimeError, match="has not started yet"):
            recorder.wall_start()
        with load:
            load.wait_until(lambda r: r.sent == 5 and r.in_flight == 0, timeout=30)
    assert len(recorder.samples) == load.report.ok == 5
