"""`changeover reload` on the haproxy engine, and a changed `proxy.listen` carried by a
reload on both engines, under keep-alive load from the project's load generator.

The new agent starts its own HAProxy (the next generation of files) on the inherited
public socket with the adopted replicas; once it serves, the old agent soft-stops its
HAProxy, which answers each idle connection's next request with `Connection: close`.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from changeover.haproxy.process import find_binary
from changeover.loadgen import Report
from tests.e2e.harness import ENGINES, Service, burst, engine_part
from tests.e2e.test_reload import assert_no_failures, load, reload
from tests.helpers import gone, wait_for


def haproxy_master(service: Service, generation: int) -> int | None:
    """The pid in that generation's pid file, while it exists."""
    name = "haproxy.pid" if generation == 0 else f"haproxy.{generation}.pid"
    try:
        return int((service.state / name).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def test_reloads_on_haproxy_under_load_keep_replicas_and_fail_nothing(service: Service) -> None:
    service.write_spec(engine=engine_part("haproxy"))
    url = service.up()
    replicas = service.replica_pids()
    agents = [service.agent_pid()]
    masters = [haproxy_master(service, 0)]
    assert masters[0] is not None
    service.tracked.add(masters[0])
    with load(url) as gen:
        for generation in range(1, 5):
            result = reload(service)
            assert result.returncode == 0, result.stdout + result.stderr
            new = service.agent_pid()
            assert new not in agents
            assert gone(agents[-1] or 0)  # reload waits for the old agent to exit
            agents.append(new)
            master = haproxy_master(service, generation)
            assert master is not None, generation
            service.tracked.add(master)
            assert gone(masters[-1] or 0)  # the old agent's HAProxy stopped with it
            assert haproxy_master(service, generation - 1) is None  # its pid file with it
            assert not (service.state / f"haproxy.{generation - 1}.cfg").exists()
            masters.append(master)
            assert service.replica_pids() == replicas
    assert_no_failures(gen.report)
    status = service.status()
    assert status["agent"]["pid"] == agents[-1]
    assert status["agent"]["engine"] == "haproxy"
    # a rollout on the HAProxy of the fourth generation, under load too
    with load(url) as gen:
        deployed = service.cli("deploy", "--version", "v2", "--env", "HELLO_VERSION=v2")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert_no_failures(gen.report)
    assert gen.report is not None
    assert gen.report.header_counts.get("v2", 0) > 0
    wait_for(lambda: all(gone(pid) for pid in replicas.values()), 30, "old replicas stopped")
    assert service.cli("down").returncode == 0
    for pid in [*agents, *masters]:
        assert gone(pid or 0), pid


def test_a_new_agent_whose_haproxy_fails_leaves_the_old_one_serving(
    service: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new agent's HAProxy refuses to start (a wrapper that fails once a marker file
    exists): the new agent lets the replicas be, exits, and the old agent and its
    HAProxy serve on."""
    engine_part("haproxy")
    real = find_binary()
    marker = tmp_path / "refuse"
    wrapper = tmp_path / "haproxy"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'if [ -e {marker} ] && [ "$1" != "-v" ]; then echo "refused by the test" >&2; exit 1; fi\n'
        f'exec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("CHANGEOVER_HAPROXY", str(wrapper))
    service.write_spec(engine="haproxy")
    url = service.up()
    replicas = service.replica_pids()
    agent = service.agent_pid()
    master = haproxy_master(service, 0)
    assert master is not None
    service.tracked.add(master)
    with load(url) as gen:
        marker.touch()
        result = reload(service)
        marker.unlink()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "exited with code 1" in result.stderr, result.stderr
    assert_no_failures(gen.report)
    assert service.agent_pid() == agent
    assert service.replica_pids() == replicas
    assert haproxy_master(service, 0) == master
    assert not gone(master)
    assert haproxy_master(service, 1) is None
    # and a reload that works afterwards still does
    result = reload(service)
    assert result.returncode == 0, result.stdout + result.stderr
    assert service.replica_pids() == replicas
    assert burst(service.url(), 50).failed == 0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def only_refused(report: Report | None) -> None:
    """No request sent on an open connection failed: the only failures are connections
    to the old address after it closed (refused, or reset before any answer)."""
    assert report is not None
    assert report.sent > 0
    on_open = (
        report.status,
        report.bad_body,
        report.reset_reused,
        report.reset_mid_response,
        report.timeout,
        report.protocol_error,
    )
    assert on_open == (0, 0, 0, 0, 0, 0), report.summary()


@pytest.mark.parametrize("engine", ENGINES)
def test_a_changed_listen_address_is_bound_by_the_new_agent(service: Service, engine: str) -> None:
    service.write_spec(engine=engine_part(engine))
    old_url = service.up()
    replicas = service.replica_pids()
    port = free_port()
    service.spec.write_text(
        service.spec.read_text().replace('listen = "127.0.0.1:0"', f'listen = "127.0.0.1:{port}"')
    )
    new_url = f"http://127.0.0.1:{port}"
    with load(old_url) as before:
        result = reload(service)
        assert result.returncode == 0, result.stdout + result.stderr
        assert service.url() == new_url
        with load(new_url) as after:
            time.sleep(1.0)  # how much load, not a verdict: both addresses under load
    only_refused(before.report)
    assert_no_failures(after.report)
    assert service.replica_pids() == replicas
    assert burst(new_url, 100).failed == 0
    old_port = int(old_url.rsplit(":", 1)[1])
    with socket.socket() as probe:  # nothing listens on the old address any more
        assert probe.connect_ex(("127.0.0.1", old_port)) != 0
    assert os.path.exists(service.state / "agent.pid")
