"""CHANGELOG.md: a release's section goes on top, below the file's `# Title` if any.

Invariant: the file gains exactly the new section and loses nothing (trailing blank lines
aside); a section whose version heading is already there is refused before anything is
written; the file is replaced in one rename, so a reader sees the old file or the new
one, never half of it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

TITLE = "# Changelog"


class ChangelogError(ValueError):
    """The section cannot go in: the message names the file and the heading."""


def with_section(existing: str | None, section: str) -> str:
    """The changelog text after prepending `section` (pure: `prepend_changelog` writes it).

    Below a leading `# Title` (and the paragraphs under it, up to the first `## `
    section); at the very top of a file without a title."""
    section = section.strip("\n") + "\n"
    if existing is None or not existing.strip():
        return f"{TITLE}\n\n{section}"
    lines = existing.strip("\n").split("\n")
    if not lines[0].startswith("# "):
        return f"{section}\n{existing.lstrip(chr(10))}"
    at = next((i for i, line in enumerate(lines) if line.startswith("## ")), len(lines))
    head = "\n".join(lines[:at]).rstrip("\n")
    rest = "\n".join(lines[at:])
    return f"{head}\n\n{section}\n{rest}\n" if rest else f"{head}\n\n{section}"


def version_heading(section: str) -> str:
    """`## 1.4.0` from a section starting `## 1.4.0 (2026-01-12)`: what must not repeat."""
    first = section.strip("\n").split("\n", 1)[0]
    return first.split(" (", 1)[0].rstrip()


def has_section(existing: str | None, section: str) -> bool:
    """Whether the changelog text `existing` has a heading for `section`'s version."""
    heading = version_heading(section)
    return existing is not None and any(
        version_heading(line) == heading for line in existing.split("\n") if line.startswith("#")
    )


def check_changelog(path: Path, section: str) -> None:
    """ChangelogError unless `section` can go into the changelog in `path` (read only)."""
    try:
        existing = path.read_text(encoding="utf-8") if path.exists() else None
    except (OSError, UnicodeDecodeError) as exc:
        raise ChangelogError(
            f"{path}: cannot read it ({exc}); expected a UTF-8 text file"
        ) from None
    if not path.parent.is_dir():
        raise ChangelogError(f"{path}: no folder {path.parent}; expected a file in a folder")
    if has_section(existing, section):
        heading = version_heading(section)
        raise ChangelogError(f"{path}: already has a section {heading!r}; expected a new version")


def prepend_changelog(path: Path, section: str) -> None:
    """Insert `section` at the top of the changelog in `path`, creating it when absent."""
    check_changelog(path, section)
    existing = path.read_text(encoding="utf-8") if path.exists() else None
    _replace(path, with_section(existing, section))


def _replace(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        # mkstemp makes 0600: keep the file's mode, or a changelog's usual 0644
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
