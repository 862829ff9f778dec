"""The old agent's side of a reload against new agents that misbehave on purpose.

The new agent is a small script given to `Reloader` as its program (the agent itself
ships no test hook): it reads the manifest, then answers ready, exits, or hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import psutil
import pytest

from changeover.agent.manifest import parse
from changeover.agent.reload import HANDOVER_ENV, Outcome, Reloader

NEW_AGENT = f"""
import os, socket, sys, time
channel = socket.socket(fileno=int(os.environ[{HANDOVER_ENV!r}]))
manifest = b""
while b"\\n" not in manifest:
    manifest += channel.recv(65536)
print("manifest", manifest.decode().strip()[:40], file=sys.stderr)
mode = sys.argv[1]
if mode == "ready":
    channel.sendall(f"ready {{os.getpid()}}\\n".encode())
elif mode == "wrong":
    channel.sendall(b"ready 1\\n")
    time.sleep(60)
elif mode == "exit":
    sys.exit(7)
else:
    time.sleep(60)
"""


class FakeLock:
    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.rewrites = sock, 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def write_pid(self) -> None:
        self.rewrites += 1


def fake_agent(tmp_path: Path) -> Any:
    return SimpleNamespace(
        controller=SimpleNamespace(active=None, linger={}),
        migrator=SimpleNamespace(busy=None),  # no migration command running
        supervisor=SimpleNamespace(replicas=list, handover=list),
        stopping=asyncio.Event(),
        spec_path=tmp_path / "changeover.toml",
        proxy=SimpleNamespace(engine_name="builtin"),
    )


async def reload_with(mode: str, tmp_path: Path, deadline: float) -> tuple[Outcome, Any, FakeLock]:
    agent = fake_agent(tmp_path)
    public, control = socket.socketpair()
    lock = FakeLock(socket.socket())
    with public, control, lock.sock:
        reloader = Reloader(
            agent=agent,
            state_dir=tmp_path,
            public=public,
            control=control,
            lock=cast(Any, lock),
            program=(sys.executable, "-c", NEW_AGENT, mode),
        )
        outcome = await reloader.reload(deadline)
        # kept open on success only: step_down hands the idle client connections over it
        assert (reloader.channel is not None) == outcome.ok
        if reloader.channel is not None:
            reloader.channel.close()
    return outcome, agent, lock


def assert_gone(pid: int | None) -> None:
    assert pid is not None
    with contextlib.suppress(psutil.NoSuchProcess):
        assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


# The old agent does not wait for a new agent that took over: it lives on (here it exits
# at once, and the test reaps it).
@pytest.mark.filterwarnings("ignore:subprocess .* is still running:ResourceWarning")
def test_a_new_agent_that_says_ready_takes_over(tmp_path: Path) -> None:
    outcome, agent, lock = asyncio.run(reload_with("ready", tmp_path, deadline=30))
    assert outcome.new_pid is not None
    with contextlib.suppress(psutil.NoSuchProcess):  # already reaped: another test's reaper
        psutil.Process(outcome.new_pid).wait(timeout=30)
    assert outcome.ok, outcome.reason
    assert agent.stopping.is_set()  # the old agent steps down
    assert lock.rewrites == 0


@pytest.mark.parametrize(
    ("mode", "deadline", "reason"),
    [
        ("exit", 30.0, "it exited with code 7"),
        ("hang", 0.5, "was not ready within 0.5s"),
        ("wrong", 30.0, "the new agent said 'ready 1'"),  # ready must name the agent's own pid
    ],
)
def test_a_failing_new_agent_leaves_the_old_one_serving(
    mode: str, deadline: float, reason: str, tmp_path: Path
) -> None:
    outcome, agent, lock = asyncio.run(reload_with(mode, tmp_path, deadline))
    assert not outcome.ok
    assert reason in outcome.reason
    assert not agent.stopping.is_set()
    assert lock.rewrites == 1  # the pid file names the old agent again
    assert_gone(outcome.new_pid)


@pytest.mark.filterwarnings("ignore:subprocess .* is still running:ResourceWarning")
def test_an_agent_on_the_haproxy_engine_hands_over_its_generation_and_address(
    tmp_path: Path,
) -> None:
    """The haproxy engine reloads too: the manifest tells the new agent which HAProxy
    generation runs (its own files are the next one's) and what `proxy.listen` was."""
    agent = fake_agent(tmp_path)
    agent.proxy = SimpleNamespace(engine_name="haproxy")
    public, control = socket.socketpair()
    lock = FakeLock(socket.socket())
    seen = tmp_path / "manifest.json"
    program = NEW_AGENT.replace(
        "mode = sys.argv[1]", f'open({str(seen)!r}, "wb").write(manifest)\nmode = sys.argv[1]'
    )
    with public, control, lock.sock:
        reloader = Reloader(
            agent=agent,
            state_dir=tmp_path,
            public=public,
            control=control,
            lock=cast(Any, lock),
            program=(sys.executable, "-c", program, "ready"),
            generation=3,
            listen="127.0.0.1:8080",
        )
        outcome = asyncio.run(reloader.reload(30.0))
        if reloader.channel is not None:
            reloader.channel.close()
    assert outcome.ok, outcome.reason
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(outcome.new_pid or 0).wait(timeout=30)
    manifest = parse(seen.read_text())
    assert (manifest.generation, manifest.listen) == (3, "127.0.0.1:8080")
    assert agent.stopping.is_set()
