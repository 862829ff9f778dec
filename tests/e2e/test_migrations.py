"""Database migrations with deploys, end to end, on a real PostgreSQL under continuous
load: the notes app writes and reads a row on every request while its text column is
renamed `body` -> `content` by expand/contract (the app of `examples/migrations`, with
its Alembic migrations as plain SQL scripts). One agent goes through the whole story, in
order: `up` expands before revision 1; a broken release is expanded, then rolled back
automatically and the old code keeps working on the expanded schema, until the agent
undoes that expand by itself; the fixed release is expanded, rolled out, guarded, then
contracted; `undo` past the contract is refused (exit 1, nothing changed); an expand
that fails leaves the stable revision serving, fails the deploy (exit 1) naming the
step, and is reported until `migrate rollback` undoes what it left. Through all of it
the load generator (no retries) counts zero failed requests, and the database URL (a
secret) is in no output, event, log or state file.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from changeover.loadgen import BackgroundLoad, Template
from tests.e2e.harness import Service
from tests.helpers import wait_for
from tests.postgres import Cluster, cluster

APP = Path(__file__).parent / "pgapp"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "migrations"
PASSWORD = "pw-7c1e9a52d4"  # a stand-in secret: trust authentication ignores it
PY = sys.executable
SPEC = f"""
[app]
name = "notes"
command = "{PY} -m uvicorn app:app --fd 3 --no-access-log"
replicas = 2
env = {{ NOTES_COLUMN = "body", SCHEMA = "1" }}
env_file = ".env"
secret_env = ["DATABASE_URL"]

[proxy]
listen = "127.0.0.1:0"

[probes.startup]
path = "/healthz"
period = "50ms"
failure_threshold = 200

[probes.readiness]
path = "/readyz"
period = "200ms"
failure_threshold = 2

[termination]
drain_timeout = "20s"
grace_period = "10s"

[strategy]
max_surge = 1
max_unavailable = 0
min_ready = "200ms"
progress_deadline = "30s"

[guard]
window = "2s"

