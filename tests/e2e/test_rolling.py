"""Rolling deploys, rollbacks and undo under continuous keep-alive load: zero failures."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from changeover.loadgen import BackgroundLoad, Report
from tests.e2e.conftest import shared_service
from tests.e2e.harness import ENGINES, MIX, UVICORN, Service, burst, engine_part
from tests.helpers import wait_for

# the broken releases share one agent per engine: each leaves revision 1 serving, as it
# found it (a release crashing at boot on haproxy: test_haproxy_engine.py)
broken = shared_service(deadline="6s")
broken_haproxy = shared_service(deadline="6s", engine="haproxy")


def load(url: str, rate: float = 500) -> BackgroundLoad:
    return BackgroundLoad(
        url, rate=rate, connections=24, templates=MIX, timeout=30, count_header="X-Version"
    )


def assert_no_failures(report: Report | None) -> Report:
    assert report is not None
    assert report.failed == 0, report.summary()
    assert report.in_flight == 0
    assert report.ok == report.sent > 0
    return report


def deploy(service: Service, version: str, *env: str) -> tuple[int, str]:
    args = ["deploy", "--version", version, "--env", f"HELLO_VERSION={version}"]
    for pair in env:
        args += ["--env", pair]
    result = service.cli(*args)
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize("engine", ENGINES)
def test_three_rolling_deploys_under_load_fail_no_request(service: Service, engine: str) -> None:
    service.write_spec(engine=engine_part(engine))
    url = service.up()
    with load(url) as gen:
        for version in ("v2", "v3", "v4"):
            code, output = deploy(service, version)
            assert code == 0, output
            assert "is stable" in output
    report = assert_no_failures(gen.report)
    assert report.status_codes == {"200": report.sent}
    assert report.connections_opened < report.sent / 10  # keep-alive really kept
    counts = report.header_counts
    assert all(counts.get(v, 0) > 0 for v in ("v1", "v2", "v3", "v4")), counts
    doc = service.status()
    assert doc["stable_revision"] == 4
    replicas = doc["replicas"]
    assert sorted(r["state"] for r in replicas if r["revision"] == 4) == ["ready", "ready"]
    assert not [r for r in replicas if r["revision"] != 4 and r["state"] != "exited"]


@pytest.mark.parametrize(
    ("engine", "env", "reason"),
    [
        ("builtin", "CRASH_AT_BOOT=1", "boot"),
        ("builtin", "NEVER_READY=1", "deadline"),
        ("haproxy", "NEVER_READY=1", "deadline"),
    ],
)
@pytest.mark.xdist_group("rolling-broken")
def test_broken_release_is_rolled_back_without_failures(
    request: pytest.FixtureRequest, engine: str, env: str, reason: str
) -> None:
    fixture = "broken" if engine_part(engine) == "builtin" else "broken_haproxy"
    broken: Service = request.getfixturevalue(fixture)
    url = broken.url()
    with load(url) as gen:
        code, output = deploy(broken, "v2", env)
    assert code == 1, output
    assert reason in output, output
    assert "revision 1 still serving" in output
    assert_no_failures(gen.report)
    assert gen.report is not None
    assert set(gen.report.header_counts) == {"v1"}
    doc = broken.status()
    assert doc["stable_revision"] == 1
    assert doc["rollout"]["phase"] == "failed"
    failed = doc["rollout"]["to_revision"]
    history = json.loads(broken.cli("history", "--json").stdout)
    assert [r["status"] for r in history["revisions"] if r["revision"] == failed] == ["failed"]
    SAYS_WHY[env](output, doc, f"r{failed}-1")


def says_the_crash(output: str, doc: dict[str, Any], replica: str) -> None:
    """The app's own last words and where to read more, in what `deploy` printed."""
    assert doc["rollout"]["reason"].startswith(f"replica {replica} failed at boot 3 times")
    assert f"{replica} wrote before failing" in output, output
    assert "hello v2: crashing at boot (CRASH_AT_BOOT=1)" in output, output
    assert f"`changeover logs {replica}` shows more" in output, output


