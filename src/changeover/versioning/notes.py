"""Release notes in Markdown: the changes grouped, then the evidence per environment.

Invariant: rendering is pure and deterministic: groups come in one order (breaking
changes, features, fixes, performance, other), entries keep the order of the changes
given (git's, newest first), an empty group is left out, and a commit is linked only
when the repository's web address is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from semver import Version

from changeover.versioning.changes import Change, Changes, Kind
from changeover.versioning.evidence import Evidence, render_evidence
from changeover.versioning.remote import commit_url

TITLES = {
    Kind.BREAKING: "Breaking changes",
    Kind.FEATURE: "Features",
    Kind.FIX: "Fixes",
    Kind.PERFORMANCE: "Performance",
    Kind.OTHER: "Other",
}


def render_notes(
    version: Version | str,
    found: Changes,
    *,
    released: date,
    web: str | None = None,
    evidence: Sequence[Evidence] = (),
    hotfix: bool = False,
) -> str:
    """The notes of `version`: `web` is the repository's address (`remote.web_url`)."""
    label = f"{released.isoformat()}, hotfix" if hotfix else released.isoformat()
    lines = [f"## {version} ({label})"]
    for kind in Kind:
        entries = [c for c in found.counted if c.kind is kind]
        if entries:
            lines += ["", f"### {TITLES[kind]}", *(_entry(c, web) for c in entries)]
    if not found.counted:
        lines += ["", "No changes since the last release."]
    more = render_evidence(evidence)
    if more:
        lines += ["", *more]
    return "\n".join(lines) + "\n"


def _entry(change: Change, web: str | None) -> str:
    scope = f"**{change.scope}:** " if change.scope else ""
    short = change.commit.short
    ref = f"[{short}]({commit_url(web, change.commit.hash)})" if web else short
    entry = f"- {scope}{change.description} ({ref})"
    notes = change.message.breaking_notes if change.message is not None else ()
    for note in notes:  # what the BREAKING CHANGE footer says, as a nested item
        first, *rest = note.split("\n")
        entry += f"\n  - {first}" + "".join(f"\n    {line}" if line else "\n" for line in rest)
    return entry
