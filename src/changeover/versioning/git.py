"""The git layer: reads what the pure core needs, writes only the tag it decided.

Invariant: each function runs `git` itself (subprocess; a few plumbing commands are
git's stable interface, so no library is needed) in the C locale, with no prompt and a
timeout. A failure raises `GitError` saying what was asked, of which repository, what
git answered and what is expected. Only `create_tag` writes, and only after checking
that the tag is new and its name valid: on any error nothing is written.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from semver import Version

from changeover.versioning.commits import SHORT, Commit

TIMEOUT = 30.0  # seconds; local git answers in milliseconds, a hung one must not hang us
_ENV = {"LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0"}


class GitError(Exception):
    """git could not answer, or the repository is not as the release needs it."""


@dataclass(frozen=True)
class Repo:
    root: Path  # the top of the work tree


@dataclass(frozen=True)
class Tagged:
    """A release tag: `v` + a semantic version, and the commit it points at."""

    tag: str
    version: Version
    commit: str


def _git(cwd: Path, *args: str, what: str, ok: tuple[int, ...] = (0,)) -> tuple[int, str]:
    """(exit code, stdout) of `git args` in `cwd`; GitError on an exit code not in `ok`."""
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            timeout=TIMEOUT,
            env={**os.environ, **_ENV},
            check=False,
        )
    except FileNotFoundError:
        raise GitError(f"cannot {what}: git is not installed (expected `git` on PATH)") from None
    except NotADirectoryError:
        raise GitError(f"cannot {what}: {cwd} is not a directory") from None
    except subprocess.TimeoutExpired:
        raise GitError(f"cannot {what} in {cwd}: git did not answer in {TIMEOUT:g}s") from None
    if done.returncode not in ok:
        said = done.stderr.strip() or f"exit code {done.returncode}"
        raise GitError(f"cannot {what} in {cwd}: git says: {said}")
    return done.returncode, done.stdout


def open_repo(path: Path) -> Repo:
    """The work tree containing `path`; GitError when there is none."""
    if not path.is_dir():
        raise GitError(f"{path} is not a directory: expected a folder inside a git work tree")
    code, out = _git(path, "rev-parse", "--show-toplevel", what="find the repository", ok=(0, 128))
    if code != 0 or not out.strip():
        raise GitError(
            f"{path} is not inside a git repository: the next version is computed from its "
            "commits and tags (outside one, the version must be given explicitly)"
        )
    return Repo(Path(out.strip()))


def _commit_of(repo: Repo, revision: str, what: str) -> str | None:
    """The commit `revision` names (a tag is peeled), or None when it names none."""
    code, out = _git(
        repo.root, "rev-parse", "-q", "--verify", f"{revision}^{{commit}}", what=what, ok=(0, 1)
    )
    return out.strip() if code == 0 else None


def head(repo: Repo) -> str:
    """The commit HEAD points at; GitError when the repository has no commit yet."""
    commit = _commit_of(repo, "HEAD", "read HEAD")
    if commit is None:
        raise GitError(f"{repo.root} has no commit yet: expected at least one commit to release")
    return commit


def last_release(repo: Repo, *, prereleases: bool = True) -> Tagged | None:
    """The highest `vX.Y.Z` tag reachable from HEAD (semver precedence; a pre-release
    counts unless `prereleases` is False); None when there is none. Other tags are ignored."""
    head(repo)
    fmt = "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)"
    _, out = _git(
        repo.root, "tag", "--merged", "HEAD", "--list", "v*", fmt, what="list the release tags"
    )
    found: list[Tagged] = []
    for line in out.splitlines():
        tag, obj, peeled = [*line.split("\0"), "", ""][:3]
        try:
            version = Version.parse(tag[1:])
        except ValueError:
            continue  # v-something that is not a version: not a release tag
        if prereleases or not version.prerelease:
            found.append(Tagged(tag, version, peeled or obj))
    return max(found, key=lambda t: t.version, default=None)


def release_tags(repo: Repo) -> tuple[Tagged, ...]:
    """Every `vX.Y.Z` tag of the repository, merged into HEAD or not (other tags ignored)."""
    fmt = "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)"
    _, out = _git(repo.root, "tag", "--list", "v*", fmt, what="list the release tags")
    found: list[Tagged] = []
    for line in out.splitlines():
        tag, obj, peeled = [*line.split("\0"), "", ""][:3]
        try:
            found.append(Tagged(tag, Version.parse(tag[1:]), peeled or obj))
        except ValueError:
            continue  # v-something that is not a version: not a release tag
    return tuple(found)


def is_ancestor(repo: Repo, commit: str, tip: str = "HEAD") -> bool:
    """Whether `commit` is `tip` or one of its ancestors (False for an unknown commit)."""
    if _commit_of(repo, commit, "find a release's commit") is None:
        return False
    code, _ = _git(
        repo.root, "merge-base", "--is-ancestor", commit, tip, what="place a release", ok=(0, 1)
    )
    return code == 0


def commits_since(repo: Repo, since: str | None, tip: str = "HEAD") -> tuple[Commit, ...]:
    """The commits reachable from `tip` (HEAD) but not from `since` (a tag or a commit;
    None: all of them), newest first, as `git log` lists them; merges included (the core
    skips them)."""
    head(repo)
    if tip != "HEAD" and _commit_of(repo, tip, "find the release's commit") is None:
        raise GitError(f"{repo.root}: {tip!r} is not a commit here; expected a release's commit")
    revision = tip if since is None else f"{_release_base(repo, since, tip)}..{tip}"
    fmt = "--format=%H%x00%P%x00%aI%x00%B"
    _, out = _git(repo.root, "log", "-z", fmt, revision, "--", what="list the commits")
    parts = out.split("\0")  # four fields a commit; a message never holds a NUL
    return tuple(_commit(*parts[i : i + 4]) for i in range(0, len(parts) // 4 * 4, 4))


def _release_base(repo: Repo, since: str, tip: str = "HEAD") -> str:
    commit = _commit_of(repo, since, "find the last release")
    if commit is None:
        raise GitError(
            f"{repo.root}: the last release {since!r} is not a commit of this repository; "
            "expected a tag or a commit hash"
        )
    code, _ = _git(
        repo.root, "merge-base", "--is-ancestor", commit, tip, what="place it", ok=(0, 1)
    )
    if code != 0:
        raise GitError(
            f"{repo.root}: the last release {since!r} is not an ancestor of {tip}; "
            "expected the release this branch was built on"
        )
    return commit


def _commit(hash_: str, parents: str, date: str, message: str) -> Commit:
    when = datetime.fromisoformat(date)
    return Commit.from_message(hash_.strip(), message, tuple(parents.split()), when)


def remote_url(repo: Repo, name: str = "origin") -> str | None:
    """The URL of remote `name` (as `git remote get-url` gives it); None without one."""
    code, out = _git(repo.root, "remote", "get-url", name, what=f"read remote {name}", ok=(0, 2))
    return (out.strip() or None) if code == 0 else None


def dirty_paths(repo: Repo) -> tuple[str, ...]:
    """Paths with uncommitted changes, untracked files included (ignored ones are not)."""
    args = ("status", "--porcelain=v1", "-z", "--untracked-files=all")
    _, out = _git(repo.root, *args, what="check for uncommitted changes")
    paths: list[str] = []
    source_next = False
    for entry in out.split("\0"):
        if not source_next and len(entry) > 3:
            paths.append(entry[3:])  # "XY path"
            source_next = entry[0] in "RC"  # a rename or copy: its source path follows
        else:
            source_next = False
    return tuple(paths)


def create_tag(repo: Repo, name: str, message: str, *, at: str = "HEAD") -> str:
    """Create the annotated tag `name` on `at` with `message` (kept verbatim but for
    trailing whitespace, so Markdown `#` headings survive); returns the tagged commit."""
    code, _ = _git(
        repo.root, "check-ref-format", f"refs/tags/{name}", what="check the tag name", ok=(0, 1)
    )
    if code != 0:
        raise GitError(f"{repo.root}: {name!r} is not a valid tag name; expected one like v1.4.0")
    tagged = _commit_of(repo, f"refs/tags/{name}", "look for the tag")
    if tagged is not None:
        raise GitError(
            f"{repo.root}: tag {name} exists already (on {tagged[:SHORT]}); "
            "expected a version not released before"
        )
    commit = _commit_of(repo, at, "find the commit to tag")
    if commit is None:
        raise GitError(f"{repo.root}: {at!r} is not a commit here; expected a commit to tag")
    args = ("tag", "-a", "--cleanup=whitespace", "-m", message, name, commit)
    _git(repo.root, *args, what=f"create tag {name}")
    return commit
