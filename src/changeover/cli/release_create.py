"""`changeover release create`: build a release artifact once, from the service folder.

Invariant: a release is kept only if everything it needs was decided first: a valid
spec (every environment), a version not taken, a clean git tree (or `--allow-dirty`),
the spec among the packed files, and members an agent will accept (`artifact_safety`).
Nothing is written before; a failure while writing leaves no release.
"""

from __future__ import annotations

import os
import pwd
import tempfile
import time
from pathlib import Path
from typing import Any

from changeover.agent.artifact_format import (
    HOTFIX_MARK,
    RELEASE_MARK,
    Entry,
    entry_for,
    pack,
    sha256_of,
    version_problem,
)
from changeover.agent.artifact_safety import Member, problems
from changeover.cli import release_store
from changeover.cli.common import BAD_INPUT, fail
from changeover.cli.release_pack import (
    QUIET,
    Listing,
    excluded,
    list_folder,
    secret_files,
)
from changeover.spec.load import SpecError, load_spec_data, parse_toml, read_spec
from changeover.spec.models import Spec

MAX_LISTED = 20  # uncommitted files named in the refusal


def create(
    spec_file: Path,
    version: str,
    *,
    hotfix: bool,
    allow_dirty: bool,
    extra: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Build and keep release `version`; its metadata (with `extra`: how its version was
    decided) and the files left out (name, why)."""
    problem = version_problem(version)
    if problem:
        fail(BAD_INPUT, problem)
    specs = every_spec(spec_file)
    store = release_store.releases_dir(spec_file)
    existing = release_store.record(store, version)  # a pruned one's too
    if existing is not None:
        fail(BAD_INPUT, *_taken(version, existing))
    folder = spec_file.parent
    listing = list_folder(folder)
    if listing.dirty and not allow_dirty:
        _refuse_dirty(folder, listing)
    entries, skipped = choose(folder, listing, secret_files(specs.values(), folder))
    if spec_file.name not in {e.name for e in entries}:
        why = "is not tracked by git: `git add` it" if listing.kind == "git" else "is left out"
        fail(BAD_INPUT, f"{spec_file}: {why} (the spec ships with the release)")
    unsafe = problems([_member(e) for e in entries])
    if unsafe:
        fail(BAD_INPUT, f"{folder}: cannot pack these files safely:", *unsafe)
    meta = {**_meta(version, listing, entries, hotfix, spec_file, specs[None].app.command),
            **(extra or {})}  # fmt: skip
    # a hotfix says so inside the artifact, where its sha256 covers it (never only in V.json)
    generated = {RELEASE_MARK: HOTFIX_MARK} if hotfix else {}
    built, meta["sha256"], meta["size"] = _build(
        store, version, folder, entries, listing.commit_time or 0, generated
    )
    try:
        kept = release_store.keep(store, version, built, meta)
    except release_store.ReleaseExists:
        fail(BAD_INPUT, *_taken(version, None))
    return {**meta, "artifact": str(kept)}, skipped


def every_spec(spec_file: Path) -> dict[str | None, Spec]:
    """The base spec and each environment's, validated without the checks of files
    beside it: env files and tokens are each target host's, not the build's."""
    source = str(spec_file)
    specs: dict[str | None, Spec] = {}
    found: list[str] = []
    try:
        data = parse_toml(read_spec(spec_file), source)
        envs = data.get("environments")
        for name in [None, *(envs if isinstance(envs, dict) else {})]:
            try:
                specs[name] = load_spec_data(data, source, environment=name)
            except SpecError as exc:
                found += [line for line in exc.lines() if line not in found]
    except SpecError as exc:
        found = exc.lines()
    if found:
        fail(BAD_INPUT, *found)
    return specs


def choose(
    folder: Path, listing: Listing, secrets: set[str]
) -> tuple[list[Entry], list[tuple[str, str]]]:
    """The entries to pack, and the files left out that are worth a word (name, why)."""
    entries: list[Entry] = []
    skipped: list[tuple[str, str]] = []
    for name in listing.names:
        why = excluded(name, listing, secrets)
        entry = None
        if why is None:
            try:
                entry = entry_for(folder, name)
            except FileNotFoundError:
                why = "missing (deleted, not committed)"
            else:
                why = None if entry else "not a file or a link (a folder, socket, fifo, device)"
        if entry is not None:
            entries.append(entry)
        elif why is not None and why not in QUIET:
            skipped.append((name, why))
    return entries, skipped


def _member(entry: Entry) -> Member:
    return Member(entry.name, entry.kind, entry.size, entry.target)


def _meta(
    version: str,
    listing: Listing,
    entries: list[Entry],
    hotfix: bool,
    spec_file: Path,
    command: str,
) -> dict[str, Any]:
    return {
        "version": version,
        "files": len(entries) + int(hotfix),  # a hotfix carries its mark too
        "created_at": time.time(),
        "created_by": _account(),
        "source": listing.kind,
        "commit": listing.commit,
        "dirty": listing.dirty,
        "hotfix": hotfix,
        "spec_file": spec_file.name,
        "command": command,
    }


def _build(
    store: Path,
    version: str,
    folder: Path,
    entries: list[Entry],
    mtime: int,
    generated: dict[str, bytes],
) -> tuple[Path, str, int]:
    """The artifact, in a temporary file of `store`: (its path, sha256, size)."""
    store.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=store, prefix=f".{version}.", suffix=".tmp")
    built = Path(tmp)
    try:
        with os.fdopen(fd, "wb") as out:
            pack(folder, entries, mtime, out, generated)
        os.chmod(built, 0o644)
        return built, sha256_of(built), built.stat().st_size
    except BaseException:
        built.unlink(missing_ok=True)
        raise


def _taken(version: str, existing: dict[str, Any] | None) -> list[str]:
    if existing is None:
        return [f"release {version} exists already: choose another version"]
    return [
        f"release {version} exists already (sha256 {existing.get('sha256')}, created "
        f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(existing.get('created_at', 0)))}): "
        "choose another version"
    ]


def _refuse_dirty(folder: Path, listing: Listing) -> None:
    shown = listing.uncommitted[:MAX_LISTED]
    more = len(listing.uncommitted) - len(shown)
    fail(
        BAD_INPUT,
        f"{folder}: uncommitted changes (commit them, or pass --allow-dirty):",
        *shown,
        *([f"... and {more} more"] if more > 0 else []),
    )


def _account() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return f"uid {os.getuid()}"
