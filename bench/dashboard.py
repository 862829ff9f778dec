"""What the dashboard costs the proxy: one agent measured without and with browsers
watching its dashboard, interleaved in one run, and the always-on part (the charts'
history, fed once a second) timed on its own.

Run: .venv/bin/python bench/dashboard.py [--rounds 3] [--seconds 5] [--viewers 4]
Invariant: both variants measure the same agent, backend, client settings and duration
(`proxies.measure`: throughput with the agent's CPU per request, then latency at a fixed
rate); a viewer does what the page does (GET /api/now every 1.5 s, the event feed
long-polled), so "with" is the dashboard's real load, not a guess. Every process started
is stopped before the script exits. Prints a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import timeit
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script from anywhere

import agent
import proxies

from changeover.agent.dashboard.series import Trend
from changeover.proxy.metrics import Metrics

BENCH = Path(__file__).resolve().parent
BACKEND = "uvicorn tinyapp:app --fd 3 --no-access-log --log-level warning"
POLL = 1.5  # seconds between a page's /api/now, as app.js polls
OPS = '\n[ops]\nlisten = "127.0.0.1:{port}"\n'


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def viewer(base: str, stop: threading.Event, served: list[int]) -> None:
    """One open dashboard: the Now page's poll, as the page sends it."""
    after = 0.0
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set():
            doc = client.get("/api/now", params={"after": after}).json()
            for points in doc["series"]["revisions"].values():
                if points:
                    after = max(after, points[-1][0])
            served.append(1)
            stop.wait(POLL)


def feed(base: str, stop: threading.Event) -> None:
    """The page's event feed: long-polls that return on each event or after 2 s here
    (the page waits 20 s; shorter makes the feed cost more, not less)."""
    last = 0
    with httpx.Client(base_url=base, timeout=30) as client:
        while not stop.is_set():
            doc = client.get("/api/events", params={"after": last, "wait": 2}).json()
            last = max([last, *(e["id"] for e in doc["events"])])


def watch(base: str, count: int) -> None:
    """`--watch`: `count` viewers and feeds until stdin closes (the parent's signal)."""
    stop, served = threading.Event(), list[int]()
    threads = [threading.Thread(target=viewer, args=(base, stop, served)) for _ in range(count)]
    threads += [threading.Thread(target=feed, args=(base, stop)) for _ in range(count)]
    for t in threads:
        t.start()
    sys.stdin.read()
    stop.set()
    for t in threads:
        t.join(timeout=35)
    print(len(served), flush=True)


@contextmanager
def watching(base: str, count: int) -> Iterator[list[int]]:
    """The viewers in a process of their own: the load generator keeps this one's GIL."""
    argv = [sys.executable, __file__, "--watch", base, "--viewers", str(count)]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    served: list[int] = []
    try:
        yield served
    finally:
        out, _ = proc.communicate("", timeout=60)  # closes stdin: the viewers stop
        served.extend([1] * int(out.strip() or 0))


def trend_cost(revisions: int = 3) -> float:
    """Seconds one `Trend.add` takes with `revisions` serving (the agent does one a second)."""
    metrics, trend = Metrics(), Trend()
    samples = []
    for _ in range(60):
        for rev in range(1, revisions + 1):
            stats = metrics.revision(rev)
            for i in range(200):
                stats.completed(200 if i % 50 else 503, 0.0005 * (1 + i % 40))
        samples.append(metrics.snapshot())
    clock = iter(range(10**9))
    loops = 2000
    seconds = timeit.timeit(lambda: trend.add(float(next(clock)), samples[next(clock) % 60]),
                            number=loops)  # fmt: skip
    return seconds / loops


