"""docs/recipes.md, command by command: each server starts under `changeover up` on the
example apps of `examples/runtime/` and takes a rolling deploy under load with zero
failed requests. The commands are read from the page, so the page cannot drift."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from changeover.loadgen import BackgroundLoad
from tests.e2e.harness import ROOT, Service

APPS = ROOT / "examples" / "runtime"
SPEC = """
[app]
name = "recipe"
command = "{command}"
replicas = 2

[proxy]
listen = "127.0.0.1:0"

[probes.readiness]
path = "/readyz"
period = "200ms"
failure_threshold = 2

[termination]
drain_timeout = "10s"
grace_period = "10s"

[strategy]
max_surge = 1
max_unavailable = 0
min_ready = "200ms"
progress_deadline = "60s"
"""


def recipes() -> list[tuple[str, str]]:
    """(server, command) for every row of the page's `changeover up` table."""
    text = (ROOT / "docs" / "recipes.md").read_text()
    table = text[text.index("## `changeover up`") : text.index("Notes, server by server")]
    rows = re.findall(r"^\| ([^|]+) \| ([^|]+) \| `([^`]+)` \|$", table, flags=re.M)
    return [
        (f"{server.strip()} / {app.strip()}", command)
        for server, app, command in rows
        if server.strip() != "server"  # the header
    ]


def test_the_page_has_a_recipe_for_each_server() -> None:
    commands = " ".join(c for _, c in recipes())
    for server in ("uvicorn", "gunicorn", "hypercorn", "granian"):
        assert f"{server} " in commands


@pytest.mark.parametrize(("server", "command"), recipes(), ids=[s for s, _ in recipes()])
def test_the_recipe_serves_a_rolling_deploy_with_zero_failures(
    server: str, command: str, tmp_path: Path
) -> None:
    service = Service(tmp_path)
    try:
        shutil.rmtree(service.dir)
        shutil.copytree(APPS, service.dir, ignore=shutil.ignore_patterns("__pycache__"))
        service.spec.write_text(SPEC.format(command=command))
        url = service.up()
        with BackgroundLoad(url, rate=100, connections=4, timeout=30) as load:
            deployed = service.cli("deploy", "--version", "v2")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        report = load.report
        assert report.sent > 0
        assert report.failed == 0, report.summary()
    finally:
        survivors = service.cleanup()
        assert not survivors, f"processes left behind: {survivors}"
