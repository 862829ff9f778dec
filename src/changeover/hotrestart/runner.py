"""The asyncio shell around the core: signals in, processes and files out.

Invariant: signal handlers, exit watchers and readiness watchers only enqueue events; one
loop takes them one at a time, asks the core, and carries out its actions in order, so
every decision sees a consistent state. The listeners stay open here for the whole run.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from changeover.hotrestart.actions import Action, KillGroup, Log, Notify, Outcome, Signal, Spawn
from changeover.hotrestart.core import HotRestart
from changeover.hotrestart.events import Event, Exited, Ready, Reload, Terminate, Tick
from changeover.hotrestart.generation import Timing
from changeover.hotrestart.listen import Listener, probe_target
from changeover.hotrestart.notify import Manager
from changeover.hotrestart.ready import ReadyMode, waits_for
from changeover.hotrestart.report import StatusWriter
from changeover.hotrestart.spawn import Launch, Launcher, PosixLauncher, SpawnError, listen_env
from changeover.hotrestart.state import Phase
from changeover.hotrestart.watch import Watch, make_watch, where
from changeover.supervisor.spawn import Child

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def say_stderr(message: str) -> None:
    sys.stderr.write(f"changeover run: {message}\n")
    sys.stderr.flush()


@dataclass(frozen=True)
class RunConfig:
    argv: Sequence[str]
    workdir: Path
    listeners: Sequence[Listener]
    ready: ReadyMode
    timing: Timing = field(default_factory=Timing)
    pid_file: Path | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))


class Runner:
    def __init__(
        self,
        config: RunConfig,
        *,
        launcher: Launcher | None = None,
        clock: Callable[[], float] = time.monotonic,
        say: Callable[[str], None] = say_stderr,
    ) -> None:
        self.config = config
        self.core = HotRestart(config.timing)
        self._launcher = launcher or PosixLauncher()
        self._clock, self._say = clock, say
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._children: dict[int, Child] = {}
        self._watches: dict[int, Watch] = {}
        self._folders: dict[int, Path] = {}  # where each living generation started
        self._waiters: set[asyncio.Task[None]] = set()
        self._manager = Manager(config.env, say)
        self._status = StatusWriter(config.pid_file, [str(lst.address) for lst in config.listeners])
        self._runtime = Path()  # a private folder for notify sockets, made by run()

    def post(self, event: Event) -> None:
        """Hand the loop an event (what the signal handlers do)."""
        self._queue.put_nowait(event)

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self._runtime = Path(tempfile.mkdtemp(prefix="changeover-run-"))
        loop.add_signal_handler(signal.SIGHUP, self.post, Reload())
        for sig in _STOP_SIGNALS:
            loop.add_signal_handler(sig, self.post, Terminate(sig))
        try:
            self._status.start()
            self._apply(self.core.start(self._clock()))
            while self.core.phase is not Phase.EXITED:
                event = await self._next_event()
                self._apply(self.core.handle(event, self._clock()))
                if isinstance(event, Exited):
                    self._forget(event.gen)
        finally:
            self._shut(loop)
        return self.core.exit_code if self.core.exit_code is not None else 1

    async def _next_event(self) -> Event:
        deadline = self.core.next_deadline()
        if deadline is None:
            return await self._queue.get()
        try:
            async with asyncio.timeout(max(0.0, deadline - self._clock())):
                return await self._queue.get()
        except TimeoutError:
            return Tick()

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case Spawn(gen, like):
                    self._spawn(gen, like)
                case Signal(gen, sig):
                    if (child := self._children.get(gen)) is not None:
                        child.signal(sig)
                case KillGroup(gen):
                    if (child := self._children.get(gen)) is not None:
                        child.kill_group(signal.SIGKILL)
                case Notify(fields):
                    self._manager.notify(fields)
                case Outcome():
                    self._status.outcome(action)
                case Log(message, error):
                    self._say(f"error: {message}" if error else message)
        self._status.write(self.core, self._children)

    def _spawn(self, gen: int, like: int | None) -> None:
        cfg = self.config
        folder = self._folder(like)
        target = probe_target(cfg.listeners[0].address)
        try:
            watch = make_watch(
                cfg.ready, gen, self._runtime, target, lambda: self.post(Ready(gen)), self._say
            )
        except OSError as exc:
            self.post(Exited(gen, 127, f"could not start: notify socket: {exc}"))
            return
        env = listen_env(cfg.env, [lst.address.name for lst in cfg.listeners])
        env |= watch.env() | {"CHANGEOVER_GENERATION": str(gen)}
        fds = [lst.sock.fileno() for lst in cfg.listeners]
        try:
            child = self._launcher.spawn(Launch(cfg.argv, folder, env, fds))
        except (SpawnError, OSError) as exc:
            watch.close()
            self.post(Exited(gen, 127, f"could not start: {exc}"))
            return
        self._children[gen], self._watches[gen], self._folders[gen] = child, watch, folder
        watch.start(child)
        waiter = asyncio.get_running_loop().create_task(self._wait_exit(gen, child))
        self._waiters.add(waiter)
        waiter.add_done_callback(self._waiters.discard)
        again = f" (generation {like}'s command again, in {folder})" if like is not None else ""
        self._say(f"generation {gen} started: pid {child.pid}{again}")
        self._say(f"generation {gen}: readiness waits for {waits_for(cfg.ready, where(target))}")

    def _folder(self, like: int | None) -> Path:
        """Where a generation starts: --workdir resolved now, or where `like` started.

        Kept per generation: a restart of one's command (after its successor died) runs
        in its folder even if a `current` symlink has moved to the failed release since.
        """
        if like is not None and (folder := self._folders.get(like)) is not None:
            return folder
        return Path(os.path.realpath(self.config.workdir))

    async def _wait_exit(self, gen: int, child: Child) -> None:
        self.post(Exited(gen, await child.wait()))

    def _forget(self, gen: int) -> None:
        self._children.pop(gen, None)
        self._folders.pop(gen, None)
        if (watch := self._watches.pop(gen, None)) is not None:
            watch.close()

    def _shut(self, loop: asyncio.AbstractEventLoop) -> None:
        for sig in (signal.SIGHUP, *_STOP_SIGNALS):
            loop.remove_signal_handler(sig)
        for gen, child in list(self._children.items()):  # only after an error in the loop
            child.kill_group(signal.SIGKILL)
            self._forget(gen)
        for gen in list(self._watches):
            self._forget(gen)
        for waiter in self._waiters:
            waiter.cancel()
        self._status.stop()
        for lst in self.config.listeners:  # every generation is gone: nobody else holds them
            lst.sock.close()
        shutil.rmtree(self._runtime, ignore_errors=True)
