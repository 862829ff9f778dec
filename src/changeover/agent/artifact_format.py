"""The release artifact: a reproducible gzipped tar of a service folder, named by version.

Invariant: the bytes depend only on the entries (names, kinds, executable bits, contents,
link targets) and the one `mtime` given: entries sorted by name, owner 0:0 without names,
mode 0644 or 0755 (0777 for links), no directory entries, gzip header without name and
with mtime 0. The same tree packed twice, anywhere, gives the same sha256, which is what
"the same bytes in every environment" is checked by.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import re
import stat
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

# semver fits ("1.4.0-rc.1+build.7"); the first character is no dot or dash, so a
# version is never a hidden file, a path step ("..") or an option
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+_-]{0,127}")
SHA256 = re.compile(r"[0-9a-f]{64}")
CHUNK = 64 * 1024
# The member `release create --hotfix` adds (`{"hotfix": true}`): inside the artifact, so
# the sha256 covers it and no environment can see a release as a hotfix unless it was
# built as one. Releases that are no hotfix carry none (their bytes are as before).
RELEASE_MARK = ".changeover-release.json"
HOTFIX_MARK = b'{"hotfix": true}\n'


def version_problem(raw: str) -> str | None:
    """Why `raw` cannot name a release, or None."""
    if VERSION.fullmatch(raw):
        return None
    return (
        f"version {raw!r}: expected 1-128 letters, digits or '.', '-', '_', '+', starting "
        "with a letter or digit (e.g. 1.4.0 or 1.4.0-rc.1)"
    )


@dataclass(frozen=True)
class Entry:
    """One file of a release, as the tar records it."""

    name: str  # relative, '/'-separated
    kind: Literal["file", "symlink"]
    executable: bool = False
    size: int = 0
    target: str = ""  # a symlink's target, as written


def entry_for(root: Path, name: str) -> Entry | None:
    """The entry of `root/name` (not following a link), or None when it is neither a
    regular file nor a symlink (a folder, a socket, a fifo, a device)."""
    path = root / name
    st = path.lstat()
    if stat.S_ISLNK(st.st_mode):
        return Entry(name, "symlink", target=str(path.readlink()))
    if stat.S_ISREG(st.st_mode):
        return Entry(name, "file", executable=bool(st.st_mode & stat.S_IXUSR), size=st.st_size)
    return None


def tar_info(entry: Entry, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.name)
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if entry.kind == "symlink":
        info.type = tarfile.SYMTYPE
        info.linkname = entry.target
        info.mode = 0o777
    else:
        info.size = entry.size
        info.mode = 0o755 if entry.executable else 0o644
    return info


def pack(
    root: Path,
    entries: Sequence[Entry],
    mtime: int,
    out: BinaryIO,
    generated: Mapping[str, bytes] | None = None,
) -> None:
    """Write the artifact of `entries` (files read under `root`) to `out`, plus the
    `generated` files (name: content) written by changeover itself."""
    made = dict(generated or {})
    entries = [*entries, *(Entry(n, "file", size=len(d)) for n, d in made.items())]
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=9) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for entry in sorted(entries, key=lambda e: e.name):
            info = tar_info(entry, mtime)
            if entry.kind == "symlink":
                tar.addfile(info)
                continue
            if entry.name in made:
                tar.addfile(info, io.BytesIO(made[entry.name]))
                continue
            with (root / entry.name).open("rb") as data:
                tar.addfile(info, data)  # reads exactly info.size bytes, or raises


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def is_hotfix(folder: Path) -> bool:
    """Whether the unpacked release in `folder` was built with `--hotfix`."""
    try:
        return (folder / RELEASE_MARK).read_bytes() == HOTFIX_MARK
    except OSError:
        return False
