"""Failed requests per hot restart: a naive stop-and-start, gunicorn SIGHUP, and
`changeover run` reloads, with and without `changeover.runtime` in the app.

Run: .venv/bin/python bench/hotrestart.py [--restarts 10] [--rate 300] [--connections 16]
Invariant: every method serves examples/hello and is restarted the same number of times,
interleaved (one restart of each method per round), each restart under its own run of the
same load (rate, connections, request mix, no retries) from `--settle` s before it until
`--settle` s after it; every process started leads its own session and everything this
script ever saw of it is killed (checked against its start time) before the script exits.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script from anywhere

import psutil
import tools
from deploys import HELLO, MIX, uvicorn_argv, workers
from procs import free_port, wait_listening

from changeover.hotrestart.files import read_status
from changeover.hotrestart.probe import generation_pids
from changeover.hotrestart.reload import request_reload
from changeover.loadgen import BackgroundLoad

# The version label is the generation; PYTHONPATH points at examples/hello for `app`.
PLAIN = """import os
os.environ["HELLO_VERSION"] = "g" + os.environ.get("CHANGEOVER_GENERATION", "?")
from app import app  # noqa: E402
"""
# As tests/e2e/test_hotrestart_run.py: serve with `Connection: close` for 1 s first.
WRAPPED = (
    PLAIN
    + """from changeover.runtime import Lifecycle  # noqa: E402
lifecycle = Lifecycle(grace_period=20, drain_delay=1.0, readiness_path="/_ready",
                      liveness_path="/_live")
app = lifecycle.asgi(app)
"""
)
PY = sys.executable
QUIET = ("--log-level", "warning")


class Processes:
    """Spawns servers in their own sessions and remembers every process seen in them."""

    def __init__(self, work: Path) -> None:
        self.work, self.seen = work, dict[int, psutil.Process]()
        self.env = {**os.environ, "PYTHONPATH": str(HELLO)}
        self.env.pop("NOTIFY_SOCKET", None)  # a systemd of our own must not get their READY=1

    def spawn(self, argv: Sequence[str], cwd: Path, log: str) -> subprocess.Popen[bytes]:
        with (self.work / log).open("ab") as out:
            proc = subprocess.Popen(list(argv), cwd=cwd, stdout=out, stderr=out, env=self.env,
                                    start_new_session=True)  # fmt: skip
        self.track({proc.pid})
        return proc

    def track(self, pids: set[int]) -> None:
        for pid in pids - self.seen.keys():
            with contextlib.suppress(psutil.Error):
                self.seen[pid] = psutil.Process(pid)

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 30.0) -> None:
        """SIGTERM the main process and wait for it; SIGKILL its group after `grace`."""
        self.track(generation_pids(proc.pid))
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def sweep(self) -> list[int]:
        """SIGKILL whatever we saw that still runs (is_running checks the start time)."""
        left = [p for p in self.seen.values() if p.is_running() and p.status() != "zombie"]
        for p in left:
            with contextlib.suppress(psutil.Error):
                p.kill()
        return [p.pid for p in left]


class Naive:
    """SIGTERM `uvicorn app:app --port P`, wait for it to exit, start it again."""

    def __init__(self, procs: Processes) -> None:
        self.procs, self.port = procs, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = self.start()

    def start(self) -> subprocess.Popen[bytes]:
        proc = self.procs.spawn(uvicorn_argv(self.port), HELLO, "naive.log")
        wait_listening(self.port, proc=proc)
        return proc

    def restart(self) -> None:
        self.procs.stop(self.proc)
        self.proc = self.start()

    def close(self) -> None:
        self.procs.stop(self.proc)


class Gunicorn:
    """`kill -HUP` a gunicorn master (2 uvicorn workers); done when both workers are new."""

    def __init__(self, procs: Processes, module: str, log: str) -> None:
        self.procs, port = procs, free_port()
        self.url = f"http://127.0.0.1:{port}"
        argv = [PY, "-m", "gunicorn", "-k", "uvicorn_worker.UvicornWorker", "-w", "2",
                "--graceful-timeout", "20", "--no-control-socket", *QUIET,
                "-b", f"127.0.0.1:{port}", f"{module}:app"]  # fmt: skip
        self.proc = procs.spawn(argv, procs.work, log)
        wait_listening(port, proc=self.proc)
        procs.track(workers(self.proc.pid, set()))

    def restart(self) -> None:
        old = workers(self.proc.pid, set())
        os.kill(self.proc.pid, signal.SIGHUP)
        self.procs.track(workers(self.proc.pid, old))

    def close(self) -> None:
        self.procs.stop(self.proc)


class Run:
    """`changeover run -- uvicorn MODULE:app --fd 3`; restart = SIGHUP, wait for the outcome."""

    def __init__(self, procs: Processes, module: str, log: str) -> None:
        self.procs, self.pid_file = procs, procs.work / f"{module}.pid"
        server = [PY, "-m", "uvicorn", f"{module}:app", "--fd", "3", "--no-access-log", *QUIET]
        argv = [PY, "-m", "changeover", "run", "--listen", "127.0.0.1:0", "--ready",
                "http:/readyz", "--pid-file", str(self.pid_file), "--", *server]  # fmt: skip
        self.proc = procs.spawn(argv, procs.work, log)
        self.url = f"http://{self.serving()['listen'][0]}"

    def serving(self, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while (doc := read_status(self.pid_file)) is None or doc.get("phase") != "serving":
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"changeover run not serving; see {self.procs.work}")
            time.sleep(0.05)
        self.procs.track(generation_pids(self.proc.pid))
        return doc

    def restart(self, timeout: float = 120.0) -> None:
        """SIGHUP and wait for its numbered outcome: what `changeover run --reload` does."""
        deadline = time.monotonic() + timeout

        def sleep(seconds: float) -> None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no reload outcome within {timeout}s")
            time.sleep(seconds)

        answer = request_reload(self.pid_file, sleep)
        self.procs.track(generation_pids(self.proc.pid))
        if not answer.upgraded:
            raise RuntimeError(f"reload failed: {answer.message}")

    def close(self) -> None:
        self.procs.stop(self.proc)


class Method(Protocol):
    """What every method offers: a URL, a blocking restart, a graceful close."""

    url: str

    def restart(self) -> None: ...

    def close(self) -> None: ...


@dataclass
class Tally:
    name: str
    sent: int = 0
    failed: int = 0
    per_restart: list[int] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    note: str = ""

    def row(self) -> str:
        n = len(self.per_restart)
        hit = sum(1 for f in self.per_restart if f)
        kinds = ", ".join(f"{k} {v}" for k, v in self.kinds.most_common()) or "-"
        per = f"{self.failed / n:.1f}" if n else "-"
        worst = max(self.per_restart, default=0)
        note = f" ({self.note})" if self.note else ""
        return (f"| {self.name}{note} | {n} | {self.sent:,} | {self.failed:,} | {per} | "
                f"{hit} of {n} | {worst} | {kinds} |")  # fmt: skip


def cycle(method: Method, tally: Tally, a: argparse.Namespace) -> None:
    """One restart under a fresh run of the load; its counts go to `tally`."""
    load = BackgroundLoad(method.url, rate=a.rate, connections=a.connections, templates=MIX,
                          timeout=30)  # fmt: skip
    with load:
        time.sleep(a.settle)  # connections open, busy, then idle between requests
        method.restart()
        time.sleep(a.settle)
    report = load.report
    tally.sent += report.sent
    tally.failed += report.failed
    tally.per_restart.append(report.failed)
    tally.kinds.update({k: n for k, n in report.outcomes().items() if n and k != "ok"})


def start(procs: Processes, made: dict[str, Method], optional: bool) -> None:
    """Start every method's server into `made` (so a failure still stops the earlier ones)."""
    (procs.work / "release.py").write_text(PLAIN)
    (procs.work / "release_runtime.py").write_text(WRAPPED)
    made["naive stop-and-start (uvicorn)"] = Naive(procs)
    made["gunicorn SIGHUP, 2 UvicornWorkers"] = Gunicorn(procs, "release", "gunicorn.log")
    made["changeover run, plain app"] = Run(procs, "release", "run.log")
    made["changeover run, app with changeover.runtime"] = Run(procs, "release_runtime", "rt.log")
    if optional:
        rt = Gunicorn(procs, "release_runtime", "gunicorn_rt.log")
        made["gunicorn SIGHUP, app with changeover.runtime"] = rt


