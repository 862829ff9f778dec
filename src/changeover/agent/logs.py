"""Replica log files: which ones to show, and streaming them (tail, then follow).

Invariant: reading logs never blocks the agent's loop for long: files are read in
bounded chunks and `follow` polls with a short sleep until the agent stops.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from changeover.agent.releases import BadRequest
from changeover.supervisor.supervisor import ReplicaInfo

POLL = 0.2  # seconds between checks for new log lines when following


def log_files(logs_dir: Path, replica: str | None, running: list[ReplicaInfo]) -> dict[str, Path]:
    """Replica id -> log file: one named replica, or every replica still running."""
    if replica is not None:
        path = logs_dir / f"{replica}.log"
        if not path.exists():
            known = sorted(p.stem for p in logs_dir.glob("*.log"))
            raise BadRequest(
                f"no logs for replica {replica!r} (known: {', '.join(known) or 'none'})"
            )
        return {replica: path}
    return {info.id: info.log_path for info in running if info.log_path.exists()}


def tail_lines(path: Path, count: int) -> tuple[list[bytes], int]:
    """Last `count` lines of the file and the offset where following resumes."""
    with path.open("rb") as fh:
        end = fh.seek(0, 2)
        start = max(0, end - max(count, 1) * 512)
        fh.seek(start)
        lines = fh.read(end - start).splitlines(keepends=True)
    if start > 0 and lines:
        lines = lines[1:]  # the first line is probably cut
    return lines[-count:] if count > 0 else [], end


async def follow_logs(
    files: dict[str, Path], lines: int, follow: bool, *, prefix: bool, stop: asyncio.Event
) -> AsyncIterator[bytes]:
    offsets: dict[str, int] = {}
    for name, path in files.items():
        chunk, offsets[name] = tail_lines(path, lines)
        for line in chunk:
            yield _prefixed(name, line, prefix)
    partial: dict[str, bytes] = {}
    while follow and not stop.is_set():
        await asyncio.sleep(POLL)
        for name, path in files.items():
            with path.open("rb") as fh:
                fh.seek(offsets[name])
                data = partial.pop(name, b"") + fh.read(1 << 20)
                offsets[name] = fh.tell()
            *complete, rest = data.split(b"\n")
            if rest:
                partial[name] = rest
            for line in complete:
                yield _prefixed(name, line + b"\n", prefix)


def _prefixed(name: str, line: bytes, prefix: bool) -> bytes:
    return f"{name} | ".encode() + line if prefix else line
