"""`changeover run` hot restarts of uvicorn and gunicorn under keep-alive load: zero failures.

Each test runs the real command (`changeover run`) on a copy of the bundled
example, drives it with the project's load generator (no retries), and tracks every
process it started by pid: anything alive at the end is killed and fails the test.
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
import tempfile
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
from tests.e2e.harness import EXAMPLE, burst
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
from app import app as inner

from changeover.runtime import Lifecycle

# changeover.runtime keeps serving with `Connection: close` until the old generation is idle,
# so keep-alive clients leave before the server closes their connections
lifecycle = Lifecycle(
    grace_period=20, drain_delay=1.0, readiness_path="/_ready", liveness_path="/_live"
)
app = lifecycle.asgi(inner)
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
}
MIX = (
    Template(method="GET", path="/", weight=20),
    Template(method="POST", path="/echo", body=b"z" * 4096, weight=3, expect=b"4096 "),
    Template(method="GET", path="/slow?ms=700", weight=1),
)


def env(notify: str) -> dict[str, str]:
    """Our environment, with NOTIFY_SOCKET only if the test plays systemd."""
    base = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "LISTEN_FDS")}
    return base | {"NOTIFY_SOCKET": notify} if notify else base


class Instance:
    """One `changeover run` on a copy of examples/hello, with every pid it ever had."""

    def __init__(self, root: Path, server: str, *options: str, notify: str = "") -> None:
        self.dir = root / "hello"
        shutil.copytree(EXAMPLE, self.dir, ignore=shutil.ignore_patterns("__pycache__", ".*"))
        (self.dir / "release.py").write_text(RELEASE)
        self.release()
        self.pid_file = root / "run.pid"
        self.log = root / "run.log"
        self.tracked: set[int] = set()
        argv = [*RUN, "--listen", "127.0.0.1:0"]
        argv += ["--pid-file", str(self.pid_file), "--ready", "http:/readyz", *options, "--"]
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
        wait_for(lambda: self.status().get("phase") == "serving", 30, "phase serving")
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

    def make(server: str, *options: str, notify: str = "") -> Instance:
        made.append(Instance(tmp_path, server, *options, notify=notify))
        return made[-1]

    yield make
    for inst in made:
        survivors = inst.cleanup()
        assert not survivors, f"processes left behind: {survivors}\n{inst.output()}"


def load(url: str) -> BackgroundLoad:
    return BackgroundLoad(
        url, rate=200, connections=8, templates=MIX, timeout=30, count_header="X-Version"
    )


def no_failures(gen: BackgroundLoad) -> Report:
    report = gen.report
    assert report.failed == 0, report.summary()
    assert report.in_flight == 0
    assert report.ok == report.sent > 0
    return report


class SlowRequest:
    """A 1.5 s request held by the serving generation before the reload starts."""

    def __init__(self, url: str, inst: Instance) -> None:
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
        self.conn.request("GET", "/slow?ms=1500")
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
        ("uvicorn", "NEVER_READY=1", "was not ready within 3s"),
    ],
)
def test_broken_release_leaves_the_old_one_serving(
    start: Any, server: str, setting: str, reason: str
) -> None:
    inst = start(server, "--ready-timeout", "3s")
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


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A folder with a short path: unix socket paths must stay under 108 bytes."""
    path = Path(tempfile.mkdtemp(prefix="co-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


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
