"""Rolling deploys, rollbacks and undo under continuous keep-alive load: zero failures."""

from __future__ import annotations

import json

import pytest

from changeover.loadgen import BackgroundLoad, Report, Template
from tests.e2e.conftest import shared_service
from tests.e2e.harness import Service, burst
from tests.helpers import wait_for

MIX = (
    Template(method="GET", path="/", weight=20),
    Template(method="POST", path="/echo", body=b"z" * 4096, weight=3, expect=b"4096 "),
    Template(method="GET", path="/slow?ms=700", weight=1),
)


# the broken releases share one agent: each leaves revision 1 serving, as it found it
broken = shared_service(deadline="6s")


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


def test_three_rolling_deploys_under_load_fail_no_request(service: Service) -> None:
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
    ("env", "reason"),
    [
        ("CRASH_AT_BOOT=1", "boot"),
        ("NEVER_READY=1", "deadline"),
    ],
)
@pytest.mark.xdist_group("rolling-broken")
def test_broken_release_is_rolled_back_without_failures(
    broken: Service, env: str, reason: str
) -> None:
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


def test_undo_returns_to_previous_revision_without_failures(service: Service) -> None:
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
