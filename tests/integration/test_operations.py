"""Day-to-day operations: foreground agent, spec changes, releases from other folders,
a busy agent refusing a second deploy, following logs and watching status."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.integration.harness import Service, burst, wait_for

pytestmark = pytest.mark.integration


def spawn(service: Service, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "changeover", *args],
        cwd=service.dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


class Lines:
    """Collects a child's output lines in a thread, so waits never block on a pipe."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stdout is not None
        self._stream = stream = proc.stdout
        self._thread = threading.Thread(target=lambda: self.lines.extend(stream), daemon=True)
        self._thread.start()

    def seen(self, text: str) -> bool:
        return any(text in line for line in list(self.lines))

    def join(self) -> None:
        self._thread.join(timeout=30)
        self._stream.close()


def stop(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> int:
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_foreground_up_serves_until_sigint_then_stops_everything(service: Service) -> None:
    proc = spawn(service, "up")
    out = Lines(proc)
    try:
        wait_for(lambda: out.seen("ready: revision 1 (v1) serving on"), 60, "agent ready")
        service.track_agent()
        pids = service.replica_pids()
        assert burst(service.url(), 20).ok == 20
    finally:
        code = stop(proc)
        out.join()
    assert code == 0, "".join(out.lines)
    for pid in pids.values():
        assert pid not in service.alive()
    assert not service.alive()


def test_up_fails_when_the_first_revision_cannot_start(service: Service) -> None:
    service.write_spec(deadline="10s")
    text = service.spec.read_text().replace(
        'HELLO_VERSION = "v1"', 'HELLO_VERSION = "v1", CRASH_AT_BOOT = "1"'
    )
    service.spec.write_text(text)
    result = service.cli("up", "--detach")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "failed at boot 3 times" in result.stdout + result.stderr
    wait_for(lambda: not service.alive(), 30, "agent and replicas to exit")


def test_spec_changes_ship_with_the_release(service: Service) -> None:
    service.up()
    service.write_spec(replicas=3)
    result = service.cli("deploy", "--version", "v2", "--env", "HELLO_VERSION=v2")
    assert result.returncode == 0, result.stdout + result.stderr
    doc = service.status()
    ready = [r for r in doc["replicas"] if r["revision"] == 2 and r["state"] == "ready"]
    assert len(ready) == 3
    history = service.cli("history", "--json").stdout
    assert '"replicas": 3' in history
    assert '"replicas": 2' in history


def test_release_from_another_folder(service: Service, tmp_path: Path) -> None:
    url = service.up()
    release = tmp_path / "release-2"
    shutil.copytree(service.dir, release, ignore=shutil.ignore_patterns(".changeover"))
    app = release / "app.py"
    app.write_text(app.read_text().replace('f"hello from {VERSION}\\n"', 'f"bonjour {VERSION}\\n"'))
    result = service.cli(
        "deploy", "--version", "v2", "--path", str(release), "--env", "HELLO_VERSION=v2"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    import urllib.request

    with urllib.request.urlopen(url + "/", timeout=10) as response:
        assert response.read() == b"bonjour v2\n"
    history = service.cli("history", "--json").stdout
    assert str(release) in history


def test_second_deploy_while_one_runs_is_refused(service: Service) -> None:
    service.up()
    first = service.cli("deploy", "--version", "v2", "--env", "BOOT_DELAY=3", "--no-wait")
    assert first.returncode == 0, first.stderr
    second = service.cli("deploy", "--version", "v3")
    assert second.returncode == 2
    assert "still in progress" in second.stderr
    wait_for(lambda: service.status()["stable_revision"] == 2, 60, "revision 2 stable")


def test_logs_follow_streams_new_output(service: Service) -> None:
    service.up()
    replica = next(iter(service.replica_pids()))
    proc = spawn(service, "logs", replica, "--follow", "--lines", "1")
    out = Lines(proc)
    try:
        wait_for(lambda: out.lines, 30, "the last log line")
        service.cli("deploy", "--version", "v2")  # stops the replica: uvicorn logs its shutdown
        wait_for(
            lambda: out.seen("Shutting down") or out.seen("Finished server process"),
            30,
            "new lines from the replica",
        )
    finally:
        stop(proc, signal.SIGTERM)
        out.join()


def test_status_human_and_watch(service: Service) -> None:
    service.up()
    result = service.cli("status")
    assert result.returncode == 0
    for text in ("hello", "stable revision 1", "r1-1", "r1-2", "ready", "recent events"):
        assert text in result.stdout, result.stdout
    proc = spawn(service, "status", "--watch")
    out = Lines(proc)
    try:
        wait_for(lambda: out.seen("r1-2"), 30, "the live view")
    finally:
        code = stop(proc)
        out.join()
    assert code == 0
