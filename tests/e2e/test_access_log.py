"""The access log of a real agent: one line per request the load generator sent, across
a rolling deploy, both revisions named; `changeover logs --access` shows and follows it."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from changeover.loadgen import BackgroundLoad, Template
from tests.e2e.harness import ENGINES, Lines, Service, burst, engine_part, spawn, stop
from tests.helpers import wait_for

MIX = (
    Template(method="GET", path="/?token=s3cret", weight=10),
    Template(method="POST", path="/echo", body=b"z" * 4096, weight=2, expect=b"4096 "),
)
BODY_BYTES = {"/": len(b"hello from v1\n"), "/echo": len(b"4096 ") + 64 + 1}  # + sha256, \n


def access_lines(service: Service) -> list[dict[str, Any]]:
    path: Path = service.state / "logs" / "access.log"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("engine", ENGINES)
def test_every_request_of_a_rolling_deploy_under_load_is_one_line(
    service: Service, engine: str
) -> None:
    """On haproxy the lines come from HAProxy's request log: the same fields, the same
    file, the query string kept out by HAProxy itself (docs/haproxy.md)."""
    service.write_spec(engine=engine_part(engine))
    text = service.spec.read_text().replace("[proxy]\n", "[proxy]\naccess_log = true\n", 1)
    service.spec.write_text(text)
    url = service.up()
    assert access_lines(service) == []  # nothing went through the proxy yet
    load = BackgroundLoad(
        url, rate=200, connections=8, templates=MIX, timeout=30, count_header="X-Version"
    )
    with load as gen:
        deployed = service.cli("deploy", "--version", "v2", "--env", "HELLO_VERSION=v2")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    report = gen.report
    assert report.failed == 0, report.summary()
    assert report.ok == report.sent > 0
    # the proxy writes its lines at its next sweep (a fraction of a second)
    wait_for(
        lambda: len(access_lines(service)) >= report.sent,
        10,
        f"{report.sent} access log lines",
        detail=lambda: f"{len(access_lines(service))} lines",
    )
    lines = access_lines(service)
    assert len(lines) == report.sent, [entry for entry in lines if entry["status"] != 200][:5]
    assert len({entry["request_id"] for entry in lines}) == report.sent
    revisions = Counter(entry["revision"] for entry in lines)
    assert revisions == {1: report.header_counts["v1"], 2: report.header_counts["v2"]}
    assert {entry["replica"].split("-")[0] for entry in lines} == {"r1", "r2"}
    assert all(entry["replica"].startswith(f"r{entry['revision']}-") for entry in lines)
    assert Counter(entry["status"] for entry in lines) == {200: report.sent}
    assert {(entry["method"], entry["path"]) for entry in lines} == {
        ("GET", "/"),
        ("POST", "/echo"),
    }
    sizes = Counter((entry["path"], entry["bytes"]) for entry in lines)
    if engine == "builtin":
        assert all(entry["bytes"] == BODY_BYTES[entry["path"]] for entry in lines), sizes
    else:  # the app's bodies are chunked (no Content-Length): HAProxy cannot tell their size
        assert {entry["bytes"] for entry in lines} == {None}, sizes
    assert {entry["client"] for entry in lines} == {"127.0.0.1"}
    assert {entry["error"] for entry in lines} == {None}
    assert "s3cret" not in (service.state / "logs" / "access.log").read_text()

    shown = service.cli("logs", "--access", "--lines", "2")
    assert shown.returncode == 0, shown.stderr
    assert [json.loads(line) for line in shown.stdout.splitlines()] == lines[-2:]


def test_logs_access_follow_prints_new_lines_until_stopped(service: Service) -> None:
    text = service.spec.read_text().replace("[proxy]\n", "[proxy]\naccess_log = true\n", 1)
    service.spec.write_text(text)
    url = service.up()
    assert burst(url, 5).ok == 5
    wait_for(lambda: len(access_lines(service)) == 5, 10, "the first 5 lines")
    proc = spawn(service, "logs", "--access", "--follow", "--lines", "1")
    out = Lines(proc)
    try:
        wait_for(lambda: out.lines, 15, "the last line so far")  # following from here on
        assert burst(url, 20).ok == 20
        wait_for(lambda: len(out.lines) >= 21, 15, "20 new lines", detail=lambda: str(out.lines))
    finally:
        stop(proc)
        out.join()
    followed = [json.loads(line) for line in out.lines]
    assert followed == access_lines(service)[4:]
