"""What `release create` packs: the files of the service folder (the spec's), chosen by
pure rules over a listing that git gives for a work tree, a walk otherwise.

Invariant: in a git work tree only the files git tracks are packed (what a commit names,
so the artifact is that commit's folder when the tree is clean); elsewhere every file but
the state (`.changeover/`), `.git/`, `__pycache__/` and virtualenvs. In both, the env and
token files the spec names stay out (secrets come from each target host), and
`.changeover/` never goes in (it holds the artifacts themselves).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from changeover.agent.artifact_format import RELEASE_MARK
from changeover.spec.models import Spec

NEVER = frozenset({".changeover", ".git"})  # at any depth, in every mode
FOLDER_SKIPS = frozenset({"__pycache__"})  # outside git: caches
VENV_MARK = "pyvenv.cfg"  # a folder holding it is a virtualenv
GIT_TIMEOUT = 60.0
STATE, CACHE, VENV = "state or git folder", "cache folder", "virtualenv"
SECRETS = "an env or token file of the spec (secrets come from each target host)"
MARK = "written by `release create` itself (--hotfix), never taken from the folder"
QUIET = frozenset({STATE, CACHE, VENV})  # left out without a word: never meant to ship


@dataclass(frozen=True)
class Listing:
    """What the service folder holds, as git or a walk sees it (names relative to it)."""

    kind: Literal["git", "folder"]
    names: list[str]
    commit: str | None = None
    commit_time: int | None = None  # the commit's time: the tar's mtime
    uncommitted: list[str] = field(default_factory=list)  # `git status` lines
    venvs: frozenset[str] = frozenset()  # folders holding pyvenv.cfg (walk only)

    @property
    def dirty(self) -> bool:
        return bool(self.uncommitted)


def excluded(name: str, listing: Listing, secrets: Collection[str]) -> str | None:
    """Why `name` stays out of the artifact, or None to pack it."""
    steps = name.split("/")
    if any(step in NEVER for step in steps):
        return STATE
    if name in secrets:
        return SECRETS
    if name == RELEASE_MARK:
        return MARK
    if listing.kind == "git":
        return None
    if any(step in FOLDER_SKIPS for step in steps[:-1]):
        return CACHE
    if any("/".join(steps[:n]) in listing.venvs for n in range(1, len(steps))):
        return VENV
    return None


def secret_files(specs: Iterable[Spec], folder: Path) -> set[str]:
    """The env files and token files the specs name, relative to `folder` (those in it)."""
    names = set()
    for spec in specs:
        for named in (spec.app.env_file, spec.flags.token_file):
            if named is None:
                continue
            path = Path(os.path.normpath(folder / named))
            if path.is_relative_to(folder):
                names.add(path.relative_to(folder).as_posix())
    return names


def list_folder(folder: Path) -> Listing:
    """The listing of a git work tree, else of a walk."""
    top = _git(folder, "rev-parse", "--show-toplevel")
    if top is None:
        return walk(folder)
    names = _split(_git(folder, "ls-files", "-z", "--cached") or b"")
    commit_raw = _git(folder, "rev-parse", "--verify", "--quiet", "HEAD")
    commit = commit_raw.decode().strip() if commit_raw else None
    when = _git(folder, "show", "-s", "--format=%ct", "HEAD") if commit else None
    status = _git(folder, "status", "--porcelain=v1", "-z", "--untracked-files=no", "--", ".")
    uncommitted = [line for line in _split(status or b"") if len(line) > 3]
    if commit is None:  # no commit yet: everything tracked is uncommitted
        uncommitted = [f"A  {name}" for name in names] or ["(no commit yet)"]
    return Listing(
        "git",
        names,
        commit=commit,
        commit_time=int(when) if when else None,
        uncommitted=uncommitted,
    )


def walk(folder: Path) -> Listing:
    names: list[str] = []
    venvs: set[str] = set()
    for root, dirs, files in os.walk(folder):
        rel = Path(root).relative_to(folder).as_posix()
        prefix = "" if rel == "." else f"{rel}/"
        if VENV_MARK in files and prefix:
            venvs.add(rel)
            dirs[:] = []
            continue
        dirs[:] = [d for d in dirs if d not in NEVER and d not in FOLDER_SKIPS]
        names += [prefix + f for f in files]
        # links to folders are listed as themselves (packed as links), never walked into
        names += [prefix + d for d in dirs if os.path.islink(os.path.join(root, d))]
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
    return Listing("folder", sorted(names), venvs=frozenset(venvs))


def _git(folder: Path, *args: str) -> bytes | None:
    """git's output in `folder`, or None if it failed (not a work tree, no git)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(folder), *args],
            capture_output=True,
            timeout=GIT_TIMEOUT,
            check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"},
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _split(raw: bytes) -> list[str]:
    return [os.fsdecode(part) for part in raw.split(b"\0") if part]
