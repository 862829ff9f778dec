"""The next version: from the last release and the commits since, or as the caller says.

Invariant: `next_version` is pure and total over valid input. It returns `NextVersion`
(a version strictly greater than the last release, by semver.org precedence) or
`NothingToRelease` (no commit calls for a bump: a result, not an error); it raises
`VersionError` only for bad input (not semver, not greater, conflicting overrides).
Rules: feat -> minor, fix/perf -> patch, breaking -> major, except below 1.0.0 where a
breaking change bumps the minor; `--bump` and `--version` override the commits; a
pre-release (`--pre rc`) numbers `rc.1`, `rc.2`... on one base; a final release after a
pre-release drops the pre-release part.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from semver import Version

from changeover.versioning.changes import Bump, Change, Changes, changes
from changeover.versioning.commits import Commit

ZERO = Version(0, 0, 0)
_LABEL = re.compile(r"[A-Za-z][0-9A-Za-z-]*")
_VERSION_HINT = "a semantic version like 1.4.0 or 1.4.0-rc.1 (semver.org)"


class VersionError(ValueError):
    """Bad input to `next_version`: the message says what, where and what is expected."""


@dataclass(frozen=True)
class NextVersion:
    version: Version
    last: Version | None
    bump: Bump  # the part raised; NONE when a pre-release becomes final as it is
    decided_by: Literal["commits", "bump", "version"]
    reasons: tuple[str, ...]
    changes: Changes

    @property
    def tag(self) -> str:
        return f"v{self.version}"

    @property
    def drivers(self) -> tuple[Change, ...]:
        """The commits that call for the bump (empty when an override alone decided)."""
        return self.changes.drivers

    def to_json(self) -> dict[str, object]:
        return {
            "release": True,
            "version": str(self.version),
            "tag": self.tag,
            "last": _text(self.last),
            "bump": self.bump.label,
            "decided_by": self.decided_by,
            "reasons": list(self.reasons),
            "drivers": [c.to_json() for c in self.drivers],
            "commits": [c.to_json() for c in self.changes.counted],
            "skipped": [s.to_json() for s in self.changes.skipped],
        }


@dataclass(frozen=True)
class NothingToRelease:
    last: Version | None
    reason: str
    changes: Changes

    def to_json(self) -> dict[str, object]:
        return {
            "release": False,
            "last": _text(self.last),
            "reason": self.reason,
            "commits": [c.to_json() for c in self.changes.counted],
            "skipped": [s.to_json() for s in self.changes.skipped],
        }


Decision = NextVersion | NothingToRelease


def parse_version(text: str, what: str = "version") -> Version:
    """`text` (an optional leading `v`, as in tags) as a semantic version."""
    raw = text.strip()
    try:
        return Version.parse(raw[1:] if raw.startswith("v") else raw)
    except (ValueError, TypeError):
        raise VersionError(f"{what} {text!r} is not {_VERSION_HINT}") from None


def next_version(
    last: Version | str | None,
    commits: Iterable[Commit] | None,
    *,
    bump: Bump | None = None,
    version: Version | str | None = None,
    pre: str | None = None,
) -> Decision:
    """The release that follows `last` (None: no release yet) given the commits since;
    `commits` None: no history is known (no git repository), so an override decides."""
    last = parse_version(last, "last release") if isinstance(last, str) else last
    if commits is None and version is None and bump is None:
        raise VersionError(
            "without a commit history (no git repository) the next version cannot be "
            "computed: expected an explicit version or bump"
        )
    history = None if commits is None else tuple(commits)
    if version is not None and (bump is not None or pre is not None):
        raise VersionError("--version sets the whole version: give it without --bump or --pre")
    if pre is not None and not _LABEL.fullmatch(pre):
        raise VersionError(
            f"--pre {pre!r} is not a pre-release label; expected letters, digits and '-', "
            "starting with a letter, like rc, beta or alpha"
        )
    found = changes(history or ())
    if version is not None:
        return _given(last, version, history, found)
    return _computed(last, history, found, bump, pre)


def _given(
    last: Version | None, version: Version | str, commits: tuple[Commit, ...] | None, found: Changes
) -> Decision:
    wanted = parse_version(version, "--version") if isinstance(version, str) else version
    if last is not None and wanted.compare(last) <= 0:
        raise VersionError(
            f"--version {wanted} is not greater than the last release {last}; "
            f"expected a version above {last} (semver.org precedence)"
        )
    if commits == () and not _finalises(last, wanted):
        return NothingToRelease(last, _no_commits(last), found)
    unknown = ["no commit history to check it against"] if commits is None else []
    reasons = (f"{wanted} given with --version", *unknown, *_commits_say(found))
    return NextVersion(wanted, last, _raised(last, wanted), "version", reasons, found)


def _computed(
    last: Version | None,
    commits: tuple[Commit, ...] | None,
    found: Changes,
    bump: Bump | None,
    pre: str | None,
) -> Decision:
    reasons = [_since(last), *_commits_say(found)]
    if commits is None:
        reasons.append("no commit history: the bump is the one given")
    level = found.level if bump is None else bump
    if bump is not None and bump != found.level and commits is not None:
        reasons.append(f"--bump {bump.label} overrides the commits")
    if bump is None and level == Bump.MAJOR and (last or ZERO).major == 0:
        level = Bump.MINOR
        reasons.append(
            "below 1.0.0 a breaking change bumps the minor version "
            "(0.y.z is initial development, semver.org item 4)"
        )
    if commits == () and not (last is not None and last.prerelease and pre is None):
        return NothingToRelease(last, _no_commits(last), found)
    if level == Bump.NONE:
        if last is not None and last.prerelease and pre is None:
            final = last.finalize_version()
            reasons.append(f"{last} is a pre-release: the final release {final} drops its label")
            return NextVersion(final, last, Bump.NONE, "commits", tuple(reasons), found)
        return NothingToRelease(last, _nothing_bumps(last, found), found)
    base = _base(last, level)
    version = base if pre is None else _pre_release(last, base, pre, reasons)
    if last is not None and last.prerelease and pre is None:
        reasons.append(f"{last} is a pre-release: the final release {version} drops its label")
    decided_by: Literal["commits", "bump"] = "commits" if bump is None else "bump"
    return NextVersion(version, last, level, decided_by, tuple(reasons), found)


def _base(last: Version | None, level: Bump) -> Version:
    """The release version `level` leads to. After a pre-release its base stands when
    the base already raises that part (1.4.0-rc.1 covers a minor or a patch bump)."""
    if last is None:
        return _raise(ZERO, level)
    final = last.finalize_version()
    if last.prerelease and _covers(final, level):
        return final
    return _raise(final, level)


def _covers(base: Version, level: Bump) -> bool:
    if level == Bump.MAJOR:
        return base.minor == 0 and base.patch == 0
    if level == Bump.MINOR:
        return base.patch == 0
    return True


def _raise(version: Version, level: Bump) -> Version:
    if level == Bump.MAJOR:
        return version.bump_major()
    if level == Bump.MINOR:
        return version.bump_minor()
    return version.bump_patch()


def _pre_release(last: Version | None, base: Version, label: str, reasons: list[str]) -> Version:
    number = _pre_number(last, label) if last and last.finalize_version() == base else None
    version = base.replace(prerelease=f"{label}.{(number or 0) + 1}")
    if last is not None and version.compare(last) <= 0:
        raise VersionError(
            f"--pre {label}: {version} would not be greater than the last release {last}; "
            f"expected a label that sorts after {last.prerelease!r} (like rc after beta)"
        )
    if number is not None:
        reasons.append(f"--pre {label}: {version} follows {last} on the same base {base}")
    else:
        reasons.append(f"--pre {label}: the first {label} of {base}")
    return version


def _pre_number(last: Version, label: str) -> int | None:
    """N of a last release `base-label.N`; None when its label is another one."""
    match = re.fullmatch(rf"{re.escape(label)}\.(\d+)", last.prerelease or "")
    return int(match[1]) if match else None


def _finalises(last: Version | None, wanted: Version) -> bool:
    return last is not None and bool(last.prerelease) and wanted == last.finalize_version()


def _raised(last: Version | None, wanted: Version) -> Bump:
    before = last or ZERO
    for level, part in ((Bump.MAJOR, "major"), (Bump.MINOR, "minor"), (Bump.PATCH, "patch")):
        if getattr(wanted, part) != getattr(before, part):
            return level
    return Bump.NONE


def _since(last: Version | None) -> str:
    return f"last release: {last}" if last is not None else "no release yet: counting from 0.0.0"


def _commits_say(found: Changes) -> list[str]:
    if not found.drivers:
        return []
    hashes = ", ".join(f"{c.commit.short} ({c.why})" for c in found.drivers)
    return [f"the commits call for {found.level.label}: {hashes}"]


def _no_commits(last: Version | None) -> str:
    return f"no commits since {last}" if last is not None else "no commits"


NAMED_TYPES = 5  # types named in a "bump nothing" reason; the rest are counted


def _nothing_bumps(last: Version | None, found: Changes) -> str:
    whys = _group_types(sorted({c.why for c in found.counted}))
    if found.skipped:
        whys.append(f"{len(found.skipped)} skipped (merges, reverted pairs)")
    since = f" since {last}" if last is not None else ""
    return (
        f"nothing to release: no commit{since} calls for a new version ({'; '.join(whys)}); "
        "feat bumps the minor, fix and perf the patch, a breaking change the major"
    )


def _group_types(whys: list[str]) -> list[str]:
    """ "docs bumps nothing" and "ci bumps nothing" as one "docs and ci bump nothing"."""
    suffix = " bumps nothing"
    types = [w.removesuffix(suffix) for w in whys if w.endswith(suffix)]
    others = [w for w in whys if not w.endswith(suffix)]
    if len(types) <= 1:
        return whys
    named = types[:NAMED_TYPES]
    rest = len(types) - len(named)
    listed = ", ".join(named[:-1]) + f" and {named[-1]}" if not rest else ", ".join(named)
    if rest:
        listed += f" and {rest} other type(s)"
    return [f"{listed} bump nothing", *others]


def _text(version: Version | None) -> str | None:
    return str(version) if version is not None else None
