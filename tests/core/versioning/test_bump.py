"""The next version against a table of cases: the bump rules, 0.x, pre-releases, merge
commits, reverts, non-conventional commits, overrides and "nothing to release"."""

from __future__ import annotations

from typing import Any

import pytest
from semver import Version

from changeover.versioning.bump import NextVersion, NothingToRelease, VersionError, next_version
from changeover.versioning.changes import Bump

from .history import git_revert, history, sha

FEAT = "feat(api): add search"
FIX = "fix: close the file"
REVERT_FEAT = f"revert: drop search again\n\nRefs: {sha(FEAT)[:7]}"

CASES = [
    # (id, last, commits newest first, overrides, version or None for nothing, bump)
    ("feat is minor", "1.3.0", [FEAT], {}, "1.4.0", Bump.MINOR),
    ("fix is patch", "1.3.0", [FIX], {}, "1.3.1", Bump.PATCH),
    ("perf is patch", "1.3.0", ["perf(db): index users"], {}, "1.3.1", Bump.PATCH),
    ("the largest wins", "1.3.0", [FIX, FEAT, "docs: a"], {}, "1.4.0", Bump.MINOR),
    ("bang is major", "1.3.0", ["feat!: new API", FIX], {}, "2.0.0", Bump.MAJOR),
    ("footer is major", "1.3.0", ["fix: x\n\nBREAKING CHANGE: y"], {}, "2.0.0", Bump.MAJOR),
    ("footer synonym", "1.3.0", ["fix: x\n\nBREAKING-CHANGE: y"], {}, "2.0.0", Bump.MAJOR),
    ("breaking chore", "1.3.0", ["chore!: drop Python 3.10"], {}, "2.0.0", Bump.MAJOR),
    ("lowercase footer", "1.3.0", ["fix: x\n\nbreaking change: y"], {}, "1.3.1", Bump.PATCH),
    ("0.x breaking", "0.4.2", ["feat!: new API"], {}, "0.5.0", Bump.MINOR),
    ("0.x feat", "0.4.2", [FEAT], {}, "0.5.0", Bump.MINOR),
    ("0.x fix", "0.4.2", [FIX], {}, "0.4.3", Bump.PATCH),
    ("first feat", None, [FEAT], {}, "0.1.0", Bump.MINOR),
    ("first fix", None, [FIX], {}, "0.0.1", Bump.PATCH),
    ("first breaking", None, ["feat!: x"], {}, "0.1.0", Bump.MINOR),
    ("1.0.0 on request", "0.9.3", [FIX], {"bump": Bump.MAJOR}, "1.0.0", Bump.MAJOR),
    (
        "chores bump nothing",
        "1.3.0",
        ["docs: a", "chore: b", "refactor: c", "test: d", "ci: e", "build: f", "style: g"],
        {},
        None,
        None,
    ),
    ("other commits", "1.3.0", ["Add a thing", "WIP", "fixup! feat: x"], {}, None, None),
    ("no commits", "1.3.0", [], {}, None, None),
    ("no commits, no release", None, [], {}, None, None),
    ("merge skipped", "1.3.0", ["merge:feat: merged", "docs: a"], {}, None, None),
    ("merge and its commits", "1.3.0", ["merge:Merge branch 'x'", FEAT], {}, "1.4.0", Bump.MINOR),
    ("git revert cancels", "1.3.0", [git_revert(FEAT), FIX, FEAT], {}, "1.3.1", Bump.PATCH),
    ("revert: cancels", "1.3.0", [REVERT_FEAT, FEAT], {}, None, None),
    (
        "revert of a revert",
        "1.3.0",
        [git_revert(git_revert(FEAT)), git_revert(FEAT), FEAT],
        {},
        "1.4.0",
        Bump.MINOR,
    ),
    ("revert of a release", "1.3.0", [git_revert("feat: old")], {}, "1.3.1", Bump.PATCH),
    ("pre after final", "1.3.0", [FEAT], {"pre": "rc"}, "1.4.0-rc.1", Bump.MINOR),
    ("pre after pre", "1.4.0-rc.1", [FIX], {"pre": "rc"}, "1.4.0-rc.2", Bump.PATCH),
    ("pre covers minor", "1.4.0-rc.2", [FEAT], {"pre": "rc"}, "1.4.0-rc.3", Bump.MINOR),
    ("pre rebased", "1.4.0-rc.1", ["feat!: x"], {"pre": "rc"}, "2.0.0-rc.1", Bump.MAJOR),
    ("pre label change", "1.4.0-beta.2", [FIX], {"pre": "rc"}, "1.4.0-rc.1", Bump.PATCH),
    ("pre, nothing new", "1.4.0-rc.1", ["docs: a"], {"pre": "rc"}, None, None),
    ("final of a pre", "1.4.0-rc.2", [], {}, "1.4.0", Bump.NONE),
    ("final with chores", "1.4.0-rc.2", ["docs: a"], {}, "1.4.0", Bump.NONE),
    ("final with a fix", "1.4.0-rc.2", [FIX], {}, "1.4.0", Bump.PATCH),
    ("final past the pre", "1.4.0-rc.1", ["feat!: x"], {}, "2.0.0", Bump.MAJOR),
    ("patch pre to minor", "1.4.1-rc.1", [FEAT], {}, "1.5.0", Bump.MINOR),
    ("bump below commits", "1.3.0", [FEAT], {"bump": Bump.PATCH}, "1.3.1", Bump.PATCH),
    ("bump over chores", "1.3.0", ["docs: a"], {"bump": Bump.MINOR}, "1.4.0", Bump.MINOR),
    ("bump, no commits", "1.3.0", [], {"bump": Bump.MINOR}, None, None),
    (
        "bump and pre",
        "1.3.0",
        ["docs: a"],
        {"bump": Bump.MAJOR, "pre": "beta"},
        "2.0.0-beta.1",
        Bump.MAJOR,
    ),
    ("version given", "1.3.0", [FIX], {"version": "2.0.0"}, "2.0.0", Bump.MAJOR),
    ("version with v", "1.3.0", ["docs: a"], {"version": "v1.5.0-rc.1"}, "1.5.0-rc.1", Bump.MINOR),
    ("version finalises", "1.4.0-rc.3", [], {"version": "1.4.0"}, "1.4.0", Bump.NONE),
    ("version, no commits", "1.3.0", [], {"version": "1.4.0"}, None, None),
]


