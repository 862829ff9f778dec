"""`LogMetrics`: HAProxy's request log read into the metrics, and the sampling level
that decides how much of it there is (`log_sample`, `sampling.py`).

Latencies, and the 502/503/504 HAProxy answered itself, come from the request log: a
line per request, or per `log_sample` requests; with `log_sample = "auto"`, one in
2^level, the level decided at each read of the stats from the requests they count
(`observe_rate`, `sampling.observe`) and raised sooner by a surge the log shows
(`check_surge`, `sampling.surged`). The engine writes the level into the sample map like
any other map (`sample_map`; `on_level` wakes its reconcile when the level changes).
With the access log on, the same lines are longer (`logline.ACCESS_FORMAT`, every
request) and each is also written to the access log (`haproxy.access`).

Invariant: HAProxy's own answers are counted in `errors` every time and enter the latency
histograms at the replicas' sampling (one in N, N as HAProxy's map holds it), so neither
the percentiles nor the 5xx share are skewed by N; a surge is counted only from lines
logged at the level HAProxy's map holds (after the map changed, the count starts again);
a line that names no known server is counted in `unparsed`, never dropped silently.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from changeover.haproxy import logline, sampling
from changeover.haproxy.access import HaproxyAccessLog
from changeover.haproxy.config import Settings
from changeover.haproxy.logreader import LOG_TICK
from changeover.haproxy.routes import Entries
from changeover.proxy.metrics import Metrics

log = logging.getLogger("changeover.haproxy")

REJECTED = (400, 408, 413, 414, 431, 501)  # answered without a replica: malformed


class LogMetrics:
    """The request log's lines counted per revision (`revision_of`: the engine's map of
    every server ever wanted), at the level the sample map holds (`held`: what HAProxy's
    maps hold, as its answers said)."""

    def __init__(
        self,
        settings: Settings,
        revision_of: Mapping[str, int],
        held: Callable[[], Mapping[str, Entries]],
        on_level: Callable[[], None],
        clock: Callable[[], float] = time.monotonic,  # what the sampling rate is measured by
        draw: Callable[[], float] = random.random,  # samples HAProxy's own answers (record)
    ) -> None:
        self._revision_of = revision_of
        self._held = held
        self._on_level = on_level
        self.clock = clock
        self._draw = draw
        self.metrics = Metrics()  # latencies and HAProxy's own errors, from the log
        self.unparsed = 0
        self.access: HaproxyAccessLog | None = None  # the access log, while it is open
        # log_sample "auto": the level (sampling.py), kept across HAProxy's restarts
        self._sampling = sampling.Sampling() if settings.auto_sample else None
        self.sample_file = (
            sampling.map_file(settings.map_dir)
            if settings.auto_sample and settings.map_dir is not None
            else None
        )
        fixed = settings.log_sample  # one in this many, when not auto
        self._fixed_one_in = 1 if settings.access_log or not isinstance(fixed, int) else fixed
        self._applied: tuple[Entries, int | None] = ((), None)  # `_applied_level`'s memo
        # replica lines the log brought since `_surge_start`, logged at level `_surge_at`
        self._replica_lines = 0
        self._surge_start: float | None = None
        self._surge_at: int | None = None

    def sample_map(self) -> dict[str, Entries]:
        """The sample map's wanted content: the current level (`sampling`), if auto."""
        if self._sampling is None or self.sample_file is None:
            return {}
        return {self.sample_file: sampling.entries(self._sampling.level)}

    def observe_rate(self, requests: int) -> None:
        """`log_sample = "auto"`: the level for the requests the stats counted so far
        (`sampling.observe`); a new level wakes the reconcile, which writes the map."""
        if self._sampling is None:
            return
        self._sample_at(sampling.observe(self._sampling, self.clock(), requests))

    def check_surge(self) -> None:
        """`log_sample = "auto"`: a surge the log shows raises the level before the next
        stats poll would (`sampling.surged`), counting only lines logged at the level
        HAProxy's map holds: after the map changed, the count starts again."""
        if self._sampling is None or self.sample_file is None:
            return
        now = self.clock()
        applied = self._applied_level()
        if applied is None or applied != self._surge_at or self._surge_start is None:
            self._surge_at, self._surge_start, self._replica_lines = applied, now, 0
            return
        elapsed = now - self._surge_start
        if elapsed < LOG_TICK / 2:  # a read out of turn: count on to a tick's worth
            return
        lines, self._surge_start, self._replica_lines = self._replica_lines, now, 0
        self._sample_at(sampling.surged(self._sampling, applied, lines, elapsed))

    def _sample_at(self, new: sampling.Sampling) -> None:
        """Keep `new`; a new level wakes the reconcile, which writes the map."""
        assert self._sampling is not None
        before, self._sampling = self._sampling.level, new
        if new.level != before:
            log.info(
                "haproxy request log: %s replica responses logged (was %s)",
                sampling.describe(new.level),
                sampling.describe(before),
            )
            self._on_level()

    @property
    def log_sample(self) -> dict[str, Any]:
        """How many replica responses the request log holds: `mode` "auto" (the level
        the agent chose; the reconcile writes it into HAProxy's map at once) or "fixed"
        (`log_sample` N, or 1 while the access log is on), `one_in` and `level` (one_in
        is 2^level; None when fixed)."""
        if self._sampling is None:
            return {"mode": "fixed", "one_in": self._fixed_one_in, "level": None}
        level = self._sampling.level
        return {"mode": "auto", "one_in": 1 << level, "level": level}

    def record(self, line: bytes) -> None:
        """One request log line into the per-revision latency histograms, and into the
        access log when it is on."""
        access = self.access
        if access is None:
            logged = logline.parse(line)
        else:
            entry = logline.parse_access(line)
            logged = None if entry is None else entry.logged
        if logged is None:
            self.unparsed += 1
            return
        if access is not None and entry is not None:
            server = logged.server
            access.add(entry, None if server is None else self._revision_of.get(server))
        metrics = self.metrics
        if logged.server is None:
            if logged.status in REJECTED:
                metrics.rejected += 1
            elif logged.status == 503:
                metrics.unrouted += 1
            return
        if not logged.by_proxy:  # a replica's answer: sampled (HAProxy's own never are)
            self._replica_lines += 1
        revision = self._revision_of.get(logged.server)
        if revision is None:
            self.unparsed += 1
            return
        stats = metrics.revision(revision)
        if logged.status >= 100 and (not logged.by_proxy or self._sampled_too()):
            stats.completed(logged.status, logged.seconds)
        code = str(logged.status)
        if logged.by_proxy and code in stats.errors:
            stats.errors[code] += 1

    def _sampled_too(self) -> bool:
        """Whether an answer HAProxy made itself after choosing a replica (a 502, a 504)
        enters the latency histogram: HAProxy logs every one, and replicas' answers one in
        N, so each is kept one time in N here (counted in `errors` always). Otherwise a
        0.1 % of 504s at 1 in 128 would be 11 % of the latencies, and of the 5xx ratio
        Prometheus reads from the histogram's counts."""
        one_in = self._fixed_one_in
        if self._sampling is not None:
            applied = self._applied_level()
            one_in = 1 << (applied if applied is not None else self._sampling.level)
        return one_in <= 1 or self._draw() * one_in < 1.0

    def _applied_level(self) -> int | None:
        """The level HAProxy's sample map holds, read again only when the map changed
        (a flood of HAProxy's own answers calls this per line)."""
        if self.sample_file is None:
            return None
        held = self._held().get(self.sample_file, ())
        if held is not self._applied[0]:
            self._applied = (held, sampling.level_of(held))
        return self._applied[1]


__all__ = ["REJECTED", "LogMetrics"]
