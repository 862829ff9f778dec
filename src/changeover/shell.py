"""Short-lived commands (analysis checks, notification hooks) run in a process group of their own.

Invariant: when `run` returns, raises or is cancelled (a caller's timeout is a cancel),
the command's whole process group has been sent SIGKILL and the command reaped, so a
background grandchild (`sleep 60 &`) never outlives it. That holds for a cancel that
lands while the process is still being started, too: the start is shielded and finished
before the group is killed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from asyncio.subprocess import DEVNULL, PIPE, Process, SubprocessStreamProtocol
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["DEVNULL", "PIPE", "run"]


class _Protocol(SubprocessStreamProtocol):
    """Tells when the process exits, even while a grandchild still holds its pipes open
    (asyncio's `Process.wait()` waits for the pipes too)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit=2**16, loop=loop)
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def process_exited(self) -> None:
        super().process_exited()
        if not self.exited.done():
            self.exited.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)  # the exit is known and every pipe is closed
        if not self.closed.done():
            self.closed.set_result(None)


class _Command:
    """A started command: its streams, its exit, and the transport to close at the end."""

    def __init__(self, transport: asyncio.SubprocessTransport, protocol: _Protocol) -> None:
        self.transport, self.exited, self.closed = transport, protocol.exited, protocol.closed
        self.proc = Process(transport, protocol, asyncio.get_running_loop())

    def kill_group(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    async def end(self) -> None:
        """Kill the group, wait for the exit, close the pipes (even ones a stray still holds)."""
        self.kill_group()
        await asyncio.shield(self.exited)
        self.transport.close()
        await asyncio.shield(self.closed)


async def _start(argv: Sequence[str], **options: Any) -> _Command:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.subprocess_exec(
        lambda: _Protocol(loop), *argv, start_new_session=True, **options
    )
    return _Command(transport, protocol)


async def run(
    argv: Sequence[str],
    *,
    cwd: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    stdout: int = PIPE,
) -> tuple[int, bytes, bytes]:
    """Exit status (negative: killed by that signal), stdout and stderr of `argv`."""
    options = {"cwd": cwd, "env": None if env is None else dict(env), "stdout": stdout}
    stdin_mode = DEVNULL if stdin is None else PIPE
    spawn = asyncio.ensure_future(_start(argv, stdin=stdin_mode, stderr=PIPE, **options))
    try:
        command = await asyncio.shield(spawn)
    except asyncio.CancelledError:
        # the child may be running already (and forking): finish the start, then kill it
        with contextlib.suppress(OSError):
            await (await spawn).end()
        raise
    try:
        return await _exchange(command, stdin)
    finally:
        await command.end()


async def _exchange(command: _Command, stdin: bytes | None) -> tuple[int, bytes, bytes]:
    """Feed stdin, wait for the exit, then read to the end of both pipes."""
    proc = command.proc
    read = asyncio.gather(_read_all(proc.stdout), _read_all(proc.stderr))
    try:
        if proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it did not read
                proc.stdin.write(stdin or b"")
                await proc.stdin.drain()
            proc.stdin.close()
        await asyncio.shield(command.exited)  # a cancel must not cancel the shared future
        command.kill_group()  # a leftover holding our pipes open dies, so the reads end
        out, err = await read
    finally:
        if not read.done():  # cancelled or failed before the end: stop reading, quietly
            read.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await read
    assert proc.returncode is not None
    return proc.returncode, out, err


async def _read_all(stream: asyncio.StreamReader | None) -> bytes:
    return b"" if stream is None else await stream.read()
