"""Day-to-day operations: foreground agent, spec changes, releases from other folders,
a busy agent refusing a second deploy, following logs and watching status."""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

from tests.e2e.harness import Lines, Service, burst, spawn, stop
from tests.helpers import wait_for


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


def test_logs_follow_streams_new_output_and_ends_when_the_replica_stopped(
    service: Service,
) -> None:
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
        wait_for(lambda: proc.poll() is not None, 30, "logs --follow ending by itself")
    finally:
        code = stop(proc, signal.SIGTERM)
        out.join()
    assert code == 0


def test_ctrl_c_detaches_from_a_deploy_and_events_follow_reattaches(service: Service) -> None:
    service.up()
    deploy = spawn(service, "deploy", "--version", "v2", "--env", "BOOT_DELAY=2")
    deploy_out = Lines(deploy)
    try:
        wait_for(lambda: deploy_out.seen("r2-1 starting"), 30, "the rollout under way")
    finally:
        code = stop(deploy, signal.SIGINT)
        deploy_out.join()
    assert code == 130
    assert deploy_out.seen("rollout 2 goes on in the agent")
    assert deploy_out.seen("changeover events --follow")
    follow = spawn(service, "events", "--follow", "--json", "--lines", "50")
    follow_out = Lines(follow)
    try:
        wait_for(lambda: follow_out.seen("revision 2 is stable"), 60, "the end of the rollout")
    finally:
        assert stop(follow, signal.SIGINT) == 0
        follow_out.join()
    events = [json.loads(line) for line in follow_out.lines if line.startswith("{")]
    ids = [e["id"] for e in events]
    assert ids == sorted(set(ids))  # each once, in order
    assert any(e["message"] == "rollout succeeded: revision 2 is stable" for e in events)
    assert service.status()["stable_revision"] == 2
