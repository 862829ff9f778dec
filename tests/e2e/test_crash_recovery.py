"""A crash-only agent under keep-alive load: SIGKILL, then `up` again with the listener
passed the way systemd passes it; nothing is refused, only requests that were inside the
agent at the kill fail, and the replicas that survived are adopted (same pids)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from changeover.loadgen import BackgroundLoad, Report
from tests.e2e.harness import ENGINES, MIX, Service, burst, engine_part
from tests.helpers import gone, wait_for

CONNECTIONS = 16
# `LISTEN_PID` must name the agent itself: the shell learns its pid, then execs into it
TRAMPOLINE = 'LISTEN_PID=$$; export LISTEN_PID; exec "$@"'
# how a request that was inside the agent when it died may end; a refusal is not one
KILLED_IN_FLIGHT = ("reset_fresh", "reset_reused", "reset_mid_response")


class ActivatedAgents:
    """Foreground `changeover up` processes, each given `listener` as fd 3 with
    LISTEN_FDS=1, as systemd does; the listener stays open here between them."""

    def __init__(self, service: Service, listener: socket.socket, log: Path) -> None:
        self.service, self.listener, self.log = service, listener, log
        self.pids: list[int] = []

    def start(self, fdname: str | None = None, *args: str, **extra: str) -> int:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
        env |= {"LISTEN_FDS": "1", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "COLUMNS": "200"}
        env |= extra
        if fdname is not None:
            env["LISTEN_FDNAMES"] = fdname
        argv = ["/bin/sh", "-c", TRAMPOLINE, "sh", sys.executable, "-m", "changeover"]
        argv += ["up", "-f", str(self.service.spec), *args]
        high = fcntl.fcntl(self.listener.fileno(), fcntl.F_DUPFD_CLOEXEC, 10)
        log = os.open(self.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            pid = os.posix_spawn(
                "/bin/sh",
                argv,
                env,
                file_actions=[
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_DUP2, log, 1),
                    (os.POSIX_SPAWN_DUP2, log, 2),
                    (os.POSIX_SPAWN_DUP2, high, 3),
                ],
            )
        finally:
            os.close(high)
            os.close(log)
        self.pids.append(pid)
        self.service.tracked.add(pid)
        return pid

    def wait_ready(self, times: int) -> None:
        """Until `up` said ready `times` times in all (each start says it once)."""
        pid = self.pids[-1]
        wait_for(
            lambda: self.output().count("ready: revision") >= times or gone(pid),
            60,
            "the agent to serve",
        )
        assert not gone(pid), self.output()

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""

    def close(self) -> None:
        self.service.cleanup()  # `down`: the agent (our child) exits; then reap it
        for pid in self.pids:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


@contextlib.contextmanager
def activated(service: Service, log: Path) -> Iterator[tuple[ActivatedAgents, int]]:
    with socket.create_server(("127.0.0.1", 0), backlog=2048) as listener:
        port = listener.getsockname()[1]
        text = service.spec.read_text().replace('"127.0.0.1:0"', f'"127.0.0.1:{port}"')
        service.spec.write_text(text)
        agents = ActivatedAgents(service, listener, log)
        try:
            yield agents, port
        finally:
            agents.close()


@pytest.mark.parametrize("engine", ENGINES)
def test_sigkill_under_socket_activation_refuses_nothing_and_adopts_replicas(
    service: Service, tmp_path: Path, engine: str
) -> None:
    """On the haproxy engine HAProxy dies with the agent (pdeathsig) and the next agent
    starts it with the adopted replicas: the same promise, through another data plane."""
    service.write_spec(engine=engine_part(engine))
    with activated(service, tmp_path / "up.log") as (agents, port):
        first = agents.start()  # matched by address: no LISTEN_FDNAMES
        agents.wait_ready(1)
        replicas = service.replica_pids()
        assert sorted(replicas) == ["r1-1", "r1-2"]
        load = BackgroundLoad(
            f"http://127.0.0.1:{port}",
            rate=300,
            connections=CONNECTIONS,
            templates=MIX,
            timeout=30,
            count_header="X-Version",
        )
        with load as gen:
            gen.wait_until(lambda r: r.ok >= 300, 60)
            os.kill(first, signal.SIGKILL)
            os.waitpid(first, 0)
            second = agents.start(fdname="public")  # matched by FileDescriptorName
            agents.wait_ready(2)
            served = gen.snapshot().ok
            gen.wait_until(lambda r: r.ok >= served + 300, 60)  # the new agent serves
        report = gen.report
        doc = service.status()
        adopted = service.replica_pids()
    assert_only_in_flight_failed(report)
    assert doc["agent"]["pid"] == second
    assert adopted == replicas  # the same processes: adopted, not replaced
    messages = [e["message"] for e in doc["events"]]
    for rid, pid in replicas.items():
        assert f"adopted {rid} (pid {pid}) after an agent restart" in messages
    assert set(report.header_counts) == {"v1"}


def assert_only_in_flight_failed(report: Report) -> None:
    """Nothing refused or answered with an error; every failure is a request the kill
    cut inside the agent: a reset, at most one per client connection (each connection
    carries one request at a time, and a worker opens a new one after a failure)."""
    summary = report.summary()
    assert report.ok > 0, summary
    assert report.refused == report.connect_error == report.timeout == 0, summary
    assert report.status == report.bad_body == report.protocol_error == 0, summary
    assert report.failed == sum(getattr(report, kind) for kind in KILLED_IN_FLIGHT), summary
    assert report.failed <= CONNECTIONS, summary


def test_the_service_manager_hears_ready_main_pid_at_reload_and_stopping(
    service: Service, tmp_path: Path, short_tmp: Path
) -> None:
    path = str(short_tmp / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind(path)
        manager.settimeout(60)  # only a failing test waits that long
        with activated(service, tmp_path / "up.log") as (agents, port):
            first = agents.start(NOTIFY_SOCKET=path)
            agents.wait_ready(1)
            heard = told(manager)
            assert heard["READY"] == "1"
            assert heard["STATUS"] == f"revision 1 (v1) serving on http://127.0.0.1:{port}"
            reloaded = service.cli("reload")
            assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
            new = service.agent_pid()
            assert new not in (None, first)
            assert told(manager)["MAINPID"] == str(new)  # the manager follows the new agent
            assert burst(f"http://127.0.0.1:{port}", 20).header_counts == {"v1": 20}
        assert told(manager)["STOPPING"] == "1"  # `down`, from the agent reload started


def told(manager: socket.socket) -> dict[str, str]:
    return dict(line.split("=", 1) for line in manager.recv(4096).decode().splitlines())


def test_up_detach_passes_the_listener_on_to_the_agent(service: Service, tmp_path: Path) -> None:
    with activated(service, tmp_path / "up.log") as (agents, port):
        url = f"http://127.0.0.1:{port}"
        first = detached_up(agents)
        replicas = service.replica_pids()
        assert burst(url, 20).header_counts == {"v1": 20}
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: gone(first), 10, "the agent to die")
        second = detached_up(agents)
        assert second != first
        assert service.replica_pids() == replicas  # adopted
        assert burst(url, 20).header_counts == {"v1": 20}


def detached_up(agents: ActivatedAgents) -> int:
    """`up --detach` given the listener; the pid of the agent it passed it on to."""
    up = agents.start(None, "--detach")
    _, status = os.waitpid(up, 0)
    assert os.waitstatus_to_exitcode(status) == 0, agents.output()
    agent = agents.service.agent_pid()
    assert agent is not None
    assert agent != up
    agents.service.track_agent()
    return agent
