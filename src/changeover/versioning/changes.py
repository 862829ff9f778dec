"""What each commit in a range contributes to a release: its kind, its bump, and why.

Invariant: `changes` depends only on the set of commits it is given, not on their
order: merge commits are skipped (the commits they merge are in the range themselves),
and a revert cancels the commit it reverts when both are in the range (a revert of a
revert brings the original back). Anything that does not follow Conventional Commits
is counted as "other" and bumps nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum, IntEnum

from changeover.versioning.commits import SHORT, Commit
from changeover.versioning.conventional import Message, parse

# git revert writes this line; a `revert:` commit may name its commits in `Refs:` instead.
_REVERTS_LINE = re.compile(r"^This reverts commit ([0-9a-f]{7,40})\b", re.MULTILINE)
_HASH = re.compile(r"\b[0-9a-f]{7,40}\b")
_BY_TYPE = {"feat": "feature", "fix": "fix", "perf": "performance"}


class Bump(IntEnum):
    NONE = 0
    PATCH = 1
    MINOR = 2
    MAJOR = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Bump:
        """`major`, `minor` or `patch` (as `--bump` takes it); ValueError otherwise."""
        for bump in (cls.MAJOR, cls.MINOR, cls.PATCH):
            if text.strip().lower() == bump.label:
                return bump
        raise ValueError(f"expected a bump of major, minor or patch, got {text!r}")


class Kind(Enum):
    """The release-notes group of a change; declaration order is the notes' order."""

    BREAKING = "breaking"
    FEATURE = "feature"
    FIX = "fix"
    PERFORMANCE = "performance"
    OTHER = "other"


_BUMPS = {Kind.FEATURE: Bump.MINOR, Kind.FIX: Bump.PATCH, Kind.PERFORMANCE: Bump.PATCH}


@dataclass(frozen=True)
class Change:
    """A counted commit: its notes group, the bump it calls for, and the rule that says so."""

    commit: Commit
    kind: Kind
    bump: Bump
    why: str
    message: Message | None = None  # None: not a conventional commit
    reverts: tuple[str, ...] = ()  # the (possibly abbreviated) hashes it reverts

    @property
    def description(self) -> str:
        reverting = self.reverts or (self.message is not None and self.message.type == "revert")
        if self.message is None or reverting:
            return self.commit.subject
        return self.message.description

    @property
    def scope(self) -> str | None:
        return self.message.scope if self.message is not None else None

    def to_json(self) -> dict[str, object]:
        return {
            "hash": self.commit.hash,
            "short": self.commit.short,
            "subject": self.commit.subject,
            "kind": self.kind.value,
            "bump": self.bump.label,
            "why": self.why,
        }


@dataclass(frozen=True)
class Skipped:
    """A commit in the range that counts for nothing, and why."""

    commit: Commit
    why: str

    def to_json(self) -> dict[str, object]:
        c = self.commit
        return {"hash": c.hash, "short": c.short, "subject": c.subject, "why": self.why}


@dataclass(frozen=True)
class Changes:
    counted: tuple[Change, ...]
    skipped: tuple[Skipped, ...] = ()

    @property
    def level(self) -> Bump:
        """The largest bump any counted commit calls for."""
        return max((c.bump for c in self.counted), default=Bump.NONE)

    @property
    def drivers(self) -> tuple[Change, ...]:
        """The commits that call for `level` (none when nothing bumps)."""
        level = self.level
        return tuple(c for c in self.counted if c.bump == level) if level else ()


def classify(commit: Commit) -> Change:
    """The change one commit makes on its own (reverts are matched up by `changes`)."""
    message = parse(commit.message)
    reverts = reverted(commit, message)
    if message is not None and message.breaking:
        why = "`!` after the type" if message.bang else "BREAKING CHANGE footer"
        return Change(commit, Kind.BREAKING, Bump.MAJOR, why, message, reverts)
    if reverts or commit.subject.startswith('Revert "') or (message and message.type == "revert"):
        # kept only when what it reverts is not in the range: it was released before
        named = ", ".join(r[:SHORT] for r in reverts) or "a commit it does not name"
        return Change(commit, Kind.FIX, Bump.PATCH, f"reverts {named}", message, reverts)
    if message is None:
        return Change(commit, Kind.OTHER, Bump.NONE, "not a conventional commit")
    kind = Kind(_BY_TYPE.get(message.type, "other"))
    bump = _BUMPS.get(kind, Bump.NONE)
    return Change(
        commit, kind, bump, message.type if bump else f"{message.type} bumps nothing", message
    )


def reverted(commit: Commit, message: Message | None) -> tuple[str, ...]:
    """The hashes `commit` says it reverts: git's line, or a `revert:` commit's `Refs`."""
    found = _REVERTS_LINE.findall(commit.body)
    if message is not None and message.type == "revert":
        for refs in message.values("Refs"):
            found += _HASH.findall(refs)
    return tuple(dict.fromkeys(found))


def changes(commits: Iterable[Commit]) -> Changes:
    """Classify a range of commits: merges skipped, reverts cancelled within the range."""
    commits = tuple(commits)
    merged = "merge commit: the commits it merges count on their own"
    skipped = [Skipped(c, merged) for c in commits if c.is_merge]
    classified = [classify(c) for c in commits if not c.is_merge]
    targets = {c.commit.hash: _in_range(c, classified) for c in classified}
    reverters: dict[str, list[str]] = {}
    for hash_, hit in targets.items():
        for target in hit or ():
            reverters.setdefault(target, []).append(hash_)
    cancelled = _cancelled(reverters)
    counted = []
    for change in classified:
        why = _skip_reason(change.commit.hash, targets, reverters, cancelled)
        if why:
            skipped.append(Skipped(change.commit, why))
        else:
            counted.append(change)
    return Changes(tuple(counted), tuple(skipped))


def _in_range(change: Change, classified: list[Change]) -> tuple[str, ...] | None:
    """Full hashes of the commits `change` reverts, when every one is in the range (a
    revert of anything released before stays a change of its own): else None."""
    hit: dict[str, None] = {}
    for ref in change.reverts:
        found = [o.commit.hash for o in classified if o.commit.hash.startswith(ref)]
        if not found or change.commit.hash in found:
            return None
        hit.update(dict.fromkeys(found))
    return tuple(hit) or None


def _cancelled(reverters: dict[str, list[str]]) -> set[str]:
    """Commits undone by a revert that is not itself undone (memoised, cycle-safe)."""
    memo: dict[str, bool] = {}

    def undone(hash_: str, seen: frozenset[str]) -> bool:
        if hash_ not in memo:
            memo[hash_] = any(
                r not in seen and not undone(r, seen | {r}) for r in reverters.get(hash_, ())
            )
        return memo[hash_]

    return {h for h in reverters if undone(h, frozenset({h}))}


def _skip_reason(
    hash_: str,
    targets: dict[str, tuple[str, ...] | None],
    reverters: dict[str, list[str]],
    cancelled: set[str],
) -> str:
    if hash_ in cancelled:
        by = [r[:SHORT] for r in reverters[hash_] if r not in cancelled]
        return f"reverted by {', '.join(by)} in the same range"
    hit = targets[hash_]
    if hit:
        return f"reverts {', '.join(h[:SHORT] for h in hit)} in the same range"
    return ""