def endpoint_cpu(base: str, pid: int, path: str, count: int = 200) -> float:
    """The agent's CPU seconds per answer of `path` (its process' user + system time)."""
    proc = psutil.Process(pid)
    with httpx.Client(base_url=base, timeout=30) as client:
        client.get(path).raise_for_status()
        before = sum(proc.cpu_times()[:2])
        for _ in range(count):
            client.get(path)
        return float(sum(proc.cpu_times()[:2]) - before) / count


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--viewers", type=int, default=4)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--latency-rate", type=float, default=1000.0)
    p.add_argument("--watch", help=argparse.SUPPRESS)  # internal: be the viewers of BASE
    a = p.parse_args()
    if a.watch:
        watch(a.watch, a.viewers)
        return
    o = proxies.Options(a.seconds, a.connections, a.latency_rate, 8)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    rows: dict[str, list[proxies.Sample]] = {"without": [], "with": []}
    polls = 0
    with (
        tempfile.TemporaryDirectory() as tmp,
        agent.running(Path(tmp) / "dash", BACKEND, BENCH, extra=OPS.format(port=port)) as ag,
    ):
        httpx.get(base + "/api/now", timeout=10).raise_for_status()
        for rnd in range(a.rounds):
            for variant in ("without", "with"):
                if variant == "with":
                    with watching(base, a.viewers) as served:
                        time.sleep(POLL)
                        s = proxies.measure("changeover", rnd, ag.port, ag.pid, o)
                    polls += len(served)
                else:
                    s = proxies.measure("changeover", rnd, ag.port, ag.pid, o)
                rows[variant].append(s)
                print(f"bench: round {rnd + 1} {variant} viewers: {s}", flush=True)
        answers = {
            path: endpoint_cpu(base, ag.pid, path)
            for path in ("/api/now", "/api/events?last=15", "/api/history", "/metrics")
        }
    add = trend_cost()
    print_table(a, rows, polls, add)
    print("\n| request | agent CPU per answer |\n| --- | ---: |")
    for path, seconds in answers.items():
        print(f"| `GET {path}` | {seconds * 1e3:.2f} ms |")
    now = answers["/api/now"] / POLL
    print(f"\none open Now page: {now * 100:.3f}% of one core (an answer every {POLL:g} s)")


def _median(samples: list[proxies.Sample], field: str) -> float:
    return float(statistics.median(getattr(s, field) for s in samples))


def print_table(
    a: argparse.Namespace, rows: dict[str, list[proxies.Sample]], polls: int, add: float
) -> None:
    cpu = os.cpu_count()
    print(f"\nmachine: {platform.processor() or platform.machine()}, {cpu} cores, "
          f"Linux {platform.release()}, Python {platform.python_version()}; "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"rounds {a.rounds} x {a.seconds:g} s, {a.viewers} viewers ({polls} page polls), "
          f"tool {rows['with'][0].tool}\n")  # fmt: skip
    print("| agent | throughput (req/s) | agent CPU per request | p50 | p99 |")
    print("| --- | ---: | ---: | ---: | ---: |")
    base = rows["without"]
    for name, samples in rows.items():
        rps = _median(samples, "rps")
        cpu_req = _median(samples, "cpu_per_request")
        p50, p99 = _median(samples, "p50"), _median(samples, "p99")
        if name == "without":
            print(f"| no dashboard open | {rps:,.0f} | {cpu_req * 1e6:.1f} us | "
                  f"{p50 * 1e3:.3f} ms | {p99 * 1e3:.3f} ms |")  # fmt: skip
            continue
        r = (rps / _median(base, "rps"), cpu_req / _median(base, "cpu_per_request"),
             p50 / _median(base, "p50"), p99 / _median(base, "p99"))  # fmt: skip
        print(f"| {a.viewers} dashboards open | {rps:,.0f} ({r[0]:.3f} x) | "
              f"{cpu_req * 1e6:.1f} us ({r[1]:.3f} x) | {p50 * 1e3:.3f} ms ({r[2]:.3f} x) | "
              f"{p99 * 1e3:.3f} ms ({r[3]:.3f} x) |")  # fmt: skip
    errors = sum(s.errors for samples in rows.values() for s in samples)
    print(f"\nerrors: {errors}; the charts' history: {add * 1e6:.0f} us per second of "
          f"traffic with 3 revisions serving ({add * 100:.4f}% of one core)")  # fmt: skip


if __name__ == "__main__":
    main()
