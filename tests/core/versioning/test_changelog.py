"""CHANGELOG.md: the new section on top, below the title; the file created when absent."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from changeover.versioning.changelog import ChangelogError, prepend_changelog, with_section

SECTION = "## 1.4.0 (2026-01-12)\n\n### Features\n- search (abc1234)\n"
OLD = "## 1.3.0 (2026-01-01)\n\n### Fixes\n- x (def5678)\n"


def test_created_when_absent(tmp_path: Path) -> None:
    path = tmp_path / "CHANGELOG.md"
    prepend_changelog(path, SECTION)
    assert path.read_text() == f"# Changelog\n\n{SECTION}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_below_the_title_and_its_introduction(tmp_path: Path) -> None:
    path = tmp_path / "CHANGELOG.md"
    path.write_text(f"# Changelog\n\nAll notable changes.\n\n{OLD}")
    path.chmod(0o664)
    prepend_changelog(path, SECTION)
    assert path.read_text() == f"# Changelog\n\nAll notable changes.\n\n{SECTION}\n{OLD}"
    assert stat.S_IMODE(path.stat().st_mode) == 0o664  # the file's own mode kept
    assert [p.name for p in tmp_path.iterdir()] == ["CHANGELOG.md"]  # no temporary left


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        (None, f"# Changelog\n\n{SECTION}"),
        ("", f"# Changelog\n\n{SECTION}"),
        (OLD, f"{SECTION}\n{OLD}"),  # no title: at the very top
        ("# Changelog\n", f"# Changelog\n\n{SECTION}"),
        (f"# Changelog\n\n\n{OLD}\n\n", f"# Changelog\n\n{SECTION}\n{OLD}"),
        (f"\n# Releases\n{OLD}", f"# Releases\n\n{SECTION}\n{OLD}"),
        ("# Changelog\n\nIntro only.\n", f"# Changelog\n\nIntro only.\n\n{SECTION}"),
    ],
)
def test_where_the_section_goes(existing: str | None, expected: str) -> None:
    assert with_section(existing, SECTION) == expected


def test_a_version_already_there_is_refused_and_nothing_written(tmp_path: Path) -> None:
    path = tmp_path / "CHANGELOG.md"
    before = f"# Changelog\n\n## 1.4.0 (2026-01-10)\n\n- earlier\n\n{OLD}"
    path.write_text(before)
    with pytest.raises(ChangelogError, match=r"CHANGELOG.md: already has a section '## 1.4.0'"):
        prepend_changelog(path, SECTION)
    assert path.read_text() == before
