"""The old agent's side of `changeover reload`: start the next agent, hand it every fd,
wait for its word, then step down (or kill it and serve on).

Invariant: the old agent never stops a replica during a handover, and its pid file and
lock stay valid whatever the new agent does: the lock fd is shared, and the pid file is
rewritten with the old pid when the new agent fails after writing its own.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from changeover.agent import clients
from changeover.agent.controller import Busy
from changeover.agent.core import Agent
from changeover.agent.handover import WAIT, Action, Decision, Handover, Stage, refusal
from changeover.agent.lock import AgentLock
from changeover.agent.manifest import Entry, Manifest, dump
from changeover.supervisor.state import ReplicaState

log = logging.getLogger("changeover.agent")

HANDOVER_ENV = "CHANGEOVER_HANDOVER_FD"  # set only in the new agent: its channel fd
TICK = 0.1  # seconds between deadline checks while waiting for the new agent
REAP_WAIT = 5.0
IDLE_GRACE = 1.0  # seconds idle keep-alive connections stay open while the old agent drains
AGENT_PROGRAM = (sys.executable, "-m", "changeover.agent")  # tests give a misbehaving one


@dataclass(frozen=True)
class Outcome:
    ok: bool
    old_pid: int
    new_pid: int | None
    reason: str = ""

    def doc(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "old_pid": self.old_pid,
            "new_pid": self.new_pid,
            "reason": self.reason,
        }


class Reloader:
    def __init__(
        self,
        *,
        agent: Agent,
        state_dir: Path,
        public: socket.socket,
        control: socket.socket,
        lock: AgentLock,
        clock: Callable[[], float] = time.monotonic,
        program: Sequence[str] = AGENT_PROGRAM,
        generation: int = 0,
        listen: str | None = None,
    ) -> None:
        self.agent, self.state_dir = agent, state_dir
        self.generation = generation  # this agent's data plane's; the next agent's is +1
        self.listen = listen  # the `proxy.listen` the public socket was opened for
        self.public, self.control, self.lock = public, control, lock
        self.clock = clock
        self.program = tuple(program)
        self.channel: socket.socket | None = None  # to the new agent, once it took over
        self.stage = Stage.IDLE

    @property
    def handed_over(self) -> bool:
        return self.stage is Stage.HANDED_OVER

    async def reload(self, timeout: float) -> Outcome:  # noqa: ASYNC109 (the handover deadline)
        """Hand over to a new agent; Busy (409) when that is not possible now."""
        self._check()
        machine = Handover(timeout)
        manifest = self._manifest()
        parent, child = socket.socketpair()
        try:
            proc = self._spawn(child, manifest)
        finally:
            child.close()
        self.stage = Stage.STARTING
        machine.start(self.clock(), proc.pid)
        log.info("reload: started the new agent (pid %d)", proc.pid)
        try:
            parent.setblocking(False)
            decision = await self._follow(machine, parent, proc, dump(manifest))
        except BaseException:
            parent.close()
            raise
        self.stage = machine.stage
        if decision.action is Action.STEP_DOWN:
            log.info("reload: the new agent (pid %d) serves; this agent steps down", proc.pid)
            parent.setblocking(True)
            self.channel = parent  # step_down sends the idle client connections over it
            self.agent.stopping.set()
            return Outcome(True, os.getpid(), proc.pid)
        parent.close()
        if decision.action is Action.KILL_NEW:
            proc.kill()
        await _reap(proc)
        self.lock.write_pid()  # it may have named itself before failing
        log.error("reload failed, this agent serves on: %s", decision.reason)
        return Outcome(False, os.getpid(), proc.pid, decision.reason)

    async def reload_logged(self, timeout: float) -> None:  # noqa: ASYNC109
        """SIGHUP: the same handover, its outcome only in the log."""
        try:
            await self.reload(timeout)
        except Busy as exc:
            log.warning("SIGHUP: reload refused: %s", exc)

    def _check(self) -> None:
        active = self.agent.controller.active
        described = None if active is None else f"rollout {active.rollout.id}"
        if described is None and self.agent.migrator.busy is not None:
            described = f"a migration ({self.agent.migrator.busy})"
        reason = refusal(
            stage=self.stage,
            rollout=described,
            lingering=self.agent.controller.linger,
            states=[info.state for info in self.agent.supervisor.replicas()],
        )
        if reason is not None:
            raise Busy(reason)

    def _manifest(self) -> Manifest:
        entries = tuple(
            Entry(
                id=info.id,
                revision=info.revision,
                pid=info.pid,
                create_time=info.create_time or 0.0,
                port=info.port,
                fd=None if sock is None else sock.fileno(),
                ready=info.state is ReplicaState.READY,
            )
            for info, sock in self.agent.supervisor.handover()
        )
        return Manifest(
            os.getpid(),
            self.public.fileno(),
            self.control.fileno(),
            self.lock.fileno(),
            entries,
            listen=self.listen,
            generation=self.generation,
        )

    def _spawn(self, child: socket.socket, manifest: Manifest) -> subprocess.Popen[bytes]:
        spec, state = str(self.agent.spec_path), str(self.state_dir)
        argv = [*self.program, "--spec", spec, "--state-dir", state]
        env = {**os.environ, HANDOVER_ENV: str(child.fileno())}
        # stdout and stderr stay ours: the agent log when started by `up --detach`
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            env=env,
            pass_fds=[child.fileno(), *manifest.fds()],
            start_new_session=True,
        )

    async def _follow(
        self, machine: Handover, chan: socket.socket, proc: subprocess.Popen[bytes], text: str
    ) -> Decision:
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(chan, text.encode() + b"\n")
        buf = b""
        # One receive at a time, never cancelled: a timeout that cancels a receive which
        # has already read its bytes loses them (the new agent's "ready" line, once).
        receiving: asyncio.Future[bytes] | None = None
        try:
            while True:
                if receiving is None:
                    receiving = asyncio.ensure_future(loop.sock_recv(chan, 1024))
                done, _ = await asyncio.wait({receiving}, timeout=TICK)
                chunk: bytes | None = None
                if done:
                    try:
                        chunk = receiving.result()
                    except OSError:
                        chunk = b""
                    receiving = None
                decision = await self._decide(machine, proc, chunk, buf)
                if chunk:
                    buf += chunk
                if decision is not WAIT and decision.action is not Action.WAIT:
                    return decision
        finally:
            if receiving is not None:
                receiving.cancel()

    async def _decide(
        self, machine: Handover, proc: subprocess.Popen[bytes], chunk: bytes | None, buf: bytes
    ) -> Decision:
        """What one receive (None: none within a tick) means for the handover."""
        if chunk == b"":
            return machine.exited(await _exit_code(proc))
        if chunk is not None and b"\n" in buf + chunk:
            return machine.message((buf + chunk).split(b"\n", 1)[0].decode(errors="replace"))
        return machine.tick(self.clock())


async def _exit_code(proc: subprocess.Popen[bytes]) -> int | None:
    """Its exit code if it exits soon after closing its channel, else None."""
    deadline = time.monotonic() + 1.0
    while (code := proc.poll()) is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    return code


async def _reap(proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + REAP_WAIT
    while proc.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


async def step_down(agent: Agent, public: socket.socket, channel: socket.socket | None) -> None:
    """Leave without stopping a replica: let go of them, stop accepting, hand the idle
    client connections to the new agent over `channel`, drain the busy ones, close."""
    agent.controller.cancel("the agent handed over to a new one")
    await agent.supervisor.detach()  # first: this agent must not restart what it gave away
    await agent.analyses.close()
    stable = agent.store.stable_revision()
    drain = agent.spec.termination.drain_timeout
    if stable is not None:
        drain = agent.revision_spec(stable.id).termination.drain_timeout
    # Idle keep-alive clients go to the new agent as they are: none races a close. Should
    # the new agent not take them, each gets one more answer here (Connection: close).
    hand_over = clients.sender(channel) if channel is not None else None
    try:
        await agent.proxy.shutdown(timeout=drain, idle_grace=IDLE_GRACE, hand_over=hand_over)
    finally:
        if channel is not None:
            channel.close()  # the new agent's end of the handover
    public.close()
    await agent.notifier.close()
