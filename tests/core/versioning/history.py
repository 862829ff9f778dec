"""Commits for the versioning tests: a hash derived from the message, so a revert can
name the commit it reverts before the test builds the range."""

from __future__ import annotations

import hashlib

from changeover.versioning.commits import Commit


def sha(message: str) -> str:
    return hashlib.sha1(message.encode()).hexdigest()


def commit(message: str, *, merge: bool = False) -> Commit:
    """A commit with `message` (subject, blank line, body); a merge has two parents."""
    parents = (sha(f"{message}/1"), sha(f"{message}/2")) if merge else (sha(f"{message}/1"),)
    return Commit.from_message(sha(message), message, parents)


def git_revert(message: str) -> str:
    """The message `git revert` writes for the commit with `message`."""
    subject = message.split("\n", 1)[0]
    return f'Revert "{subject}"\n\nThis reverts commit {sha(message)}.'


def history(*messages: str) -> list[Commit]:
    """Commits newest first, as `git log` lists them; `merge:` marks a merge commit."""
    return [commit(m.removeprefix("merge:"), merge=m.startswith("merge:")) for m in messages]
