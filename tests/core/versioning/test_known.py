"""Which known release a commit builds on: tags and records merged, the highest
reachable version chosen, final-only for a final release's notes."""

from __future__ import annotations

import pytest
from semver import Version

from changeover.versioning.known import Known, last_release, merge, notes_base

V = Version.parse


def known(*specs: str) -> tuple[Known, ...]:
    """`1.2.0@a` a tag on commit a; `1.2.0@a:r` a record; `1.2.0@-:r` a record, no commit."""
    tags, records = [], []
    for spec in specs:
        version, _, rest = spec.partition("@")
        commit, _, source = rest.partition(":")
        if source == "r":
            records.append((V(version), None if commit == "-" else commit))
        else:
            tags.append((V(version), commit))
    return merge(tags, records)


def reach(*commits: str) -> set[str]:
    return set(commits)


def test_a_version_known_twice_is_one_release_with_the_tags_commit() -> None:
    found = known("1.0.0@a:r", "1.0.0@b", "0.9.0@c:r")
    assert found == (Known(V("1.0.0"), "b", "tag"), Known(V("0.9.0"), "c", "record"))
    assert found[0].ref == "v1.0.0"  # a tag is named by its name, a record by its commit
    assert found[1].ref == "c"


CASES = [
    # (known, reachable commits, below, final only, expected version)
    (("1.0.0@a", "1.1.0@b"), {"a", "b"}, None, False, "1.1.0"),
    (("1.0.0@a", "1.1.0@b"), {"a"}, None, False, "1.0.0"),  # 1.1.0 is on another branch
    (("1.0.0@a", "1.10.0@b", "1.9.0@c"), {"a", "b", "c"}, None, False, "1.10.0"),  # semver
    (("1.0.0@a", "1.1.0-rc.1@b"), {"a", "b"}, None, False, "1.1.0-rc.1"),
    (("1.0.0@a", "1.1.0-rc.1@b"), {"a", "b"}, None, True, "1.0.0"),
    (("1.0.0@a", "1.1.0@b"), {"a", "b"}, "1.1.0", False, "1.0.0"),  # below excludes itself
    (("1.0.0@-:r",), {"a"}, None, False, None),  # no commit: not reachable in a history
    ((), {"a"}, None, False, None),
]


@pytest.mark.parametrize(("specs", "reachable", "below", "final", "expected"), CASES)
def test_the_last_release_a_commit_builds_on(
    specs: tuple[str, ...], reachable: set[str], below: str | None, final: bool,
    expected: str | None,
) -> None:  # fmt: skip
    found = last_release(
        known(*specs), reachable.__contains__, below=None if below is None else V(below),
        final_only=final,
    )  # fmt: skip
    assert (None if found is None else str(found.version)) == expected


def test_without_a_history_the_highest_record_counts() -> None:
    found = last_release(known("0.9.0@-:r", "1.0.0@-:r"), None)
    assert found is not None
    assert str(found.version) == "1.0.0"


@pytest.mark.parametrize(
    ("version", "expected"),
    [("1.3.0", "1.2.0"), ("1.3.0-rc.2", "1.3.0-rc.1"), ("1.2.0", "1.1.0"), ("1.1.0", None)],
)
def test_the_notes_of_a_final_release_start_at_the_last_final_one(
    version: str, expected: str | None
) -> None:
    releases = known("1.1.0@a", "1.2.0@b", "1.3.0-rc.1@c", "1.3.0@d")
    found = notes_base(releases, V(version), reach("a", "b", "c", "d").__contains__)
    assert (None if found is None else str(found.version)) == expected
