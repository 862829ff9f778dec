"""Real Prometheus and Alertmanager servers for the tests that need them (Debian's
`prometheus` and `prometheus-alertmanager`, found with `tests.parts`).

Invariant: every server started here is a child process tracked by pid, on loopback ports,
with its data in the test's folder, and `Server.stop` ends it (SIGTERM, then SIGKILL) and
reaps it; a server that does not become ready fails the test with its log.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests import parts
from tests.helpers import free_port, wait_for


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str  # http://127.0.0.1:PORT
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def ready(self) -> bool:
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _start(argv: list[str], folder: Path, port: int, name: str) -> Server:
    log = folder / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=folder)
    server = Server(proc, f"http://127.0.0.1:{port}", log)
    try:
        wait_for(
            lambda: server.ready() or proc.poll() is not None, 30, f"{name} ready",
            detail=server.output,
        )  # fmt: skip
    except BaseException:
        server.stop()
        raise
    if proc.poll() is not None:
        raise AssertionError(f"{name} exited with {proc.returncode}:\n{server.output()}")
    return server


def prometheus(
    folder: Path,
    *,
    targets: Sequence[str],
    rules: Sequence[Path] = (),
    alertmanager: str | None = None,
    interval: str = "1s",
) -> Server:
    """Prometheus scraping `targets` (`host:port`) every `interval`, evaluating `rules`
    as often, and sending alerts to `alertmanager` (`host:port`) if given."""
    binary = parts.require("prometheus", "prometheus")
    folder.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(r) for r in rules],
        "scrape_configs": [
            {"job_name": "changeover", "static_configs": [{"targets": list(targets)}]}
        ],
    }
    if alertmanager is not None:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    (folder / "prometheus.yml").write_text(json.dumps(config, indent=1))
    port = free_port()
    argv = [
        binary,
        f"--config.file={folder / 'prometheus.yml'}",
        f"--storage.tsdb.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    return _start(argv, folder, port, "prometheus")


def alertmanager(folder: Path, *, webhook: str, token_file: Path) -> Server:
    """Alertmanager routing every alert to `webhook` with the bearer token in `token_file`,
    at once (1 s group wait and interval) and resolved alerts too."""
    binary = parts.require("prometheus-alertmanager", "prometheus-alertmanager")
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "route": {
            "receiver": "changeover",
            "group_by": ["alertname", "service", "revision"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "changeover",
                "webhook_configs": [
                    {
                        "url": webhook,
                        "send_resolved": True,
                        "http_config": {
                            "authorization": {"type": "Bearer", "credentials_file": str(token_file)}
                        },
                    }
                ],
            }
        ],
    }
    (folder / "alertmanager.yml").write_text(json.dumps(config, indent=1))
    port = free_port()
    argv = [
        binary,
        f"--config.file={folder / 'alertmanager.yml'}",
        f"--storage.path={folder / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # one instance: no gossip port
        "--log.level=warn",
    ]
    return _start(argv, folder, port, "alertmanager")


def query(server: Server, promql: str) -> list[dict[str, Any]]:
    """An instant query's vector result."""
    answer = httpx.get(f"{server.url}/api/v1/query", params={"query": promql}, timeout=5.0)
    answer.raise_for_status()
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result
