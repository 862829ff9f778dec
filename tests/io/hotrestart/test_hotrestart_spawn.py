"""Spawning a generation for real: fds 3.., LISTEN_PID, process group, nothing else inherited."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path

import psutil
import pytest

from changeover.hotrestart.listen import bind, parse_listen
from changeover.hotrestart.spawn import Launch, PosixLauncher, SpawnError, listen_env

REPORT = """
import json, os, socket, sys
fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
names = []
for fd in (3, 4):
    sock = socket.socket(fileno=fd)
    names.append(sock.getsockname()[1])
    sock.detach()
doc = {
    "pid": os.getpid(), "pgid": os.getpgid(0), "cwd": os.getcwd(),
    "stdin": os.readlink("/proc/self/fd/0"), "fds": fds, "ports": names,
    "env": {k: v for k, v in os.environ.items() if k.startswith(("LISTEN_", "NOTIFY", "X_"))},
}
with open(sys.argv[1], "w") as f:
    json.dump(doc, f)
"""


def test_generation_gets_listeners_as_fd_3_and_4_with_its_own_listen_pid(tmp_path: Path) -> None:
    (tmp_path / "report.py").write_text(REPORT)
    out = tmp_path / "out.json"
    socks = [bind(parse_listen("127.0.0.1:0")) for _ in range(2)]
    stray_r, stray_w = os.pipe()
    os.set_inheritable(stray_w, True)  # as if we had inherited it: the app must not get it
    base = {"PATH": os.environ["PATH"], "NOTIFY_SOCKET": "/run/x", "X_KEEP": "1"}
    env = listen_env(base, ["http", "admin"])

    async def scenario() -> int:
        fds = [s.fileno() for s in socks]
        launch = Launch([sys.executable, "report.py", str(out)], tmp_path, env, fds)
        child = PosixLauncher().spawn(launch)
        return await child.wait()

    try:
        assert asyncio.run(scenario()) == 0
    finally:
        for fd in (stray_r, stray_w):
            os.close(fd)
        ports = [s.getsockname()[1] for s in socks]
        for s in socks:
            s.close()
    doc = json.loads(out.read_text())
    assert doc["ports"] == ports
    assert doc["env"] == {
        "LISTEN_FDS": "2",
        "LISTEN_FDNAMES": "http:admin",
        "LISTEN_PID": str(doc["pid"]),
        "X_KEEP": "1",
    }
    assert doc["pgid"] == doc["pid"]
    assert doc["cwd"] == str(tmp_path)
    assert doc["stdin"] == os.devnull
    assert doc["fds"] == [0, 1, 2, 3, 4, 5]  # 5: the listing's own fd; the stray fd is not there


def test_missing_command_is_a_spawn_error_naming_it(tmp_path: Path) -> None:
    launch = Launch(["no-such-server"], tmp_path, {"PATH": str(tmp_path)}, [])
    with pytest.raises(SpawnError, match='command not found: "no-such-server"'):
        PosixLauncher().spawn(launch)


TREE = """
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
time.sleep(60)
"""


def test_kill_group_reaches_grandchildren(tmp_path: Path) -> None:
    (tmp_path / "tree.py").write_text(TREE)

    async def scenario() -> tuple[int, psutil.Process]:
        launch = Launch([sys.executable, "tree.py"], tmp_path, {"PATH": os.environ["PATH"]}, [])
        child = PosixLauncher().spawn(launch)
        async with asyncio.timeout(10):
            while not (kids := psutil.Process(child.pid).children()):
                await asyncio.sleep(0.02)
        child.kill_group(signal.SIGKILL)
        return await child.wait(), kids[0]

    code, grandchild = asyncio.run(scenario())
    assert code == -signal.SIGKILL
    grandchild.wait(timeout=10)  # raises if it survived the group kill
    assert not grandchild.is_running()


def test_each_spawn_follows_the_workdir_symlink_anew(tmp_path: Path) -> None:
    for release in ("v1", "v2"):
        (tmp_path / release).mkdir()
        (tmp_path / release / "report.py").write_text(REPORT)
    current = tmp_path / "current"
    env = listen_env({"PATH": os.environ["PATH"]}, ["a", "b"])

    async def spawn_in_current(out: Path) -> int:
        socks = [bind(parse_listen("127.0.0.1:0")) for _ in range(2)]
        fds = [s.fileno() for s in socks]
        try:
            launch = Launch([sys.executable, "report.py", str(out)], current, env, fds)
            return await PosixLauncher().spawn(launch).wait()
        finally:
            for s in socks:
                s.close()

    cwds = []
    for release in ("v1", "v2"):
        current.unlink(missing_ok=True)
        current.symlink_to(tmp_path / release)
        assert asyncio.run(spawn_in_current(tmp_path / f"{release}.json")) == 0
        cwds.append(json.loads((tmp_path / f"{release}.json").read_text())["cwd"])
    assert cwds == [str(tmp_path / "v1"), str(tmp_path / "v2")]
