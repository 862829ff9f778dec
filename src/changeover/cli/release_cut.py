"""`changeover release create`: decide the version, check the train, the tag and the
changelog, then build the artifact, then write the changelog section and the tag.

Invariant: every refusal (nothing to release, a bad or taken version, a train before its
cut-off, a tag that exists, a changelog that has the section, a dirty tree) comes before
anything is written; the changelog and the tag are written only once the release is
kept, and name exactly the version and commit it was built from.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from changeover.cli import release_create
from changeover.cli.common import BAD_INPUT, DEFAULT_SPEC, Json, SpecFile, err, fail, out, spec_path
from changeover.cli.release_env import base_spec
from changeover.cli.release_history import History, guarded
from changeover.cli.release_notes import section
from changeover.cli.release_version import (
    BumpOption,
    FromOption,
    HotfixOption,
    Plan,
    PreOption,
    decide,
    raised,
)
from changeover.cli.release_view import size_text
from changeover.versioning import git
from changeover.versioning.bump import NextVersion
from changeover.versioning.changelog import ChangelogError, check_changelog, prepend_changelog
from changeover.versioning.train import Cut, Train, may_cut


def create(
    version: Annotated[
        str | None,
        typer.Option("--version", metavar="V", help="The version (default: from the commits)."),
    ] = None,
    bump: BumpOption = None,
    pre: PreOption = None,
    hotfix: HotfixOption = False,
    from_: FromOption = None,
    train: Annotated[
        bool, typer.Option("--train", help="A release train's: refused before its cut-off.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="With --train: cut before the cut-off.")
    ] = False,
    changelog: Annotated[
        Path | None,
        typer.Option("--changelog", metavar="FILE", help="Prepend the notes to FILE."),
    ] = None,
    tag: Annotated[
        bool, typer.Option("--tag", help="Create the annotated git tag vV, the notes its message.")
    ] = False,
    allow_dirty: Annotated[
        bool, typer.Option("--allow-dirty", help="Pack a git tree with uncommitted changes.")
    ] = False,
    file: SpecFile = DEFAULT_SPEC,
    json: Json = False,
) -> None:
    """Pack the spec's folder (the files git tracks, in a work tree) into a reproducible
    artifact kept in .changeover/releases/. Without --version, the version comes from the
    commits since the last release (`changeover release next` explains it); exit 2 if
    there is nothing to release, the version exists, or the tree is dirty."""
    spec_file = spec_path(file)
    if force and not train:
        fail(BAD_INPUT, "--force cuts a train release before its cut-off: give it with --train")
    plan = decide(spec_file, version=version, bump=bump, pre=pre, hotfix=hotfix, from_=from_)
    decision = plan.decision
    if not isinstance(decision, NextVersion):
        reason = decision.reason
        fail(
            BAD_INPUT,
            reason if reason.startswith("nothing to release") else f"nothing to release: {reason}",
            "`changeover release next` lists each commit and its rule; --bump or --version "
            "release them anyway"
            if decision.changes.counted or decision.changes.skipped
            else "a release carries at least one commit: commit, then create it",
        )
    chosen = str(decision.version)
    cut = train_cut(spec_file, plan.history, force) if train else None
    notes = None
    if tag or changelog is not None:
        notes = section(
            plan.history, decision.version, "HEAD", released=datetime.now(UTC).date(), hotfix=hotfix
        ).markdown
    if tag:
        check_tag(plan.history, decision)
    if changelog is not None and notes is not None:
        try:
            check_changelog(changelog, notes)
        except ChangelogError as exc:
            fail(BAD_INPUT, str(exc))
    extra = how_decided(plan, cut, changelog, tag)
    meta, skipped = release_create.create(
        spec_file, chosen, hotfix=hotfix, allow_dirty=allow_dirty, extra=extra
    )
    if changelog is not None and notes is not None:
        prepend_changelog(changelog, notes)
    tagged = None
    repo = plan.history.repo
    if tag and repo is not None and notes is not None:
        tagged = guarded(lambda: git.create_tag(repo, decision.tag, notes, at=meta["commit"]))
    if json:
        out.print_json(
            data={
                **meta,
                "skipped": [{"path": p, "why": w} for p, w in skipped],
                "decision": decision.to_json(),
            }
        )
        return
    say(meta, skipped, decision, changelog, tagged)


def train_cut(spec_file: Path, h: History, force: bool) -> Cut:
    settings = base_spec(spec_file).releases.train
    if settings is None:
        fail(
            BAD_INPUT,
            f"{spec_file}: --train: the spec has no release train; expected "
            '[releases] train = { every = "2w", first = "2026-01-05T10:00:00+01:00" }',
        )
    cut = may_cut(
        Train.of(settings.every, settings.first),
        datetime.now(UTC),
        last_cut=last_train_cut(h),
        force=force,
    )
    if not cut.allowed:
        fail(BAD_INPUT, f"--train: {cut.reason}", "--force cuts it anyway")
    return cut


def last_train_cut(h: History) -> datetime | None:
    """When the newest train release was created (records are newest first)."""
    found = next((m for m in h.records if m.get("train")), None)
    return None if found is None else datetime.fromtimestamp(float(found["created_at"]), UTC)


def check_tag(h: History, decision: NextVersion) -> None:
    repo = h.repo
    if repo is None:
        fail(BAD_INPUT, f"--tag: {h.spec_file.parent} is not in a git work tree")
    if any(k.source == "tag" and k.version == decision.version for k in h.known):
        fail(BAD_INPUT, f"--tag: tag {decision.tag} exists already; expected a new version")
    dirty = guarded(lambda: git.dirty_paths(repo))
    if dirty:
        fail(
            BAD_INPUT,
            f"--tag: {len(dirty)} uncommitted change(s) ({', '.join(dirty[:5])}): the tag "
            "would name a commit that is not what the release packs; commit them first",
        )


def how_decided(plan: Plan, cut: Cut | None, changelog: Path | None, tag: bool) -> dict[str, Any]:
    """What the release record keeps of how its version was decided."""
    d = plan.decision
    assert isinstance(d, NextVersion)
    return {
        "last": None if plan.last is None else str(plan.last.version),
        "bump": d.bump.label,
        "decided_by": d.decided_by,
        "reasons": list(d.reasons),
        "hotfix_from": None if plan.hotfix_from is None else str(plan.hotfix_from),
        "train": None if cut is None else cut.to_json(),
        "tag": d.tag if tag else None,
        "changelog": None if changelog is None else str(changelog.resolve()),
    }


def say(
    meta: dict[str, Any],
    skipped: list[tuple[str, str]],
    decision: NextVersion,
    changelog: Path | None,
    tagged: str | None,
) -> None:
    last = decision.last or "none"
    out.print(f"version {decision.version} ({raised(decision)}; last release: {last})",
              markup=False)  # fmt: skip
    for reason in decision.reasons:
        out.print(f"  {reason}", markup=False)
    for name, why in skipped:
        err.print(f"left out: {name}: {why}", markup=False, soft_wrap=True)
    hot = " (hotfix)" if meta["hotfix"] else ""
    out.print(
        f"release {meta['version']}{hot}: {meta['files']} files, {size_text(meta['size'])}, "
        f"sha256 {meta['sha256']}",
        markup=False,
    )
    out.print(f"kept in {meta['artifact']}", markup=False)
    if meta.get("train"):
        out.print(f"train: {meta['train']['reason']}", markup=False)
    if changelog is not None:
        out.print(f"{changelog}: section {decision.version} added on top (commit it)", markup=False)
    if tagged is not None:
        out.print(f"tagged {decision.tag} (annotated) on {tagged[:12]}", markup=False)
