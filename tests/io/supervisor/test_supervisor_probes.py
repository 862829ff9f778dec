"""Probe thresholds and gating (pure), and the HTTP probe against local servers."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable

from hypothesis import given
from hypothesis import strategies as st

from changeover.spec.models import Probe, Probes
from changeover.supervisor.health import Action, Health, Kind
from changeover.supervisor.probes import ProbeOutcome, ProbeTracker, Verdict, http_probe
from tests.io.supervisor.supervisor_helpers import run

A = Action


def probe(success: int = 1, failure: int = 3) -> Probe:
    return Probe(path="/p", success_threshold=success, failure_threshold=failure)


def reference(results: list[bool], success: int, failure: int, passing: bool | None) -> list:
    """Verdicts recomputed from the whole history at each step (slow and obvious)."""
    out: list[Verdict | None] = []
    for i, latest in enumerate(results):
        streak = 0
        for earlier in reversed(results[: i + 1]):
            if earlier != latest:
                break
            streak += 1
        verdict = None
        if latest and streak >= success and passing is not True:
            verdict, passing = Verdict.PASS, True
        elif not latest and streak >= failure and passing is not False:
            verdict, passing = Verdict.FAIL, False
        out.append(verdict)
    return out


@given(
    results=st.lists(st.booleans(), max_size=60),
    success=st.integers(1, 5),
    failure=st.integers(1, 5),
    passing=st.sampled_from([None, False, True]),
)
def test_tracker_matches_the_reference(
    results: list[bool], success: int, failure: int, passing: bool | None
) -> None:
    tracker = ProbeTracker(probe(success, failure), passing)
    got = [tracker.record(r) for r in results]
    assert got == reference(results, success, failure, passing)
    verdicts = [v for v in got if v is not None]
    assert all(a != b for a, b in itertools.pairwise(verdicts))  # they alternate


def test_readiness_thresholds() -> None:
    tracker = ProbeTracker(probe(success=2, failure=3), passing=False)
    assert [tracker.record(ok) for ok in (True, False, True, True)] == [
        None,
        None,
        None,
        Verdict.PASS,
    ]
    assert [tracker.record(ok) for ok in (False, False, True, False)] == [None] * 4
    assert [tracker.record(ok) for ok in (False, False)] == [None, Verdict.FAIL]


def test_no_probes_means_ready_at_once() -> None:
    health = Health(Probes())
    assert health.begin() == [A.STARTED, A.READY]
    assert health.active() == []


def test_startup_gates_the_other_probes() -> None:
    health = Health(Probes(startup=probe(failure=2), readiness=probe(), liveness=probe()))
    assert health.begin() == []
    assert health.active() == [Kind.STARTUP]
    assert health.record(Kind.READINESS, True) == []  # not running yet: ignored
    assert health.record(Kind.STARTUP, False) == []
    assert health.record(Kind.STARTUP, True) == [A.STARTED]
    assert health.active() == [Kind.READINESS, Kind.LIVENESS]
    assert health.record(Kind.STARTUP, False) == []  # a late startup result no longer counts
    assert health.record(Kind.READINESS, True) == [A.READY]


def test_startup_failure_asks_for_a_restart() -> None:
    health = Health(Probes(startup=probe(failure=2)))
    assert health.record(Kind.STARTUP, False) == []
    assert health.record(Kind.STARTUP, False) == [A.RESTART]
    assert health.reason == "startup probe failed 2 times"
    assert health.record(Kind.STARTUP, True) == []


def test_startup_without_readiness_becomes_ready() -> None:
    health = Health(Probes(startup=probe()))
    assert health.record(Kind.STARTUP, True) == [A.STARTED, A.READY]


def test_readiness_flaps_and_liveness_restarts() -> None:
    health = Health(Probes(readiness=probe(failure=1), liveness=probe(failure=2)))
    assert health.begin() == [A.STARTED]
    record = health.record
    assert [record(Kind.READINESS, ok) for ok in (True, False, True)] == [
        [A.READY],
        [A.NOT_READY],
        [A.READY],
    ]
    assert record(Kind.LIVENESS, False) == []
    assert record(Kind.LIVENESS, False) == [A.RESTART]
    assert health.reason == "liveness probe failed 2 times"


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serving(
    handler: Handler, check: Callable[[int], Awaitable[ProbeOutcome]]
) -> ProbeOutcome:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await check(port)
    finally:
        server.close()
        await server.wait_closed()


def answering(raw: bytes, requests: list[bytes]) -> Handler:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(raw)
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    return handle


def test_http_probe_statuses() -> None:
    requests: list[bytes] = []
    cases = {
        b"HTTP/1.1 200 OK\r\n\r\n": ProbeOutcome(True, "answered 200"),
        b"HTTP/1.1 302 Found\r\nLocation: /\r\n\r\n": ProbeOutcome(True, "answered 302"),
        b"HTTP/1.0 399 Odd\r\n\r\n": ProbeOutcome(True, "answered 399"),
        b"HTTP/1.1 404 Not Found\r\n\r\n": ProbeOutcome(False, "answered 404"),
        b"HTTP/1.1 503 Unavailable\r\n\r\n": ProbeOutcome(False, "answered 503"),
        b"SSH-2.0-OpenSSH\r\n": ProbeOutcome(
            False, "answered with no HTTP status line: b'SSH-2.0-OpenSSH\\r\\n'"
        ),
        b"": ProbeOutcome(False, "closed the connection without answering"),
    }

    async def main() -> dict[bytes, ProbeOutcome]:
        got = {}
        for raw in cases:
            check = lambda port: http_probe("127.0.0.1", port, "/readyz", 1.0)  # noqa: E731
            got[raw] = await serving(answering(raw, requests), check)
        return got

    assert run(main()) == cases
    head = requests[0].decode()
    assert head.startswith("GET /readyz HTTP/1.1\r\n")
    for header in ("Host: 127.0.0.1:", "Connection: close", "User-Agent: changeover-probe"):
        assert header in head


def test_http_probe_times_out_and_handles_refusal() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers; the probe hangs up on timeout
        writer.close()
        await writer.wait_closed()

    async def main() -> tuple[ProbeOutcome, ProbeOutcome]:
        slow = await serving(silent, lambda port: http_probe("127.0.0.1", port, "/", 0.1))
        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        refused = await http_probe("127.0.0.1", port, "/", 1.0)
        return slow, refused

    assert run(main()) == (
        ProbeOutcome(False, "timed out after 0.1s"),
        ProbeOutcome(False, "connection refused"),
    )
