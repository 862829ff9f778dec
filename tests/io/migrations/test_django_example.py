"""The Django recipe of docs/migrations.md, run for real: the `[migrations]` commands of
`examples/migrations-django`, each through `/bin/sh -c` in its release's own folder with
DATABASE_URL set (as changeover runs them), on a real PostgreSQL, release by release.
v1 ships the notes model (`body`) and an empty contract app; v2 renames `body` to
`content`: its expand is a migration of `notes`, its contract one of `notes_contract`.
Each release's own code (its view, through Django's test client) writes while the schema
changes under it; every step runs twice, and the second run must change nothing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from changeover.spec.load import load_spec
from changeover.spec.migrations import MigrationSettings
from tests.postgres import Cluster, cluster

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "migrations-django"
DOC = ROOT / "docs" / "migrations.md"
APPS = ("notes", "notes_contract")
# what the release's code runs on a request: its own view, through Django's test client
WRITE = (
    "from django.test import Client; r = Client().get('/', HTTP_HOST='localhost'); "
    "print(r.status_code, r.content.decode())"
)


@pytest.fixture(scope="module")
def database() -> Iterator[Cluster]:
    with cluster() as server:
        yield server


def release(tmp_path: Path, version: str) -> Path:
    """Release `version`'s folder, as a deploy's --path would ship it."""
    folder = tmp_path / version
    shutil.copytree(EXAMPLE / version, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def environment(database: Cluster) -> dict[str, str]:
    """The agent's environment plus the revision's: DATABASE_URL, and this Python's
    folder first on PATH, so the recipe's `python` is the one with Django."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["DATABASE_URL"] = database.url("a-secret")
    return env


