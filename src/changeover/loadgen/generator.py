"""The load generator: N workers driving one URL at a fixed total rate, no retries.

Invariant: once `stop()` returns, every request that was begun has been counted exactly
once (`sent == ok + failed`, `in_flight == 0`) and every connection is closed.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Sequence
from dataclasses import replace

from changeover.loadgen.connection import Connection
from changeover.loadgen.report import Report
from changeover.loadgen.schedule import Schedule
from changeover.loadgen.tally import Tally
from changeover.loadgen.target import Target, parse_url
from changeover.loadgen.template import Template
from changeover.loadgen.worker import Context, Prepared, run_worker


class LoadGenerator:
    """Runs the load in the background of the current event loop."""

    def __init__(
        self,
        url: str,
        *,
        rate: float,
        connections: int = 20,
        duration: float | None = None,
        requests: int | None = None,
        templates: Sequence[Template] = (Template(),),
        timeout: float = 10.0,
        count_header: str | None = None,
        seed: int = 0,
        max_failure_records: int = 1000,
        tally: Tally | None = None,
        ssl_context: ssl.SSLContext | None = None,
        server_name: str | None = None,
    ) -> None:
        _validate(rate, connections, duration, requests, templates, timeout)
        self.target = parse_url(url)
        self._tls = tls_context(self.target, ssl_context)
        # the name the TLS handshake sends (SNI) and verifies: the URL's host unless told
        # (a certificate for a DNS name, reached at an address); over plain HTTP only the
        # Host below says it
        self._server_name = server_name or self.target.host
        # requests say that name too (Host), as a browser reaching it at this address
        # would: an app that checks Host (Django's ALLOWED_HOSTS) sees the name it serves
        named = self.target if server_name is None else replace(self.target, host=server_name)
        self._templates = [_prepare(t, named) for t in templates]
        self._schedule = Schedule(rate, duration, requests)
        # an injected tally (a subclass that also records, say) counts in its place
        self._tally = tally if tally is not None else Tally(count_header, max_failure_records)
        self._options = (connections, timeout, count_header, seed)
        self._live: set[Connection] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Task[Report] | None = None

    async def start(self) -> None:
        """Resolve the host and start the workers; returns at once."""
        if self._loop is not None or self._stopping is not None:
            raise RuntimeError("a LoadGenerator can be started only once, before stop()")
        self._loop = loop = asyncio.get_running_loop()
        addresses = await _resolve(self.target)
        connections, timeout, count_header, seed = self._options
        header = None if count_header is None else count_header.lower().encode("latin-1")
        ctx = Context(
            self._schedule,
            self._tally,
            self._templates,
            addresses,
            self._live,
            connections,
            timeout,
            header,
            seed,
            self._tls,
            self._server_name,
        )
        self._schedule.begin(loop.time())
        self._tally.started = time.perf_counter()
        self._tasks = [loop.create_task(run_worker(ctx, w)) for w in range(connections)]

    async def wait(self) -> Report:
        """Wait for the run to end by itself (duration or request count), then stop."""
        if self._tasks:
            await asyncio.wait(self._tasks, return_when=asyncio.FIRST_EXCEPTION)
        return await self.stop()

    async def stop(self) -> Report:
        """Stop scheduling, let in-flight requests finish, close everything, report."""
        if self._stopping is None:
            self._stopping = asyncio.get_running_loop().create_task(self._shutdown())
        return await asyncio.shield(self._stopping)

    def snapshot(self) -> Report:
        """Counts so far (call from the loop's thread)."""
        return self._tally.report()

    async def _shutdown(self) -> Report:
        self._schedule.stop()
        results = await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tally.ended = self._tally.clock()
        for conn in list(self._live):
            conn.abort()  # only idle connections remain: every worker has returned
        await asyncio.gather(*(conn.closed for conn in list(self._live)))
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return self.snapshot()


async def run(
    url: str,
    *,
    rate: float,
    connections: int = 20,
    duration: float | None = None,
    requests: int | None = None,
    templates: Sequence[Template] = (Template(),),
    timeout: float = 10.0,  # noqa: ASYNC109 - a per-request timeout, part of the API
    count_header: str | None = None,
    seed: int = 0,
    ssl_context: ssl.SSLContext | None = None,
    server_name: str | None = None,
) -> Report:
    """Run a load until `duration` seconds have passed or `requests` were sent."""
    if duration is None and requests is None:
        raise ValueError("run() needs a duration or a request count")
    gen = LoadGenerator(
        url,
        rate=rate,
        connections=connections,
        duration=duration,
        requests=requests,
        templates=templates,
        timeout=timeout,
        count_header=count_header,
        seed=seed,
        ssl_context=ssl_context,
        server_name=server_name,
    )
    await gen.start()
    try:
        return await gen.wait()
    finally:
        await gen.stop()


def tls_context(target: Target, given: ssl.SSLContext | None) -> ssl.SSLContext | None:
    """The client context of an https:// target: `given` (e.g. trusting a test CA), else
    the system's trust store; HTTP/1.1 by ALPN, as the load speaks it."""
    if target.scheme != "https":
        if given is not None:
            raise ValueError(f"an ssl context needs an https:// URL, got {target.url()}")
        return None
    context = given if given is not None else ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


def _validate(
    rate: float,
    connections: int,
    duration: float | None,
    requests: int | None,
    templates: Sequence[Template],
    timeout: float,
) -> None:
    if not rate > 0:
        raise ValueError(f"rate must be positive, got {rate!r}")
    if connections < 1:
        raise ValueError(f"connections must be at least 1, got {connections!r}")
    if duration is not None and not duration > 0:
        raise ValueError(f"duration must be positive, got {duration!r}")
    if requests is not None and requests < 1:
        raise ValueError(f"requests must be at least 1, got {requests!r}")
    if not timeout > 0:
        raise ValueError(f"timeout must be positive, got {timeout!r}")
    if not templates:
        raise ValueError("at least one template is required")


def _prepare(template: Template, target: Target) -> Prepared:
    path = template.full_path(target)
    return Prepared(template.render(target), path, template.expect, template.weight)


async def _resolve(target: Target) -> list[tuple[str, int]]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    unique = dict.fromkeys((str(info[4][0]), int(info[4][1])) for info in infos)
    return list(unique)