[migrations]
expand = "{PY} migrate.py expand"
contract = "{PY} migrate.py contract"
rollback = "{PY} migrate.py rollback"
status = "{PY} migrate.py status"
timeout = "60s"
"""


@pytest.fixture
def database() -> Iterator[Cluster]:
    with cluster() as server:
        yield server


def notes_service(service: Service, database: Cluster) -> str:
    shutil.copy(EXAMPLE / "app.py", service.dir / "app.py")  # the example's notes app
    shutil.copy(APP / "migrate.py", service.dir / "migrate.py")  # its migrations, plain SQL
    (service.dir / ".env").write_text(f"DATABASE_URL={database.url(PASSWORD)}\n")
    (service.dir / ".env").chmod(0o600)
    service.spec.write_text(SPEC)
    return database.url(PASSWORD)


def migrations(service: Service) -> dict[str, Any]:
    result = service.cli("migrate", "status", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


def schema_of(service: Service, revision: int) -> dict[str, Any]:
    found = [r for r in migrations(service)["revisions"] if r["revision"] == revision]
    assert found, migrations(service)
    return found[0]


def columns(database: Cluster) -> list[str]:
    return database.columns("notes")


def deploy(service: Service, version: str, *env: str) -> tuple[int, str]:
    args = [a for pair in env for a in ("--env", pair)]
    result = service.cli("deploy", "--version", version, *args, timeout=180)
    return result.returncode, result.stdout + result.stderr


def test_expand_rollback_contract_refusal_and_a_failing_expand_under_load(
    service: Service, database: Cluster
) -> None:
    secret = notes_service(service, database)
    url = service.up()
    # `up` expanded before revision 1 started: the table was there for its first request
    assert schema_of(service, 1)["state"] in ("expanded", "contracting", "contracted")
    assert columns(database) == ["id", "body"]
    load = BackgroundLoad(
        url, rate=100, connections=8, templates=(Template(path="/", expect=b"wrote note"),),
        timeout=30, count_header="X-Version",
    )  # fmt: skip
    outputs = []
    with load as gen:
        # 1. a broken release: expanded, its replicas crash at boot, rolled back; the old
        # code keeps writing `body` on the expanded schema (the trigger fills `content`)
        code, output = deploy(service, "v2-broken", "NOTES_COLUMN=content", "SCHEMA=2", "FAULTY=1")
        outputs.append(output)
        assert code == 1, output
        assert "expand of revision 2 (v2-broken) succeeded" in output
        assert output.index("expand of revision 2") < output.index("rolling back")
        assert service.status()["stable_revision"] == 1
        # ... and once revision 1 serves alone again, the agent undoes the expand it left
        # behind (`rollback` is configured); the old code never noticed either change
        wait_for(
            lambda: schema_of(service, 2)["state"] == "rolled-back",
            60, "revision 2's expand rolled back", detail=lambda: json.dumps(migrations(service)),
        )  # fmt: skip
        assert columns(database) == ["id", "body"]
        assert migrations(service)["rollback_candidate"] is None
        # 2. the fixed release: expanded again, rolled out, guarded, then contracted
        code, output = deploy(service, "v2", "NOTES_COLUMN=content", "SCHEMA=2")
        outputs.append(output)
        assert code == 0, output
        # the agent marks the contract done, then runs `status` to note the schema: wait
        # for both (the state alone can be seen with the expanded schema still noted)
        fixed = wait_for(
            lambda: (s := schema_of(service, 3))["state"] == "contracted"
            and s["schema"] == "notes(id, content)" and s,
            60, "the contract of revision 3", detail=lambda: json.dumps(migrations(service)),
        )  # fmt: skip
        assert columns(database) == ["id", "content"]
        assert fixed["schema"] == "notes(id, content)"
        assert fixed["contracted_at"] > fixed["expanded_at"]
        # the contract ran only after the guard window passed (the rollout succeeded)
        history = json.loads(service.cli("history", "--json").stdout)
        rollout = next(r for r in history["rollouts"] if r["to_revision"] == 3)
        assert rollout["phase"] == "succeeded"
        assert fixed["contracted_at"] >= rollout["finished_at"]
        assert next(r for r in history["revisions"] if r["revision"] == 3)["schema"]["state"] == (
            "contracted"
        )
        table = service.cli("history").stdout
        assert any("contracted" in line and "v2 " in line for line in table.splitlines()), table
        live = next(r for r in service.status()["revisions"] if r["revision"] == 3)
        assert live["schema"]["state"] == "contracted"  # status shows it too
        shown = service.cli("status").stdout
        assert any("contracted" in line and "v2 " in line for line in shown.splitlines()), shown
        # 3. undo past the contract: refused, nothing changed
        refused = service.cli("undo")
        outputs.append(refused.stdout + refused.stderr)
        assert refused.returncode == 1, refused.stdout + refused.stderr
        said = " ".join(refused.stderr.split())
        assert "undo to revision 1 refused" in said
        assert "older than revision 3, whose contract ran at" in said
        assert "Deploy a fix forward" in said
        assert service.status()["stable_revision"] == 3
        # 4. an expand that fails: the deploy fails naming the step, revision 3 serves on
        code, output = deploy(service, "v3", "NOTES_COLUMN=content", "SCHEMA=bad")
        outputs.append(output)
        assert code == 1, output
        assert "expand of revision 4 (v3) failed: exit 1" in output
        assert "no replica of revision 4 started" in output
        assert "ERROR: backfill of tags failed" in output  # the tail of its output
        assert "connecting to *** for the backfill" in output  # the secret, redacted
        status = service.status()
        assert status["stable_revision"] == 3
        assert {r["revision"] for r in status["replicas"] if r["state"] != "exited"} == {3}
        # what it left half-applied is reported, and `migrate rollback` undoes it
        failed = schema_of(service, 4)
        assert failed["state"] == "expand-failed"
        assert "exit 1" in failed["detail"]
        assert columns(database) == ["id", "content", "tags"]
        text = service.cli("migrate", "status")
        outputs.append(text.stdout)
        assert "revision 4 is expanded but not serving" in text.stdout, text.stdout
        rolled = service.cli("migrate", "rollback", "--json")
        outputs.append(rolled.stdout + rolled.stderr)
        assert rolled.returncode == 0, rolled.stdout + rolled.stderr
        assert json.loads(rolled.stdout)["schema"]["state"] == "rolled-back"
        assert columns(database) == ["id", "content"]
    report = gen.report
    assert report is not None
    assert report.sent > 0
    assert report.failed == 0, report.summary()
    assert set(report.header_counts) == {"v1", "v2"}  # the broken release never answered
    # the secret is nowhere: not in what the CLI printed, the events, the migration log,
    # the state database
    events = service.cli("events", "--json").stdout
    log = (service.state / "migrations.log").read_text()
    assert "ERROR: backfill of tags failed" in log
    db = b"".join(p.read_bytes() for p in service.state.glob("changeover.db*"))
    for where in [*outputs, events, log]:
        assert PASSWORD not in where
        assert secret not in where
    assert PASSWORD.encode() not in db
