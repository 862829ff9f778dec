"""A commit as the release logic sees it: what `git log` says about one commit.

Invariant: a `Commit` is a frozen value built from git's output (or by a test); nothing
here runs git. `subject` is the first line of the message and `body` the rest, with the
blank line between them removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

SHORT = 7  # hex digits of an abbreviated hash, as git shows it by default


@dataclass(frozen=True)
class Commit:
    hash: str
    subject: str
    body: str = ""
    parents: tuple[str, ...] = ()
    author_date: datetime | None = None

    @property
    def short(self) -> str:
        return self.hash[:SHORT]

    @property
    def message(self) -> str:
        return f"{self.subject}\n\n{self.body}" if self.body else self.subject

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1

    @classmethod
    def from_message(
        cls,
        hash: str,
        message: str,
        parents: tuple[str, ...] = (),
        author_date: datetime | None = None,
    ) -> Commit:
        """Split a raw commit message (`git log --format=%B`) into subject and body."""
        subject, _, rest = message.strip("\n").partition("\n")
        return cls(hash, subject.strip(), rest.strip("\n").rstrip(), parents, author_date)
