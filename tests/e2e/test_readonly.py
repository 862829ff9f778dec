"""Checks that change nothing, sharing one agent: a second `up` refused, bad requests
refused with exit 2, malformed HTTP answered 400, replica logs, the status views.

These tests only read or get refused, so they share one agent (started once, kept on one
xdist worker by their group) and may run in any order.
"""

from __future__ import annotations

import re
import socket

import pytest

from tests.e2e.conftest import shared_service
from tests.e2e.harness import Lines, Service, burst, spawn, stop
from tests.helpers import wait_for

agent = shared_service()
pytestmark = pytest.mark.xdist_group("readonly")


def test_second_up_is_refused(agent: Service) -> None:
    result = agent.cli("up", "--detach")
    assert result.returncode == 2
    assert "already running" in result.stderr


def test_bad_deploy_and_undo_requests_exit_2(agent: Service) -> None:
    cases = [
        (["undo"], "no earlier stable revision"),
        (["undo", "--to-revision", "99"], "revision 99 does not exist"),
        (["deploy", "--version", "v2", "--env", "NOEQUALS"], "expected KEY=VALUE"),
        (["deploy", "--version", "v2", "--path", "/no/such/dir"], "does not exist"),
        (["deploy", "--version", "v2", "--strategy", "bogus"], "unknown strategy"),
        (["logs", "r99-1"], "no logs for replica"),
    ]
    for args, message in cases:
        result = agent.cli(*args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
    assert agent.status()["stable_revision"] == 1


def test_malformed_http_gets_400_and_the_agent_keeps_serving(agent: Service) -> None:
    url = agent.url()
    host, port = url.removeprefix("http://").rsplit(":", 1)
    bad = [
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"\x00\x01garbage\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
    ]
    for payload in bad:
        with socket.create_connection((host, int(port)), timeout=10) as conn:
            conn.sendall(payload)
            reply = conn.recv(4096)
        assert reply.startswith(b"HTTP/1.1 400 "), (payload[:40], reply[:80])
    load = burst(url, 20)
    assert load.ok == 20


def test_logs_show_replica_output(agent: Service) -> None:
    replica = next(iter(agent.replica_pids()))
    result = agent.cli("logs", replica)
    assert result.returncode == 0
    assert "Uvicorn running" in result.stdout or "Application startup complete" in result.stdout


def test_status_human_and_watch(agent: Service) -> None:
    result = agent.cli("status")
    assert result.returncode == 0
    for text in ("hello", "stable revision 1", "r1-1", "r1-2", "ready", "recent events"):
        assert text in result.stdout, result.stdout
    proc = spawn(agent, "status", "--watch")
    out = Lines(proc)
    try:
        wait_for(lambda: out.seen("r1-2"), 30, "the live view")
    finally:
        code = stop(proc)
        out.join()
    assert code == 0


def test_logs_of_the_agent_itself(agent: Service) -> None:
    result = agent.cli("logs", "--agent", "--lines", "200")
    assert result.returncode == 0, result.stderr
    assert "rollout succeeded: revision 1 is stable" in result.stdout


def test_logs_with_timestamps_and_since(agent: Service) -> None:
    replica = next(iter(agent.replica_pids()))
    stamped = agent.cli("logs", replica, "--timestamps", "--lines", "50")
    assert stamped.returncode == 0, stamped.stderr
    lines = stamped.stdout.splitlines()
    assert lines
    # every line starts with the time the agent saw it written (UTC), noted from the spawn
    assert all(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ", line) for line in lines), lines
    recent = agent.cli("logs", replica, "--since", "1h")
    assert recent.returncode == 0, recent.stderr
    assert "Uvicorn running" in recent.stdout or "Application startup complete" in recent.stdout
    bad = agent.cli("logs", "--agent", "--since", "1h")
    assert bad.returncode == 2
    assert "since and timestamps apply to replica logs" in bad.stderr
