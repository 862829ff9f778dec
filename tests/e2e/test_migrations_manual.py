"""Migrations driven by hand (`contract_when = "manual"`) on the bundled example, under
load: the contract waits for `changeover migrate contract`, which refuses a second run;
an expand that outlives its timeout fails the deploy (exit 1) with the stable revision
serving on, and `abort` meanwhile is refused (a migration is never killed half-way);
`undo` past the contract is refused unless `--force`, which an event records;
`logs --migrations` shows what each command printed. (The commands are shell lines that
append to a file: the database is not the point here, the timing and the CLI are.)"""

from __future__ import annotations

import json

from changeover.loadgen import BackgroundLoad, Template
from tests.e2e.harness import Lines, Service, spawn
from tests.helpers import wait_for

# The expand's timeout is long enough that `abort` reaches the agent while the slow
# expand still runs, on a loaded machine too (the CLI's start takes a second there).
MIGRATIONS = """
[migrations]
expand = 'if [ -n "$SLOW" ]; then sleep 60; fi; echo "expand $HELLO_VERSION" >> schema.log'
contract = 'echo "contract $HELLO_VERSION" >> schema.log'
status = 'echo "$(wc -l < schema.log) steps"'
timeout = "15s"
contract_when = "manual"

[notify]
command = 'echo "$CHANGEOVER_EVENT $CHANGEOVER_ROLLOUT" >> notices.log'
"""


def json_of(service: Service, *args: str) -> dict[str, object]:
    result = service.cli(*args, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def notices(service: Service) -> str:
    """What the notify command wrote: one "<event> <rollout>" line per notification."""
    path = service.dir / "notices.log"
    return path.read_text() if path.exists() else ""


def test_manual_contract_timeout_and_forced_undo_under_load(service: Service) -> None:
    service.write_spec(extra=MIGRATIONS)
    url = service.up()
    schema = service.dir / "schema.log"
    assert schema.read_text() == "expand v1\n"  # before revision 1 started
    with BackgroundLoad(url, rate=100, connections=8, templates=(Template(),)) as gen:
        deployed = service.cli("deploy", "--version", "v2", "--env", "HELLO_VERSION=v2")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert "expand of revision 2 (v2) succeeded" in deployed.stdout
        waits = json_of(service, "migrate", "status")
        assert waits["contract_when"] == "manual"
        assert (
            waits["contract_waits"] == 'contract_when = "manual": run `changeover migrate contract`'
        )
        assert schema.read_text() == "expand v1\nexpand v2\n"
        contracted = json_of(service, "migrate", "contract")
        assert contracted["ok"] is True
        assert str(contracted["message"]).startswith("contract of revision 2 (v2) succeeded")
        assert contracted["schema"]["state"] == "contracted"  # type: ignore[index]
        assert contracted["schema"]["schema"] == "3 steps"  # type: ignore[index]
        again = service.cli("migrate", "contract")
        assert again.returncode == 2, again.stdout + again.stderr
        assert "revision 2 is contracted already" in again.stderr
        # an expand past its timeout: killed, the deploy fails, revision 2 serves on
        proc = spawn(service, "deploy", "--version", "v3", "--env", "HELLO_VERSION=v3",
                     "--env", "SLOW=1")  # fmt: skip
        lines = Lines(proc)
        wait_for(lambda: json_of(service, "migrate", "status")["running"], 30, "the expand")
        # the hooks hear "started" when the rollout starts, before its expand ends
        wait_for(lambda: "started 3\n" in notices(service), 30, "the started notice")
        abort = service.cli("abort")  # nothing to abort yet, and the expand is not killed
        assert abort.returncode == 2, abort.stdout + abort.stderr
        assert "rollout 3 is running its expand: no replica of revision 3" in abort.stderr
        assert proc.wait(timeout=60) == 1
        lines.join()
        said = " ".join("".join(lines.lines).split())
        killed = "timed out after 15s (its processes were killed)"
        assert f"expand of revision 3 (v3) failed: {killed}" in said
        assert f"expand failed: {killed}; no replica of revision 3 started" in said
        assert "no replica of revision 3 started; revision 2 still serving" in said
        assert service.status()["stable_revision"] == 2
        assert "expand v3" not in schema.read_text()
        told = wait_for(lambda: "failed 3\n" in notices(service) and notices(service), 30,
                        "the failed notice")  # fmt: skip
        assert [line for line in told.splitlines() if line.endswith(" 3")] == [
            "started 3",
            "failed 3",
        ]
        # undo past the contract: refused; --force goes, and says so
        refused = service.cli("undo", "--to-revision", "1")
        assert refused.returncode == 1, refused.stdout + refused.stderr
        assert "undo to revision 1 refused" in refused.stderr
        forced = service.cli("undo", "--to-revision", "1", "--force")
        assert forced.returncode == 0, forced.stdout + forced.stderr
        assert service.status()["stable_revision"] == 1
    report = gen.report
    assert report is not None
    assert report.failed == 0, report.summary()
    events = service.cli("events", "--json").stdout
    assert "undo to revision 1 forced past the schema" in events
    logs = service.cli("logs", "--migrations")
    assert logs.returncode == 0, logs.stderr
    assert "contract of revision 2 (v2): `echo" in logs.stdout
    assert "== timed out after 15s (its processes were killed)\n" in logs.stdout
    assert "== exit 0 after " in logs.stdout
