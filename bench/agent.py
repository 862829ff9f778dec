"""A changeover agent for the benchmarks, started and stopped through the real CLI.

Invariant: the agent and its replicas are stopped (`changeover down`, then SIGKILL of
any pid still alive) when the `with` block ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

SPEC = """\
[app]
name = "{name}"
command = "{command}"
replicas = {replicas}
workdir = "{workdir}"

[proxy]
listen = "127.0.0.1:0"

[probes.startup]
path = "/healthz"
period = "50ms"
failure_threshold = 200

[probes.readiness]
path = "/readyz"
period = "500ms"
failure_threshold = 2

[probes.liveness]
path = "/healthz"
period = "5s"
failure_threshold = 3

[termination]
drain_timeout = "20s"
grace_period = "10s"

[strategy]
max_surge = 1
max_unavailable = 0
min_ready = "500ms"
progress_deadline = "60s"
"""


class Agent:
    def __init__(self, spec: Path) -> None:
        self.spec = spec

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "changeover", *args, "-f", str(self.spec)]
        env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)

    def status(self) -> dict[str, Any]:
        done = self.cli("status", "--json")
        if done.returncode != 0:
            raise RuntimeError(f"changeover status failed: {done.stderr.strip()}")
        doc: dict[str, Any] = json.loads(done.stdout)
        return doc

    @property
    def pid(self) -> int:
        return int(self.status()["agent"]["pid"])

    @property
    def port(self) -> int:
        return int(self.status()["agent"]["listen"].rpartition(":")[2])

    def replica_ports(self) -> list[int]:
        return [r["port"] for r in self.status()["replicas"] if r["state"] == "ready"]


@contextlib.contextmanager
def running(
    work: Path, command: str, workdir: Path, replicas: int = 1, extra: str = ""
) -> Iterator[Agent]:
    """`changeover up --detach` on a spec written into `work` (`extra` appended: more
    tables); `down` at the end."""
    work.mkdir(parents=True, exist_ok=True)
    spec = work / "changeover.toml"
    text = SPEC.format(name="bench", command=command, replicas=replicas, workdir=workdir)
    spec.write_text(text + extra)
    agent = Agent(spec)
    up = agent.cli("up", "--detach")
    if up.returncode != 0:
        raise RuntimeError(f"changeover up failed:\n{up.stdout}{up.stderr}")
    root = psutil.Process(agent.pid)
    procs = [root, *root.children(recursive=True)]
    try:
        yield agent
    finally:
        agent.cli("down")
        for proc in procs:  # anything `down` left behind; is_running() guards pid reuse
            with contextlib.suppress(psutil.NoSuchProcess):
                if proc.is_running():
                    proc.kill()