@pytest.mark.parametrize(
    ("last", "messages", "overrides", "version", "bump"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_next_version(
    last: str | None,
    messages: list[str],
    overrides: dict[str, Any],
    version: str | None,
    bump: Bump | None,
) -> None:
    result = next_version(last, history(*messages), **overrides)
    if version is None:
        assert isinstance(result, NothingToRelease), result
        assert result.to_json()["release"] is False
    else:
        assert isinstance(result, NextVersion), result
        assert (str(result.version), result.bump) == (version, bump)
        assert last is None or result.version.compare(last) > 0


def test_the_result_names_the_commits_that_drove_it() -> None:
    feat, fix = history(FEAT, FIX)
    result = next_version(Version.parse("1.3.0"), [fix, feat, *history("docs: a")])
    assert isinstance(result, NextVersion)
    assert result.drivers == tuple(c for c in result.changes.counted if c.commit == feat)
    data = result.to_json()
    assert data["version"] == "1.4.0"
    assert data["tag"] == "v1.4.0"
    assert data["bump"] == "minor"
    assert data["decided_by"] == "commits"
    assert data["drivers"] == [
        {
            "hash": feat.hash,
            "short": feat.hash[:7],
            "subject": FEAT,
            "kind": "feature",
            "bump": "minor",
            "why": "feat",
        }
    ]
    assert [c["subject"] for c in data["commits"]] == [FIX, FEAT, "docs: a"]
    assert data["reasons"] == [
        "last release: 1.3.0",
        f"the commits call for minor: {feat.short} (feat)",
    ]


def test_below_one_the_explanation_says_why_breaking_is_minor() -> None:
    result = next_version("0.4.2", history("feat!: new API"))
    assert isinstance(result, NextVersion)
    assert result.drivers[0].why == "`!` after the type"
    assert any("below 1.0.0 a breaking change bumps the minor" in r for r in result.reasons)


def test_reverted_pairs_and_merges_are_listed_as_skipped() -> None:
    revert, merge, feat = history(git_revert(FEAT), "merge:Merge branch 'x'", FEAT)
    result = next_version("1.3.0", [revert, merge, feat])
    assert isinstance(result, NothingToRelease)
    assert {(s.commit, s.why) for s in result.changes.skipped} == {
        (merge, "merge commit: the commits it merges count on their own"),
        (feat, f"reverted by {revert.short} in the same range"),
        (revert, f"reverts {feat.short} in the same range"),
    }
    assert "no commit since 1.3.0 calls for a new version" in result.reason


def test_many_types_that_bump_nothing_are_named_once() -> None:
    kinds = ("docs", "ci", "chore", "test", "build", "style", "refactor")
    result = next_version("1.3.0", history(*(f"{k}: x" for k in kinds)))
    assert isinstance(result, NothingToRelease)
    assert "(build, chore, ci, docs, refactor and 2 other type(s) bump nothing)" in result.reason
    two = next_version("1.3.0", history("docs: a", "ci: b"))
    assert isinstance(two, NothingToRelease)
    assert "(ci and docs bump nothing)" in two.reason


def test_nothing_to_release_says_what_the_commits_were() -> None:
    result = next_version("1.3.0", history("docs: a", "Add a thing"))
    assert isinstance(result, NothingToRelease)
    assert result.reason.startswith("nothing to release: no commit since 1.3.0 calls for")
    assert "docs bumps nothing" in result.reason
    assert "not a conventional commit" in result.reason
    assert result.to_json() == {
        "release": False,
        "last": "1.3.0",
        "reason": result.reason,
        "commits": [c.to_json() for c in result.changes.counted],
        "skipped": [],
    }
    empty = next_version("1.3.0", [])
    assert isinstance(empty, NothingToRelease)
    assert empty.reason == "no commits since 1.3.0"


def test_overrides_say_so() -> None:
    bumped = next_version("1.3.0", history(FEAT), bump=Bump.PATCH)
    assert isinstance(bumped, NextVersion)
    assert bumped.decided_by == "bump"
    assert "--bump patch overrides the commits" in bumped.reasons
    given = next_version("1.3.0", history(FIX), version="3.0.0")
    assert isinstance(given, NextVersion)
    assert given.decided_by == "version"
    assert given.reasons[0] == "3.0.0 given with --version"


def test_pre_releases_explain_their_number_and_the_final_drops_it() -> None:
    second = next_version("1.4.0-rc.1", history(FIX), pre="rc")
    assert isinstance(second, NextVersion)
    assert "--pre rc: 1.4.0-rc.2 follows 1.4.0-rc.1 on the same base 1.4.0" in second.reasons
    final = next_version("1.4.0-rc.2", [])
    assert isinstance(final, NextVersion)
    assert (
        final.reasons[-1] == "1.4.0-rc.2 is a pre-release: the final release 1.4.0 drops its label"
    )


@pytest.mark.parametrize(
    ("last", "overrides", "message"),
    [
        (
            "1.3.0",
            {"version": "1.3.0"},
            "--version 1.3.0 is not greater than the last release 1.3.0",
        ),
        ("1.3.0", {"version": "1.2.9"}, "not greater than the last release 1.3.0"),
        ("1.3.0", {"version": "1.3.0+build.5"}, "not greater"),  # build metadata has no rank
        ("1.3.0", {"version": "1.4"}, "--version '1.4' is not a semantic version like 1.4.0"),
        ("1.3.0", {"version": "1.4.0", "bump": Bump.MINOR}, "give it without --bump or --pre"),
        ("1.3.0", {"version": "1.4.0", "pre": "rc"}, "give it without --bump or --pre"),
        ("1.3.0", {"pre": "rc.1"}, "--pre 'rc.1' is not a pre-release label"),
        ("1.3.0", {"pre": "1"}, "starting with a letter, like rc, beta or alpha"),
        ("1.4.0-beta.1", {"pre": "alpha"}, "1.4.0-alpha.1 would not be greater than the last"),
        ("one", {}, "last release 'one' is not a semantic version"),
    ],
)
def test_bad_input_is_an_error_naming_what_is_expected(
    last: str, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(VersionError) as caught:
        next_version(last, history(FIX), **overrides)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "bump"), [("major", Bump.MAJOR), (" Minor", Bump.MINOR), ("patch", Bump.PATCH)]
)
def test_bump_parses_the_three_parts(text: str, bump: Bump) -> None:
    assert Bump.parse(text) is bump


def test_bump_refuses_anything_else() -> None:
    with pytest.raises(ValueError, match="expected a bump of major, minor or patch, got 'none'"):
        Bump.parse("none")


def test_without_a_history_only_an_override_decides() -> None:
    given = next_version("1.3.0", None, version="1.4.0")
    assert isinstance(given, NextVersion)
    assert given.reasons == ("1.4.0 given with --version", "no commit history to check it against")
    bumped = next_version("1.3.0", None, bump=Bump.PATCH, pre="rc")
    assert isinstance(bumped, NextVersion)
    assert str(bumped.version) == "1.3.1-rc.1"
    assert "no commit history: the bump is the one given" in bumped.reasons
    with pytest.raises(VersionError, match=r"without a commit history .* expected an explicit"):
        next_version("1.3.0", None)
