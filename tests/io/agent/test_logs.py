"""Replica logs: choosing files, tailing them, and following new lines until stopped."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

from changeover.agent import logs
from changeover.agent.logclock import LogClock, format_stamp
from changeover.agent.logs import follow_logs, log_files, tail_lines
from changeover.agent.releases import BadRequest
from changeover.supervisor.state import ReplicaState
from tests.helpers import bounded

from ._fakes import replica_info

T = TypeVar("T")
GUARD = 5.0  # seconds; only reached by a failing test


@pytest.fixture(autouse=True)
def fast_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "POLL", 0.01)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return bounded(coro, GUARD)


def numbered(path: Path, count: int, width: int = 0) -> list[bytes]:
    lines = [f"line {i}".ljust(width).encode() + b"\n" for i in range(count)]
    path.write_bytes(b"".join(lines))
    return lines


def test_tail_returns_the_last_lines_and_the_end_offset(tmp_path: Path) -> None:
    path = tmp_path / "r1-1.log"
    lines = numbered(path, 5)
    size = path.stat().st_size
    assert tail_lines(path, 2) == (lines[-2:], size)
    assert tail_lines(path, 5) == (lines, size)
    assert tail_lines(path, 100) == (lines, size)  # fewer than asked: all of them
    assert tail_lines(path, 0) == ([], size)
    path.write_bytes(b"")
    assert tail_lines(path, 3) == ([], 0)


def test_tail_mid_file_drops_the_cut_first_line(tmp_path: Path) -> None:
    path = tmp_path / "r1-1.log"
    lines = numbered(path, 400)  # far more than the 2 * 512 bytes read for two lines
    got, offset = tail_lines(path, 2)
    assert got == lines[-2:]
    assert offset == path.stat().st_size
    got, _ = tail_lines(path, 50)
    assert got == lines[-50:]
    assert all(line.startswith(b"line ") for line in got)  # no cut line at the top


def test_tail_keeps_a_last_line_without_newline(tmp_path: Path) -> None:
    path = tmp_path / "r1-1.log"
    path.write_bytes(b"a\nb\nno newline yet")
    assert tail_lines(path, 2) == ([b"b\n", b"no newline yet"], path.stat().st_size)


def test_tail_of_long_lines_returns_as_many_lines_as_asked(tmp_path: Path) -> None:
    path = tmp_path / "r1-1.log"
    lines = numbered(path, 10, width=599)  # 600-byte lines, e.g. JSON log records
    assert tail_lines(path, 3)[0] == lines[-3:]


def test_tail_starting_on_a_line_boundary_keeps_that_line(tmp_path: Path) -> None:
    path = tmp_path / "r1-1.log"
    lines = [bytes([65 + i]) * 511 + b"\n" for i in range(3)]  # 512 bytes each
    path.write_bytes(b"".join(lines))
    assert tail_lines(path, 2)[0] == lines[-2:]


def test_log_files_of_a_named_replica(tmp_path: Path) -> None:
    (tmp_path / "r1-1.log").write_text("x")
    (tmp_path / "r2-3.log").write_text("y")
    assert log_files(tmp_path, "r2-3", []) == {"r2-3": tmp_path / "r2-3.log"}


def test_an_unknown_replica_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(BadRequest) as exc:
        log_files(tmp_path, "r9-9", [])
    assert exc.value.lines == ["no logs for replica 'r9-9' (known: none)"]
    for name in ("r2-1", "r1-2", "r1-1"):
        (tmp_path / f"{name}.log").write_text("")
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(BadRequest) as exc:
        log_files(tmp_path, "r9-9", [])
    assert exc.value.lines == ["no logs for replica 'r9-9' (known: r1-1, r1-2, r2-1)"]


def test_default_files_are_those_of_the_replicas_given(tmp_path: Path) -> None:
    ready = replica_info("r2-1", log_path=tmp_path / "r2-1.log")
    starting = replica_info("r2-2", ReplicaState.STARTING, log_path=tmp_path / "r2-2.log")
    silent = replica_info("r2-3", log_path=tmp_path / "r2-3.log")  # never wrote a line
    (tmp_path / "r2-1.log").write_text("a\n")
    (tmp_path / "r2-2.log").write_text("b\n")
    (tmp_path / "r1-1.log").write_text("old revision, not running\n")
    assert log_files(tmp_path, None, [ready, starting, silent]) == {
        "r2-1": tmp_path / "r2-1.log",
        "r2-2": tmp_path / "r2-2.log",
    }


def test_default_files_leave_out_exited_replicas(tmp_path: Path) -> None:
    ready = replica_info("r2-1", log_path=tmp_path / "r2-1.log")
    exited = replica_info("r1-1", ReplicaState.EXITED, pid=None, log_path=tmp_path / "r1-1.log")
    (tmp_path / "r2-1.log").write_text("a\n")
    (tmp_path / "r1-1.log").write_text("b\n")
    assert log_files(tmp_path, None, [ready, exited]) == {"r2-1": tmp_path / "r2-1.log"}


def following(files: dict[str, Path], lines: int, *, stop: asyncio.Event) -> AsyncGenerator[bytes]:
    """A following, prefixed stream, typed as the generator it is (so it can be closed)."""
    return cast(AsyncGenerator[bytes], follow_logs(files, lines, True, prefix=True, stop=stop))


async def collect(stream: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in stream]


def test_without_follow_only_the_tail_is_sent(tmp_path: Path) -> None:
    a, b = tmp_path / "r1-1.log", tmp_path / "r1-2.log"
    a.write_bytes(b"a1\na2\na3\n")
    b.write_bytes(b"b1\n")
    stop = asyncio.Event()
    files = {"r1-1": a, "r1-2": b}
    got = run(collect(follow_logs(files, 2, False, prefix=True, stop=stop)))
    assert got == [b"r1-1 | a2\n", b"r1-1 | a3\n", b"r1-2 | b1\n"]
    got = run(collect(follow_logs({"r1-1": a}, 1, False, prefix=False, stop=stop)))
    assert got == [b"a3\n"]


def test_follow_sends_the_tail_then_new_lines_until_stopped(tmp_path: Path) -> None:
    path = tmp_path / "r1-1.log"
    path.write_bytes(b"old 1\nold 2\n")

    async def main() -> None:
        stop = asyncio.Event()
        stream = following({"r1-1": path}, 1, stop=stop)
        try:
            assert await anext(stream) == b"r1-1 | old 2\n"
            with path.open("ab") as fh:
                fh.write(b"new 1\nhalf")
            assert await anext(stream) == b"r1-1 | new 1\n"
            with path.open("ab") as fh:
                fh.write(b" and rest\n")  # a line written in two parts comes out whole
            assert await anext(stream) == b"r1-1 | half and rest\n"
            pending = asyncio.ensure_future(anext(stream))
            await asyncio.sleep(0)
            assert not pending.done()  # nothing new: the stream waits
            stop.set()
            with pytest.raises(StopAsyncIteration):
                await pending
        finally:
            await stream.aclose()

    run(main())


def test_follow_interleaves_several_files_with_prefixes(tmp_path: Path) -> None:
    a, b = tmp_path / "r1-1.log", tmp_path / "r1-2.log"
    a.write_bytes(b"")
    b.write_bytes(b"")

    async def main() -> list[bytes]:
        stop = asyncio.Event()
        stream = following({"r1-1": a, "r1-2": b}, 10, stop=stop)
        try:
            with b.open("ab") as fh:
                fh.write(b"from b\n")
            with a.open("ab") as fh:
                fh.write(b"from a\n")
            first = {await anext(stream), await anext(stream)}
            stop.set()
            rest = [chunk async for chunk in stream]
            return [*sorted(first), *rest]
        finally:
            await stream.aclose()

    assert run(main()) == [b"r1-1 | from a\n", b"r1-2 | from b\n"]


def test_follow_ends_at_once_when_already_stopped(tmp_path: Path) -> None:
    path = tmp_path / "r1-1.log"
    path.write_bytes(b"x\n")
    stop = asyncio.Event()
    stop.set()
    got = run(collect(follow_logs({"r1-1": path}, 5, True, prefix=False, stop=stop)))
    assert got == [b"x\n"]


def test_follow_completes_a_partial_last_line_of_the_tail(tmp_path: Path) -> None:
    path = tmp_path / "r1-1.log"
    path.write_bytes(b"one\npart")

    async def main() -> bytes:
        stop = asyncio.Event()
        stream = following({"r1-1": path}, 5, stop=stop)
        out = b""
        try:
            out += await anext(stream)
            with path.open("ab") as fh:
                fh.write(b"ial\n")
            while not out.endswith(b"ial\n"):
                out += await anext(stream)
        finally:
            await stream.aclose()
        return out

    assert run(main()) == b"r1-1 | one\nr1-1 | partial\n"


def test_following_a_replica_that_stopped_ends_once_its_output_is_read(tmp_path: Path) -> None:
    path = tmp_path / "r1-1.log"
    path.write_bytes(b"one\n")
    alive = [True]

    async def main() -> list[bytes]:
        stream = follow_logs(
            {"r1-1": path}, 5, True, prefix=False, stop=asyncio.Event(),
            live=lambda name: alive[0],
        )  # fmt: skip
        got = [await anext(stream)]
        with path.open("ab") as fh:
            fh.write(b"two\nlast words without a newline")
        alive[0] = False  # the replica exited after writing them
        got += [line async for line in stream]  # ends by itself: no stop needed
        return got

    assert run(main()) == [b"one\n", b"two\n", b"last words without a newline\n"]


def test_following_every_replica_picks_up_replicas_started_later(tmp_path: Path) -> None:
    first, second = tmp_path / "r1-1.log", tmp_path / "r2-1.log"
    first.write_bytes(b"old\n")
    running = {"r1-1": first}
    stop = asyncio.Event()

    async def main() -> list[bytes]:
        stream = follow_logs(
            dict(running), 5, True, prefix=True, stop=stop, discover=lambda: dict(running)
        )
        got = [await anext(stream)]
        second.write_bytes(b"new\n")
        running["r2-1"] = second  # a deploy started it
        got.append(await anext(stream))
        stop.set()
        return got

    assert run(main()) == [b"r1-1 | old\n", b"r2-1 | new\n"]


def test_the_access_log_exists_once_the_proxy_wrote_it(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="access_log = true"):
        logs.access_log_file(tmp_path)
    (tmp_path / "access.log").write_bytes(b"{}\n")
    assert logs.access_log_file(tmp_path) == {"access": tmp_path / "access.log"}


def test_the_agent_log_exists_only_for_a_detached_agent(tmp_path: Path) -> None:
    with pytest.raises(BadRequest, match="runs in the foreground"):
        logs.agent_log_file(tmp_path / "agent.log")
    (tmp_path / "agent.log").write_text("started\n")
    assert logs.agent_log_file(tmp_path / "agent.log") == {"agent": tmp_path / "agent.log"}


def test_since_starts_at_what_the_clock_calls_recent_and_stamps_each_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r1-1.log"
    path.write_bytes(b"old line\n")
    clock = LogClock()
    clock.note([("r1-1", path.stat().st_size)], 100.0)  # the first look: undated
    with path.open("ab") as fh:
        fh.write(b"first new\nsecond new\n")
    clock.note([("r1-1", path.stat().st_size)], 101.0)

    async def main() -> list[bytes]:
        stream = follow_logs(
            {"r1-1": path}, 10, False, prefix=False, stop=asyncio.Event(),
            since=lambda name: clock.offset_since(name, 100.5),
            stamp=lambda name, end: format_stamp(clock.time_at(name, end)),
        )  # fmt: skip
        return [line async for line in stream]

    assert run(main()) == [
        b"1970-01-01T00:01:41Z first new\n",
        b"1970-01-01T00:01:41Z second new\n",
    ]


def test_since_a_file_was_never_noted_shows_nothing_and_stamps_undated_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "r1-1.log"
    path.write_bytes(b"a\nb\n")

    async def main(**kwargs: Any) -> list[bytes]:
        stream = follow_logs(
            {"r1-1": path}, 10, False, prefix=False, stop=asyncio.Event(), **kwargs
        )
        return [line async for line in stream]

    assert run(main(since=lambda name: None)) == []
    undated = format_stamp(None).encode()
    assert run(main(stamp=lambda name, end: format_stamp(None))) == [
        undated + b" a\n",
        undated + b" b\n",
    ]
