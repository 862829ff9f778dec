"""The releases kept where they were built: `.changeover/releases/V.tar.gz` and `V.json`
beside the spec.

Invariant: a release exists once its `V.json` does, and that is written only after its
artifact is complete under its final name; the artifact is put there with a hard link,
which fails if the name is taken, so two `release create` of one version cannot both
succeed and an existing release is never overwritten. `release prune` removes artifacts
only, never records: it first marks the record `pruned_at`, then removes the artifact, so
a release whose record says pruned is never promoted even if a crash left its artifact.
A prune and a promote never overlap: prune holds the store's lock (`locked`) exclusively
while it decides and removes, promote holds it shared from reading a release until the
target's agent recorded the promotion, so whatever a promote sends, prune then finds
needed (two promotes share it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from changeover.agent.artifact_format import version_problem

ARTIFACT_SUFFIX, META_SUFFIX = ".tar.gz", ".json"
LOCK_NAME = ".store.lock"  # a version never starts with a dot: no release's name
LOCK_WAIT = 60.0  # seconds a prune or promote waits for the other, by default
LOCK_POLL = 0.05


class ReleaseExists(Exception):
    pass


class StoreBusy(Exception):
    """The store's lock stayed taken for the whole wait."""


@contextlib.contextmanager
def locked(
    folder: Path, *, exclusive: bool, wait: float, waiting: Callable[[], None] = lambda: None
) -> Iterator[None]:
    """Hold the store's advisory lock (flock on `LOCK_NAME`): exclusive to prune, shared
    to read and send an artifact. Waits up to `wait` seconds, calling `waiting` once if it
    must wait at all, then raises StoreBusy. Released when the block ends, or the
    process does. A store that does not exist has nothing to guard: nothing is created.
    An account that may read the store but not write it locks through a read-only open
    (flock needs no write access); if it can do neither (no lock file yet, none
    creatable), it goes unlocked, the agent's sha256 check then being the only guard."""
    fd = _open_lock(folder / LOCK_NAME) if folder.is_dir() else None
    if fd is None:
        yield
        return
    try:
        _take(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH, wait, waiting)
        yield
    finally:
        os.close(fd)  # closing drops the flock


def _make_lock(folder: Path) -> None:
    """The lock file, made by whoever writes the store, so that accounts which only read
    it (a promote by another deployer) find one to lock."""
    fd = _open_lock(folder / LOCK_NAME)
    if fd is not None:
        os.close(fd)


def _open_lock(path: Path) -> int | None:
    try:  # readable by all who read the store, so their promotes can take it shared
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except PermissionError:
        pass
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, PermissionError):
        return None


def _take(fd: int, mode: int, wait: float, waiting: Callable[[], None]) -> None:
    # polled, not a blocking flock: the wait is bounded and Ctrl-C stays immediate
    deadline = time.monotonic() + wait
    told = False
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise StoreBusy(f"{wait:g}s") from None
            if not told:
                waiting()
                told = True
            time.sleep(LOCK_POLL)


def releases_dir(spec_file: Path) -> Path:
    return spec_file.parent / ".changeover" / "releases"


def artifact_path(folder: Path, version: str) -> Path:
    return folder / f"{version}{ARTIFACT_SUFFIX}"


def record(folder: Path, version: str) -> dict[str, Any] | None:
    """The record of release `version`, with or without its artifact (pruned)."""
    if version_problem(version):
        return None
    try:
        meta: dict[str, Any] = json.loads((folder / f"{version}{META_SUFFIX}").read_text())
    except (OSError, ValueError):
        return None
    return meta


def has_artifact(folder: Path, meta: dict[str, Any]) -> bool:
    """Whether the artifact of this record is here to be promoted (not pruned)."""
    return "pruned_at" not in meta and artifact_path(folder, str(meta["version"])).is_file()


def read(folder: Path, version: str) -> dict[str, Any] | None:
    """The metadata of release `version`, if it exists with its artifact (not pruned)."""
    meta = record(folder, version)
    return meta if meta is not None and has_artifact(folder, meta) else None


def every(folder: Path) -> list[dict[str, Any]]:
    """Every release kept here, pruned ones too (`pruned_at`), newest first. A record
    whose artifact went otherwise (removed by hand) is no release."""
    found = []
    for path in folder.glob(f"*{META_SUFFIX}"):
        meta = record(folder, path.name.removesuffix(META_SUFFIX))
        if meta is not None and ("pruned_at" in meta or has_artifact(folder, meta)):
            found.append(meta)
    return sorted(found, key=lambda m: (-float(m.get("created_at", 0)), str(m.get("version"))))


def keep(folder: Path, version: str, built: Path, meta: dict[str, Any]) -> Path:
    """Make the artifact at `built` release `version`, with `meta`; ReleaseExists if it is
    taken. `built` is removed either way."""
    final = artifact_path(folder, version)
    try:
        if (folder / f"{version}{META_SUFFIX}").exists():
            raise FileExistsError(version)  # a pruned release: its version stays taken
        os.link(built, final)
    except FileExistsError:
        raise ReleaseExists(version) from None
    finally:
        built.unlink(missing_ok=True)
    _write_record(folder, version, meta)
    _make_lock(folder)
    return final


def prune(folder: Path, version: str, at: float) -> None:
    """Remove release `version`'s artifact, keeping its record, marked `pruned_at`
    first (see the invariant). Pruning a pruned release again removes a leftover artifact."""
    meta = record(folder, version)
    if meta is None:
        raise FileNotFoundError(folder / f"{version}{META_SUFFIX}")
    if "pruned_at" not in meta:
        _write_record(folder, version, {**meta, "pruned_at": at})
    artifact_path(folder, version).unlink(missing_ok=True)


def _write_record(folder: Path, version: str, meta: dict[str, Any]) -> None:
    tmp = folder / f".{version}{META_SUFFIX}.tmp"
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, folder / f"{version}{META_SUFFIX}")
