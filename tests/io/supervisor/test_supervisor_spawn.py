"""Real processes: socket passing, port mode, logs and spawn errors."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import pytest

from changeover.spec.models import Probes
from changeover.supervisor.backoff import Backoff
from changeover.supervisor.fakes import RecordingRouting
from changeover.supervisor.sockets import bind_listener, port_of
from changeover.supervisor.spawn import Child, PosixSpawner, SpawnError, SpawnSpec, resolve_command
from changeover.supervisor.state import ReplicaState
from changeover.supervisor.supervisor import Supervisor
from tests.helpers import gone, until
from tests.io.supervisor.supervisor_helpers import TINYAPP, TOKEN_VAR, fast_probe, run


async def http_get(port: int, path: str = "/") -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    await writer.wait_closed()
    return data.decode()


def test_fd3_socket_with_own_listen_pid(tmp_path: Path, token: str) -> None:
    log = tmp_path / "app.log"
    # A stale LISTEN_PID from the agent's own environment must not leak through.
    env = {**os.environ, TOKEN_VAR: token, "LISTEN_PID": "1", "PYTHONUNBUFFERED": "1"}
    env |= {"LISTEN_FDS": "1", "LISTEN_FDNAMES": "http"}

    async def main() -> None:
        sock = bind_listener()
        try:
            spec = SpawnSpec([sys.executable, str(TINYAPP)], tmp_path, env, log, sock.fileno())
            child = PosixSpawner().spawn(spec)
            try:
                assert f"hello from {child.pid}" in await http_get(port_of(sock))
                assert os.getpgid(child.pid) == child.pid
            finally:
                child.signal(15)
                assert await child.wait() == 0
        finally:
            sock.close()
        assert gone(child.pid)
        text = log.read_text()
        assert f"pid={child.pid}" in text
        assert f"LISTEN_FDS=1 LISTEN_PID={child.pid} LISTEN_FDNAMES=http" in text
        assert "tinyapp stderr line" in text
        assert f"cwd={tmp_path}" in text
        assert "got SIGTERM" in text

    run(main())


def test_port_mode_substitutes_port_and_serves(make_template, tmp_path: Path) -> None:
    routing = RecordingRouting()
    template = make_template(
        command=f"{sys.executable} {TINYAPP} --port={{port}}",
        probes=Probes(readiness=fast_probe("/readyz")),
    )

    async def main() -> None:
        sup = Supervisor(routing=routing, logs_dir=tmp_path / "logs")
        sup.scale(template, 1)
        ready = await until(lambda: [i for i in sup.replicas() if i.state is ReplicaState.READY])
        info = ready[0]
        try:
            assert f"hello from {info.pid}" in await http_get(info.port)
        finally:
            await sup.stop_all()
        text = info.log_path.read_text()
        assert f"argv=['--port={info.port}']" in text
        assert f"LISTEN_FDS=None LISTEN_PID=None LISTEN_FDNAMES=None PORT={info.port}" in text
        assert info.pid is not None
        assert gone(info.pid)

    run(main())


def test_command_not_found_is_a_boot_failure(make_template, tmp_path: Path) -> None:
    routing = RecordingRouting()
    template = make_template(command="uvicornx app:app", env={"PATH": "/nowhere:/also/none"})

    async def main() -> None:
        fast = lambda: Backoff(initial=0.05)  # noqa: E731
        sup = Supervisor(routing=routing, logs_dir=tmp_path / "logs", backoff=fast)
        sup.scale(template, 1)
        info = await until(lambda: sup.replicas()[0].boot_failures >= 2 and sup.replicas()[0])
        expected = 'command not found: "uvicornx" (searched PATH=/nowhere:/also/none)'
        assert info.last_error == expected
        assert info.state in (ReplicaState.BACKOFF, ReplicaState.STARTING)
        assert info.pid is None
        assert not routing.routable
        await sup.stop_all()
        assert sup.replicas()[0].state is ReplicaState.EXITED

    run(main())


def test_resolve_command_errors(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path)}
    with pytest.raises(SpawnError, match=re.escape(f"workdir does not exist: {tmp_path}/no")):
        resolve_command("sh", tmp_path / "no", env)
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(SpawnError, match=re.escape('command is not executable: "./run.sh"')):
        resolve_command("./run.sh", tmp_path, env)
    script.chmod(0o755)
    assert resolve_command("./run.sh", tmp_path, env) == str(tmp_path / "./run.sh")
    assert resolve_command("run.sh", tmp_path, env) == str(script)
    with pytest.raises(SpawnError, match=re.escape('command not found: "./nope"')):
        resolve_command("./nope", tmp_path, env)


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "waitpid-polling"])
def test_exit_status_on_plain_asyncio(
    tmp_path: Path, token: str, pidfd: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not pidfd:
        monkeypatch.delattr(os, "pidfd_open")
    env = {"PATH": os.environ["PATH"], TOKEN_VAR: token}

    def spawn(script: str) -> Child:
        spec = SpawnSpec(["/bin/sh", "-c", script], tmp_path, env, tmp_path / "x.log")
        return PosixSpawner().spawn(spec)

    async def main() -> list[int]:
        children = [spawn("exit 4"), spawn("kill -KILL $$"), spawn("sleep 600")]
        children[2].signal(signal.SIGTERM)
        codes = [await child.wait() for child in children]
        for child in children:
            child.kill_group(signal.SIGKILL)  # a shell may have forked `sleep` first
        return codes

    assert asyncio.run(main()) == [4, -signal.SIGKILL, -signal.SIGTERM]


def test_child_gets_only_fds_0_to_3_and_default_sigpipe(tmp_path: Path, token: str) -> None:
    env = {"PATH": os.environ["PATH"], TOKEN_VAR: token}

    async def main() -> None:
        sock = bind_listener()
        spec = SpawnSpec(["sleep", "600"], tmp_path, env, tmp_path / "x.log", sock.fileno())
        child = PosixSpawner().spawn(spec)
        try:
            proc = f"/proc/{child.pid}"
            await until(lambda: os.readlink(f"{proc}/exe").endswith("/sleep"), what="exec")
            # The dynamic loader briefly opens libraries as fd 4 and up while starting.
            fds = lambda: sorted(int(fd) for fd in os.listdir(f"{proc}/fd"))  # noqa: E731
            await until(lambda: fds() == [0, 1, 2, 3], within=2, what="only fds 0-3 open")
            assert os.readlink(f"{proc}/fd/0") == os.devnull
            assert os.readlink(f"{proc}/fd/1") == str(tmp_path / "x.log")
            assert os.readlink(f"{proc}/fd/3").startswith("socket:")
            assert not ignored_signals(child.pid) & (1 << (signal.SIGPIPE - 1))
        finally:
            child.kill_group(signal.SIGKILL)
            await child.wait()
            sock.close()

    run(main())


def ignored_signals(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    match = re.search(r"SigIgn:\s*([0-9a-f]+)", status)
    assert match is not None
    return int(match.group(1), 16)


def test_port_mode_moves_to_a_fresh_port_after_losing_the_race(
    make_template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process takes the port between the supervisor's choice and the app's bind:
    the app fails at boot, and the next start gets a new port instead of failing forever."""
    import socket

    from changeover.supervisor import replica, sockets

    taken = socket.create_server(("127.0.0.1", 0))  # the process that won the race
    choices = iter([port_of(taken)])
    monkeypatch.setattr(
        replica, "free_port", lambda host: next(choices, None) or sockets.free_port(host)
    )
    routing = RecordingRouting()
    template = make_template(
        command=f"{sys.executable} {TINYAPP} --port={{port}}",
        probes=Probes(readiness=fast_probe("/readyz")),
    )

    async def main() -> None:
        fast = lambda: Backoff(initial=0.05)  # noqa: E731
        sup = Supervisor(routing=routing, logs_dir=tmp_path / "logs", backoff=fast)
        sup.scale(template, 1)
        try:
            ready = await until(
                lambda: [i for i in sup.replicas() if i.state is ReplicaState.READY]
            )
            info = ready[0]
            assert info.port != port_of(taken)
            assert info.boot_failures == 0
            assert info.restarts >= 1
            assert f"hello from {info.pid}" in await http_get(info.port)
        finally:
            await sup.stop_all()
        added = [call[4] for call in routing.calls if call[0] == "add_endpoint"]
        assert added[0] == port_of(taken)
        assert added[-1] == info.port

    try:
        run(main())
    finally:
        taken.close()
