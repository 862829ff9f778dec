"""A remote environment over a real OpenSSH server on loopback: `prod` has
`host = "ssh://USER@127.0.0.1:PORT/<the host's copy of the service>"`; every command on it
goes through `ssh ... changeover -E prod dial` (or runs there: `up --detach`, `down`), and a
deploy over ssh under continuous load fails no request. Then the faults: sshd stopped, a
key the server does not know, no `changeover` on the host: exit 3, saying what failed."""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from changeover.loadgen import BackgroundLoad
from tests.e2e.harness import Lines, Service, spawn, stop
from tests.e2e.sshd import Sshd, remote_program, running_sshd
from tests.helpers import free_port, gone, wait_for, wait_gone

OVERLAY = """
[environments.prod]
host = "{host}"
[environments.prod.spec.proxy]
listen = "127.0.0.1:{port}"
"""


@dataclass
class Remote:
    service: Service  # the local folder, whose spec names the host
    host_dir: Path  # the service folder "on the host"
    port: int  # prod's public listener
    sshd: Sshd

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def remote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Remote]:
    with running_sshd(tmp_path / "sshd") as sshd:
        service = Service(tmp_path)
        host_dir = tmp_path / "host" / "hello"
        port = free_port()
        overlay = OVERLAY.format(host=sshd.url(host_dir), port=port)
        service.spec.write_text(service.spec.read_text() + overlay)
        shutil.copytree(service.dir, host_dir)
        monkeypatch.setenv("CHANGEOVER_SSH", sshd.ssh())
        monkeypatch.setenv("CHANGEOVER_REMOTE", remote_program())
        try:
            yield Remote(service, host_dir, port, sshd)
        finally:
            if sshd.proc is not None and sshd.proc.poll() is None:
                service.cli("-E", "prod", "down", timeout=180)
            survivors = service.cleanup()
            assert not survivors, f"processes left behind: {survivors}"


def ssh_children(proc_pid: int) -> list[int]:
    """The ssh processes a CLI process started (its connection to the agent)."""
    children = psutil.Process(proc_pid).children(recursive=True)
    return [child.pid for child in children if child.name() == "ssh"]


def test_prod_over_ssh_starts_deploys_under_load_streams_and_stops(remote: Remote) -> None:
    service, host_state = remote.service, remote.host_dir / ".changeover" / "prod"
    started = service.cli("-E", "prod", "up", "--detach")
    assert started.returncode == 0, started.stdout + started.stderr
    assert "ready: revision 1 (v1)" in started.stdout  # the host's output, streamed here
    assert f"on {remote.sshd.url(remote.host_dir)}: cd " in started.stderr

    doc = service.status_of("prod")  # tracks the agent and its replicas for cleanup
    assert doc["agent"]["state_dir"] == str(host_state)
    assert doc["agent"]["listen"] == f"127.0.0.1:{remote.port}"
    shown = service.cli("-E", "prod", "status")
    assert shown.returncode == 0, shown.stderr
    assert "hello [prod]" in shown.stdout

    follower = spawn(service, "-E", "prod", "events", "--follow")
    events = Lines(follower)
    try:
        wait_for(lambda: events.seen("revision 1 is stable"), 60, "events over ssh")
        carrier = wait_for(lambda: ssh_children(follower.pid), 30, "the follower's ssh")
        release = remote.host_dir.parent / "v2"
        shutil.copytree(remote.host_dir, release, ignore=shutil.ignore_patterns(".changeover"))
        with BackgroundLoad(remote.url, rate=100, connections=4, count_header="X-Version") as load:
            deployed = service.cli("-E", "prod", "deploy", "--version", "v2", "--path",
                                   str(release), "--env", "HELLO_VERSION=v2")  # fmt: skip
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "revision 2 is stable" in deployed.stdout
        assert load.report.failed == 0, load.report.summary()
        assert set(load.report.header_counts) == {"v1", "v2"}
        wait_for(lambda: events.seen("revision 2 is stable"), 60, "the deploy's events streamed")
        assert events.seen("rollout 2 (deploy, rolling) started")
    finally:
        code = stop(follower, signal.SIGINT)
        events.join()
    assert code == 0, events.lines
    assert all(wait_gone(pid) for pid in carrier)  # its ssh ended with it

    doc = service.status_of("prod")
    assert doc["stable_revision"] == 2
    assert {r["version"] for r in doc["replicas"] if r["state"] == "ready"} == {"v2"}
    logs = service.cli("-E", "prod", "logs", "-n", "5")
    assert logs.returncode == 0, logs.stderr
    assert "r2-1 | " in logs.stdout

    tail = spawn(service, "-E", "prod", "logs", "r2-1", "--follow")
    lines = Lines(tail)
    try:  # a response that never ends by itself, shown as it comes
        wait_for(lambda: lines.seen("Uvicorn running"), 60, "a followed log over ssh")
    finally:
        stop(tail, signal.SIGINT)
        lines.join()

    agent = doc["agent"]["pid"]
    stopped = service.cli("-E", "prod", "down", timeout=180)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert f"stopped (agent pid {agent})" in stopped.stdout
    assert gone(agent)
    after = service.cli("-E", "prod", "status")
    assert after.returncode == 3, after.stdout + after.stderr
    assert f"no agent is running for {host_state}" in after.stderr


