"""The releases kept where they were built: `.changeover/releases/V.tar.gz` and `V.json`
beside the spec.

Invariant: a release exists once its `V.json` does, and that is written only after its
artifact is complete under its final name; the artifact is put there with a hard link,
which fails if the name is taken, so two `release create` of one version cannot both
succeed and an existing release is never overwritten.
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


def read(folder: Path, version: str) -> dict[str, Any] | None:
    """The metadata of release `version`, if it exists with its artifact."""
    if version_problem(version):
        return None
    try:
        meta: dict[str, Any] = json.loads((folder / f"{version}{META_SUFFIX}").read_text())
    except (OSError, ValueError):
        return None
    return meta if artifact_path(folder, version).is_file() else None


def every(folder: Path) -> list[dict[str, Any]]:
    """Every release kept here, newest first."""
    found = []
    for path in folder.glob(f"*{META_SUFFIX}"):
        meta = read(folder, path.name.removesuffix(META_SUFFIX))
        if meta is not None:
            found.append(meta)
    return sorted(found, key=lambda m: (-float(m.get("created_at", 0)), str(m.get("version"))))


def keep(folder: Path, version: str, built: Path, meta: dict[str, Any]) -> Path:
    """Make the artifact at `built` release `version`, with `meta`; ReleaseExists if it is
    taken. `built` is removed either way."""
    final = artifact_path(folder, version)
    try:
        os.link(built, final)
    except FileExistsError:
        raise ReleaseExists(version) from None
    finally:
        built.unlink(missing_ok=True)
    tmp = folder / f".{version}{META_SUFFIX}.tmp"
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, folder / f"{version}{META_SUFFIX}")
    return final
