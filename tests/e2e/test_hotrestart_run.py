"""`changeover run` hot restarts of uvicorn and gunicorn under keep-alive load: zero failures.

Each test runs the real command (`changeover run`) on a copy of the bundled
example, drives it with the project's load generator (no retries), and tracks every
process it started by pid: anything alive at the end is killed and fails the test.
The tests named `default` pass no --ready: the default readiness decides.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from changeover.hotrestart.files import status_path
from changeover.hotrestart.owner import held_by, read_rows, server_inode
from changeover.hotrestart.probe import generation_pids
from changeover.loadgen import BackgroundLoad, Report, Template
from tests.e2e.harness import EXAMPLE, MIX, burst
from tests.helpers import wait_for

# Stand-in for what the runtime library does for an app: the release's settings come from
# release.env, the version label is the generation, and on SIGTERM the app keeps serving
# for a second with `Connection: close` on every response before uvicorn shuts down
# (uvicorn alone closes idle keep-alive connections at once: see docs/run.md).
RELEASE = """
import os
from pathlib import Path

for line in Path("release.env").read_text().splitlines():
    key, _, value = line.partition("=")
    os.environ[key] = value
os.environ["HELLO_VERSION"] = "g" + os.environ.get("CHANGEOVER_GENERATION", "?")
import asyncio
from app import app as hello

from changeover.runtime import Lifecycle


async def inner(scope, receive, send):
    # /hold answers only once hold.release exists: the test decides when a request held
    # by the old generation may end (and so when that generation may exit)
    if scope["type"] != "http" or scope["path"] != "/hold":
        return await hello(scope, receive, send)
    while not os.path.exists("hold.release"):
        await asyncio.sleep(0.02)
    await send({"type": "http.response.start", "status": 200, "headers": []})
    body = "held by " + os.environ["HELLO_VERSION"] + "\\n"
    await send({"type": "http.response.body", "body": body.encode()})

# changeover.runtime keeps serving with `Connection: close` until the old generation is idle,
# so keep-alive clients leave before the server closes their connections
lifecycle = Lifecycle(
    grace_period=20, drain_delay=1.0, readiness_path="/_ready", liveness_path="/_live"
)
app = lifecycle.asgi(inner)
"""
# The same for gunicorn's own workers: examples/hello/wsgi_app.py, imported by each worker
# as it boots (no --preload), so a CRASH_AT_BOOT=1 release fails every new worker's boot.
# A worker that imported it leaves booted/PID, so a test can wait for every worker of a
# generation before it writes a release that crashes (see docs/run.md on --preload).
RELEASE_WSGI = """
import os
from pathlib import Path

for line in Path("release.env").read_text().splitlines():
    key, _, value = line.partition("=")
    os.environ[key] = value
os.environ["HELLO_VERSION"] = "g" + os.environ.get("CHANGEOVER_GENERATION", "?")
from wsgi_app import app

