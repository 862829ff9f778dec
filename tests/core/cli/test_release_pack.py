"""What `release create` packs (git's tracked files, or a walk without state, caches and
virtualenvs; never the spec's secret files), where it keeps releases, and what `release
list` and `show` print from the documents."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from changeover.cli import release_store
from changeover.cli.release_create import choose
from changeover.cli.release_pack import Listing, excluded, secret_files, walk
from changeover.cli.release_view import list_table, show_view
from changeover.spec.load import load_spec_text

GIT = Listing("git", [])
FOLDER = Listing("folder", [], venvs=frozenset({"env"}))


@pytest.mark.parametrize(
    ("name", "listing", "why"),
    [
        ("app.py", GIT, None),
        ("pkg/__pycache__/m.pyc", GIT, None),  # git tracks it: it ships
        ("pkg/__pycache__/m.pyc", FOLDER, "cache folder"),
        (".changeover/releases/1.0.tar.gz", GIT, "state or git folder"),
        ("sub/.git", GIT, "state or git folder"),
        (".git/config", FOLDER, "state or git folder"),
        ("env/bin/python", FOLDER, "virtualenv"),
        ("env", FOLDER, None),  # a file named like the folder is no virtualenv
        ("environment.py", FOLDER, None),
        (".env", GIT, "an env or token file of the spec (secrets come from each target host)"),
    ],
)
def test_what_stays_out(name: str, listing: Listing, why: str | None) -> None:
    assert excluded(name, listing, secrets={".env"}) == why


def test_secret_files_are_the_env_and_token_files_inside_the_folder(tmp_path: Path) -> None:
    spec = load_spec_text(
        '[app]\nname = "a"\ncommand = "x"\nenv_file = "conf/../.env"\n'
        '[flags]\nlisten = "127.0.0.1:0"\ntoken_file = "flags.token"\n',
        "spec",
    )
    outside = load_spec_text('[app]\nname = "a"\ncommand = "x"\nenv_file = "../.env"\n', "s")
    assert secret_files([spec, outside], tmp_path) == {".env", "flags.token"}


def test_a_walk_skips_state_git_caches_and_virtualenvs_and_keeps_links(tmp_path: Path) -> None:
    for name in ["app.py", "pkg/m.py", "pkg/__pycache__/m.pyc", ".git/HEAD",
                 ".changeover/dev/state.db", "venv/pyvenv.cfg", "venv/lib/x.py"]:  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "latest").symlink_to("pkg")  # a link to a folder: packed as a link
    listing = walk(tmp_path)
    assert listing.kind == "folder"
    assert listing.names == ["app.py", "latest", "pkg/m.py"]
    assert listing.venvs == {"venv"}
    assert not listing.dirty


def test_choose_reports_secrets_missing_and_special_files(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x")
    (tmp_path / ".env").write_text("SECRET=1")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "sub").mkdir()  # a submodule: git lists it as one path
    names = ["app.py", ".env", "gone.py", "fifo", "sub", ".changeover/x"]
    entries, skipped = choose(tmp_path, Listing("git", names), {".env"})
    assert [e.name for e in entries] == ["app.py"]
    assert [name for name, _ in skipped] == [".env", "gone.py", "fifo", "sub"]  # not .changeover
    assert "missing" in dict(skipped)["gone.py"]


def test_a_release_is_kept_once_and_never_overwritten(tmp_path: Path) -> None:
    folder = tmp_path / "releases"
    folder.mkdir()
    for n, version in enumerate(["1.0.0", "1.1.0"]):
        built = folder / f".{version}.tmp"
        built.write_bytes(b"artifact")
        release_store.keep(folder, version, built, {"version": version, "created_at": n})
        assert not built.exists()
    again = folder / ".again.tmp"
    again.write_bytes(b"other")
    with pytest.raises(release_store.ReleaseExists):
        release_store.keep(folder, "1.0.0", again, {"version": "1.0.0", "created_at": 9})
    assert not again.exists()
    assert release_store.artifact_path(folder, "1.0.0").read_bytes() == b"artifact"
    assert [m["version"] for m in release_store.every(folder)] == ["1.1.0", "1.0.0"]


def test_metadata_without_its_artifact_is_no_release(tmp_path: Path) -> None:
    (tmp_path / "2.0.json").write_text(json.dumps({"version": "2.0"}))
    assert release_store.read(tmp_path, "2.0") is None
    assert release_store.read(tmp_path, "../2.0") is None  # not a version: never a path
    assert release_store.every(tmp_path) == []


def test_a_pruned_release_keeps_its_record_and_is_never_read_as_held(tmp_path: Path) -> None:
    built = tmp_path / ".built"
    built.write_bytes(b"artifact")
    release_store.keep(tmp_path, "1.0.0", built, {"version": "1.0.0", "created_at": 1})
    release_store.prune(tmp_path, "1.0.0", at=5.0)
    assert not release_store.artifact_path(tmp_path, "1.0.0").exists()
    assert release_store.read(tmp_path, "1.0.0") is None
    pruned = {"version": "1.0.0", "created_at": 1, "pruned_at": 5.0}
    assert release_store.record(tmp_path, "1.0.0") == pruned
    assert release_store.every(tmp_path) == [pruned]
    again = tmp_path / ".again"
    again.write_bytes(b"other")
    with pytest.raises(release_store.ReleaseExists):  # its version stays taken
        release_store.keep(tmp_path, "1.0.0", again, {"version": "1.0.0", "created_at": 2})
    assert not release_store.artifact_path(tmp_path, "1.0.0").exists()


META: dict[str, Any] = {
    "version": "1.0.0",
    "sha256": "ab" * 32,
    "size": 3000,
    "files": 3,
    "created_at": 1_763_700_000.0,
    "created_by": "alice",
    "source": "git",
    "commit": "4e570f5" + "0" * 33,
    "dirty": False,
    "hotfix": True,
    "artifact": "/srv/hello/.changeover/releases/1.0.0.tar.gz",
}


def rendered(renderable: Any) -> str:
    console = Console(width=200, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_list_shows_each_release_with_its_origin() -> None:
    text = rendered(list_table([META, {**META, "version": "0.9", "source": "folder"}]))
    assert "1.0.0 HOTFIX" in text
    assert "git commit 4e570f500000 (clean)" in text
    assert "a folder (no git)" in text
    assert "2.9 KiB" in text
    assert "no releases yet" in rendered(list_table([]))


def test_show_names_every_environment_and_one_it_could_not_ask() -> None:
    promotion = {
        "kind": "promote", "from_environment": "dev", "hotfix": True, "requested_by": "bob",
        "requested_at": 1_763_700_100.0, "outcome": "succeeded", "revision": 4, "current": True,
    }  # fmt: skip
    held = {"sha256": META["sha256"]}
    envs = [
        {"name": "dev", "reachable": True, "held": held, "same_digest": True,
         "promotions": [promotion]},
        {"name": "staging", "reachable": True, "held": None, "same_digest": None,
         "promotions": []},
        {"name": "prod", "reachable": False, "error": "no agent is running for /srv/x"},
    ]  # fmt: skip
    text = rendered(show_view({"release": META, "environments": envs}))
    assert "release 1.0.0  HOTFIX" in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    assert "promoted from dev (hotfix) by bob" in lines["dev"]
    assert "succeeded (revision 4, current)" in lines["dev"]
    assert "never promoted" in lines["staging"]
    assert "unreachable" in lines["prod"]
    assert "no agent is running for /srv/x" in lines["prod"]
