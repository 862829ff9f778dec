"""Plays the agent in a process of its own, a child subreaper, so pytest never becomes one.

    escape_agent.py double-fork DIR   a replica orphans a daemon, then is stopped
    escape_agent.py daemons DIR N     2N orphaned daemons exit while the replica runs

Prints one JSON object per line as it goes ({"error": ...} on failure), then waits for
stdin to close so the test can look at the process table while this agent still lives.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import psutil

from changeover.supervisor.fakes import RecordingRouting
from changeover.supervisor.subreaper import become_subreaper, is_subreaper
from changeover.supervisor.supervisor import Supervisor
from tests.helpers import until
from tests.io.supervisor_escape.escape_kit import exists, read_pid, template

TOKEN = os.environ.get("CHANGEOVER_ESCAPE_TEST_TOKEN", "")


def say(**fields: Any) -> None:
    print(json.dumps(fields), flush=True)


def adopted_by_me(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).ppid() == os.getpid())
    except psutil.NoSuchProcess:
        return False


def zombie_children() -> list[int]:
    found = []
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.NoSuchProcess):  # reaped meanwhile: no zombie
            if child.status() == psutil.STATUS_ZOMBIE:
                found.append(child.pid)
    return found


async def double_fork(folder: Path) -> None:
    sup = Supervisor(routing=RecordingRouting(), logs_dir=folder / "logs")
    sup.scale(template(folder, TOKEN, "double-fork"), 1)
    pid = await until(lambda: read_pid(folder / "escaped.pid"), what="the daemon's pid")
    await until(lambda: adopted_by_me(pid), what="the daemon to be orphaned to the agent")
    replica = sup.replicas()[0].pid
    say(step="orphaned", pid=pid, pgid=os.getpgid(pid), replica=replica)
    await sup.stop_all()
    # Killed and reaped: as this agent's child it would otherwise linger as a zombie.
    await until(lambda: not exists(pid), what="the daemon to be killed and reaped")
    say(step="stopped", zombies=zombie_children())


async def daemons(folder: Path, count: int) -> None:
    sup = Supervisor(routing=RecordingRouting(), logs_dir=folder / "logs")
    sup.scale(template(folder, TOKEN, "daemons", str(count)), 1)
    names = [f"{kind}-{i}" for i in range(count) for kind in ("forked", "leader")]
    pids = [await until(lambda n=n: read_pid(folder / f"{n}.pid"), what=n) for n in names]
    await until(lambda: all(adopted_by_me(p) for p in pids), what="all daemons orphaned")
    leaders = [p for p in pids if os.getpgid(p) == p]
    say(step="orphaned", pids=pids, leaders=leaders)
    # A leader is reapable once a sweep has read its marker (while it was still alive);
    # white box: the watch's record is the only sign that a sweep saw them.
    watch = sup._escapes.watch
    await until(lambda: all(p in watch.adopted for p in leaders), what="a sweep to see leaders")
    (folder / "go").touch()
    await until(lambda: not any(exists(p) for p in pids), within=15, what="daemons reaped")
    say(step="reaped", zombies=zombie_children(), replica_running=bool(sup.replicas()[0].pid))
    await sup.stop_all()


async def main(scenario: str, folder: Path, rest: list[str]) -> None:
    if scenario == "double-fork":
        await double_fork(folder)
    else:
        await daemons(folder, int(rest[0]))


if __name__ == "__main__":
    import uvloop

    say(step="started", subreaper=become_subreaper() and is_subreaper())
    try:
        uvloop.run(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3:]))
    except BaseException as exc:
        say(error=repr(exc))
        raise
    finally:
        sys.stdin.read()  # the test closes stdin once it has looked
