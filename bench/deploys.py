"""Failed requests while a service is replaced three times under the same counting load:
a naive stop-and-start, a gunicorn SIGHUP reload (uvicorn workers), and changeover deploys
with each strategy asked for.

Invariant: every method serves the bundled example app and is measured with the same
load (rate, connections, request mix, no retries), started before the first replacement
and stopped after the last; a strategy the agent refuses is skipped with its message.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import agent
import psutil
from procs import Started, free_port, stop, wait_listening

from changeover.loadgen import BackgroundLoad, Report, Template

HELLO = Path(__file__).resolve().parents[1] / "examples" / "hello"
REPLACEMENTS = 3
MIX = (
    Template(method="GET", path="/", weight=20),
    Template(method="POST", path="/echo", body=b"z" * 4096, weight=3, expect=b"4096 "),
    Template(method="GET", path="/slow?ms=300", weight=1),
)


@dataclass(frozen=True)
class Options:
    rate: float
    connections: int
    settle: float
    """Seconds of load before the first replacement, between two, and after the last."""


@dataclass
class Result:
    method: str
    replacements: int = 0
    sent: int = 0
    failed: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    note: str = ""

    def count(self, report: Report) -> None:
        self.sent, self.failed = report.sent, report.failed
        self.kinds = {k: n for k, n in report.outcomes().items() if n and k != "ok"}


def under_load(url: str, o: Options, result: Result, replace: Callable[[int], str]) -> Result:
    """Run `replace(i)` REPLACEMENTS times under the load; it returns '' or why it stopped."""
    load = BackgroundLoad(url, rate=o.rate, connections=o.connections, templates=MIX, timeout=30)
    with load:
        time.sleep(o.settle)
        for i in range(REPLACEMENTS):
            problem = replace(i)
            if problem:
                result.note = problem
                break
            result.replacements += 1
            time.sleep(o.settle)
    result.count(load.report)
    return result


def uvicorn_argv(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1",
            "--port", str(port), "--no-access-log", "--log-level", "warning"]  # fmt: skip


def naive(o: Options, work: Path) -> Result:
    """SIGTERM the server, wait for it to exit, start the new version on the same port."""
    port = free_port()
    env = {**os.environ, "HELLO_VERSION": "v1"}
    current = Started(uvicorn_argv(port), cwd=HELLO, env=env, log=work / "naive.log")
    try:
        wait_listening(port, proc=current.proc)

        def replace(i: int) -> str:
            nonlocal current
            stop(current.proc)
            env = {**os.environ, "HELLO_VERSION": f"v{i + 2}"}
            current = Started(uvicorn_argv(port), cwd=HELLO, env=env, log=work / "naive.log")
            wait_listening(port, proc=current.proc)
            return ""

        return under_load(f"http://127.0.0.1:{port}", o, Result("naive stop-and-start"), replace)
    finally:
        stop(current.proc)


def gunicorn(o: Options, work: Path) -> Result:
    """`kill -HUP` the gunicorn master (2 uvicorn workers); wait until both are replaced."""
    if importlib.util.find_spec("gunicorn") is None:
        return Result("gunicorn SIGHUP reload", note="skipped: gunicorn is not installed")
    worker = (
        "uvicorn_worker.UvicornWorker"
        if importlib.util.find_spec("uvicorn_worker")
        else "uvicorn.workers.UvicornWorker"
    )
    port = free_port()
    argv = [sys.executable, "-m", "gunicorn", "-k", worker, "-w", "2", "--graceful-timeout",
            "10", "-b", f"127.0.0.1:{port}", "app:app"]  # fmt: skip
    with Started(argv, cwd=HELLO, log=work / "gunicorn.log") as master:
        wait_listening(port, proc=master.proc)
        workers(master.pid, set())

        def replace(i: int) -> str:
            old = workers(master.pid, set())
            os.kill(master.pid, signal.SIGHUP)
            workers(master.pid, old)
            return ""

        return under_load(f"http://127.0.0.1:{port}", o, Result("gunicorn SIGHUP reload"), replace)


def workers(master: int, old: set[int], timeout: float = 60) -> set[int]:
    """Wait until the master has 2 workers, none of them in `old`; their pids."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = {p.pid for p in psutil.Process(master).children()}
        if len(now) == 2 and not now & old:
            return now
        time.sleep(0.05)
    raise TimeoutError(f"gunicorn {master} did not replace its workers within {timeout}s")


def changeover(o: Options, work: Path, strategies: list[str]) -> list[Result]:
    """Three `changeover deploy --strategy S` per strategy, each strategy its own load."""
    results = []
    command = "uvicorn app:app --fd 3 --no-access-log"
    with agent.running(work / "changeover", command, HELLO, replicas=2) as ag:
        url = f"http://127.0.0.1:{ag.port}"
        versions = iter(range(2, 1000))
        for strategy in strategies:

            def replace(i: int, strategy: str = strategy) -> str:
                v = f"v{next(versions)}"
                done = ag.cli("deploy", "--version", v, "--env", f"HELLO_VERSION={v}",
                              "--strategy", strategy)  # fmt: skip
                if done.returncode == 0:
                    return ""
                why = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[0]
                why = why.removeprefix("error: ")
                return f"skipped: {why}" if done.returncode == 2 else f"deploy failed: {why}"

            result = under_load(url, o, Result(f"changeover {strategy}"), replace)
            results.append(result)
            if result.note.startswith("skipped"):
                print(f"bench: changeover {strategy}: {result.note}", flush=True)
    return results
