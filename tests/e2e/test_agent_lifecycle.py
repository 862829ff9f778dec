"""The agent's life: restart after SIGKILL, down leaves nothing, bad input is refused."""

from __future__ import annotations

import os
import re
import signal
import socket

from tests.e2e.harness import Service, burst
from tests.helpers import gone, wait_for


def test_sigkill_agent_then_up_adopts_the_replicas_still_serving(service: Service) -> None:
    service.up()
    assert service.cli("deploy", "--version", "v2", "--env", "HELLO_VERSION=v2").returncode == 0
    # deploy returns once revision 2 is stable; revision 1's replicas may still be stopping

    def revision_2_alone() -> dict[str, int] | None:
        pids = service.replica_pids(direct=True)
        return None if any(rid.startswith("r1-") for rid in pids) else pids

    old_replicas = wait_for(revision_2_alone, 30, "revision 1's replicas stopped")
    agent = service.agent_pid()
    assert agent
    assert sorted(old_replicas) == ["r2-1", "r2-2"]
    os.kill(agent, signal.SIGKILL)
    wait_for(lambda: gone(agent), 10, "agent to die")
    url = service.up()
    doc = service.status()
    assert doc["stable_revision"] == 2
    assert {r["id"]: r["pid"] for r in doc["replicas"] if r["state"] == "ready"} == old_replicas
    messages = [e["message"] for e in doc["events"]]
    for rid, pid in old_replicas.items():
        assert f"adopted {rid} (pid {pid}) after an agent restart" in messages
    load = burst(url, 40)
    assert load.header_counts == {"v2": 40}


def test_down_stops_everything_even_a_replica_ignoring_sigterm(service: Service) -> None:
    service.write_spec(command="python stubborn.py", grace="1s")
    (service.dir / "stubborn.py").write_text(STUBBORN)
    service.up()
    replicas = service.replica_pids()
    assert len(replicas) == 2
    result = service.cli("down")
    assert result.returncode == 0, result.stderr
    for pid in [*replicas.values(), *service.tracked]:
        assert gone(pid), f"process {pid} survived down"
    assert not (service.state / "agent.sock").exists()


def test_port_in_use_is_a_clear_error(service: Service) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        text = service.spec.read_text().replace('"127.0.0.1:0"', f'"127.0.0.1:{port}"')
        service.spec.write_text(text)
        result = service.cli("up", "--detach")
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr


def test_commands_without_agent_exit_3(service: Service) -> None:
    for args in (["status"], ["deploy", "--version", "v9"], ["undo"], ["history"], ["logs"]):
        result = service.cli(*args)
        assert result.returncode == 3, (args, result.stderr)
        assert "no agent is running" in result.stderr


def test_missing_command_fails_the_rollout_clearly(service: Service) -> None:
    service.write_spec(deadline="20s")
    service.up()
    result = service.cli("deploy", "--version", "v2", "--command", "no-such-server --fd 3")
    assert result.returncode == 1
    assert "command not found" in result.stdout
    assert service.status()["stable_revision"] == 1


def test_a_first_revision_crashing_at_boot_shows_its_output(service: Service) -> None:
    service.write_spec(env={"CRASH_AT_BOOT": "1"})
    result = service.cli("up", "--detach")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    failed = re.search(r"replica (r1-\d) failed at boot 3 times: exited with code 3", output)
    assert failed is not None, output
    replica = failed.group(1)
    assert f"{replica} wrote before failing" in output, output
    assert "hello v1: crashing at boot (CRASH_AT_BOOT=1)" in output, output
    assert f"`changeover logs {replica}` shows more" in output, output


STUBBORN = """
import os, signal, socket, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

signal.signal(signal.SIGTERM, signal.SIG_IGN)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"stubborn\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Version", os.environ.get("HELLO_VERSION", "?"))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    def server_bind(self):
        pass


assert os.environ["LISTEN_PID"] == str(os.getpid())
server = Server(("127.0.0.1", 0), Handler, bind_and_activate=False)
server.socket.close()
server.socket = socket.socket(fileno=3)
server.server_address = server.socket.getsockname()
print("stubborn serving on fd 3", flush=True)
server.serve_forever()
"""


def test_sigkill_mid_rollout_then_up_restores_the_stable_revision(service: Service) -> None:
    service.up()
    started = service.cli(
        "deploy",
        "--version",
        "v2",
        "--env",
        "HELLO_VERSION=v2",
        "--env",
        "BOOT_DELAY=30",
        "--no-wait",
    )
    assert started.returncode == 0, started.stderr
    wait_for(
        lambda: any(r["revision"] == 2 for r in service.status()["replicas"]),
        30,
        "a replica of revision 2",
    )
    pids = service.replica_pids()
    stable = {rid: pid for rid, pid in pids.items() if rid.startswith("r1-")}
    assert len(stable) == 2
    agent = service.agent_pid()
    assert agent
    os.kill(agent, signal.SIGKILL)
    wait_for(lambda: gone(agent), 10, "agent to die")
    url = service.up()
    for replica, pid in pids.items():
        if replica not in stable:  # the interrupted rollout's replicas are stopped
            assert gone(pid), f"orphaned replica {replica} (pid {pid}) still running"
    doc = service.status()
    assert doc["stable_revision"] == 1
    assert {r["id"]: r["pid"] for r in doc["replicas"] if r["state"] == "ready"} == stable
    messages = [e["message"] for e in doc["events"]]
    assert any(m.startswith("stopped r2-1 (pid") for m in messages), messages
    assert any(m.endswith("revision 2 is not the stable revision") for m in messages), messages
    history = service.cli("history", "--json").stdout
    assert '"phase": "interrupted"' in history
    assert burst(url, 20).header_counts == {"v1": 20}
