"""`changeover dial` against a real control server, and `AgentClient` reaching an agent
"on another host" through it: a stand-in ssh runs the remote line here, as sshd would
(the real sshd is in tests/e2e/test_remote_ssh.py)."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from changeover.agent.paths import StatePaths
from changeover.cli.client import AgentClient, Unreachable
from changeover.cli.splice import splice
from changeover.cli.ssh import Remote, RemotePaths, SshHost
from changeover.rollout.phase import Phase
from tests.io.agent._fakes import FakeAgent, replica_info, rollout
from tests.io.cli.test_client import BODY, make_agent, serving

T = TypeVar("T")
# an "ssh" that runs its last argument (the remote line) here, with sh, as sshd would
LOCAL_SSH = shlex.join(["sh", "-c", 'for last; do :; done; exec sh -c "$last"', "fake-ssh"])
FAILING_SSH = shlex.join(
    ["sh", "-c", "echo 'ssh: connect to host prod-1 port 2222: Connection refused' >&2; exit 255"]
)
HERE = shlex.join([sys.executable, "-m", "changeover"])
SPEC = '[app]\nname = "hello"\ncommand = "x"\n[environments.prod]\n'


@pytest.fixture
def service(short_tmp: Path) -> Path:
    """A service folder on "the host" with the agent's state in .changeover/prod."""
    folder = short_tmp / "srv"
    folder.mkdir()
    (folder / "changeover.toml").write_text(SPEC)
    StatePaths(folder / ".changeover" / "prod").ensure()
    return folder


def remote_paths(service: Path, ssh: str = LOCAL_SSH) -> RemotePaths:
    environ = {"CHANGEOVER_SSH": ssh, "CHANGEOVER_REMOTE": HERE}
    return RemotePaths.of(Remote.of("prod", SshHost.parse(f"ssh://prod-1{service}"), environ))


def through_dial(agent: FakeAgent, service: Path, use: Callable[[AgentClient], T]) -> T:
    """Serve `agent` on the host's socket; run the blocking client in a worker thread."""
    paths = StatePaths(service / ".changeover" / "prod")

    def client_side() -> T:
        with AgentClient(remote_paths(service), timeout=10.0) as client:
            return use(client)

    async def main() -> T:
        async with asyncio.timeout(60), serving(agent, paths):
            return await asyncio.to_thread(client_side)

    return asyncio.run(main())


def test_requests_and_answers_go_through_dial(service: Path) -> None:
    agent = make_agent(StatePaths(service / ".changeover" / "prod"))
    agent.on_deploy = lambda request: rollout(2, 1, 2, Phase.PROGRESSING)

    def use(client: AgentClient) -> tuple[Any, Any]:
        return client.get("/v1/rollouts/1"), client.post("/v1/deploy", BODY)

    got, posted = through_dial(agent, service, use)
    assert (got["id"], got["phase"]) == (1, "succeeded")
    assert (posted["id"], posted["phase"]) == (2, "progressing")


def test_a_followed_log_streams_through_dial(service: Path) -> None:
    paths = StatePaths(service / ".changeover" / "prod")
    agent = make_agent(paths)
    log = paths.logs / "r1-1.log"
    log.write_bytes(b"one\n")
    agent.supervisor.infos = [replica_info("r1-1", log_path=log)]

    def use(client: AgentClient) -> list[bytes]:
        seen: list[bytes] = []
        for chunk in client.stream("/v1/logs", lines=5, follow=1):
            seen.append(chunk)
            if b"".join(seen) == b"r1-1 | one\n":
                with log.open("ab") as fh:  # written only once the first line arrived
                    fh.write(b"two\n")
            if b"r1-1 | two\n" in b"".join(seen):
                break  # leaving a stream that never ends by itself
        assert client.get("/v1/rollouts/1")["id"] == 1  # the client goes on after it
        return seen

    assert b"".join(through_dial(agent, service, use)) == b"r1-1 | one\nr1-1 | two\n"


def test_ssh_failing_is_unreachable_with_its_message_and_command(service: Path) -> None:
    with (
        AgentClient(remote_paths(service, FAILING_SSH), timeout=10.0) as client,
        pytest.raises(Unreachable) as caught,
    ):
        client.get("/v1/status")
    lines = str(caught.value).splitlines()
    where = f"environment prod on ssh://prod-1{service}"
    assert lines[0] == f"no answer from the agent of {where} over ssh:"
    assert lines[1] == "  ssh: connect to host prod-1 port 2222: Connection refused"
    assert lines[2].startswith("  `sh -c ")
    assert lines[2].endswith("-E prod dial'` exited with code 255")


def test_splice_half_closes_so_an_answer_in_flight_still_arrives() -> None:
    """EOF on stdin shuts the socket for writing only; the peer's answer comes after it."""
    here, agent = socket.socketpair()
    source_r, source_w = os.pipe()
    sink_r, sink_w = os.pipe()
    spliced = threading.Thread(target=splice, args=(here, source_r, sink_w))
    spliced.start()
    try:
        os.write(source_w, b"GET / HTTP/1.1\r\n\r\n")
        os.close(source_w)  # the client is done sending
        received = b""
        while chunk := agent.recv(4096):  # ... until the half-close reaches the peer
            received += chunk
        agent.sendall(b"the answer")
        agent.close()
        spliced.join(10)
        assert not spliced.is_alive()
        os.close(sink_w)
        with os.fdopen(sink_r, "rb") as sink:
            assert sink.read() == b"the answer"
        assert received == b"GET / HTTP/1.1\r\n\r\n"
    finally:
        here.close()
        os.close(source_r)


def dial(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "changeover", *args, "dial"],
        cwd=folder,
        input="",
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_dial_without_an_agent_exits_3_saying_how_to_start_one(service: Path) -> None:
    done = dial(service, "-E", "prod")
    assert done.returncode == 3, done.stderr
    state = service / ".changeover" / "prod"
    assert done.stderr.startswith(f"changeover dial: error: no agent is running for {state} (")
    assert "start one with `changeover -E prod up --detach`" in done.stderr
    assert done.stdout == ""


def test_dial_of_an_environment_the_spec_lacks_exits_2(service: Path) -> None:
    done = dial(service, "-E", "qa")
    assert done.returncode == 2, done.stderr
    assert "unknown environment 'qa'; the spec defines: prod" in done.stderr


HEAVY = ("pydantic", "typer", "rich", "httpx", "httpcore", "uvloop", "httptools", "starlette")


def test_dial_loads_neither_the_cli_nor_the_proxy(service: Path) -> None:
    """What `changeover -E prod dial` has imported when it exits."""
    code = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))\n"
        "sys.argv = ['changeover', '-E', 'prod', 'dial']\n"
        "from changeover.cli.app import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=service, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3, done.stderr
    modules = json.loads(done.stderr.splitlines()[-1])
    assert [m for m in modules if m.split(".")[0] in HEAVY] == []
    ours = {m for m in modules if m.split(".")[0] == "changeover"}
    assert ours == {
        "changeover",
        "changeover.agent",
        "changeover.agent.paths",
        "changeover.cli",
        "changeover.cli.app",
        "changeover.cli.splice",
    }