def rounds(made: dict[str, Method], a: argparse.Namespace) -> list[Tally]:
    """One restart of each method per round; a method whose restart fails leaves the rotation."""
    tallies = {name: Tally(name) for name in made}
    live = dict(made)
    for rnd in range(a.restarts):
        for name, method in list(live.items()):
            try:
                cycle(method, tallies[name], a)
            except (RuntimeError, TimeoutError) as exc:
                why = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
                tallies[name].note = f"stopped after {rnd} restarts: {why}"
                del live[name]
        done = ", ".join(f"{t.per_restart[-1] if t.per_restart else '-'}" for t in tallies.values())
        print(f"bench: round {rnd + 1}/{a.restarts}: failed {done}", flush=True)
    return list(tallies.values())


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--restarts", type=int, default=10, help="restarts per method")
    p.add_argument("--rate", type=float, default=300.0, help="requests/s of the load")
    p.add_argument("--connections", type=int, default=16, help="keep-alive connections")
    p.add_argument("--settle", type=float, default=1.0, help="s of load before/after a restart")
    p.add_argument("--no-gunicorn-runtime", action="store_true", help="skip method 5")
    a = p.parse_args()
    if a.restarts < 1 or a.rate <= 0 or a.connections < 1 or a.settle < 0:
        p.error("--restarts and --connections must be >= 1, --rate > 0, --settle >= 0")
    return a


def machine() -> list[str]:
    info = {k: v for k, v in tools.machine().items() if k in ("cpu", "kernel", "python")}
    info |= {n: version(n) for n in ("uvicorn", "gunicorn", "uvicorn-worker", "uvloop")}
    info["load average at start"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return [f"- {k}: {v}" for k, v in info.items()]


def main() -> int:
    a = parse()
    began, about = time.monotonic(), machine()
    made: dict[str, Method] = {}
    with tempfile.TemporaryDirectory(prefix="changeover-hotrestart-") as tmp:
        procs = Processes(Path(tmp))
        try:
            start(procs, made, optional=not a.no_gunicorn_runtime)
            tallies = rounds(made, a)
        finally:
            for method in made.values():
                with contextlib.suppress(Exception):
                    method.close()
            if left := procs.sweep():
                print(f"bench: killed processes still running: {left}", flush=True)
    print("\n## Machine\n\n" + "\n".join(about))
    print(f"- command: {' '.join(sys.argv)} ({time.monotonic() - began:.0f} s)")
    print(f"\n## Failed requests per hot restart ({a.rate:g} req/s, {a.connections} conns)\n")
    print("| method | restarts | requests | failed | per restart | restarts with failures "
          "| most in one | failures by kind |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    print("\n".join(t.row() for t in tallies))
    return 0


if __name__ == "__main__":
    sys.exit(main())
