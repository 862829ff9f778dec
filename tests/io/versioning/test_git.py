"""The git layer against real repositories: release tags, the commits since, merges,
the dirty tree, the remote, annotated tags, and the errors (with nothing written)."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from semver import Version

from changeover.versioning.bump import NextVersion, NothingToRelease, next_version
from changeover.versioning.git import (
    GitError,
    Repo,
    commits_since,
    create_tag,
    dirty_paths,
    head,
    is_ancestor,
    last_release,
    open_repo,
    release_tags,
    remote_url,
)
from changeover.versioning.remote import web_url

DATE = "2026-01-05T10:00:00+01:00"


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """git with no user or system configuration, that never looks above `tmp_path`."""
    for name, value in {
        "GIT_CONFIG_GLOBAL": "/dev/null",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CEILING_DIRECTORIES": str(tmp_path),
        "GIT_AUTHOR_NAME": "Ann",
        "GIT_AUTHOR_EMAIL": "ann@example.org",
        "GIT_COMMITTER_NAME": "Ann",
        "GIT_COMMITTER_EMAIL": "ann@example.org",
        "GIT_AUTHOR_DATE": DATE,
        "GIT_COMMITTER_DATE": DATE,
    }.items():
        monkeypatch.setenv(name, value)
    return tmp_path


def git(cwd: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def commit(cwd: Path, message: str) -> str:
    """An empty commit with `message` taken verbatim; its hash."""
    git(cwd, "commit", "-q", "--allow-empty", "--cleanup=verbatim", "-F", "-", stdin=message)
    return git(cwd, "rev-parse", "HEAD")


@pytest.fixture
def work(isolated: Path) -> Path:
    path = isolated / "shop"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


@pytest.fixture
def repo(work: Path) -> Repo:
    commit(work, "chore: start")
    return open_repo(work)


def test_the_commits_since_the_last_release_make_the_next_version(repo: Repo) -> None:
    start = head(repo)
    git(repo.root, "tag", "-a", "v1.0.0", "-m", "1.0.0")
    feat = commit(repo.root, "feat(api): search orders")
    fix = commit(repo.root, "fix: close the file\n\nIt leaked.\n\nMore.\n\nRefs: #12\n")
    tagged = last_release(repo)
    assert tagged is not None
    assert (tagged.tag, tagged.version, tagged.commit) == ("v1.0.0", Version(1, 0, 0), start)
    commits = commits_since(repo, tagged.tag)
    assert [(c.hash, c.subject) for c in commits] == [
        (fix, "fix: close the file"),
        (feat, "feat(api): search orders"),
    ]
    assert commits[0].body == "It leaked.\n\nMore.\n\nRefs: #12"
    assert commits[0].parents == (feat,)
    assert commits[0].author_date == datetime.fromisoformat(DATE)
    result = next_version(tagged.version, commits)
    assert isinstance(result, NextVersion)
    assert (str(result.version), [c.commit.hash for c in result.drivers]) == ("1.1.0", [feat])


def test_without_a_release_every_commit_counts(repo: Repo) -> None:
    commit(repo.root, "feat: one")
    assert last_release(repo) is None
    assert [c.subject for c in commits_since(repo, None)] == ["feat: one", "chore: start"]


def test_the_highest_reachable_version_tag_wins(repo: Repo) -> None:
    git(repo.root, "tag", "v1.9.0")  # lightweight tags count too
    commit(repo.root, "fix: a")
    git(repo.root, "tag", "-a", "v1.10.0", "-m", "1.10.0")
    ten = head(repo)
    git(repo.root, "tag", "vnext")  # not a version
    git(repo.root, "tag", "release-7")  # not v-prefixed
    git(repo.root, "checkout", "-q", "-b", "side")
    commit(repo.root, "feat: elsewhere")
    git(repo.root, "tag", "v9.0.0")  # not reachable from main
    git(repo.root, "checkout", "-q", "main")
    commit(repo.root, "feat: b")
    git(repo.root, "tag", "-a", "v1.11.0-rc.1", "-m", "rc")
    latest = last_release(repo)
    assert latest is not None
    assert (latest.tag, latest.version) == ("v1.11.0-rc.1", Version.parse("1.11.0-rc.1"))
    final = last_release(repo, prereleases=False)
    assert final is not None
    assert (final.tag, final.commit) == ("v1.10.0", ten)  # by precedence, not by name


def test_merges_are_listed_and_skipped_by_the_core(repo: Repo) -> None:
    git(repo.root, "tag", "v1.0.0")
    git(repo.root, "checkout", "-q", "-b", "topic")
    feat = commit(repo.root, "feat: from a branch")
    git(repo.root, "checkout", "-q", "main")
    commit(repo.root, "docs: on main")
    git(repo.root, "merge", "-q", "--no-ff", "-m", "Merge branch 'topic'", "topic")
    commits = commits_since(repo, "v1.0.0")
    merges = [c for c in commits if c.is_merge]
    assert [c.subject for c in merges] == ["Merge branch 'topic'"]
    result = next_version("1.0.0", commits)
    assert isinstance(result, NextVersion)
    assert str(result.version) == "1.1.0"
    assert [c.commit.hash for c in result.drivers] == [feat]
    assert [s.commit for s in result.changes.skipped] == merges


def test_no_commits_since_the_release_is_nothing_to_release(repo: Repo) -> None:
    git(repo.root, "tag", "v1.0.0")
    assert commits_since(repo, "v1.0.0") == ()
    result = next_version("1.0.0", commits_since(repo, "v1.0.0"))
    assert isinstance(result, NothingToRelease)
    assert result.reason == "no commits since 1.0.0"


def test_a_dirty_tree_lists_its_paths(repo: Repo) -> None:
    assert dirty_paths(repo) == ()
    (repo.root / ".gitignore").write_text("build/\n")
    (repo.root / "a.txt").write_text("a\n")
    (repo.root / "b.txt").write_text("b\n")
    git(repo.root, "add", ".")
    commit(repo.root, "chore: files")
    assert dirty_paths(repo) == ()
    (repo.root / "build").mkdir()
    (repo.root / "build" / "out.bin").write_text("ignored")
    assert dirty_paths(repo) == ()
    (repo.root / "a.txt").write_text("changed\n")
    (repo.root / "new file.txt").write_text("untracked\n")
    git(repo.root, "mv", "b.txt", "c.txt")  # a rename lists the new path only
    assert sorted(dirty_paths(repo)) == ["a.txt", "c.txt", "new file.txt"]


@pytest.mark.parametrize(
    ("url", "web"),
    [
        ("git@github.com:acme/shop.git", "https://github.com/acme/shop"),
        ("https://bot:token@gitlab.com/acme/shop.git", "https://gitlab.com/acme/shop"),
        ("ssh://git@gitea.example.org:2222/acme/shop.git", "https://gitea.example.org/acme/shop"),
        ("/srv/git/shop.git", None),
    ],
)
def test_the_remote_url_and_its_web_address(repo: Repo, url: str, web: str | None) -> None:
    assert remote_url(repo) is None
    git(repo.root, "remote", "add", "origin", url)
    assert remote_url(repo) == url
    assert web_url(url) == web


def test_an_annotated_tag_keeps_the_notes(repo: Repo) -> None:
    notes = "## 1.1.0 (2026-01-05)\n\n### Features\n- search (abc1234)\n"
    commit(repo.root, "feat: search")
    target = head(repo)
    assert create_tag(repo, "v1.1.0", notes) == target
    assert git(repo.root, "cat-file", "-t", "v1.1.0") == "tag"
    assert git(repo.root, "rev-parse", "v1.1.0^{commit}") == target
    assert git(repo.root, "tag", "-l", "--format=%(contents)", "v1.1.0") == notes.strip()
    tagged = last_release(repo)
    assert tagged is not None
    assert (tagged.tag, tagged.commit) == ("v1.1.0", target)


def test_a_tag_that_exists_is_refused_and_left_as_it_was(repo: Repo) -> None:
    git(repo.root, "tag", "-a", "v1.1.0", "-m", "first")
    before = git(repo.root, "rev-parse", "v1.1.0")
    commit(repo.root, "fix: later")
    with pytest.raises(GitError, match=r"tag v1.1.0 exists already \(on [0-9a-f]{7}\); expected"):
        create_tag(repo, "v1.1.0", "second")
    assert git(repo.root, "rev-parse", "v1.1.0") == before


@pytest.mark.parametrize(
    ("name", "at", "message"),
    [
        ("v1..2", "HEAD", "'v1..2' is not a valid tag name; expected one like v1.4.0"),
        ("v1.2.0", "nope", "'nope' is not a commit here; expected a commit to tag"),
    ],
)
def test_bad_tags_write_nothing(repo: Repo, name: str, at: str, message: str) -> None:
    with pytest.raises(GitError, match=message):
        create_tag(repo, name, "notes", at=at)
    assert git(repo.root, "tag", "-l") == ""


def test_outside_a_repository(isolated: Path) -> None:
    plain = isolated / "plain"
    plain.mkdir()
    with pytest.raises(GitError, match=r"plain is not inside a git repository: the next version"):
        open_repo(plain)
    (plain / "file").write_text("")
    with pytest.raises(GitError, match=r"file is not a directory: expected a folder inside"):
        open_repo(plain / "file")


def test_a_subfolder_opens_its_repository(repo: Repo) -> None:
    (repo.root / "src" / "pkg").mkdir(parents=True)
    assert open_repo(repo.root / "src" / "pkg") == repo


def test_a_repository_without_commits(work: Path) -> None:
    empty = open_repo(work)
    with pytest.raises(GitError, match=r"shop has no commit yet: expected at least one commit"):
        last_release(empty)
    with pytest.raises(GitError, match=r"has no commit yet"):
        commits_since(empty, None)


def test_a_last_release_that_is_not_in_the_history(repo: Repo) -> None:
    with pytest.raises(GitError, match=r"the last release 'v9.9.9' is not a commit of this"):
        commits_since(repo, "v9.9.9")
    git(repo.root, "checkout", "-q", "-b", "side")
    commit(repo.root, "feat: elsewhere")
    git(repo.root, "tag", "v2.0.0")
    git(repo.root, "checkout", "-q", "main")
    with pytest.raises(GitError, match=r"'v2.0.0' is not an ancestor of HEAD; expected the"):
        commits_since(repo, "v2.0.0")


def test_git_missing_from_path(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(repo.root))
    with pytest.raises(GitError, match=r"cannot read HEAD: git is not installed"):
        head(repo)


def test_every_release_tag_with_its_commit_and_what_a_commit_builds_on(repo: Repo) -> None:
    start = head(repo)
    git(repo.root, "tag", "-a", "v1.0.0", "-m", "1.0.0")
    git(repo.root, "tag", "not-a-release")
    git(repo.root, "switch", "-q", "-c", "side")
    side = commit(repo.root, "feat: on a side branch")
    git(repo.root, "tag", "v1.1.0")  # lightweight, not merged into main
    git(repo.root, "switch", "-q", "main")
    fix = commit(repo.root, "fix: on main")
    tags = {t.tag: t.commit for t in release_tags(repo)}
    assert tags == {"v1.0.0": start, "v1.1.0": side}  # the annotated tag peeled
    latest = last_release(repo)
    assert latest is not None
    assert str(latest.version) == "1.0.0"
    assert (is_ancestor(repo, start), is_ancestor(repo, side)) == (True, False)
    assert is_ancestor(repo, side, "v1.1.0") is True
    assert is_ancestor(repo, "0" * 40) is False  # no such commit
    assert [c.hash for c in commits_since(repo, "v1.0.0", "v1.1.0")] == [side]
    assert [c.hash for c in commits_since(repo, "v1.0.0")] == [fix]
    with pytest.raises(GitError, match="'nope' is not a commit here"):
        commits_since(repo, "v1.0.0", "nope")
    with pytest.raises(GitError, match=r"is not an ancestor of v1\.1\.0"):
        commits_since(repo, fix, "v1.1.0")
