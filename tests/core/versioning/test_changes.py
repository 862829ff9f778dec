"""Properties of a range's changes: order does not matter, a release always goes up."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st
from semver import Version

from changeover.versioning.bump import NextVersion, next_version
from changeover.versioning.changes import Bump, Kind, changes, classify
from changeover.versioning.commits import Commit

from .history import commit, git_revert

_PLAIN = ["feat: a", "fix: b", "perf: c", "docs: d", "feat!: e", "Tidy up", "chore: f"]


@st.composite
def ranges(draw: st.DrawFn) -> list[Commit]:
    """A range of distinct commits where reverts name earlier commits of the range."""
    messages: list[str] = []
    for i in range(draw(st.integers(0, 8))):
        if messages and draw(st.booleans()):
            messages.append(git_revert(draw(st.sampled_from(messages))))
        else:
            messages.append(f"{draw(st.sampled_from(_PLAIN))} #{i}")
    unique = list(dict.fromkeys(messages))
    return [commit(m, merge=draw(st.booleans()) and i % 5 == 4) for i, m in enumerate(unique)]


@given(ranges(), st.randoms())
def test_the_order_of_the_commits_does_not_matter(
    commits: list[Commit], rnd: random.Random
) -> None:
    shuffled = list(commits)
    rnd.shuffle(shuffled)
    a, b = changes(commits), changes(shuffled)
    assert set(a.counted) == set(b.counted)
    assert set(a.skipped) == set(b.skipped)
    assert len(a.counted) + len(a.skipped) == len(commits)


@given(
    ranges(),
    st.builds(Version, st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
    st.sampled_from([None, "rc", "beta"]),
)
def test_a_release_is_always_greater_than_the_last(
    commits: list[Commit], last: Version, pre: str | None
) -> None:
    result = next_version(last, commits, pre=pre)
    if isinstance(result, NextVersion):
        assert result.version.compare(last) > 0
        assert (result.version.prerelease is not None) == (pre is not None)
    else:
        assert result.changes.level == Bump.NONE


def test_a_revert_then_a_revert_of_it_brings_the_feature_back() -> None:
    feat = commit("feat: a")
    undo = commit(git_revert("feat: a"))
    redo = commit(git_revert(git_revert("feat: a")))
    found = changes([redo, undo, feat])
    assert [c.commit for c in found.counted] == [feat]
    assert found.level == Bump.MINOR


def test_a_revert_naming_no_commit_is_a_patch() -> None:
    change = classify(commit('Revert "feat: something"\n\nIt broke the build.'))
    assert (change.kind, change.bump) == (Kind.FIX, Bump.PATCH)
    assert change.why == "reverts a commit it does not name"
    assert change.description == 'Revert "feat: something"'


def test_a_breaking_revert_is_breaking() -> None:
    change = classify(commit("revert!: restore the old API\n\nRefs: 1234567"))
    assert (change.kind, change.bump, change.reverts) == (Kind.BREAKING, Bump.MAJOR, ("1234567",))
