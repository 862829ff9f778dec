"""`--json` of `up`, `logs`, `reload` and `down` against a real agent (`up --detach`): each
document parsed and checked against what the agent's own status says."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from changeover.agent.logclock import format_stamp
from tests.helpers import gone, wait_for

SPEC = """\
[app]
name = "svc"
command = "sh -c 'echo hello out; echo hello err >&2; exec sleep 600'"
replicas = 2

[proxy]
listen = "127.0.0.1:0"

[termination]
drain_timeout = "5s"
grace_period = "5s"
"""
ENV = {"COLUMNS": "200", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}


class Folder:
    """A service folder and every pid its agents ran (agents, replicas), for cleanup."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "changeover.toml").write_text(SPEC)
        self.tracked: set[int] = set()

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "changeover", *args]

    def env(self) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("CHANGEOVER_")}
        return clean | ENV

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.argv(*args), cwd=self.root, capture_output=True, text=True, timeout=120,
            env=self.env(), check=False,
        )  # fmt: skip
        self.track()
        return done

    def json(self, *args: str, code: int = 0) -> Any:
        done = self.cli(*args, "--json")
        assert done.returncode == code, done.stdout + done.stderr
        return json.loads(done.stdout)

    def status(self) -> Any:
        return self.json("status")

    def track(self) -> None:
        pid_file = self.root / ".changeover" / "agent.pid"
        try:
            self.tracked.add(int(pid_file.read_text().split()[0]))
        except (OSError, ValueError, IndexError):
            return
        for pid in list(self.tracked):
            try:
                children = psutil.Process(pid).children(recursive=True)
            except psutil.NoSuchProcess:
                continue
            self.tracked.update(child.pid for child in children)


@pytest.fixture
def folder(short_tmp: Path) -> Iterator[Folder]:
    service = Folder(short_tmp)
    yield service
    survivors = []
    for pid in service.tracked:
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                survivors.append(pid)
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    assert not survivors, f"processes outlived the test: {survivors}"


def test_up_logs_reload_down_json_match_the_agent(folder: Folder) -> None:
    started = folder.json("up", "--detach")
    status = folder.status()
    agent = status["agent"]
    assert started["ok"] is True
    assert (started["pid"], started["detached"]) == (agent["pid"], True)
    assert started["state_dir"] == agent["state_dir"] == str(folder.root / ".changeover")
    assert (started["listen"], started["url"]) == (agent["listen"], f"http://{agent['listen']}")
    assert (started["stable_revision"], started["version"]) == (1, "v1")
    assert (started["exit_code"], started["error"], started["engine"]) == (None, None, "builtin")
    assert started["log"] == str(folder.root / ".changeover" / "agent.log")
    assert started["rollout"]["phase"] == "succeeded"
    ids = sorted(r["id"] for r in started["replicas"])
    assert ids == sorted(r["id"] for r in status["replicas"]) == ["r1-1", "r1-2"]
    assert {r["pid"] for r in started["replicas"]} == {r["pid"] for r in status["replicas"]}

    # every replica: the same lines as the text (with -t), split into fields
    wait_for(lambda: len(folder.cli("logs").stdout.splitlines()) == 4, 30, "4 lines logged")
    lines, text = wait_for(lambda: same_logs(folder), 30, "the log times settled")
    assert sorted((line["replica"], line["text"]) for line in lines) == [
        ("r1-1", "hello err"), ("r1-1", "hello out"), ("r1-2", "hello err"), ("r1-2", "hello out")
    ]  # fmt: skip
    assert {line["stream"] for line in lines} == {"output"}
    assert text == [f"{x['replica']} | {format_stamp(x['time'])} {x['text']}" for x in lines]
    last = [line for line in lines if line["replica"] == "r1-2"][-1]
    assert json_lines(folder, "logs", "r1-2", "-n", "1") == [last]  # no prefix to split off

    followed = follow(folder, "logs", "r1-1", "--follow", "--json")
    assert {(line["replica"], line["text"]) for line in followed} >= {("r1-1", "hello out")}

    old = agent["pid"]
    reloaded = folder.json("reload")
    after = folder.status()["agent"]["pid"]
    folder.track()
    assert reloaded == {
        "ok": True, "old_pid": old, "new_pid": after, "reason": "", "old_exited": True,
        "agent_pid": after,
    }  # fmt: skip
    assert after != old
    assert gone(old)
    assert sorted(r["pid"] for r in folder.status()["replicas"]) == sorted(
        r["pid"] for r in started["replicas"]
    )  # replicas kept

    replicas = folder.status()["replicas"]
    stopped = folder.json("down")
    assert stopped == {
        "running": True, "stopped": True, "pid": after, "state_dir": agent["state_dir"],
        "replicas": [{"id": r["id"], "revision": 1, "pid": r["pid"]} for r in replicas],
        "inflight": 0, "reason": None, "removed": [], "left_running": [],
    }  # fmt: skip
    assert gone(after)
    assert all(gone(r["pid"]) for r in replicas)
    again = folder.json("down")
    assert (again["running"], again["stopped"], again["pid"], again["replicas"]) == (
        False, False, None, []
    )  # fmt: skip
    assert again["reason"] == f"no agent is running for {agent['state_dir']}: nothing to stop"
    assert again["removed"] == []  # a clean stop leaves no socket or pid file behind
    unreachable = folder.cli("reload", "--json")
    assert unreachable.returncode == 3, unreachable.stdout + unreachable.stderr
    assert unreachable.stdout == ""
    assert "no agent is running for" in unreachable.stderr


