"""Proxy measurements on one target: throughput (wrk, closed loop), latency (the load
generator, open loop at a fixed rate), CPU time per request, memory with idle clients.

Invariant: every measurement of a round uses the same backend, client settings and
duration for every target; a run with failed requests is reported, never averaged in
silently.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
from dataclasses import dataclass

import uvloop
from procs import cpu_seconds, rss_bytes
from tools import find

from changeover.loadgen import run

REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"


@dataclass(frozen=True)
class Sample:
    """One target in one round."""

    target: str
    round: int
    rps: float
    p50: float | None
    p99: float | None
    cpu_per_request: float | None
    """Proxy CPU seconds per request during the throughput run (None for direct)."""
    errors: int
    tool: str


def wrk(port: int, seconds: float, connections: int) -> tuple[float, int, int]:
    """(requests/s, requests, errors) of `wrk` with one thread against the target."""
    argv = [find("wrk") or "wrk", "-t1", f"-c{connections}", f"-d{seconds:g}s",
            f"http://127.0.0.1:{port}/"]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps = float(_grab(r"Requests/sec:\s+([\d.]+)", out))
    total = int(_grab(r"(\d+) requests in", out))
    errors = int(_grab(r"Non-2xx or 3xx responses:\s+(\d+)", out, "0"))
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return rps, total, errors


def loadgen_max(port: int, seconds: float, connections: int) -> tuple[float, int, int]:
    """Fallback without wrk: the load generator at a rate above what it can send."""
    report = uvloop.run(
        run(f"http://127.0.0.1:{port}", rate=50_000, connections=connections, duration=seconds)
    )
    return report.rps, report.sent, report.failed


def latency(port: int, rate: float, seconds: float, connections: int) -> tuple[float, float, int]:
    """(p50, p99, failed) at a fixed open-loop rate, well below saturation."""
    report = uvloop.run(
        run(f"http://127.0.0.1:{port}", rate=rate, connections=connections, duration=seconds)
    )
    if report.latency_p50 is None or report.latency_p99 is None:
        raise RuntimeError(f"no successful request to port {port}: {report.summary()}")
    return report.latency_p50, report.latency_p99, report.failed


def measure(target: str, rnd: int, port: int, pid: int | None, o: Options) -> Sample:
    """Throughput with CPU accounting, then latency, on one target."""
    own = workers(target)
    cpu_before = cpu_seconds(pid, own) if pid else 0.0
    tool = "wrk" if find("wrk") else "loadgen"
    rps, total, errors = (wrk if tool == "wrk" else loadgen_max)(port, o.seconds, o.connections)
    cpu = (cpu_seconds(pid, own) - cpu_before) / total if pid and total else None
    p50, p99, failed = latency(port, o.latency_rate, o.seconds, o.latency_connections)
    return Sample(target, rnd, rps, p50, p99, cpu, errors + failed, tool)


@dataclass(frozen=True)
class Options:
    seconds: float
    connections: int
    latency_rate: float
    latency_connections: int


def workers(target: str) -> bool:
    """Whether the target's child processes are part of the proxy (HAProxy, nginx workers);
    the changeover agent's children are the replicas, i.e. the backend, not the proxy."""
    return target != "changeover"


def idle_rss(target: str, pid: int, port: int, count: int) -> tuple[int, int]:
    """RSS of the proxy's processes before and with `count` idle keep-alive clients."""
    before = rss_bytes(pid, workers(target))
    return before, uvloop.run(_with_idle_clients(target, pid, port, count))


async def _with_idle_clients(target: str, pid: int, port: int, count: int) -> int:
    clients: list[asyncio.StreamWriter] = []
    try:
        for start in range(0, count, 50):  # batches: the proxy never needs 1,000 upstreams
            batch = await asyncio.gather(*(_one(port) for _ in range(min(50, count - start))))
            clients.extend(batch)
        await asyncio.sleep(0.5)  # let the proxy settle: pools trimmed, buffers freed
        return rss_bytes(pid, workers(target))
    finally:
        for writer in clients:
            writer.close()


async def _one(port: int) -> asyncio.StreamWriter:
    """A client connection that made one request and now idles, kept alive."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(REQUEST)
    head = await reader.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected response on port {port}: {head[:40]!r}")
    length = re.search(rb"(?i)content-length:\s*(\d+)", head)
    await reader.readexactly(int(length.group(1)) if length else 0)
    return writer


def _grab(pattern: str, text: str, default: str | None = None) -> str:
    found = re.search(pattern, text)
    if found:
        return found.group(1)
    if default is None:
        raise RuntimeError(f"wrk output lacks {pattern!r}:\n{text}")
    return default