Path("booted").mkdir(exist_ok=True)
Path("booted", str(os.getpid())).touch()
"""
RUN = (sys.executable, "-m", "changeover", "run")
SERVERS = {
    "uvicorn": [sys.executable, "-m", "uvicorn", "release:app", "--fd", "3", "--no-access-log"],
    "gunicorn": [
        # --preload: each generation's workers run the release it started with, even a
        # worker booting after the next release was written (see docs/run.md).
        *(sys.executable, "-m", "gunicorn", "release:app", "--workers", "2", "--preload"),
        *("--worker-class", "uvicorn_worker.UvicornWorker", "--graceful-timeout", "20"),
        "--no-control-socket",  # its fixed path would be shared by two generations
    ],
    # the user's command line: `gunicorn -w 2 app` (sync workers, nothing preloaded)
    "gunicorn-sync": [
        *(sys.executable, "-m", "gunicorn", "release_wsgi:app", "-w", "2"),
        *("--graceful-timeout", "20", "--no-control-socket"),
    ],
    "gunicorn-gthread": [
        *(sys.executable, "-m", "gunicorn", "release_wsgi:app", "-w", "2", "--threads", "4"),
        *("--graceful-timeout", "20", "--no-control-socket"),
    ],
}
# gunicorn's own workers serve one request per worker (sync) or thread (gthread) at a
# time: shorter slow requests, and a lower rate.
WSGI_MIX = (*MIX[:2], Template(method="GET", path="/slow?ms=50", weight=1))


def env(notify: str) -> dict[str, str]:
    """Our environment, with NOTIFY_SOCKET only if the test plays systemd."""
    base = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS")}
    return base | {"NOTIFY_SOCKET": notify} if notify else base


class Instance:
    """One `changeover run` on a copy of examples/hello, with every pid it ever had."""

    def __init__(
        self, root: Path, server: str, *options: str, notify: str = "", ready: str = ""
    ) -> None:
        self.dir = root / "hello"
        shutil.copytree(EXAMPLE, self.dir, ignore=shutil.ignore_patterns("__pycache__", ".*"))
        (self.dir / "release.py").write_text(RELEASE)
        (self.dir / "release_wsgi.py").write_text(RELEASE_WSGI)
        self.release()
        self.pid_file = root / "run.pid"
        self.log = root / "run.log"
        self.tracked: set[int] = set()
        argv = [*RUN, "--listen", "127.0.0.1:0", "--pid-file", str(self.pid_file)]
        argv += [*(("--ready", ready) if ready else ()), *options, "--"]
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(
                [*argv, *SERVERS[server]], cwd=self.dir, stdout=log, stderr=log, env=env(notify)
            )
        self.tracked.add(self.proc.pid)

    def release(self, *settings: str) -> None:
        """What the next generation boots with (CRASH_AT_BOOT=1, NEVER_READY=1)."""
        (self.dir / "release.env").write_text("".join(f"{s}\n" for s in settings))

    def status(self) -> dict[str, Any]:
        with contextlib.suppress(OSError, ValueError):
            doc: dict[str, Any] = json.loads(status_path(self.pid_file).read_text())
            return doc
        return {}

    def serving(self) -> dict[str, Any]:
        self.track()
        wait_for(
            lambda: self.status().get("phase") == "serving", 30, "phase serving", detail=self.output
        )
        return self.status()

    def url(self) -> str:
        return f"http://{self.serving()['listen'][0]}"

    def reload(self) -> subprocess.CompletedProcess[str]:
        self.track()
        result = subprocess.run(
            [*RUN, "--reload", "--pid-file", str(self.pid_file)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.track()
        return result

    def reload_in_background(self) -> subprocess.Popen[str]:
        """`--reload` started, its answer read later with `communicate()`."""
        self.track()
        argv = [*RUN, "--reload", "--pid-file", str(self.pid_file)]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def phase(self, phase: str, generation: int) -> dict[str, Any]:
        """The status once in `phase` with `generation` serving."""

        def reached() -> bool:
            self.track()
            doc = self.status()
            return (
                doc.get("phase") == phase
                and (doc.get("serving") or {}).get("generation") == generation
            )

        wait_for(reached, 60, f"{phase} with generation {generation}", detail=self.output)
        return self.status()

    def workers_booted(self, workers: int) -> None:
        """Wait until `workers` workers of the serving generation have imported the app."""
        main = self.serving()["serving"]["pid"]

        def booted() -> bool:
            pids = generation_pids(main) - {main}
            return len(pids) == workers and all(
                (self.dir / "booted" / str(p)).exists() for p in pids
            )

        wait_for(booted, 60, f"{workers} workers booted", detail=self.output)

    def track(self) -> None:
        self.tracked |= generation_pids(self.proc.pid)

    def stop(self) -> int:
        self.track()
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)

    def output(self) -> str:
        return self.log.read_text()

    def cleanup(self) -> list[int]:
        self.track()
        survivors = []
        for pid in self.tracked:
            with contextlib.suppress(psutil.Error):
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    survivors.append(pid)
                    os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        return survivors


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Any]:
    made: list[Instance] = []

    def make(server: str, *options: str, notify: str = "", ready: str = "http:/readyz") -> Instance:
        made.append(Instance(tmp_path, server, *options, notify=notify, ready=ready))
        return made[-1]

    yield make
    for inst in made:
        survivors = inst.cleanup()
        assert not survivors, f"processes left behind: {survivors}\n{inst.output()}"


def load(url: str, templates: tuple[Template, ...] = MIX, rate: float = 200) -> BackgroundLoad:
    return BackgroundLoad(
        url, rate=rate, connections=8, templates=templates, timeout=30, count_header="X-Version"
    )


def load_for(server: str, url: str) -> BackgroundLoad:
    wsgi = server in ("gunicorn-sync", "gunicorn-gthread")
    return load(url, WSGI_MIX, rate=100) if wsgi else load(url)


def no_failures(gen: BackgroundLoad) -> Report:
    report = gen.report
    assert report.failed == 0, report.summary()
    assert report.in_flight == 0
    assert report.ok == report.sent > 0
    return report


class SlowRequest:
    """A 1.5 s request (or `path`) held by the serving generation before the reload starts."""

    def __init__(self, url: str, inst: Instance, path: str = "/slow?ms=1500") -> None:
        self.path = path
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)
        self.result: tuple[int, bytes] | None = None
        self.conn.connect()
        client = self.conn.sock.getsockname()
        self.thread = threading.Thread(target=self._get, daemon=True)
        self.thread.start()
        serving = inst.serving()["serving"]["pid"]

        def accepted_by_serving() -> bool:
            inode = server_inode(read_rows(), int(port), client)
            return inode is not None and held_by(inode, generation_pids(serving))

        wait_for(accepted_by_serving, 10, "the slow request to reach the serving generation")

    def _get(self) -> None:
        self.conn.request("GET", self.path)
        response = self.conn.getresponse()
        self.result = (response.status, response.read())

    def finish(self) -> tuple[int, bytes] | None:
        self.thread.join(timeout=30)
        self.conn.close()
        return self.result


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn"])
def test_five_hot_restarts_under_load_fail_no_request(start: Any, server: str) -> None:
    inst = start(server)
    url = inst.url()
    slow: list[tuple[str, SlowRequest]] = []
    try:
        with load(url) as gen:
            for _ in range(5):
                label = f"g{inst.serving()['serving']['generation']}"
                slow.append((label, SlowRequest(url, inst)))
                result = inst.reload()
                assert result.returncode == 0, result.stdout + result.stderr + inst.output()
                assert "is serving" in result.stdout
            sent = gen.snapshot().sent
            gen.wait_until(lambda r: r.sent > sent + 100, 30)
        report = no_failures(gen)
        assert set(report.header_counts) == {f"g{n}" for n in range(1, 7)}, report.header_counts
        finished = [(label, request.finish()) for label, request in slow]
    finally:  # a failed assertion must not leave sockets for a later test's GC to report
        for _, request in slow:
            request.finish()
    for label, answer in finished:  # each old generation finished its slow request
        assert answer == (200, f"slow hello from {label}\n".encode())
    assert inst.serving()["serving"]["generation"] == 6
    assert inst.stop() == 0


@pytest.mark.parametrize(
    ("server", "setting", "reason"),
    [
        ("uvicorn", "CRASH_AT_BOOT=1", "exited with code 3 before it was ready"),
        ("gunicorn", "CRASH_AT_BOOT=1", "before it was ready"),
        ("uvicorn", "NEVER_READY=1", "was not ready within 8s"),
    ],
)
def test_broken_release_leaves_the_old_one_serving(
    start: Any, server: str, setting: str, reason: str
) -> None:
    # long enough for a healthy generation on a busy machine; NEVER_READY waits it out
    inst = start(server, "--ready-timeout", "8s")
    url = inst.url()
    with load(url) as gen:
        inst.release(setting)
        result = inst.reload()
        assert result.returncode == 1, result.stdout + result.stderr
        assert reason in result.stdout
        assert "generation 1 keeps serving" in result.stdout
    report = no_failures(gen)
    assert "g1" in report.header_counts
    assert inst.serving()["serving"]["generation"] == 1
    assert burst(url, 40).header_counts == {"g1": 40}
    inst.release()
    assert inst.reload().returncode == 0  # a good release after a bad one goes through
    assert burst(url, 40).header_counts == {"g3": 40}
    assert inst.stop() == 0


def test_stop_drains_the_serving_generation_and_tells_systemd(start: Any, short_tmp: Path) -> None:
    manager = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    manager.bind(str(short_tmp / "notify"))
    manager.settimeout(30)
    with manager:
        inst = start("uvicorn", notify=str(short_tmp / "notify"))
        url = inst.url()
        ready = manager.recv(4096).decode().split("\n")
        slow = SlowRequest(url, inst)
        assert inst.stop() == 0
        stopping = manager.recv(4096).decode()
    assert "READY=1" in ready
    assert f"MAINPID={inst.proc.pid}" in ready
    assert stopping == "STOPPING=1"
    assert slow.finish() == (200, b"slow hello from g1\n")
    assert not inst.pid_file.exists()
    assert not status_path(inst.pid_file).exists()


@pytest.mark.parametrize("server", ["gunicorn-sync", "gunicorn-gthread"])
def test_default_keeps_gunicorn_serving_through_a_release_its_workers_cannot_import(
    start: Any, server: str
) -> None:
    """The reported case: `gunicorn -w 2 app`, no --ready, no --preload. The arbiter of the
    new generation says READY=1 at once; its workers then fail to boot and it halts."""
    inst = start(server, ready="")
    url = inst.url()
    # Without --preload an old worker booting after the next release is written would
    # import it too: that one is not for readiness to solve (docs/run.md).
    inst.workers_booted(2)
    with load_for(server, url) as gen:
        inst.release("CRASH_AT_BOOT=1")
        result = inst.reload()
        assert result.returncode == 1, result.stdout + result.stderr + inst.output()
        # gunicorn's halt exits 3, or 1 when the halt raises inside its signal handling
        assert "generation 2 exited with code " in result.stdout
        assert "before it was ready; generation 1 keeps serving" in result.stdout
        sent = gen.snapshot().sent
        gen.wait_until(lambda r: r.sent > sent + 50, 30)  # still serving after the failure
    report = no_failures(gen)
    assert set(report.header_counts) == {"g1"}, report.header_counts
    log = inst.output()
    assert "generation 2: readiness waits for an HTTP answer from one of its processes" in log
    assert (
        "generation 2 sent READY=1 before any of its processes answers HTTP (gunicorn's arbiter"
        " sends it before any worker has booted)"
    ) in log
    assert "Worker failed to boot" in log
    assert inst.serving()["serving"]["generation"] == 1
    inst.release()
    assert inst.reload().returncode == 0  # a good release after a bad one goes through
    assert burst(url, 40).header_counts == {"g3": 40}
    assert inst.stop() == 0


@pytest.mark.parametrize("server", ["uvicorn", "gunicorn-sync"])
def test_default_upgrades_a_healthy_release_with_no_failure(start: Any, server: str) -> None:
    inst = start(server, ready="")
    url = inst.url()
    with load_for(server, url) as gen:
        for _ in range(2):
            result = inst.reload()
            assert result.returncode == 0, result.stdout + result.stderr + inst.output()
            assert "is serving" in result.stdout
        sent = gen.snapshot().sent
        gen.wait_until(lambda r: r.sent > sent + 50, 30)
    report = no_failures(gen)
    assert set(report.header_counts) == {"g1", "g2", "g3"}, report.header_counts
    assert "generation 3 is ready: GET /readyz answered 200" in inst.output()
    assert inst.stop() == 0


def test_default_restarts_the_previous_command_when_the_new_one_dies_after_taking_over(
    start: Any,
) -> None:
    """Generation 2 becomes ready, generation 1 is told to stop (a held request keeps it
    draining), then generation 2 exits: generation 1's command starts again as 3. No
    request fails: connections wait in the listen queue for generation 3."""
    inst = start("uvicorn", ready="")
    url = inst.url()
    held = None
    try:
        with load(url) as gen:
            held = SlowRequest(url, inst, path="/hold")
            reloading = inst.reload_in_background()
            second = inst.phase("retiring", 2)["serving"]["pid"]
            os.kill(second, signal.SIGTERM)  # the new release goes away on its own
            answer, _ = reloading.communicate(timeout=120)
            assert reloading.returncode == 1, answer + inst.output()
            inst.phase("retiring", 3)  # generation 1 still holds its request
            (inst.dir / "hold.release").touch()
            assert held.finish() == (200, b"held by g1\n")
            inst.phase("serving", 3)
            sent = gen.snapshot().sent
            gen.wait_until(lambda r: r.sent > sent + 100, 30)
    finally:
        if held is not None:
            held.finish()
    report = no_failures(gen)
    assert {"g1", "g3"} <= set(report.header_counts), report.header_counts
    assert answer.strip() == (
        "generation 2 exited with code 0 after generation 1 was told to stop; generation 3"
        " (generation 1's command, restarted) serves"
    )
    assert "starting generation 1's command again as generation 3" in inst.output()
    assert burst(url, 40).header_counts == {"g3": 40}
    assert inst.stop() == 0
