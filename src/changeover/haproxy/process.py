"""HAProxy as the agent's supervised child: found on PATH, started in master-worker mode
(`haproxy -W -S <master socket> -f <config>`), watched, stopped.

Invariant: HAProxy never outlives the agent that started it. It leads its own process
group (a terminal's Ctrl-C reaches the agent, which stops it in order), its master gets
SIGKILL if the agent dies (`setpriv --pdeathsig KILL`, util-linux; the workers exit with
their master), and its pid is recorded with its start time so that the next agent kills
a survivor it finds (never a reused pid) before it binds the public address. The public
socket is the agent's, passed as fd 3: HAProxy never binds an address itself.

Two HAProxys share the public socket during a reload (the old agent's, soft-stopping, and
the new agent's): each generation (0 at `up`, +1 per reload) has its own configuration,
sockets and pid file (`generation_path`), so neither removes or overwrites the other's,
and the next agent after a crash kills every survivor it finds (`stop_leftovers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from changeover.haproxy.client import RuntimeClient
from changeover.supervisor.process import ChildProcess
from changeover.supervisor.spawn import LISTEN_FD, PosixSpawner, SpawnError, SpawnSpec

INSTALL_HINT = "apt-get install haproxy"
SBIN = "/usr/sbin:/sbin"  # where Debian puts it, not always on a user's PATH
CREATE_TIME_TOLERANCE = 0.05  # psutil's create_time is rounded to the clock tick


BINARY_ENV = "CHANGEOVER_HAPROXY"  # a haproxy program of one's own (a newer build)


class HaproxyMissing(RuntimeError):
    def __init__(self, named: str | None = None) -> None:
        where = (
            f"{BINARY_ENV}={named} is not an executable file"
            if named
            else f"not installed (not on PATH nor in {SBIN})"
        )
        super().__init__(
            f'proxy.engine = "haproxy" needs the haproxy program: {where}; '
            f'{INSTALL_HINT} (Debian, Ubuntu), or use engine = "builtin"'
        )


class StartFailed(RuntimeError):
    """HAProxy exited, or did not answer on its stats socket in time, while starting."""


def find_binary(path: str | None = None, env: Mapping[str, str] = os.environ) -> str:
    """The haproxy program: $CHANGEOVER_HAPROXY if set, else on PATH, else in /usr/sbin
    or /sbin; HaproxyMissing (with the install hint) if none."""
    named = env.get(BINARY_ENV)
    if named:
        if os.path.isfile(named) and os.access(named, os.X_OK):
            return named
        raise HaproxyMissing(named)
    found = shutil.which("haproxy", path=path) or shutil.which("haproxy", path=SBIN)
    if found is None:
        raise HaproxyMissing()
    return found


def version(binary: str) -> str:
    """`haproxy -v`'s version, such as `2.6.12-1+deb12u4`."""
    result = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=10, check=False)
    first = (result.stdout or result.stderr).splitlines()[:1]
    words = first[0].split() if first else []
    return words[2] if len(words) > 2 and words[:2] == ["HAProxy", "version"] else "unknown"


@dataclass(frozen=True)
class Layout:
    """Where one agent's HAProxy keeps its files."""

    config: Path  # the rendered configuration
    master_socket: str  # the master CLI (`-S`)
    stats_socket: str  # the runtime API
    log: Path  # HAProxy's own stdout and stderr (alerts, warnings)
    pid_file: Path  # "<pid> <create time>" of the running master
    workdir: Path
    generation: int = 0  # 0 at `up`, one more at each reload (see the module)


def generation_path(path: Path, generation: int) -> Path:
    """`path` for a generation: `haproxy.cfg` stays as it is for 0, is `haproxy.2.cfg`
    for 2 (the suffix stays last, so the file's kind is still plain)."""
    if isinstance(generation, bool) or generation < 0:
        raise ValueError(f"generation must be an integer >= 0, got {generation!r}")
    if generation == 0:
        return path
    return path.with_name(f"{path.stem}.{generation}{path.suffix}")


def pid_files(pid_file: Path) -> list[Path]:
    """The pid files of every generation beside `pid_file` (generation 0's name)."""
    found = [pid_file] if pid_file.exists() else []
    pattern = f"{pid_file.stem}.*{pid_file.suffix}"
    for path in sorted(pid_file.parent.glob(pattern)):
        middle = path.name[len(pid_file.stem) + 1 : len(path.name) - len(pid_file.suffix)]
        if middle.isdigit():
            found.append(path)
    return found


