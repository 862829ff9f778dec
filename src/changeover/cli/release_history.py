"""What `release create | next | notes | train` know of the service's history: its git
repository (if any), its release tags, the release records kept beside the spec.

Invariant: only reads (git through `changeover.versioning.git`); a git failure exits 2
with git's words and what is expected. A folder outside git has no history: versions
there are given, never computed (`versioning.bump` says so).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from semver import Version

from changeover.cli import release_store
from changeover.cli.common import BAD_INPUT, fail
from changeover.versioning import git
from changeover.versioning.commits import Commit
from changeover.versioning.known import Known, merge
from changeover.versioning.remote import web_url

T = TypeVar("T")


@dataclass(frozen=True)
class History:
    spec_file: Path
    repo: git.Repo | None  # None: the service folder is not in a git work tree
    records: tuple[dict[str, Any], ...]  # release_store.every: newest first
    known: tuple[Known, ...]  # tags and records, highest version first

    def reachable(self, tip: str = "HEAD") -> Callable[[str], bool] | None:
        """Whether a commit is `tip` or an ancestor; None without a repository."""
        repo = self.repo
        if repo is None:
            return None
        return lambda commit: guarded(lambda: git.is_ancestor(repo, commit, tip))

    def commits(self, since: Known | None, tip: str = "HEAD") -> tuple[Commit, ...] | None:
        """The commits of `tip` since release `since` (None: all); None without a repository."""
        repo = self.repo
        if repo is None:
            return None
        ref = None if since is None else since.ref
        return guarded(lambda: git.commits_since(repo, ref, tip))

    def record(self, version: str) -> dict[str, Any] | None:
        return next((m for m in self.records if m.get("version") == version), None)

    def tag_commit(self, version: str) -> str | None:
        found = next((k for k in self.known if str(k.version) == version), None)
        return found.commit if found is not None and found.source == "tag" else None

    def web(self) -> str | None:
        """The repository's web address, to link commits; None when unknown."""
        repo = self.repo
        if repo is None:
            return None
        url = guarded(lambda: git.remote_url(repo))
        return None if url is None else web_url(url)


def history(spec_file: Path) -> History:
    records = tuple(release_store.every(release_store.releases_dir(spec_file)))
    try:
        repo: git.Repo | None = git.open_repo(spec_file.parent)
    except git.GitError:
        repo = None
    tags: list[tuple[Version, str]] = []
    if repo is not None:
        tags = [(t.version, t.commit) for t in guarded(lambda: git.release_tags(repo))]
    semver_records = []
    for meta in records:
        version = semver(str(meta.get("version")))
        if version is not None:
            semver_records.append((version, meta.get("commit")))
    return History(spec_file, repo, records, merge(tags, semver_records))


def semver(text: str) -> Version | None:
    try:
        return Version.parse(text)
    except ValueError:
        return None


def created(meta: dict[str, Any] | None) -> datetime:
    """When a release was created (now, for one without a record), in UTC."""
    at = None if meta is None else meta.get("created_at")
    return datetime.fromtimestamp(float(at), UTC) if at else datetime.now(UTC)


def guarded(call: Callable[[], T]) -> T:
    try:
        return call()
    except git.GitError as exc:
        git_failed(exc)


def git_failed(exc: git.GitError) -> NoReturn:
    fail(BAD_INPUT, str(exc))
