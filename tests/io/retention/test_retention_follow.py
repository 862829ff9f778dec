"""`changeover logs --follow` goes on across a copy-truncate rotation and a deletion."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from changeover.agent import logs
from changeover.agent.logs import follow_logs
from changeover.agent.retention_files import logs_folder, rotate
from tests.helpers import bounded

T = TypeVar("T")
GUARD = 5.0  # seconds; only reached by a failing test


@pytest.fixture(autouse=True)
def fast_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "POLL", 0.01)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return bounded(coro, GUARD)


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as fh:
        fh.write(data)


async def take(stream: AsyncIterator[bytes], count: int) -> list[bytes]:
    return [await anext(stream) for _ in range(count)]


def test_following_survives_a_rotation(tmp_path: Path) -> None:
    path = tmp_path / "r1-1.log"
    history = [f"old line {i}\n".encode() for i in range(100)]
    path.write_bytes(b"".join(history))

    async def scenario() -> None:
        stop = asyncio.Event()
        stream = follow_logs({"r1-1": path}, 2, True, prefix=False, stop=stop)
        assert await take(stream, 2) == history[-2:]
        append(path, b"before\n")
        assert await take(stream, 1) == [b"before\n"]
        with logs_folder(tmp_path) as dir_fd:
            rotate(dir_fd, "r1-1", keep=1)
        append(path, b"after 1\n")  # far shorter than where following had got to
        assert await take(stream, 1) == [b"after 1\n"]
        append(path, b"after 2\n")
        assert await take(stream, 1) == [b"after 2\n"]
        stop.set()
        assert [line async for line in stream] == []

    run(scenario())
    assert (tmp_path / "r1-1.log.1").read_bytes().endswith(b"before\n")


def test_following_survives_a_deleted_file(tmp_path: Path) -> None:
    gone, live = tmp_path / "r1-1.log", tmp_path / "r1-2.log"
    gone.write_bytes(b"a\n")
    live.write_bytes(b"b\n")

    async def scenario() -> None:
        stop = asyncio.Event()
        files = {"r1-1": gone, "r1-2": live}  # the deleted one is read first in each poll
        stream = follow_logs(files, 1, True, prefix=True, stop=stop)
        assert await take(stream, 2) == [b"r1-1 | a\n", b"r1-2 | b\n"]
        gone.unlink()
        append(live, b"still here\n")
        assert await take(stream, 1) == [b"r1-2 | still here\n"]
        stop.set()

    run(scenario())