def same_logs(folder: Folder) -> tuple[list[Any], list[str]] | None:
    """`logs --json` and `logs -t`, once two text runs around the JSON run agree (a line's
    time appears once the agent noted its file after it was written, then never changes)."""
    before = folder.cli("logs", "-t").stdout.splitlines()
    lines = json_lines(folder, "logs")
    after = folder.cli("logs", "-t").stdout.splitlines()
    return (lines, after) if before == after else None


def json_lines(folder: Folder, *args: str) -> list[Any]:
    done = folder.cli(*args, "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def follow(folder: Folder, *args: str) -> list[Any]:
    """The JSON lines of a following command until it printed one, then Ctrl-C."""
    proc = subprocess.Popen(
        folder.argv(*args), cwd=folder.root, stdout=subprocess.PIPE, text=True, env=folder.env()
    )
    seen: list[str] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: seen.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        wait_for(lambda: seen, 30, "a followed line")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(timeout=30)
        proc.stdout.close()
    assert code == 0, seen
    return [json.loads(line) for line in seen]


def test_up_json_says_why_the_agent_exited_first(folder: Folder) -> None:
    spec = folder.root / "changeover.toml"
    failing = SPEC.replace("exec sleep 600", "exit 3")  # before its readiness probe passes
    spec.write_text(failing + '[probes.readiness]\npath = "/readyz"\nperiod = "100ms"\n')
    done = folder.cli("up", "--detach", "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    doc = json.loads(done.stdout)
    assert (doc["ok"], doc["exit_code"], doc["detached"]) == (False, 1, True)
    assert (doc["stable_revision"], doc["listen"], doc["replicas"]) == (None, None, [])
    assert doc["state_dir"] == str(folder.root / ".changeover")
    assert doc["log"] == str(folder.root / ".changeover" / "agent.log")
    assert doc["rollout"]["phase"] == "failed"
    assert doc["error"] == (
        f"the agent (pid {doc['pid']}) exited with code 1 before the stable revision was "
        f"ready: {doc['rollout']['reason']}"
    )
    assert "failed at boot" in doc["rollout"]["reason"]
    assert "hello err" in done.stderr  # the agent's last log lines, as in text mode
    assert gone(doc["pid"])


def test_up_json_in_the_foreground_once_ready(folder: Folder) -> None:
    proc = subprocess.Popen(
        folder.argv("up", "--json"), cwd=folder.root, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, env=folder.env(),
    )  # fmt: skip
    folder.tracked.add(proc.pid)
    said: list[bytes] = []
    assert proc.stdout is not None
    reader = threading.Thread(target=lambda: said.extend(proc.stdout or []), daemon=True)
    reader.start()
    try:
        doc = wait_for(lambda: parsed(b"".join(said)), 60, "the foreground document")
        status = folder.status()
        folder.track()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        reader.join(timeout=30)
        proc.stdout.close()
    assert code == 0
    assert (doc["ok"], doc["pid"], doc["detached"], doc["log"]) == (True, proc.pid, False, None)
    assert doc["pid"] == status["agent"]["pid"]
    assert (doc["stable_revision"], doc["listen"]) == (1, status["agent"]["listen"])
    assert sorted(r["id"] for r in doc["replicas"]) == ["r1-1", "r1-2"]


def parsed(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None
