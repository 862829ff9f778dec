"""A service under test: the bundled example copied to a temp folder, driven by the CLI.

Every process it starts is tracked by pid and killed at teardown if still alive, so a
failing test never leaves an agent or a replica behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import psutil
import trustme

from changeover.agent.paths import StatePaths
from changeover.cli.client import AgentClient, Refused, Unreachable
from changeover.loadgen import Report, Template, run
from tests.tlscerts import Issued, issue

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "hello"
FAST_SPEC = """
[app]
name = "hello"
command = "{command}"
replicas = {replicas}
env = {{ HELLO_VERSION = "v1"{env} }}

[proxy]
listen = "127.0.0.1:0"{engine}

[probes.startup]
path = "/healthz"
period = "50ms"
failure_threshold = 200

[probes.readiness]
path = "/readyz"
period = "200ms"
failure_threshold = 2

[probes.liveness]
path = "/healthz"
period = "2s"
failure_threshold = 3

[termination]
drain_timeout = "20s"
grace_period = "{grace}"

[strategy]
max_surge = 1
max_unavailable = 0
min_ready = "200ms"
progress_deadline = "{deadline}"
"""
UVICORN = "uvicorn app:app --fd 3 --no-access-log"
# the load most rollout tests run: small GETs, 4 KB bodies echoed back, and slow requests
# in flight whenever a replica is drained
MIX = (
    Template(method="GET", path="/", weight=20),
    Template(method="POST", path="/echo", body=b"z" * 4096, weight=3, expect=b"4096 "),
    Template(method="GET", path="/slow?ms=700", weight=1),
)
# a canary analysis that judges quickly: two 1 s measurements of the success rate
SLO = """
[analysis.slo]
interval = "1s"
count = 2
metrics = [
  { name = "success", provider = "builtin", query = "success_rate", min = 0.95, min_requests = 5 },
]
"""
ENGINES = ("builtin", "haproxy")  # `[proxy] engine`: rollout tests run on both


def engine_part(engine: str) -> str:
    """`engine`, once what it needs is installed (HAProxy: skipped, or failed in CI)."""
    if engine == "haproxy":
        from tests.parts import require

        require("haproxy", "haproxy")
    return engine


TLS_LINE = '\ntls = { cert = "tls/cert.pem", key = "tls/key.pem" }'


def with_tls(service: Service, engine: str, ca: trustme.CA, extra: str = "") -> Issued:
    """The fast spec with `[proxy] tls`, from a pair `ca` issued for localhost and
    127.0.0.1 into `tls/` (the spec's `extra` goes to `[strategy]`, as `write_spec`'s)."""
    files = issue(ca, service.dir / "tls", "first")
    service.write_spec(engine=engine_part(engine), extra=extra)
    text = service.spec.read_text()
    listen = 'listen = "127.0.0.1:0"'
    service.spec.write_text(text.replace(listen, listen + TLS_LINE, 1))
    return files


def burst(url: str, requests: int) -> Report:
    """A short, complete run of `requests` GETs counted by X-Version."""
    return asyncio.run(
        run(url, rate=200, connections=4, requests=requests, count_header="X-Version")
    )


class Service:
    def __init__(self, root: Path) -> None:
        self.dir = root / "hello"
        shutil.copytree(
            EXAMPLE, self.dir, ignore=shutil.ignore_patterns("__pycache__", ".changeover")
        )
        self.spec = self.dir / "changeover.toml"
        self.tracked: set[int] = set()
        self.spawned: list[subprocess.Popen[str]] = []  # CLI runs in the background
        self.write_spec()

    def write_spec(
        self,
        *,
        command: str = UVICORN,
        replicas: int = 2,
        grace: str = "10s",
        deadline: str = "20s",
        extra: str = "",
        env: dict[str, str] | None = None,
        engine: str = "builtin",
    ) -> None:
        """The fast spec; `engine` "haproxy" adds `engine = "haproxy"` to `[proxy]` (the
        caller requires the haproxy part: `tests.parts.require`)."""
        pairs = "".join(f", {k} = {json.dumps(v)}" for k, v in (env or {}).items())
        chosen = "" if engine == "builtin" else f'\nengine = "{engine}"'
        self.spec.write_text(
            FAST_SPEC.format(
                command=command,
                replicas=replicas,
                grace=grace,
                deadline=deadline,
                env=pairs,
                engine=chosen,
            )
            + extra
        )

    @property
    def state(self) -> Path:
        return self.dir / ".changeover"

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
        result = subprocess.run(
            [sys.executable, "-m", "changeover", *args],
            cwd=self.dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
        )
        self.track_agent()
        return result

    def up(self) -> str:
        result = self.cli("up", "--detach")
        assert result.returncode == 0, result.stdout + result.stderr
        return self.url()

    def status(self, *, direct: bool = False) -> dict[str, Any]:
        """What `changeover status --json` prints. `direct` asks the control socket from
        this process for the same document (that command is `GET /v1/status`, printed),
        without a CLI run's second of start-up: for a test that polls it many times and
        reads only what is settled (a CLI's delay must not be what lets a change land)."""
        if direct:
            try:
                with AgentClient(StatePaths.resolve(None, self.spec)) as client:
                    doc: dict[str, Any] = client.get("/v1/status")
            except (Unreachable, Refused) as exc:
                raise AssertionError(f"status: {exc}") from exc
            finally:
                self.track_agent()
        else:
            result = self.cli("status", "--json")
            assert result.returncode == 0, result.stderr
            doc = json.loads(result.stdout)
        self.tracked.update(r["pid"] for r in doc["replicas"] if r["pid"])
        return doc

    def status_of(self, environment: str) -> dict[str, Any]:
        """`-E environment status --json`, tracking that environment's processes."""
        result = self.cli("-E", environment, "status", "--json")
        assert result.returncode == 0, result.stderr
        doc: dict[str, Any] = json.loads(result.stdout)
        self.tracked.update(r["pid"] for r in doc["replicas"] if r["pid"])
        self.tracked.add(doc["agent"]["pid"])
        return doc

    def track_agent_of(self, environment: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.tracked.add(int((self.state / environment / "agent.pid").read_text()))

    def url(self) -> str:
        return f"http://{self.status()['agent']['listen']}"

    def agent_pid(self) -> int | None:
        try:
            return int((self.state / "agent.pid").read_text())
        except (OSError, ValueError):
            return None

    def track_agent(self) -> None:
        pid = self.agent_pid()
        if pid:
            self.tracked.add(pid)

    def replica_pids(self, *, direct: bool = False) -> dict[str, int]:
        return {r["id"]: r["pid"] for r in self.status(direct=direct)["replicas"] if r["pid"]}

    def alive(self) -> list[int]:
        return [pid for pid in self.tracked if _alive(pid)]

    def cleanup(self) -> list[int]:
        """Stop the agent; kill and report anything that survived. A CLI the test ran in
        the background (`spawn`) and did not wait for (it failed first) is killed, its
        pipe closed: left to the garbage collector, it would warn in another test."""
        for proc in self.spawned:
            if proc.poll() is None:
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
        if self.agent_pid() and _alive(self.agent_pid() or 0):
            self.cli("down", timeout=180)
        survivors = self.alive()
        for pid in survivors:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return survivors


def _alive(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return bool(proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def spawn(service: Service, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "changeover", *args],
        cwd=service.dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    service.spawned.append(proc)  # cleaned up with the service, whatever the test did
    return proc


class Lines:
    """Collects a child's output lines in a thread, so waits never block on a pipe."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        assert proc.stdout is not None
        self._stream = proc.stdout
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        # the pipe may be closed under it (the service's cleanup, after a failed test)
        with contextlib.suppress(ValueError, OSError):
            self.lines.extend(self._stream)

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
