"""The Alembic recipe of docs/migrations.md, run for real: the commands `[migrations]` of
`examples/migrations` names, on a real PostgreSQL, release by release as changeover runs
them (each from its own release folder). v1 ships the notes table and an empty contract
branch; v2 the expand and contract halves of renaming `body` to `content`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from changeover.spec.load import load_spec
from changeover.spec.migrations import MigrationSettings
from tests.postgres import Cluster, cluster

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "migrations"
V1_ONLY = ("e001_notes.py", "c000_contract.py")


@pytest.fixture(scope="module")
def database() -> Iterator[Cluster]:
    with cluster() as server:
        yield server


def release(tmp_path: Path, version: str) -> Path:
    """The example's folder as release `version` ships it (v1: its first migrations)."""
    folder = tmp_path / version
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    if version == "v1":
        for path in (folder / "migrations" / "versions").glob("*.py"):
            if path.name not in V1_ONLY:
                path.unlink()
    return folder


def step(folder: Path, command: str, database: Cluster) -> str:
    """Run a `[migrations]` command as the agent would (`alembic` as this Python's)."""
    argv = [sys.executable, "-m", *command.split()]
    env = {**os.environ, "DATABASE_URL": database.url("a-secret")}
    done = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


def applied(current: str) -> set[str]:
    """The revisions `alembic current` names: one line per branch head applied."""
    return {line.split()[0] for line in current.splitlines() if line.strip()}


def columns(database: Cluster) -> list[str]:
    return database.columns("notes")


def insert(database: Cluster, column: str, text: str) -> tuple[str | None, ...]:
    """Write as a release whose code uses `column`; read back every text column."""
    import psycopg

    with psycopg.connect(database.url()) as conn:
        cols = [c for c in columns(database) if c != "id"]
        conn.execute(f"INSERT INTO notes ({column}) VALUES (%s)", (text,))
        row = conn.execute(f"SELECT {', '.join(cols)} FROM notes ORDER BY id DESC LIMIT 1")
        return tuple(row.fetchone() or ())


def spec_of(folder: Path, database: Cluster) -> MigrationSettings:
    """The release's [migrations], its env file written as a person would (never shipped)."""
    env = folder / ".env"
    env.write_text(f"DATABASE_URL={database.url('a-secret')}\n")
    env.chmod(0o600)
    return load_spec(folder / "changeover.toml").migrations


def test_the_example_spec_names_the_alembic_commands(tmp_path: Path, database: Cluster) -> None:
    m = spec_of(release(tmp_path, "v2"), database)
    assert (m.expand, m.contract, m.rollback, m.status, m.contract_when) == (
        "alembic upgrade expand@head", "alembic upgrade contract@head",
        "alembic downgrade expand@-1", "alembic current", "stable",
    )  # fmt: skip


def test_expand_contract_and_rollback_release_by_release(tmp_path: Path, database: Cluster) -> None:
    v1, v2 = release(tmp_path, "v1"), release(tmp_path, "v2")
    spec = spec_of(v2, database)
    assert spec.expand
    assert spec.contract
    assert spec.rollback
    assert spec.status
    # v1: `up` expands, then contracts (nothing yet on that branch)
    step(v1, spec.expand, database)
    step(v1, spec.contract, database)
    assert columns(database) == ["id", "body"]
    assert applied(step(v1, spec.status, database)) == {"e001", "c000"}
    insert(database, "body", "from v1")
    # v2 is expanded; v1's code still works and its writes reach `content` too
    step(v2, spec.expand, database)
    assert columns(database) == ["id", "body", "content"]
    assert insert(database, "body", "v1 again") == ("v1 again", "v1 again")
    assert insert(database, "content", "v2 writes") == ("v2 writes", "v2 writes")
    # v2 rolled back and `migrate rollback`: the expand undone, v1's schema again
    step(v2, spec.rollback, database)
    assert columns(database) == ["id", "body"]
    assert applied(step(v2, spec.status, database)) == {"e001", "c000"}
    # v2 again: expanded (the backfill fills `content` for every row), then contracted
    step(v2, spec.expand, database)
    step(v2, spec.contract, database)
    assert columns(database) == ["id", "content"]
    assert insert(database, "content", "v2 only") == ("v2 only",)
    current = step(v2, spec.status, database)
    assert applied(current) == {"e002", "c001"}
    assert "c001 (head)" in current
    # running a step again is harmless: Alembic skips what is applied
    step(v2, spec.expand, database)
    step(v2, spec.contract, database)
    assert columns(database) == ["id", "content"]