def run(folder: Path, command: str, database: Cluster) -> subprocess.CompletedProcess[str]:
    """A `[migrations]` command as the agent runs it: `/bin/sh -c` in the release folder."""
    return subprocess.run(
        ["/bin/sh", "-c", command], cwd=folder, env=environment(database),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def step(folder: Path, command: str, database: Cluster) -> str:
    done = run(folder, command, database)
    assert done.returncode == 0, f"`{command}` in {folder.name}:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def status(folder: Path, spec: MigrationSettings, database: Cluster) -> str:
    """The line changeover keeps after a step: the status command's last one."""
    assert spec.status
    lines = [line for line in step(folder, spec.status, database).splitlines() if line.strip()]
    return lines[-1]


def twice(folder: Path, command: str, spec: MigrationSettings, database: Cluster) -> str:
    """Run a step, then again: the second run must succeed and change nothing.
    Returns the status line after it."""
    step(folder, command, database)
    first = (database.columns("notes"), status(folder, spec, database))
    step(folder, command, database)
    again = (database.columns("notes"), status(folder, spec, database))
    assert again == first, f"`{command}` run twice changed the schema"
    return again[1]


def write(folder: Path, database: Cluster) -> int:
    """The release's own code writes a note and reads it back; the note's id."""
    argv = [sys.executable, "manage.py", "shell", "-c", WRITE]
    done = subprocess.run(
        argv, cwd=folder, env=environment(database), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    said = done.stdout.strip().splitlines()[-1]
    found = re.fullmatch(rf"200 {folder.name} wrote note (\d+) in (body|content)", said)
    assert found, said
    return int(found[1])


def note(database: Cluster, id_: int) -> dict[str, str | None]:
    """Every text column of note `id_`, as the database holds it."""
    import psycopg

    cols = [c for c in database.columns("notes") if c != "id"]
    with psycopg.connect(database.url()) as conn:
        row = conn.execute(f"SELECT {', '.join(cols)} FROM notes WHERE id = %s", (id_,))
        return dict(zip(cols, row.fetchone() or (), strict=True))


def sql(database: Cluster, statement: str, *args: object) -> list[tuple[object, ...]]:
    import psycopg

    with psycopg.connect(database.url()) as conn:
        cur = conn.execute(statement, args)
        return cur.fetchall() if cur.description else []


def spec_of(folder: Path, database: Cluster) -> MigrationSettings:
    """The release's [migrations], its env file written as a person would (never shipped)."""
    env = folder / ".env"
    env.write_text(f"DATABASE_URL={database.url('a-secret')}\n")
    env.chmod(0o600)
    return load_spec(folder / "changeover.toml").migrations


def doc_recipe() -> dict[str, str]:
    """The `[migrations]` table of docs/migrations.md's "Recipe: Django"."""
    text = DOC.read_text()
    section = text.split("## Recipe: Django", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```toml\n(.*?)```", section, re.S)
    assert block, "no toml block in the Django recipe"
    table: dict[str, str] = tomllib.loads(block[1])["migrations"]
    return table


def test_the_doc_names_the_commands_the_example_runs(tmp_path: Path, database: Cluster) -> None:
    m = spec_of(release(tmp_path, "v2"), database)
    recipe = doc_recipe()
    assert {k: recipe[k] for k in ("expand", "contract", "rollback", "status")} == {
        "expand": m.expand, "contract": m.contract, "rollback": m.rollback, "status": m.status,
    }  # fmt: skip
    assert m.expand == "python manage.py migrate notes"
    assert m.contract == "python manage.py migrate notes_contract"


def test_a_release_never_changes_a_migration_it_shipped_before() -> None:
    shipped = sorted((EXAMPLE / "v1").glob("*/migrations/*.py"))
    assert len(shipped) == 3  # notes: __init__, 0001; notes_contract: __init__
    for path in shipped:
        later = EXAMPLE / "v2" / path.relative_to(EXAMPLE / "v1")
        assert later.read_bytes() == path.read_bytes(), f"v2 changed {later.name}"


# what release v2 changes of v1's files; the rest of the two trees is the same project
# at two commits, kept whole so that each folder deploys as it is
CHANGED_IN_V2 = {"changeover.toml", "notes/models.py", "notes/views.py"}


def test_the_two_releases_differ_only_where_v2_changes_the_code() -> None:
    v1 = {
        str(p.relative_to(EXAMPLE / "v1")): p.read_bytes()
        for p in (EXAMPLE / "v1").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert set(v1) >= CHANGED_IN_V2
    for name, text in v1.items():
        later = (EXAMPLE / "v2" / name).read_bytes()
        assert (later == text) is (name not in CHANGED_IN_V2), name


def test_each_release_model_matches_its_migrations(tmp_path: Path, database: Cluster) -> None:
    """v2's model has no `body`: its expand takes `body` out of Django's state too, or
    Django would plan a RemoveField (and `migrate` warn on every run)."""
    for version in ("v1", "v2"):
        step(release(tmp_path, version), "python manage.py makemigrations --check --dry-run",
             database)  # fmt: skip


def test_expand_contract_and_rollback_release_by_release(tmp_path: Path, database: Cluster) -> None:
    v1, v2 = release(tmp_path, "v1"), release(tmp_path, "v2")
    first, spec = spec_of(v1, database), spec_of(v2, database)
    assert first.expand == spec.expand
    assert first.contract == spec.contract
    assert first.rollback is None
    assert spec.expand
    assert spec.contract
    assert spec.rollback
    # v1: `up` expands (the table), then contracts (the contract app has no migration yet)
    assert twice(v1, spec.expand, first, database) == "notes 0001_initial, notes_contract zero"
    assert twice(v1, spec.contract, first, database) == "notes 0001_initial, notes_contract zero"
    assert database.columns("notes") == ["id", "body"]
    old = write(v1, database)
    # v2 is expanded: `content` added and backfilled, and v1's code still works on it
    said = twice(v2, spec.expand, spec, database)
    assert said == "notes 0002_add_content, notes_contract zero"
    assert database.columns("notes") == ["id", "body", "content"]
    assert note(database, old) == {"body": "a note from v1", "content": "a note from v1"}
    assert status(v1, first, database) == (
        "notes 0001_initial (and 0002_add_content, not in this release), notes_contract zero"
    )
    # while both run, each one's writes reach the other's column (the trigger), both ways
    by_v1, by_v2 = write(v1, database), write(v2, database)
    assert note(database, by_v1) == {"body": "a note from v1", "content": "a note from v1"}
    assert note(database, by_v2) == {"body": "a note from v2", "content": "a note from v2"}
    sql(database, "UPDATE notes SET body = 'edited by v1' WHERE id = %s", by_v1)
    sql(database, "UPDATE notes SET content = 'edited by v2' WHERE id = %s", by_v2)
    assert note(database, by_v1) == {"body": "edited by v1", "content": "edited by v1"}
    assert note(database, by_v2) == {"body": "edited by v2", "content": "edited by v2"}
    # v2 rolled back, then its rollback: the expand undone, v1's schema again, v1 works
    said = twice(v2, spec.rollback, spec, database)
    assert said == "notes 0001_initial, notes_contract zero"
    assert database.columns("notes") == ["id", "body"]
    assert sql(database, "SELECT proname FROM pg_proc WHERE proname = 'notes_sync'") == []
    assert note(database, by_v2) == {"body": "edited by v2"}  # v2's writes kept for v1
    after = write(v1, database)
    # v2 again: expanded (the backfill fills `content` of the rows v1 wrote meanwhile) ...
    twice(v2, spec.expand, spec, database)
    assert note(database, after) == {"body": "a note from v1", "content": "a note from v1"}
    # ... rolled out, and contracted: `body` and the trigger are gone, v2 works
    said = twice(v2, spec.contract, spec, database)
    assert said == "notes 0002_add_content, notes_contract 0001_drop_body"
    assert database.columns("notes") == ["id", "content"]
    assert sql(database, "SELECT proname FROM pg_proc WHERE proname = 'notes_sync'") == []
    assert note(database, write(v2, database)) == {"content": "a note from v2"}
    assert sql(database, "SELECT count(*) FROM notes WHERE content IS NULL") == [(0,)]
    # past the contract v2's rollback fails and changes nothing (changeover refuses it
    # anyway: the contracted revision is the stable one)
    refused = run(v2, spec.rollback, database)
    assert refused.returncode == 1
    assert "notes_contract.0001_drop_body is not reversible" in refused.stderr
    assert database.columns("notes") == ["id", "content"]
    assert status(v2, spec, database) == said
    # an expand after the contract is harmless too: Django skips what is applied
    step(v2, spec.expand, database)
    assert database.columns("notes") == ["id", "content"]
