"""The releases known to a repository: its `vX.Y.Z` tags and the release records kept
beside the spec, and which of them a commit builds on.

Invariant: pure; whether a commit is an ancestor is asked through the `reachable`
predicate the caller gives (git's answer), so the choice is a table-testable function.
A version known both as a tag and as a record is one release; the tag's commit wins (it
is what git says). The last release of a line is the highest version, by semver
precedence, whose commit is reachable; a record without a commit (built from a plain
folder) is never reachable, but still counts where there is no git history at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

from semver import Version


@dataclass(frozen=True)
class Known:
    version: Version
    commit: str | None  # None: a record of a release built without git
    source: Literal["tag", "record"]

    @property
    def ref(self) -> str | None:
        """What git names it by: the tag, else the record's commit."""
        return f"v{self.version}" if self.source == "tag" else self.commit


def merge(
    tags: Iterable[tuple[Version, str]], records: Iterable[tuple[Version, str | None]]
) -> tuple[Known, ...]:
    """Tags and records as one list, highest version first; a version once."""
    found: dict[Version, Known] = {}
    for version, commit in records:
        found[version] = Known(version, commit, "record")
    for version, commit in tags:
        found[version] = Known(version, commit, "tag")
    return tuple(sorted(found.values(), key=lambda k: k.version, reverse=True))


def last_release(
    known: Iterable[Known],
    reachable: Callable[[str], bool] | None,
    *,
    below: Version | None = None,
    final_only: bool = False,
) -> Known | None:
    """The highest release (below `below`, final ones only if asked) that the commit in
    question builds on; `reachable` None: there is no history, so the highest of all."""
    for k in sorted(known, key=lambda k: k.version, reverse=True):
        if below is not None and k.version.compare(below) >= 0:
            continue
        if final_only and k.version.prerelease:
            continue
        if reachable is None or (k.commit is not None and reachable(k.commit)):
            return k
    return None


def notes_base(
    known: Iterable[Known], version: Version, reachable: Callable[[str], bool] | None
) -> Known | None:
    """Where the notes of `version` start: the last final release below it for a final
    version (its notes gather what its release candidates carried), the last release of
    any kind below it for a pre-release."""
    return last_release(known, reachable, below=version, final_only=not version.prerelease)
