"""`changeover demo`: a self-contained tour on the bundled example app, under load.

Invariant: the demo works in a fresh temporary directory and stops every process it
started (agent and replicas) before it returns, whatever happened.
"""

from __future__ import annotations

import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from changeover.agent.paths import StatePaths
from changeover.cli.client import AgentClient
from changeover.cli.common import FAILED, OK, out, plain
from changeover.cli.deploy import report
from changeover.cli.down import wait_stopped
from changeover.cli.follow import events_after, follow_rollout
from changeover.cli.up import start_detached
from changeover.loadgen import BackgroundLoad, Report, Template

MIX = (
    Template(method="GET", path="/", weight=16),
    Template(method="POST", path="/echo", body=b"x" * 2048, weight=2, expect=b"2048 "),
    Template(method="GET", path="/slow?ms=400", weight=1),
)


def example_dir() -> Path:
    packaged = resources.files("changeover") / "_examples" / "hello"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[3] / "examples" / "hello"


def demo(
    rate: Annotated[
        float, typer.Option("--rate", metavar="RPS", help="Requests per second of generated load.")
    ] = 300.0,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the temporary folder.")] = False,
) -> None:
    """Start the example, deploy a new version and a broken one under load; count failures."""
    work = Path(tempfile.mkdtemp(prefix="changeover-demo-"))
    try:
        raise typer.Exit(run_demo(work, rate))
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)


def run_demo(work: Path, rate: float) -> int:
    app_dir = work / "hello"
    shutil.copytree(
        example_dir(), app_dir, ignore=shutil.ignore_patterns("__pycache__", ".changeover")
    )
    spec = app_dir / "changeover.toml"
    spec.write_text(spec.read_text().replace('listen = "127.0.0.1:8080"', 'listen = "127.0.0.1:0"'))
    paths = StatePaths.resolve(None, spec)
    out.rule("1. changeover up: revision 1 (v1), two replicas behind the proxy")
    if start_detached(spec, paths, "v1") != 0:
        return FAILED
    with AgentClient(paths) as client:
        try:
            return tour(client, spec, rate)
        finally:
            pid = client.post("/v1/down")["pid"]
            wait_stopped(paths, timeout=120, pid=pid)


def tour(client: AgentClient, spec: Path, rate: float) -> int:
    url = f"http://{client.get('/v1/status')['agent']['listen']}"
    out.print(f"generating {rate:g} requests/s on {url} (GETs, 2 KB POSTs, 400 ms requests)")
    steps: list[tuple[str, dict[str, Any]]] = []
    # Enough connections that 400 ms requests do not hold workers behind their schedule.
    with BackgroundLoad(
        url, rate=rate, connections=48, templates=MIX, count_header="X-Version"
    ) as load:
        out.rule("2. deploy v2: a rolling deploy under load")
        steps.append(("deploy v2", deploy(client, spec, "v2", {"HELLO_VERSION": "v2"})))
        out.rule("3. deploy v3, which crashes at boot: rolled back automatically")
        steps.append(
            (
                "deploy v3 (broken)",
                deploy(client, spec, "v3", {"HELLO_VERSION": "v3", "CRASH_AT_BOOT": "1"}),
            )
        )
    summary(steps, load.report)
    expected = [s[1]["phase"] for s in steps] == ["succeeded", "failed"]
    return OK if expected and load.report.failed == 0 else FAILED


def deploy(client: AgentClient, spec: Path, version: str, env: dict[str, str]) -> dict[str, Any]:
    body = {"version": version, "spec_text": spec.read_text(), "spec_path": str(spec), "env": env}
    rollout = client.post("/v1/deploy", body)
    final = follow_rollout(client, rollout, events_after(rollout))
    report(final)
    return final


def summary(steps: list[tuple[str, dict[str, Any]]], load: Report) -> None:
    out.rule("what happened")
    table = Table("step", "result", "reason")
    for name, rollout in steps:
        table.add_row(*plain(name, rollout["phase"], rollout["reason"] or "-"))
    out.print(table)
    out.print(load.summary())
    colour = "green" if load.failed == 0 else "red"
    out.print(f"[{colour}]failed requests: {load.failed}[/{colour}] of {load.sent} sent")
