"""`changeover reload` under keep-alive load: the agent changes, replicas stay, no request fails."""

from __future__ import annotations

import os
import subprocess
import sys

from changeover.loadgen import BackgroundLoad, Report
from tests.e2e.harness import MIX, Service
from tests.helpers import gone, wait_for


def reload(service: Service, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "changeover", "reload", *args],
        cwd=service.dir,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    service.track_agent()
    return result


def load(url: str) -> BackgroundLoad:
    return BackgroundLoad(
        url, rate=300, connections=16, templates=MIX, timeout=30, count_header="X-Version"
    )


def assert_no_failures(report: Report | None) -> None:
    assert report is not None
    assert report.sent > 0
    assert report.failed == 0, report.summary()


def test_ten_reloads_under_load_keep_replicas_and_fail_nothing(service: Service) -> None:
    url = service.up()
    replicas = service.replica_pids()
    agents = [service.agent_pid()]
    with load(url) as gen:
        for _ in range(10):
            result = reload(service)
            assert result.returncode == 0, result.stdout + result.stderr
            assert "reloaded: agent pid" in result.stdout
            new = service.agent_pid()
            assert new not in agents
            assert gone(agents[-1] or 0)  # reload waits for the old agent to exit
            agents.append(new)
            # the same replicas, the new agent's word for it (asked over its socket: a
            # CLI run per reload would only add its start-up)
            assert service.replica_pids(direct=True) == replicas
    assert_no_failures(gen.report)
    assert service.status()["agent"]["pid"] == agents[-1]
    # the adopted replicas are drained and stopped by a deploy of the new agent
    deployed = service.cli("deploy", "--version", "v2", "--env", "HELLO_VERSION=v2")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    wait_for(lambda: all(gone(pid) for pid in replicas.values()), 30, "old replicas stopped")
    new_replicas = service.replica_pids()
    assert set(new_replicas) == {"r2-1", "r2-2"}
    assert service.cli("down").returncode == 0
    for pid in [*new_replicas.values(), *(a for a in agents if a)]:
        assert gone(pid), pid


def test_failed_reload_leaves_the_old_agent_serving(service: Service) -> None:
    url = service.up()
    replicas = service.replica_pids()
    agent = service.agent_pid()
    good = service.spec.read_text()
    with load(url) as gen:
        service.spec.write_text(good + "\nbogus = 1\n")  # the new agent cannot load it
        result = reload(service)
        service.spec.write_text(good)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "exited with code 2" in result.stderr
    assert_no_failures(gen.report)
    assert service.agent_pid() == agent
    assert service.replica_pids() == replicas
    assert service.status()["agent"]["pid"] == agent


def test_reload_is_refused_during_a_rollout(service: Service) -> None:
    service.write_spec(deadline="10m")  # the test aborts it: no race with a deadline
    service.up()
    deploy = subprocess.Popen(  # never ready: in progress until aborted
        [sys.executable, "-m", "changeover", "deploy", "--version", "v2", "--env", "NEVER_READY=1"],
        cwd=service.dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: (service.status()["rollout"] or {}).get("id") == 2, 20, "rollout 2")
        result = reload(service)
    finally:
        service.cli("abort")
        deploy.wait(timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "in progress" in result.stderr