def test_faults_over_ssh_exit_3_saying_what_failed(
    remote: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    service, url = remote.service, remote.sshd.url(remote.host_dir)

    monkeypatch.setenv("CHANGEOVER_REMOTE", "/nonexistent/changeover")
    missing = service.cli("-E", "prod", "status")
    assert missing.returncode == 3, missing.stdout + missing.stderr
    assert f"no answer from the agent of environment prod on {url} over ssh:" in missing.stderr
    assert "/nonexistent/changeover: No such file or directory" in missing.stderr
    assert "-E prod dial'` exited with code 127" in missing.stderr
    up = service.cli("-E", "prod", "up", "--detach")
    assert up.returncode == 3, up.stdout + up.stderr
    assert f"{url} could not run /nonexistent/changeover (exit 127" in up.stderr
    monkeypatch.setenv("CHANGEOVER_REMOTE", remote_program())

    monkeypatch.setenv("CHANGEOVER_SSH", remote.sshd.ssh("wrong_key"))
    refused = service.cli("-E", "prod", "status")
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "Permission denied (publickey)" in refused.stderr
    assert "exited with code 255" in refused.stderr
    monkeypatch.setenv("CHANGEOVER_SSH", remote.sshd.ssh())

    remote.sshd.stop()
    for command in (["status"], ["down"], ["up", "--detach"]):
        gone_host = service.cli("-E", "prod", *command)
        assert gone_host.returncode == 3, (command, gone_host.stdout + gone_host.stderr)
        assert f"port {remote.sshd.port}: Connection refused" in gone_host.stderr
        assert url in gone_host.stderr


def test_up_reload_down_json_over_ssh(remote: Remote) -> None:
    """`up --json` and `down --json` print the host's document; `reload --json` goes through
    the agent connection (`ssh ... dial`): the new agent answers there, and the old one's
    exit is not claimed (its pid is the host's)."""
    service, host_state = remote.service, remote.host_dir / ".changeover" / "prod"
    started = service.cli("-E", "prod", "up", "--detach", "--json")
    assert started.returncode == 0, started.stdout + started.stderr
    up = json.loads(started.stdout)  # the host's document, streamed here
    before = service.status_of("prod")
    assert (up["ok"], up["pid"]) == (True, before["agent"]["pid"])
    assert (up["state_dir"], up["environment"]) == (str(host_state), "prod")
    assert up["listen"] == f"127.0.0.1:{remote.port}"
    assert [r["id"] for r in up["replicas"]] == [r["id"] for r in before["replicas"]]

    old = before["agent"]["pid"]
    with BackgroundLoad(remote.url, rate=50, connections=2) as load:
        done = service.cli("-E", "prod", "reload", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    reloaded = json.loads(done.stdout)
    after = service.status_of("prod")
    new = after["agent"]["pid"]
    assert reloaded == {
        "ok": True, "old_pid": old, "new_pid": new, "reason": "", "old_exited": None,
        "agent_pid": new,
    }  # fmt: skip
    assert new != old
    assert not (service.state / "prod").exists()  # nothing of prod's state here
    assert load.report.failed == 0, load.report.summary()
    assert wait_gone(old)  # this machine plays the host: the old agent did exit there
    assert sorted(r["pid"] for r in after["replicas"]) == sorted(
        r["pid"] for r in before["replicas"]
    )  # replicas kept
    text = service.cli("-E", "prod", "reload")
    assert text.returncode == 0, text.stdout + text.stderr
    newest = service.status_of("prod")["agent"]["pid"]
    assert f"reloaded: agent pid {new} -> {newest}; replicas kept" in text.stdout
    assert f"the old agent (pid {new} on {remote.sshd.url(remote.host_dir)}) exits" in text.stdout

    replicas = service.status_of("prod")["replicas"]
    logs = service.cli("-E", "prod", "logs", "-n", "3", "--json")
    assert logs.returncode == 0, logs.stderr
    lines = [json.loads(line) for line in logs.stdout.splitlines()]
    assert {line["replica"] for line in lines} == {r["id"] for r in replicas}
    assert {line["stream"] for line in lines} == {"output"}
    stopped = service.cli("-E", "prod", "down", "--json", timeout=180)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    down = json.loads(stopped.stdout)
    assert (down["running"], down["stopped"], down["pid"]) == (True, True, newest)
    assert down["state_dir"] == str(host_state)
    assert [r["id"] for r in down["replicas"]] == [r["id"] for r in replicas]
    assert gone(newest)
