"""One worker: a single connection sending its share of the schedule, one request at a time.

Invariant: every request the worker begins is finished in the tally exactly once, it is
never retried, and after any failure the next request goes out on a fresh connection.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass

from changeover.loadgen.connection import Connection, connect
from changeover.loadgen.outcome import Exchange, Outcome, classify
from changeover.loadgen.schedule import LATE_SLACK, Schedule
from changeover.loadgen.tally import Tally
from changeover.loadgen.template import Chooser


@dataclass(frozen=True, slots=True)
class Prepared:
    """A template rendered once: the wire bytes plus what classification needs."""

    data: bytes
    path: str
    expect: bytes | None
    weight: float


@dataclass(frozen=True, slots=True)
class Context:
    """Everything workers of one run share."""

    schedule: Schedule
    tally: Tally
    templates: Sequence[Prepared]
    addresses: Sequence[tuple[str, int]]
    live: set[Connection]
    connections: int
    timeout: float
    count_header: bytes | None
    seed: int
    tls: ssl.SSLContext | None = None  # an https:// target
    server_name: str | None = None  # what the TLS handshake names (SNI) and verifies


async def run_worker(ctx: Context, index: int) -> None:
    """Send requests index, index + N, index + 2N, ... until the schedule ends."""
    worker = _Worker(ctx, index)
    try:
        await worker.run()
    finally:
        worker.drop(polite=True)


class _Worker:
    def __init__(self, ctx: Context, index: int) -> None:
        self.ctx = ctx
        self.index = index
        self.loop = asyncio.get_running_loop()
        # Seeded per worker: worker w's k-th choice is the same on every run with this seed.
        self.chooser = Chooser([t.weight for t in ctx.templates], f"{ctx.seed}:{index}")
        self.conn: Connection | None = None

    async def run(self) -> None:
        schedule, i = self.ctx.schedule, self.index
        while (due := schedule.due(i, self.loop.time())) is not None:
            if not await schedule.sleep_until(due):
                return
            if self.loop.time() - due > LATE_SLACK:
                self.ctx.tally.late += 1
            await self.request(self.ctx.templates[self.chooser.next()])
            i += self.ctx.connections

    async def request(self, template: Prepared) -> None:
        """Issue one request and count how it ended."""
        ctx = self.ctx
        ctx.tally.begin()
        start = time.perf_counter()
        deadline = self.loop.time() + ctx.timeout
        conn = self.conn
        if conn is None or not conn.reusable:
            self.drop(polite=True)
            try:
                conn = await connect(
                    ctx.addresses, ctx.live, ctx.count_header, deadline, ctx.tls, ctx.server_name
                )
            except OSError as exc:  # TimeoutError is an OSError too
                self.fail(_connect_outcome(exc), template, None, 0)
                return
            ctx.tally.connections_opened += 1
            self.conn = conn
        ex = await conn.exchange(template.data, template.expect is not None, deadline)
        self.record(ex, template, time.perf_counter() - start)

    def record(self, ex: Exchange, template: Prepared, latency: float) -> None:
        kind = classify(ex, template.expect)
        if kind is Outcome.OK:
            self.ctx.tally.finish_ok(latency, ex.status or 0, ex.header_value)
            return
        if ex.complete and ex.status is not None:
            self.ctx.tally.response(ex.status, ex.header_value)
        self.fail(kind, template, ex.status, ex.reuse)

    def fail(self, kind: Outcome, template: Prepared, status: int | None, reuse: int) -> None:
        self.ctx.tally.finish_failed(kind, status, template.path, reuse)
        self.drop(polite=False)

    def drop(self, *, polite: bool) -> None:
        """Forget the current connection, closing it."""
        conn, self.conn = self.conn, None
        if conn is None:
            return
        if polite:
            conn.close()
        else:
            conn.abort()


def _connect_outcome(exc: OSError) -> Outcome:
    if isinstance(exc, ConnectionRefusedError):
        return Outcome.REFUSED
    if isinstance(exc, TimeoutError):
        return Outcome.TIMEOUT
    return Outcome.CONNECT_ERROR
