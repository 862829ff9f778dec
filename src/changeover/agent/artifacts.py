"""The release artifacts an agent holds: received whole, verified, unpacked, renamed in.

Invariant: `<state>/releases/V-<sha12>/` is only ever seen complete and verified, and is
held once `.meta/V.json` names it: an upload goes to `.incoming/`, its size and sha256
are checked against what the client declared, its members by `artifact_safety`, it is
unpacked into `.incoming/` and renamed into place, then recorded. Any failure (a digest
that differs, a truncated or oversized body, an unsafe member, a client gone mid-upload)
removes what the upload wrote and changes nothing else. Uploads run one at a time, and a
version names one artifact: another digest for a held version is refused.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import shutil
import tarfile
import time
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from changeover.agent.artifact_format import SHA256, is_hotfix, version_problem
from changeover.agent.artifact_safety import Limits, member_of, problems

TAR_OVERHEAD = 4096  # per member, at most: its header and pax record, and padding


class ArtifactError(Exception):
    """The upload is refused; `status` is 400 (bad upload) or 409 (conflicts with what
    is held), `lines` say what and what is expected."""

    def __init__(self, status: int, *lines: str) -> None:
        self.status = status
        self.lines = list(lines)
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Held:
    version: str
    sha256: str
    size: int  # bytes of the artifact (gzipped)
    files: int  # members unpacked
    path: Path  # the unpacked release folder
    received_at: float
    hotfix: bool = False  # built with --hotfix: its own member says so (`RELEASE_MARK`)

    def doc(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "sha256": self.sha256,
            "size": self.size,
            "files": self.files,
            "path": str(self.path),
            "received_at": self.received_at,
            "hotfix": self.hotfix,
        }


def check_upload(version: str, sha256: str, size: int, limits: Limits) -> None:
    """Refuse what the request line already shows to be wrong, before reading a byte."""
    lines = [p for p in (version_problem(version),) if p]
    if not SHA256.fullmatch(sha256):
        lines.append(f"sha256: expected 64 lowercase hex digits, got {sha256!r}")
    if not 0 < size <= limits.artifact_bytes:
        lines.append(f"size: expected 1 to {limits.artifact_bytes} bytes, got {size}")
    if lines:
        raise ArtifactError(400, *lines)


class Artifacts:
    def __init__(
        self, root: Path, *, limits: Limits = Limits(), wall: Callable[[], float] = time.time
    ) -> None:
        self.root = root  # <state>/releases
        self.limits = limits
        self.wall = wall
        self._one_at_a_time = asyncio.Lock()

    def folder(self, version: str, sha256: str) -> Path:
        return self.root / f"{version}-{sha256[:12]}"

    def held(self, version: str) -> Held | None:
        """What this agent holds under `version`, if its record and its folder exist."""
        if version_problem(version):
            return None
        try:
            data = json.loads((self.root / ".meta" / f"{version}.json").read_text())
            held = Held(
                data["version"],
                data["sha256"],
                int(data["size"]),
                int(data["files"]),
                Path(data["path"]),
                float(data["received_at"]),
                bool(data.get("hotfix", False)),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return held if held.path.is_dir() else None

    def listing(self) -> list[Held]:
        """Every release held (a record whose folder exists), in no particular order."""
        meta = self.root / ".meta"
        try:
            names = sorted(p.stem for p in meta.glob("*.json"))
        except OSError:
            return []
        return [h for name in names if (h := self.held(name)) is not None]

    def remove(self, held: Held) -> None:
        """No longer hold `held`: its record goes first, so that a removal cut short
        leaves a folder nothing names (never held again; a new upload of the version
        replaces it), never a record of a half-removed folder. OSError if either cannot
        be removed."""
        record = self.root / ".meta" / f"{held.version}.json"
        record.unlink(missing_ok=True)
        shutil.rmtree(held.path)

    async def receive(
        self, version: str, sha256: str, size: int, body: AsyncIterator[bytes]
    ) -> tuple[Held, bool]:
        """Hold the artifact `body` carries; (what is held, whether it is new). A body
        refused before it is read is read to its end all the same (and dropped), so the
        client, still sending, gets the answer rather than a broken pipe."""
        async with self._one_at_a_time:
            try:
                check_upload(version, sha256, size, self.limits)
                held = self.held(version)
                if held is not None and held.sha256 != sha256:
                    raise ArtifactError(409, *_other_digest(held, sha256))
            except ArtifactError:
                await _discard(body, self.limits.artifact_bytes)
                raise
            if held is not None:
                await _discard(body, self.limits.artifact_bytes)
                return held, False
            return await self._receive(version, sha256, size, body), True

    async def _receive(
        self, version: str, sha256: str, size: int, body: AsyncIterator[bytes]
    ) -> Held:
        incoming = self.root / ".incoming"
        try:
            shutil.rmtree(incoming, ignore_errors=True)  # what a killed agent left
            incoming.mkdir(parents=True, mode=0o700)
            archive = incoming / "artifact.tar.gz"
            await _save(body, archive, sha256, size)
            final = self.folder(version, sha256)
            files = await asyncio.to_thread(unpack, archive, incoming / "tree", final, self.limits)
            held = Held(version, sha256, size, files, final, self.wall(), is_hotfix(final))
            _write_record(self.root / ".meta", held)
            return held
        except OSError as exc:  # a full disk, a folder not ours: the upload is not kept
            raise ArtifactError(
                400, f"cannot store the artifact under {self.root}: {exc.strerror or exc}"
            ) from None
        finally:
            shutil.rmtree(incoming, ignore_errors=True)


async def _discard(body: AsyncIterator[bytes], limit: int) -> None:
    read = 0
    async for chunk in body:
        read += len(chunk)
        if read > limit:
            return  # no more: the client gets what it gets


async def _save(body: AsyncIterator[bytes], archive: Path, sha256: str, size: int) -> None:
    digest = hashlib.sha256()
    got = 0
    with archive.open("wb") as out:
        async for chunk in body:
            got += len(chunk)
            if got > size:
                raise ArtifactError(
                    400, f"upload: more than the {size} bytes declared (size={size})"
                )
            digest.update(chunk)
            out.write(chunk)
    if got < size:
        raise ArtifactError(
            400, f"upload truncated: received {got} of the {size} bytes declared; nothing kept"
        )
    if digest.hexdigest() != sha256:
        raise ArtifactError(
            400,
            f"digest mismatch: the upload's sha256 is {digest.hexdigest()}, "
            f"but {sha256} was declared; nothing kept",
        )


def unpack(archive: Path, staging: Path, final: Path, limits: Limits) -> int:
    """Check every member of `archive`, unpack it into `staging`, rename that to `final`;
    the number of members. Blocking: run it in a thread."""
    cap = limits.unpacked_bytes + (limits.files + 2) * TAR_OVERHEAD
    try:
        with (
            gzip.open(archive, "rb") as raw,
            tarfile.open(fileobj=_Capped(raw, cap), mode="r:") as tar,  # type: ignore[call-overload]
        ):
            members = tar.getmembers()
            found = problems([member_of(m) for m in members], limits)
            if found:
                raise ArtifactError(400, "unsafe artifact, nothing unpacked:", *found)
            staging.mkdir(mode=0o755)
            tar.extractall(staging, filter="data")  # the checks above, once more
    except tarfile.FilterError as exc:
        raise ArtifactError(400, f"unsafe artifact, nothing kept: {exc}") from None
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ArtifactError(400, f"not a gzipped tar: {exc}") from None
    except _TooLarge:
        raise ArtifactError(
            400, f"more than {limits.unpacked_bytes} bytes once unpacked; nothing kept"
        ) from None
    if final.exists():  # unpacked by an agent killed before it wrote the record
        shutil.rmtree(final)
    os.rename(staging, final)
    return len(members)


def _write_record(folder: Path, held: Held) -> None:
    folder.mkdir(exist_ok=True, mode=0o700)
    tmp = folder / f".{held.version}.json.tmp"
    tmp.write_text(json.dumps(held.doc(), sort_keys=True))
    os.replace(tmp, folder / f"{held.version}.json")


def _other_digest(held: Held, sha256: str) -> list[str]:
    return [
        f"version {held.version} is held here with sha256 {held.sha256}, not {sha256}",
        "a version names one artifact: create the release again under a new version",
    ]


class _TooLarge(Exception):
    pass


class _Capped:
    """A decompressed stream that stops past `cap` bytes: a small gzip cannot make the
    agent inflate gigabytes while it reads the tar's headers."""

    def __init__(self, raw: gzip.GzipFile, cap: int) -> None:
        self.raw = raw
        self.cap = cap

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n if n >= 0 else self.cap + 1)
        if self.raw.tell() > self.cap:
            raise _TooLarge
        return data

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        target = offset if whence == os.SEEK_SET else self.raw.tell() + offset
        if whence not in (os.SEEK_SET, os.SEEK_CUR) or target > self.cap:
            raise _TooLarge
        return self.raw.seek(target)

    def tell(self) -> int:
        return self.raw.tell()
