"""The runner with pretend processes: events in order, status file, systemd messages."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
from pathlib import Path

import pytest

from changeover.hotrestart.events import Ready, Reload, Terminate
from changeover.hotrestart.fakes import FakeChild, FakeLauncher
from changeover.hotrestart.files import status_path
from changeover.hotrestart.generation import Timing
from changeover.hotrestart.listen import Listener, bind, bound_address, parse_listen
from changeover.hotrestart.ready import DelayReady, ReadyMode
from changeover.hotrestart.runner import RunConfig, Runner
from tests.helpers import until


def listener(name: str = "http") -> Listener:
    sock = bind(parse_listen(f"{name}=127.0.0.1:0"))
    return Listener(bound_address(sock, name), sock)


def make_runner(
    tmp: Path,
    env: dict[str, str] | None = None,
    workdir: Path | None = None,
    ready: ReadyMode = DelayReady(0.01),
    **timing: float,
) -> tuple[Runner, FakeLauncher, list[str]]:
    lines: list[str] = []
    launcher = FakeLauncher()
    config = RunConfig(
        argv=["app", "--fd", "3"],
        workdir=workdir or tmp,
        listeners=[listener(), listener("admin")],
        ready=ready,
        timing=Timing(**timing) if timing else Timing(ready_timeout=5, grace_period=5),
        pid_file=tmp / "app.pid",
        env=env if env is not None else {"PATH": "/bin", "NOTIFY_SOCKET": "/nowhere"},
    )
    return Runner(config, launcher=launcher, say=lines.append), launcher, lines


def status(tmp: Path) -> dict[str, object]:
    """The status document; empty until the runner wrote its first one."""
    path = status_path(tmp / "app.pid")
    doc: dict[str, object] = json.loads(path.read_text()) if path.exists() else {}
    return doc


def test_generations_get_the_listeners_and_a_clean_environment(tmp_path: Path) -> None:
    async def scenario() -> int:
        runner, launcher, _ = make_runner(tmp_path, env={"PATH": "/bin", "LISTEN_FDS": "9"})
        task = asyncio.create_task(runner.run())
        await until(lambda: launcher.children, what="first spawn")
        (launch,) = launcher.launches
        assert launch.fds == [lst.sock.fileno() for lst in runner.config.listeners]
        assert launch.env == {
            "PATH": "/bin",
            "LISTEN_FDS": "2",
            "LISTEN_FDNAMES": "http:admin",
            "CHANGEOVER_GENERATION": "1",
        }
        runner.post(Terminate(signal.SIGTERM))
        await until(lambda: launcher.children[0].signals, what="stop signal")
        launcher.children[0].exit(0)
        return await task

    assert asyncio.run(scenario()) == 0


def test_reload_upgrade_and_stop_as_seen_in_the_status_file(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, list[str]]:
        runner, launcher, lines = make_runner(tmp_path)
        task = asyncio.create_task(runner.run())
        await until(lambda: status(tmp_path).get("phase") == "serving", what="serving")
        assert (tmp_path / "app.pid").read_text() == f"{os.getpid()}\n"
        first = launcher.children[0]
        assert status(tmp_path)["serving"] == {"generation": 1, "pid": first.pid}
        runner.post(Reload())
        await until(lambda: first.signals == [signal.SIGTERM], what="old one told to stop")
        first.exit(-signal.SIGTERM)
        await until(lambda: status(tmp_path).get("outcomes"), what="outcome")
        doc = status(tmp_path)
        assert doc["outcomes"] == [
            {
                "number": 1,
                "upgraded": True,
                "message": "generation 2 is serving; generation 1 exited on SIGTERM",
            }
        ]
        assert first.group_kills == 1  # grandchildren of a finished generation are killed
        runner.post(Terminate(signal.SIGINT))
        await until(lambda: launcher.children[1].signals, what="new one told to stop")
        launcher.children[1].exit(0)
        return await task, lines

    code, lines = asyncio.run(scenario())
    assert code == 0
    assert not (tmp_path / "app.pid").exists()
    assert not status_path(tmp_path / "app.pid").exists()
    assert "generation 2 started: pid 90002" in lines


def test_spawn_failure_is_an_exit_of_that_generation(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, list[str]]:
        runner, launcher, lines = make_runner(tmp_path)
        launcher.fail_next = 'command not found: "app"'
        return await runner.run(), lines

    code, lines = asyncio.run(scenario())
    assert code == 1
    assert 'error: generation 1 could not start: command not found: "app" before it was ready' in (
        lines
    )


def test_old_generation_ignoring_its_stop_signal_is_killed(tmp_path: Path) -> None:
    async def scenario() -> FakeChild:
        runner, launcher, _ = make_runner(tmp_path, ready_timeout=5, grace_period=0.05)
        task = asyncio.create_task(runner.run())
        await until(lambda: status(tmp_path).get("phase") == "serving", what="serving")
        runner.post(Reload())
        await until(lambda: status(tmp_path).get("outcomes"), what="upgrade done")
        runner.post(Terminate(signal.SIGTERM))
        await until(
            lambda: len(launcher.children) == 2 and launcher.children[1].signals, what="stop"
        )
        launcher.children[1].exit(0)
        await task
        return launcher.children[0]

    first = asyncio.run(scenario())
    assert first.signals == [signal.SIGTERM]
    assert first.returncode == -signal.SIGKILL  # by the group kill after the grace period


@pytest.fixture
def manager(short_tmp: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(short_tmp / "notify"))
    sock.settimeout(5)
    return sock


def test_systemd_hears_ready_with_mainpid_reloading_and_stopping(
    tmp_path: Path, manager: socket.socket
) -> None:
    async def scenario() -> None:
        env = {"PATH": "/bin", "NOTIFY_SOCKET": manager.getsockname()}
        runner, launcher, _ = make_runner(tmp_path, env=env)
        task = asyncio.create_task(runner.run())
        await until(lambda: status(tmp_path).get("phase") == "serving", what="serving")
        runner.post(Reload())
        await until(lambda: launcher.children[0].signals, what="upgrade")
        launcher.children[0].exit(0)
        await until(lambda: status(tmp_path).get("outcomes"), what="upgrade done")
        runner.post(Terminate(signal.SIGTERM))
        await until(lambda: launcher.children[1].signals, what="stop")
        launcher.children[1].exit(0)
        await task

    asyncio.run(scenario())
    with manager:
        got = [manager.recv(4096).decode().split("\n") for _ in range(4)]
    assert got[0][:2] == ["READY=1", "STATUS=generation 1 serving"]
    assert got[0][2] == f"MAINPID={os.getpid()}"
    assert got[1][0] == "RELOADING=1"
    assert got[1][2].startswith("MONOTONIC_USEC=")
    assert got[2][:2] == ["READY=1", "STATUS=generation 2 serving"]
    assert got[3] == ["STOPPING=1"]


def test_successor_dying_after_the_old_one_was_told_to_stop_restarts_the_old_release(
    tmp_path: Path,
) -> None:
    """The restart runs where generation 1 ran, though `current` points at v2 by then."""
    v1, v2, current = tmp_path / "v1", tmp_path / "v2", tmp_path / "current"
    v1.mkdir()
    v2.mkdir()
    current.symlink_to(v1)

    async def scenario() -> tuple[FakeLauncher, list[str], list[object], object]:
        # Readiness is posted by the test (the delay never passes), so every phase shows.
        runner, launcher, lines = make_runner(tmp_path, workdir=current, ready=DelayReady(3600))
        task = asyncio.create_task(runner.run())
        await until(lambda: launcher.children, what="first spawn")
        runner.post(Ready(1))
        await until(lambda: status(tmp_path).get("phase") == "serving", what="serving")
        current.unlink()
        current.symlink_to(v2)
        runner.post(Reload())
        await until(lambda: len(launcher.children) == 2, what="second spawn")
        runner.post(Ready(2))
        first = launcher.children[0]
        await until(lambda: first.signals == [signal.SIGTERM], what="old one told to stop")
        launcher.children[1].exit(3)  # the new release dies while the old one drains
        await until(lambda: status(tmp_path).get("phase") == "recovering", what="recovering")
        assert status(tmp_path)["candidate"] == {"generation": 3, "pid": 90003}
        assert not status(tmp_path)["outcomes"]  # answered once the restart serves
        runner.post(Ready(3))
        await until(lambda: status(tmp_path).get("outcomes"), what="the reload's answer")
        doc = status(tmp_path)
        phases: list[object] = ["recovering", doc["phase"]]  # 3 serves while 1 drains
        first.exit(-signal.SIGTERM)
        await until(lambda: status(tmp_path).get("phase") == "serving", what="serving again")
        assert status(tmp_path)["serving"] == {"generation": 3, "pid": launcher.children[2].pid}
        runner.post(Terminate(signal.SIGTERM))
        await until(lambda: launcher.children[2].signals, what="stop")
        launcher.children[2].exit(0)
        assert await task == 0
        return launcher, lines, phases, doc["outcomes"]

    launcher, lines, phases, outcomes = asyncio.run(scenario())
    assert [launch.workdir for launch in launcher.launches] == [v1, v2, v1]
    assert [launch.env["CHANGEOVER_GENERATION"] for launch in launcher.launches] == ["1", "2", "3"]
    assert phases == ["recovering", "retiring"]
    failure = "generation 2 exited with code 3 after generation 1 was told to stop"
    message = f"{failure}; generation 3 (generation 1's command, restarted) serves"
    assert outcomes == [{"number": 1, "upgraded": False, "message": message}]
    assert f"error: {failure}: starting generation 1's command again as generation 3" in lines
    assert f"generation 3 started: pid 90003 (generation 1's command again, in {v1})" in lines
    assert f"error: upgrade failed: {message}" in lines
