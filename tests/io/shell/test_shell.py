"""Short-lived commands leave nothing behind: on exit, on a timeout, on a cancel while starting."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import pytest

from changeover import shell
from tests.helpers import bounded, wait_gone

BACKGROUND = "sleep 60 & echo $! > {pidfile}; wait"


def written(path: Path) -> int:
    """The pid in `path`, 0 until the shell has written it."""
    text = path.read_text() if path.exists() else ""
    return int(text) if text.strip() else 0


async def until_written(path: Path) -> int:
    while not (pid := written(path)):
        await asyncio.sleep(0.01)
    return pid


def test_output_status_and_stdin() -> None:
    code, out, err = bounded(shell.run(("/bin/sh", "-c", "cat; echo oops >&2; exit 3"), stdin=b"x"))
    assert (code, out, err) == (3, b"x", b"oops\n")


def test_a_signal_death_is_a_negative_status() -> None:
    code, _, _ = bounded(shell.run(("/bin/sh", "-c", "kill -9 $$")))
    assert code == -signal.SIGKILL


def test_a_background_grandchild_dies_when_the_command_exits(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    command = f"sleep 60 & echo $! > {pidfile}; echo done"  # the grandchild holds stdout
    assert bounded(shell.run(("/bin/sh", "-c", command))) == (0, b"done\n", b"")
    assert wait_gone(int(pidfile.read_text()))


def test_a_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"

    async def scenario() -> None:
        task = asyncio.ensure_future(
            shell.run(("/bin/sh", "-c", BACKGROUND.format(pidfile=pidfile)))
        )
        await until_written(pidfile)
        task.cancel()  # what asyncio.timeout does to the task
        with pytest.raises(asyncio.CancelledError):
            await task

    bounded(scenario())
    assert wait_gone(int(pidfile.read_text()))


def test_a_cancel_while_the_process_is_starting_still_kills_its_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncio kills only the child's pid when a start is cancelled; the group must die too."""
    pidfile = tmp_path / "pid"
    real = shell._start
    starting = asyncio.Event()

    async def slow_start(*args: Any, **kwargs: Any) -> Any:
        command = await real(*args, **kwargs)
        try:
            starting.set()
            await until_written(pidfile)  # the grandchild exists before the start returns
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            command.proc.kill()  # as asyncio's own start does when cancelled: the pid only
            await command.exited
            command.transport.close()
            raise
        return command

    monkeypatch.setattr(shell, "_start", slow_start)

    async def scenario() -> None:
        task = asyncio.ensure_future(
            shell.run(("/bin/sh", "-c", BACKGROUND.format(pidfile=pidfile)))
        )
        await starting.wait()
        await until_written(pidfile)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    bounded(scenario())
    assert wait_gone(int(pidfile.read_text()))
