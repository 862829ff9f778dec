"""The file side of log retention: list the logs folder, delete, rotate by copy-truncate.

A replica writes its log through an O_APPEND fd it holds for its whole life, so the log
cannot be renamed away (the child would keep writing to the renamed file); the proxy
writes the access log the same way. Rotation is copy-truncate, as logrotate's
`copytruncate`: copy `<id>.log` to a temporary file, truncate `<id>.log` to 0 (every
O_APPEND write then lands at the new end, 0), and rename the copy to `<id>.log.1` after
shifting `.1`..`.keep-1` up by one. What a replica writes
between the end of the copy and the truncation is lost, and a write in progress while the
copy reads the end may be cut (Linux does not make a read atomic with a write), so the
rotated file can end with part of a line whose rest is gone. The window is one syscall
per rotation; it is accepted because the alternative, making every app reopen its log on
a signal, needs each app's cooperation, and a bounded disk matters more than a few lines
once per `max_size`. The access log needs no such window: its writer, the proxy, reopens
its path on its next batch once the path names another file, so it is rotated by renaming
(`reopens`): lines written meanwhile land in `.1`, none is lost or cut.

Invariant: every operation goes through an fd of the logs folder opened with O_NOFOLLOW
and acts on plain names in it with O_NOFOLLOW (or on the link itself: unlink, rename), so
no file outside the logs folder is ever read, written or removed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from changeover.agent.retention import LogFile, parse_name

CHUNK = 1 << 20  # bytes per read while copying a log
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@contextlib.contextmanager
def logs_folder(path: Path) -> Iterator[int]:
    """An fd of the logs folder itself (refusing a symlink in its place), closed after."""
    fd = os.open(path, _DIR_FLAGS)
    try:
        yield fd
    finally:
        os.close(fd)


def list_logs(dir_fd: int) -> list[LogFile]:
    """Regular files named like replica logs; symlinks and anything else are left out."""
    out: list[LogFile] = []
    with os.scandir(dir_fd) as entries:
        for entry in entries:
            if parse_name(entry.name) is None:
                continue
            try:
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed since the listing began
            if stat.S_ISREG(st.st_mode):
                out.append(LogFile(entry.name, st.st_size, st.st_mtime))
    return out


def delete(dir_fd: int, name: str) -> None:
    """Remove `name` (a link, never its target); already gone is fine."""
    _check_plain(name)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=dir_fd)


def rotate(dir_fd: int, replica: str, keep: int, reopens: bool = False) -> int:
    """Copy-truncate `<replica>.log` keeping `keep` rotated files; return bytes moved.
    `reopens`: its writer reopens the path itself, so rename it to `.1` instead."""
    current = f"{replica}.log"
    _check_plain(current)
    # O_NONBLOCK: a FIFO put in its place must not hang the rotation; it is refused below
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    src = os.open(current, flags, dir_fd=dir_fd)
    try:
        if not stat.S_ISREG(os.fstat(src).st_mode):
            raise OSError(errno.EINVAL, f"{current} is not a regular file")
        if keep == 0:
            size = os.fstat(src).st_size
            os.ftruncate(src, 0)
            return size
        _shift(dir_fd, current, keep)
        if reopens:
            size = os.fstat(src).st_size
            os.rename(current, f"{current}.1", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            return size
        temp = f".{current}.rotating"
        size = _copy_then_truncate(dir_fd, src, temp)
        os.rename(temp, f"{current}.1", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        return size
    finally:
        os.close(src)


def _shift(dir_fd: int, current: str, keep: int) -> None:
    """`.n` -> `.n+1` for each existing n < keep, highest first; a rename onto `.keep`
    drops the oldest."""
    for n in _rotated(dir_fd, current.removesuffix(".log")):
        if n < keep:
            with contextlib.suppress(FileNotFoundError):
                os.rename(
                    f"{current}.{n}", f"{current}.{n + 1}", src_dir_fd=dir_fd, dst_dir_fd=dir_fd
                )


def _rotated(dir_fd: int, replica: str) -> list[int]:
    """Indices of `replica`'s rotated files, highest first."""
    with os.scandir(dir_fd) as entries:
        parsed = [parse_name(entry.name) for entry in entries]
    return sorted((n for r, n in filter(None, parsed) if r == replica and n > 0), reverse=True)


def _copy_then_truncate(dir_fd: int, src: int, temp: str) -> int:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(temp, dir_fd=dir_fd)  # left by a rotation that was interrupted
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    dst = os.open(temp, flags, 0o644, dir_fd=dir_fd)
    try:
        copied = 0
        while chunk := os.pread(src, CHUNK, copied):
            _write_all(dst, chunk)
            copied += len(chunk)
        os.ftruncate(src, 0)  # right after the last read: the loss window is this gap
    except BaseException:
        os.close(dst)
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=dir_fd)
        raise
    os.close(dst)
    return copied


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _check_plain(name: str) -> None:
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"not a plain file name in the logs folder: {name!r}")
