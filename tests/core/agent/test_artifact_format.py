"""Release artifacts are reproducible: the same tree gives the same bytes, whatever the
files' times, owners or listing order; versions are checked before anything is named."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest

from changeover.agent.artifact_format import Entry, entry_for, pack, sha256_of, version_problem


def tree(root: Path, app: str = "print('hi')\n") -> list[Entry]:
    (root / "pkg").mkdir(parents=True)
    (root / "app.py").write_text(app)
    (root / "pkg" / "run.sh").write_text("#!/bin/sh\nexec python app.py\n")
    os.chmod(root / "pkg" / "run.sh", 0o750)
    (root / "current").symlink_to("pkg/run.sh")
    names = ["pkg/run.sh", "current", "app.py"]
    return [e for e in (entry_for(root, n) for n in names) if e is not None]


def packed(root: Path, entries: list[Entry], mtime: int = 0) -> bytes:
    out = io.BytesIO()
    pack(root, entries, mtime, out)
    return out.getvalue()


def test_the_same_tree_gives_the_same_bytes_whatever_its_times_and_order(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    entries = tree(first)
    tree(second)
    os.utime(second / "app.py", (1_000_000, 1_000_000))  # another checkout, other times
    os.chmod(second / "app.py", 0o664)  # another umask: only the executable bit counts
    again = list(reversed(tree_entries(second)))
    assert packed(first, entries, 1_763_700_000) == packed(second, again, 1_763_700_000)


def tree_entries(root: Path) -> list[Entry]:
    names = ["app.py", "current", "pkg/run.sh"]
    return [e for e in (entry_for(root, n) for n in names) if e is not None]


def test_other_contents_or_another_mtime_give_other_bytes(tmp_path: Path) -> None:
    base = packed(tmp_path / "a", tree(tmp_path / "a"))
    changed = packed(tmp_path / "b", tree(tmp_path / "b", app="print('bye')\n"))
    assert changed != base
    assert packed(tmp_path / "a", tree_entries(tmp_path / "a"), mtime=5) != base


def test_members_are_sorted_owned_by_root_with_the_given_mtime_and_kept_modes(
    tmp_path: Path,
) -> None:
    data = packed(tmp_path, tree(tmp_path), mtime=1_763_700_000)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == ["app.py", "current", "pkg/run.sh"]
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {
        (0, 0, "", "", 1_763_700_000)
    }
    modes = {m.name: (m.type, m.mode) for m in members}
    assert modes["app.py"] == (tarfile.REGTYPE, 0o644)
    assert modes["pkg/run.sh"] == (tarfile.REGTYPE, 0o755)  # the executable bit, nothing else
    assert modes["current"] == (tarfile.SYMTYPE, 0o777)
    assert members[1].linkname == "pkg/run.sh"


def test_the_gzip_header_has_no_name_and_no_time(tmp_path: Path) -> None:
    data = packed(tmp_path, tree(tmp_path))
    assert data[:2] == b"\x1f\x8b"
    assert data[4:8] == b"\0\0\0\0"  # MTIME
    assert data[3] & 0x08 == 0  # FNAME not set
    assert gzip.decompress(data)  # and it is a gzip stream


def test_sha256_of_a_file(tmp_path: Path) -> None:
    path = tmp_path / "x"
    path.write_bytes(b"abc")
    assert sha256_of(path) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_entry_for_skips_what_is_neither_file_nor_link(tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "pipe")
    assert entry_for(tmp_path, "folder") is None
    assert entry_for(tmp_path, "pipe") is None


@pytest.mark.parametrize(
    "version", ["1", "1.4.0", "1.4.0-rc.1+build.7", "v2", "2026.05.09_1", "A" * 128]
)
def test_versions_that_name_a_release(version: str) -> None:
    assert version_problem(version) is None


@pytest.mark.parametrize(
    "version", ["", ".", "..", ".hidden", "-rf", "a/b", "a b", "1.0\n", "é", "A" * 129, "v1:2"]
)
def test_versions_refused_say_what_is_expected(version: str) -> None:
    problem = version_problem(version)
    assert problem is not None
    assert repr(version) in problem
    assert "1-128 letters, digits" in problem
