"""`changeover release prune`: remove old release artifacts from the build store.

Invariant: nothing is removed before every environment's agent answered which releases
it needs (`release_pruning.needs_of`); one that cannot be asked makes prune exit 3 with
nothing removed. Only artifacts go (`release_store.prune`): every record stays, marked
`pruned_at`, for versions, notes and history. A spec without environments asks its own
agent if one runs; with no agent at all nothing is known to run and only the `keep`
newest stay (said so). The store's lock is held exclusively from asking the agents to the
last removal (`release_store.locked`), so no promote reads or sends an artifact meanwhile,
and one that held it has its promotion on record before prune asks; a lock still taken
after `--lock-timeout` is exit 1 with nothing removed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer

from changeover.agent.lock import is_locked
from changeover.cli import release_store
from changeover.cli.client import AgentClient, Refused, Unreachable
from changeover.cli.common import (
    BAD_INPUT,
    DEFAULT_SPEC,
    FAILED,
    UNREACHABLE,
    Json,
    SpecFile,
    duration_option,
    err,
    fail,
    out,
    spec_path,
    state_paths,
)
from changeover.cli.release_env import base_spec, client_for
from changeover.cli.release_pruning import Need, Stored, Verdict, decide, needs_of
from changeover.cli.release_view import size_text
from changeover.cli.ssh import RemotePaths

LOCAL = "this host's agent"


def prune(
    keep: Annotated[
        int | None,
        typer.Option(
            "--keep",
            metavar="N",
            help="Artifacts of the N newest releases stay (default: the spec's [releases] keep).",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what would be removed; remove nothing.")
    ] = False,
    lock_timeout: Annotated[
        float,
        duration_option(
            "--lock-timeout",
            help="How long to wait for a `release promote` (or prune) using the store.",
            default=release_store.LOCK_WAIT,
        ),
    ] = release_store.LOCK_WAIT,
    file: SpecFile = DEFAULT_SPEC,
    json: Json = False,
) -> None:
    """Remove the artifacts (V.tar.gz) of releases beyond the N newest (semver
    precedence) from .changeover/releases/, keeping every record (V.json). A release an
    environment runs, or that a promotion waits for or rolls out, stays whatever N says:
    every environment's agent is asked first, and if one cannot be asked nothing is
    removed (exit 3). Waits for a `release promote` reading the store (exit 1 past
    --lock-timeout, nothing removed)."""
    spec_file = spec_path(file)
    spec = base_spec(spec_file)
    if keep is not None and keep < 1:
        fail(BAD_INPUT, f"--keep {keep}: expected a whole number of releases, at least 1")
    count = spec.releases.keep if keep is None else keep
    folder = release_store.releases_dir(spec_file)
    try:  # a dry run only reads: it shares the lock with promotes
        with release_store.locked(
            folder, exclusive=not dry_run, wait=lock_timeout, waiting=partial(say_waiting, folder)
        ):
            verdicts, asked, freed = decide_and_remove(
                spec_file, list(spec.environments), count, dry_run=dry_run
            )
    except release_store.StoreBusy:
        fail(FAILED, *busy(folder, lock_timeout, "nothing removed"))
    if json:
        out.print_json(data=document(verdicts, count, asked, dry_run=dry_run, freed=freed))
        return
    if not asked:
        out.print("no agent was asked (none runs here): only the newest are kept", markup=False)
    for v in verdicts:
        out.print(line(v, dry_run=dry_run), markup=False)
    removed = sum(1 for v in verdicts if v.remove)
    verb = "would remove" if dry_run else "removed"
    out.print(
        f"{verb} {removed} artifact(s), {size_text(freed)}; kept {len(verdicts) - removed}",
        markup=False,
    )


def say_waiting(folder: Path) -> None:
    err.print(
        f"waiting for the release store {folder}: another `release promote` or `prune` is using it",
        markup=False,
        soft_wrap=True,
    )


def busy(folder: Path, waited: float, unchanged: str) -> list[str]:
    """What prune and promote say when the store's lock stayed taken (exit 1)."""
    return [
        f"the release store {folder} was in use by another `release promote` or `release "
        f"prune` for {waited:g}s ({folder / release_store.LOCK_NAME}): {unchanged}",
        "run it again once that one is done, or wait longer with --lock-timeout",
    ]


def decide_and_remove(
    spec_file: Path, environments: list[str], count: int, *, dry_run: bool
) -> tuple[list[Verdict], list[str], int]:
    """Ask the agents, decide, remove (unless `dry_run`): the verdicts, who was asked and
    the bytes freed. Run with the store's lock held."""
    folder = release_store.releases_dir(spec_file)
    asked, needs = ask_agents(spec_file, environments)
    records = release_store.every(folder)
    stored = [
        Stored(str(m["version"]), size)
        for m in records
        if (size := artifact_size(folder, m)) is not None
    ]
    verdicts = decide(stored, count, needs)
    now = time.time()
    if not dry_run:
        for version in [v.version for v in verdicts if v.remove] + leftovers(folder, records):
            release_store.prune(folder, version, now)
    freed = sum(v.size for v in verdicts if v.remove)
    return verdicts, asked, freed


def artifact_size(folder: Path, meta: dict[str, Any]) -> int | None:
    """The artifact's size, or None when it is not here to prune (pruned before)."""
    if "pruned_at" in meta:
        return None
    try:
        return release_store.artifact_path(folder, str(meta["version"])).stat().st_size
    except OSError:
        return None


def leftovers(folder: Path, records: list[dict[str, Any]]) -> list[str]:
    """Releases marked pruned whose artifact a crash left behind (removed again)."""
    return [
        str(m["version"])
        for m in records
        if "pruned_at" in m and release_store.artifact_path(folder, str(m["version"])).exists()
    ]


def ask_agents(spec_file: Path, names: list[str]) -> tuple[list[str], list[Need]]:
    """Who was asked, and what they need; exit 3 naming every one that cannot be asked.
    Without environments, this host's agent, if one runs."""
    asked: list[str] = []
    needs: list[Need] = []
    failed: list[str] = []
    if not names:
        paths = state_paths(None, spec_file)
        if not isinstance(paths, RemotePaths) and not is_locked(paths.lock):
            return [], []  # no agent at all: nothing is known to run
        targets: list[tuple[str, Callable[[], AgentClient]]] = [
            (LOCAL, partial(AgentClient, paths))
        ]
    else:
        targets = [(n, partial(client_for, spec_file, n)) for n in names]
    for name, connect in targets:
        try:
            with connect() as client:
                needs += needs_of(name, client.get("/v1/promotions")["promotions"])
            asked.append(name)
        except (Unreachable, Refused) as exc:
            failed.append(f"{name}: {str(exc).splitlines()[0]}")
    if failed:
        fail(
            UNREACHABLE,
            "nothing removed: every environment's agent must say which releases it needs",
            *failed,
            "check with `changeover status -E ENV`, then run prune again",
        )
    return asked, needs


def line(v: Verdict, *, dry_run: bool) -> str:
    if v.remove:
        return f"{'would remove' if dry_run else 'removed'} {v.version} ({size_text(v.size)})"
    return f"kept {v.version}: {', '.join(v.reasons)}"


def document(
    verdicts: list[Verdict], keep: int, asked: list[str], *, dry_run: bool, freed: int
) -> dict[str, Any]:
    return {
        "dry_run": dry_run,
        "keep": keep,
        "asked": asked,
        "releases": [
            {
                "version": v.version,
                "size": v.size,
                "removed": v.remove,
                "kept_because": list(v.reasons),
            }
            for v in verdicts
        ],
        "removed_bytes": freed,
    }
