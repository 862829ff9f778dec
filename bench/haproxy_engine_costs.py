"""What the haproxy engine's choices cost per request, one at a time (docs/benchmarks.md,
"The haproxy engine"): the request log (`log_sample`: one response in N, read by the
agent), the buffers `max_header_size` asks for, the threads.

Run: .venv/bin/python bench/haproxy_engine_costs.py [--seconds 5] [--rounds 2]
Each variant is the engine as the agent runs it with one setting changed, in front of one
`uvicorn tinyapp:app` backend, measured with wrk (32 connections, one thread); CPU is
HAProxy's (master and worker) and this process's (the agent's share: the log reader and
the stats poll). Variants run interleaved, rounds times; medians are printed. Two
yardsticks run in the same harness: HAProxy configured by hand (`haproxy_variants`),
plain and keeping the engine's promises.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import haproxy_variants
import psutil
import uvloop

from changeover.agent.engine import make
from changeover.agent.paths import StatePaths
from changeover.haproxy.engine import HaproxyEngine
from changeover.haproxy.seed import Seed
from changeover.spec.models import ProxySettings

BENCH = Path(__file__).resolve().parent
VARIANTS: dict[str, dict[str, Any]] = {
    "as the agent runs it (defaults)": {},  # log_sample "auto"
    "log every request (log_sample = 1)": {"log_sample": 1},
    "log_sample = 4": {"log_sample": 4},
    "log_sample = 100": {"log_sample": 100},
    "no request log": {"log_socket": None},
    "64 KB buffers (max_header_size = 65536)": {"max_header_size": 65536},
    "16 KB buffers (max_header_size = 15360)": {"max_header_size": 15360},
    "nbthread 1": {"nbthread": 1},
    "no log, 16 KB buffers, nbthread 1": {
        "log_socket": None,
        "max_header_size": 15360,
        "nbthread": 1,
    },
    # what the configuration text holds, not a setting: edited in the rendered file
    "layer-4 retries only (no retry-on empty-response)": {"edit": "retry"},
    "no request id (no unique-id, set-var, X-Request-Id)": {"edit": "request-id"},
    "both, nbthread 1": {"edit": "retry,request-id", "nbthread": 1},
    "1 thread: as the agent runs it": {"nbthread": 1},
    "1 thread: log_sample = 10 (the default before auto)": {"nbthread": 1, "log_sample": 10},
    "1 thread: 16 KB buffers (max_header_size = 15360)": {"nbthread": 1, "max_header_size": 15360},
    # the yardsticks in the same harness: HAProxy configured by hand (haproxy_variants)
    "1 thread: HAProxy by hand, promises": {"peer": "promises"},
    "1 thread: HAProxy by hand, plain": {"peer": "plain"},
    "1 thread: no routing rules": {"nbthread": 1, "edit": "routing"},
    "1 thread: no request id": {"nbthread": 1, "edit": "request-id"},
    "1 thread: layer-4 retries only": {"nbthread": 1, "edit": "retry"},
    "1 thread: no request log": {"nbthread": 1, "log_socket": None},
    "1 thread: no X-Forwarded-*": {"nbthread": 1, "edit": "xfwd"},
    "1 thread: http-reuse always": {"nbthread": 1, "edit": "reuse"},
    "1 thread: none of these": {
        "nbthread": 1,
        "log_socket": None,
        "edit": "routing,request-id,retry,xfwd,reuse",
    },
}
EDITS = {  # text of the rendered configuration -> what the variant renders instead
    # "#" in place of a line's start comments the line out
    "routing": (("    http-request set-var(txn.co_route)", "#"), ("    use_backend", "#")),
    "xfwd": (
        ("    option forwardfor\n", ""),
        ("    http-request set-header X-Forwarded-Proto http\n", ""),
        ("    http-request del-header X-Forwarded-Host\n", ""),
        ("    http-request set-header X-Forwarded-Host", "#"),
    ),
    "reuse": (("    balance roundrobin\n", "    balance roundrobin\n    http-reuse always\n"),),
    "retry": (("    retry-on conn-failure empty-response\n", ""),),
    "log": (("    log ring@", "#"), ("    http-response set-log-level", "#")),
    "request-id": (
        ("    unique-id-format ", "#"),
        (
            "    http-request set-header X-Request-Id %[unique-id]"
            " unless { req.fhdr(x-request-id) -m found }\n",
            "",
        ),
        ("    http-request set-var(txn.request_id) req.fhdr(x-request-id,1)\n", ""),
        ("    http-after-response set-header X-Request-Id", "#"),
    ),
}


ONLY: list[str] = []  # --only: the variants measured (all when empty)


class Edited(HaproxyEngine):
    """The engine with parts of its rendered configuration taken out (`EDITS`)."""

    edits: tuple[str, ...] = ()

    def config_text(self, start: Seed) -> str:
        text = super().config_text(start)
        for name in self.edits:
            for old, new in EDITS[name]:
                if old not in text:
                    raise RuntimeError(f"edit {name!r}: the configuration has no {old!r}")
                text = text.replace(old, new)
        return text


def wrk(port: int, seconds: float) -> tuple[float, int]:
    argv = ["wrk", "-t1", "-c32", f"-d{seconds:g}s", f"http://127.0.0.1:{port}/"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60).stdout
    rps, total = re.search(r"Requests/sec:\s+([\d.]+)", out), re.search(r"(\d+) requests in", out)
    if rps is None or total is None:
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    return float(rps.group(1)), int(total.group(1))


def cpu(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


async def measure(
    work: Path, backend: int, changes: dict[str, Any], seconds: float
) -> tuple[float, float, float]:
    """(req/s, HAProxy CPU s/request, agent CPU s/request) of one variant."""
    paths = StatePaths(work)
    paths.ensure()
    made = make(ProxySettings(engine="haproxy"), paths, builtin=lambda: None)  # type: ignore[arg-type,return-value]
    assert isinstance(made, HaproxyEngine)
    edits = tuple(e for e in str(changes.pop("edit", "")).split(",") if e)
    engine = Edited(
        made.binary,
        made.layout,
        dataclasses.replace(made.settings, **changes),
        log_socket=str(paths.haproxy_sockets / "log.sock"),
    )
    engine.edits = edits
    public = socket.create_server(("127.0.0.1", 0), backlog=2048)
    engine.add_endpoint("r1-1", 1, "127.0.0.1", backend)
    engine.set_routable("r1-1", True)
    await engine.serve(public)
    try:
        while engine.pending:
            await asyncio.sleep(0.01)
        master = engine.master
        assert master is not None
        haproxy = [master.pid, *(c.pid for c in psutil.Process(master.pid).children(True))]
        before = cpu(haproxy), cpu([os.getpid()])
        loop = asyncio.get_running_loop()
        rps, total = await loop.run_in_executor(None, wrk, public.getsockname()[1], seconds)
        return rps, (cpu(haproxy) - before[0]) / total, (cpu([os.getpid()]) - before[1]) / total
    finally:
        await engine.shutdown(2.0)


def measure_peer(
    work: Path, backend: int, variant: str, seconds: float
) -> tuple[float, float, float]:
    """(req/s, HAProxy CPU s/request, 0.0) of a hand-written HAProxy (`haproxy_variants`)."""
    work.mkdir(parents=True)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    (work / "h.cfg").write_text(haproxy_variants.config(variant, port, backend, ""))
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(work / "h.cfg")])
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"HAProxy ({variant}) did not listen") from None
                time.sleep(0.05)
        before = cpu([proc.pid])
        rps, total = wrk(port, seconds)
        return rps, (cpu([proc.pid]) - before) / total, 0.0
    finally:
        proc.terminate()
        proc.wait()


async def run_all(
    port: int, seconds: float, rounds: int
) -> dict[str, list[tuple[float, float, float]]]:
    results: dict[str, list[tuple[float, float, float]]] = {
        name: [] for name in VARIANTS if not ONLY or any(word in name for word in ONLY)
    }
    with tempfile.TemporaryDirectory(prefix="changeover-bench-") as tmp:
        for rnd in range(rounds):
            for index, (name, changes) in enumerate(VARIANTS.items()):
                if name not in results:
                    continue
                where = Path(tmp) / f"{rnd}-{index}"
                if "peer" in changes:
                    result = measure_peer(where, port, str(changes["peer"]), seconds)
                else:
                    result = await measure(where, port, dict(changes), seconds)
                results[name].append(result)
                print(f"bench: round {rnd + 1} {name}: {result[0]:.0f} req/s", flush=True)
    return results


def main(seconds: float, rounds: int) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    argv = [sys.executable, "-m", "uvicorn", "tinyapp:app", "--port", str(port)]
    backend = subprocess.Popen([*argv, "--no-access-log", "--log-level", "warning"], cwd=BENCH)
    try:
        time.sleep(2)
        results = uvloop.run(run_all(port, seconds, rounds))
    finally:
        backend.terminate()
        backend.wait()
    print("\n| variant | req/s | HAProxy CPU us/req | agent CPU us/req |")
    print("| --- | ---: | ---: | ---: |")
    for name, runs in results.items():
        rps, ha, ag = (statistics.median(r[i] for r in runs) for i in range(3))
        print(f"| {name} | {rps:.0f} | {ha * 1e6:.1f} | {ag * 1e6:.1f} |")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--only", action="append", default=[], help="variants whose name has it")
    a = p.parse_args()
    ONLY.extend(a.only)
    main(a.seconds, a.rounds)
