"""Log files: a replica's, the agent's own or the proxy's access log; which ones to
show, and streaming them (tail, then follow).

Invariant: reading logs never blocks the agent's loop for long: files are read in
bounded chunks and `follow` polls with a short sleep until the agent stops or every
replica followed has exited and its output was read to the end. A file that
shrank was truncated by rotation, so following goes on from its start.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from changeover.agent.releases import BadRequest
from changeover.agent.retention import ACCESS
from changeover.supervisor.state import ReplicaState
from changeover.supervisor.supervisor import ReplicaInfo

POLL = 0.2  # seconds between checks for new log lines when following
ACCESS_LOG = f"{ACCESS}.log"  # the proxy's access log, in the logs folder


def agent_log_file(path: Path) -> dict[str, Path]:
    """The agent's own output, which exists when `up --detach` started it."""
    if not path.exists():
        raise BadRequest(
            "the agent has no log file: it runs in the foreground, so its output goes to "
            "the terminal that ran `changeover up`"
        )
    return {"agent": path}


def access_log_file(logs_dir: Path) -> dict[str, Path]:
    """The proxy's access log, which exists once `[proxy] access_log` logged a request."""
    path = logs_dir / ACCESS_LOG
    if not path.exists():
        raise BadRequest(
            "no access log: it is off unless the spec sets `access_log = true` under "
            "[proxy] (then `changeover reload`), and it starts with the first request"
        )
    return {ACCESS: path}


def log_files(logs_dir: Path, replica: str | None, running: list[ReplicaInfo]) -> dict[str, Path]:
    """Replica id -> log file: one named replica, or every replica still running."""
    if replica is not None:
        path = logs_dir / f"{replica}.log"
        if replica == ACCESS or not path.exists():
            known = sorted(p.stem for p in logs_dir.glob("*.log") if p.stem != ACCESS)
            raise BadRequest(
                f"no logs for replica {replica!r} (known: {', '.join(known) or 'none'})"
            )
        return {replica: path}
    return {
        info.id: info.log_path
        for info in running
        if info.state is not ReplicaState.EXITED and info.log_path.exists()
    }


def tail_lines(path: Path, count: int) -> tuple[list[bytes], int]:
    """Last `count` lines (the last may lack its newline) and the offset where following
    resumes."""
    block = 8192
    with path.open("rb") as fh:
        end = start = fh.seek(0, 2)
        data = b""
        # Read backwards until the data holds more newlines than lines asked for.
        while start > 0 and data.count(b"\n") <= count:
            start = max(0, start - block)
            fh.seek(start)
            data = fh.read(end - start)
            block *= 2
    lines = data.splitlines(keepends=True)
    if start > 0:
        lines = lines[1:]  # may be cut; enough complete lines follow it
    return (lines[-count:] if count > 0 else []), end


Stamp = Callable[[str, int], str]  # (file name, offset where a line ends) -> its prefix


async def follow_logs(
    files: dict[str, Path],
    lines: int,
    follow: bool,
    *,
    prefix: bool,
    stop: asyncio.Event,
    live: Callable[[str], bool] = lambda name: True,
    discover: Callable[[], dict[str, Path]] | None = None,
    since: Callable[[str], int | None] | None = None,
    stamp: Stamp | None = None,
) -> AsyncIterator[bytes]:
    """The last `lines` of each file (with `since`: of what it wrote from the offset
    `since(name)` gives; None there means nothing recent), then (with `follow`) what
    gets written next, until `stop` is set or every writer is gone (`live(name)` False)
    and its file read to the end; `discover` (following every running replica) adds
    replicas started meanwhile; `stamp` prefixes each line (a time, say)."""
    files = dict(files)
    seen = set(files)
    offsets: dict[str, int] = {}
    partial: dict[str, bytes] = {}

    def emit(name: str, line: bytes, end: int) -> bytes:
        head = stamp(name, end).encode() + b" " if stamp is not None else b""
        return _prefixed(name, head + line, prefix)

    for name, path in files.items():
        chunk, offsets[name] = _first_lines(path, lines, since(name) if since else -1)
        if follow and chunk and not chunk[-1].endswith(b"\n"):
            partial[name] = chunk.pop()  # completed by what gets written next
        end = offsets[name] - sum(map(len, chunk)) - len(partial.get(name, b""))
        for line in chunk:
            end += len(line)
            yield emit(name, line, end)
    while follow and (files or discover is not None) and not stop.is_set():
        await asyncio.sleep(POLL)
        for name, path in (discover() if discover is not None else {}).items():
            if name not in seen:  # started after we began: all of its output is new
                seen.add(name)
                files[name], offsets[name] = path, 0
        for name, path in list(files.items()):
            writing = live(name)  # asked first: what it wrote before stopping is read below
            try:
                fh = path.open("rb")
            except FileNotFoundError:
                offsets[name] = 0  # deleted by retention (its replica stopped long ago)
                if not writing:
                    del files[name]
                continue
            with fh:
                if os.fstat(fh.fileno()).st_size < offsets[name]:
                    offsets[name] = 0  # rotated (copy-truncate): new lines start at 0
                    partial.pop(name, None)
                fh.seek(offsets[name])
                fresh = fh.read(1 << 20)
                held = partial.pop(name, b"")
                data = held + fresh
                end = offsets[name] - len(held)
                offsets[name] = fh.tell()
            *complete, rest = data.split(b"\n")
            if rest:
                partial[name] = rest
            for line in complete:
                end += len(line) + 1
                yield emit(name, line + b"\n", end)
            if not writing and not fresh:
                if partial.get(name):
                    last = partial.pop(name)
                    yield emit(name, last + b"\n", end + len(last))
                del files[name]  # its replica is gone and everything it wrote was shown


def _first_lines(path: Path, count: int, start: int | None) -> tuple[list[bytes], int]:
    """The lines to show first and the offset where following resumes: the file's last
    `count` lines, or with `start` >= 0 the last `count` of those from `start` on (None:
    none, nothing of the file is known to be recent)."""
    if start == -1:
        return tail_lines(path, count)
    with path.open("rb") as fh:
        end = fh.seek(0, 2)
        if start is None or start >= end:
            return [], end
        begin = max(start, end - (8 << 20))  # at most the last 8 MiB of a burst
        back = min(begin, 1 << 16)  # the line `begin` falls in starts before it: find it
        fh.seek(begin - back)
        before = fh.read(back)
        cut = before.rfind(b"\n")
        head = before[cut + 1 :] if cut >= 0 else (before if begin == back else b"")
        lines = (head + fh.read()).splitlines(keepends=True)
    return (lines[-count:] if count > 0 else []), end


def _prefixed(name: str, line: bytes, prefix: bool) -> bytes:
    return f"{name} | ".encode() + line if prefix else line
