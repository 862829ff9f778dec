"""The releases kept where they were built: `.changeover/releases/V.tar.gz` and `V.json`
beside the spec.

Invariant: a release exists once its `V.json` does, and that is written only after its
artifact is complete under its final name; the artifact is put there with a hard link,
which fails if the name is taken, so two `release create` of one version cannot both
succeed and an existing release is never overwritten. `release prune` removes artifacts
only, never records: it first marks the record `pruned_at`, then removes the artifact, so
a release whose record says pruned is never promoted even if a crash left its artifact.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from changeover.agent.artifact_format import version_problem

ARTIFACT_SUFFIX, META_SUFFIX = ".tar.gz", ".json"


class ReleaseExists(Exception):
    pass


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