class Haproxy:
    """One HAProxy master process (and its worker) at a time."""

    def __init__(self, binary: str, layout: Layout) -> None:
        self.binary = binary
        self.layout = layout
        self.child: ChildProcess | None = None

    def argv(self) -> list[str]:
        cmd = [self.binary, "-W", "-S", f"{self.layout.master_socket},mode,600"]
        cmd += ["-f", str(self.layout.config)]
        setpriv = shutil.which("setpriv")
        return [setpriv, "--pdeathsig", "KILL", "--", *cmd] if setpriv else cmd

    async def start(
        self,
        listen_fd: int,
        client: RuntimeClient,
        timeout: float = 10.0,  # noqa: ASYNC109
        more_fds: tuple[int, ...] = (),
    ) -> None:
        """Start it with the public socket as fd 3 (and `more_fds` as 4, ...); return
        once its runtime API answers."""
        for path in (self.layout.stats_socket, self.layout.master_socket):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # left by a crash: HAProxy would bind beside a stale file
        env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
        spec = SpawnSpec(
            self.argv(), self.layout.workdir, env, self.layout.log, listen_fd, more_fds
        )
        try:
            child = self.child = PosixSpawner().spawn(spec)
        except SpawnError as exc:
            raise StartFailed(f"haproxy could not be started: {exc}") from None
        self.layout.pid_file.write_text(f"{child.pid} {child.create_time or 0.0}\n")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if child.returncode is not None:
                await self.kill()
                raise StartFailed(f"haproxy exited at start ({child.returncode}): {self.tail()}")
            try:
                await client.info()
                return
            except (OSError, TimeoutError):
                pass
            if loop.time() > deadline:
                await self.kill()
                raise StartFailed(f"haproxy did not answer within {timeout:g}s: {self.tail()}")
            await asyncio.sleep(0.02)

    async def stop(self, timeout: float) -> int | None:  # noqa: ASYNC109
        """Soft stop (SIGUSR1 to the master: stop accepting, finish what is in flight),
        then SIGKILL of the group after `timeout`; the exit status."""
        child = self.child
        if child is None:
            return None
        child.signal(signal.SIGUSR1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await child.wait()
        return await self.kill()

    async def kill(self) -> int | None:
        child = self.child
        if child is None:
            return None
        child.kill_group(signal.SIGKILL)  # the worker too, whatever the master did
        status = await child.wait()
        self.child = None
        for path in (self.layout.pid_file, self.layout.stats_socket, self.layout.master_socket):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)  # HAProxy leaves its socket files behind
        return status

    def tail(self, lines: int = 5) -> str:
        try:
            text = self.layout.log.read_text(errors="replace")
        except OSError:
            return "(no output)"
        kept = [line for line in text.splitlines() if line.strip()][-lines:]
        return " | ".join(kept) or "(no output)"


def stop_leftovers(pid_file: Path) -> list[int]:
    """`stop_leftover` for every generation's pid file (a crash during a reload may leave
    two); the pids killed."""
    killed = (stop_leftover(path) for path in pid_files(pid_file))
    return [pid for pid in killed if pid is not None]


def stop_leftover(pid_file: Path) -> int | None:
    """SIGKILL the HAProxy a crashed agent left (its group: master and workers), if the
    recorded pid still has the recorded start time; the pid killed, else None."""
    try:
        pid_text, created_text = pid_file.read_text().split()
        pid, created = int(pid_text), float(created_text)
    except (OSError, ValueError):
        return None
    try:
        alive = abs(psutil.Process(pid).create_time() - created) <= CREATE_TIME_TOLERANCE
    except psutil.Error:
        alive = False
    if alive:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(FileNotFoundError):
        pid_file.unlink()
    return pid if alive else None


__all__ = [
    "BINARY_ENV",
    "INSTALL_HINT",
    "LISTEN_FD",
    "Haproxy",
    "HaproxyMissing",
    "Layout",
    "StartFailed",
    "find_binary",
    "generation_path",
    "pid_files",
    "stop_leftover",
    "stop_leftovers",
    "version",
]