def says_the_probe(output: str, doc: dict[str, Any], replica: str) -> None:
    """The probe's 503 in the failure reason, in one event, and as the replica's error."""
    probe = "readiness GET /readyz answered 503"
    reason = doc["rollout"]["reason"]
    assert reason.startswith(f"progress deadline exceeded: no progress for 6s; {replica} ")
    assert f"not ready: {probe} (" in reason
    assert f"rollout {doc['rollout']['id']} failed: {reason}" in output, output
    event = re.compile(rf"^\d\d:\d\d:\d\d {replica} not ready: {probe} \(\d+ times in a row\)$")
    assert len([line for line in output.splitlines() if event.match(line)]) == 1, output
    (info,) = [r for r in doc["replicas"] if r["id"] == replica]
    assert info["last_error"].startswith(f"{probe} ("), info


SAYS_WHY = {"CRASH_AT_BOOT=1": says_the_crash, "NEVER_READY=1": says_the_probe}


@pytest.mark.parametrize("engine", ENGINES)
def test_undo_returns_to_previous_revision_without_failures(service: Service, engine: str) -> None:
    service.write_spec(engine=engine_part(engine))
    url = service.up()
    with load(url) as gen:
        assert deploy(service, "v2")[0] == 0
        assert deploy(service, "v3", "CRASH_AT_BOOT=1")[0] == 1
        result = service.cli("undo")  # skips the failed revision 3: back to 1
        assert result.returncode == 0, result.stdout + result.stderr
        assert "revision 1 is stable" in result.stdout
        wait_for(lambda: service.status()["stable_revision"] == 1, 10, "revision 1 stable")
    assert_no_failures(gen.report)
    after = burst(url, 50)
    assert after.header_counts == {"v1": 50}


def guarded(check: str) -> str:
    """The example's command behind a shell check run at each start: `check` true fails
    the start (exit 3) before uvicorn is exec'd with the listening socket (fd 3)."""
    return f"sh -c '{check} && exit 3; exec {UVICORN}'"


def test_a_stable_that_cannot_come_back_leaves_the_target_serving(service: Service) -> None:
    # Revision 1 fails to start once a file appears (a change on the machine); revision
    # 2's third replica always fails at boot, so its rollout fails after two of the three
    # stable replicas were replaced: the rollback cannot bring revision 1 back.
    service.write_spec(command=guarded("test -e machine-changed"), replicas=3)
    url = service.up()
    (service.dir / "machine-changed").touch()
    service.write_spec(
        command=guarded("test $CHANGEOVER_REPLICA = r2-3"),
        replicas=3,
        extra='rollback_deadline = "4s"\n',
    )
    with load(url, rate=300) as gen:
        code, output = deploy(service, "v2")
        doc = wait_for(lambda: settled(service), 30, "revision 1 stopped", detail=lambda: output)
    assert code == 1, output
    assert "rollback deadline exceeded: revision 1 did not come back within 4s" in output
    assert "revision 2 keeps serving with 2 ready replicas and is now the stable" in output
    assert "revision 2 serving, now the stable revision" in output
    report = assert_no_failures(gen.report)
    assert set(report.header_counts) == {"v1", "v2"}
    assert doc["stable_revision"] == 2
    assert doc["rollout"]["phase"] == "failed"
    live = [(r["revision"], r["state"]) for r in doc["replicas"] if r["state"] != "exited"]
    assert sorted(live) == [(2, "ready"), (2, "ready")]
    history = json.loads(service.cli("history", "--json").stdout)
    statuses = {r["revision"]: r["status"] for r in history["revisions"]}
    assert statuses == {1: "superseded", 2: "stable"}
    assert burst(url, 40).header_counts == {"v2": 40}


def settled(service: Service) -> dict[str, Any] | None:
    """The status once no replica of revision 1 is left running, else None."""
    doc = service.status()
    running = [r for r in doc["replicas"] if r["revision"] == 1 and r["state"] != "exited"]
    return None if running else doc
