"""Issue 15's "Done when", end to end: a real git repository with conventional commits
(a feature, a fix, a merged branch, a feature and its revert, a breaking change) after
the release v1.0.0; `release create` without --version makes it 2.0.0 for the breaking
change; promoted to dev, then to staging (canary with analysis, a soak in dev, one
approval) under continuous load on both, approved by another real account (co-bob, as
the kernel tells the agent); `release notes 2.0.0` then carries the evidence of each
environment: requests served and failed during the rollout and since, the analysis
values, the soak, the gates, who approved and when. Not one failed request.

Timing decides no verdict: the first promotion to staging waits on the approval (which
no time gives), the soak is waited for with `--wait` and a deadline, and the notes are
read again until staging's agent has noted its new stable revision (a deadline too)."""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from changeover.loadgen import BackgroundLoad
from tests.accounts import Accounts, two_accounts
from tests.e2e.harness import Service
from tests.helpers import free_port, wait_for

EXTRA = """
[analysis.slo]
interval = "1s"
count = 2
[[analysis.slo.metrics]]
name = "success"
provider = "builtin"
query = "success_rate"
min = 0.95
min_requests = 5

[environments.dev]
[environments.dev.spec.proxy]
listen = "127.0.0.1:{dev}"

[environments.staging]
promote_from = "dev"
soak = "3s"
soak_requests = 30
approvals = 1
[environments.staging.spec.proxy]
listen = "127.0.0.1:{staging}"
[environments.staging.spec.strategy]
type = "canary"
steps = [{{ set_weight = 50 }}, {{ analysis = "slo" }}]

[control]
group = "{group}"
"""
GIT_ID = ["-c", "user.name=notes-test", "-c", "user.email=notes@example.com"]


@dataclass
class Setup:
    service: Service
    accounts: Accounts
    ports: dict[str, int]

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return self.service.cli(*args, timeout=timeout)

    def git(self, *args: str) -> str:
        done = subprocess.run(["git", *GIT_ID, *args], cwd=self.service.dir, check=True,
                              capture_output=True, text=True)  # fmt: skip
        return done.stdout.strip()

    def commit(self, message: str, path: str | None = None) -> str:
        if path is not None:
            (self.service.dir / path).write_text(f"# {message}\n")
            self.git("add", path)
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD")

    def url(self, env: str) -> str:
        return f"http://127.0.0.1:{self.ports[env]}"


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture
def setup() -> Iterator[Setup]:
    with two_accounts() as accounts:
        service = Service(accounts.folder)  # co-bob must reach its spec and socket
        ports = {"dev": free_port(), "staging": free_port()}
        spec = service.spec.read_text().replace('HELLO_VERSION = "v1"', 'HELLO_VERSION = ""')
        service.spec.write_text(spec + EXTRA.format(**ports, group=accounts.group))
        (service.dir / ".gitignore").write_text(".changeover/\n__pycache__/\n")
        s = Setup(service, accounts, ports)
        s.git("init", "-q", "-b", "main", ".")
        s.git("add", "-A")
        s.git("commit", "-qm", "chore: the hello service")
        try:
            yield s
        finally:
            for env in ("dev", "staging"):
                service.cli("-E", env, "down", timeout=180)
            survivors = service.cleanup()
            assert not survivors, f"processes left behind: {survivors}"


def history(s: Setup) -> dict[str, str]:
    """After v1.0.0: a feature, a fix, a merged branch, a reverted feature, a breaking
    change; the hashes by name."""
    made = {
        "feat": s.commit("feat(api): add order search", "search.py"),
        "fix": s.commit("fix(cart): keep the coupon after login"),
    }
    s.git("switch", "-q", "-c", "perf")
    made["perf"] = s.commit("perf(db): index orders by customer")
    s.git("switch", "-q", "main")
    s.git("merge", "-q", "--no-ff", "-m", "Merge branch 'perf'", "perf")
    made["merge"] = s.git("rev-parse", "HEAD")
    made["csv"] = s.commit("feat: export orders as CSV", "export.py")
    s.git("revert", "--no-edit", "HEAD")
    made["revert"] = s.git("rev-parse", "HEAD")
    made["breaking"] = s.commit("feat(api)!: drop the v1 endpoints")
    return made


def notes_of(s: Setup, version: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(ok(s.cli("release", "notes", version, "--json")).stdout)
    return doc


def test_release_notes_carry_the_evidence_of_each_environment(setup: Setup) -> None:
    s, bob = setup, setup.accounts.bob
    ok(s.cli("release", "create", "--version", "1.0.0", "--tag"))
    made = history(s)

    nxt = json.loads(ok(s.cli("release", "next", "--json")).stdout)
    assert (nxt["version"], nxt["bump"], nxt["last"]) == ("2.0.0", "major", "1.0.0")
    assert [d["hash"] for d in nxt["drivers"]] == [made["breaking"]]
    skipped = {k["hash"] for k in nxt["skipped"]}
    assert skipped == {made["merge"], made["csv"], made["revert"]}  # merge; a cancelled pair
    counted = {c["hash"]: c["bump"] for c in nxt["commits"]}
    assert counted[made["perf"]] == "patch"  # the merged branch's commit counts on its own
    created = json.loads(ok(s.cli("release", "create", "--tag", "--json")).stdout)
    assert (created["version"], created["bump"], created["decided_by"]) == (
        "2.0.0", "major", "commits",
    )  # fmt: skip
    assert s.git("rev-list", "-n1", "v2.0.0") == created["commit"]

    for env in ("dev", "staging"):
        ok(s.cli("-E", env, "up", "--detach"))
        s.service.track_agent_of(env)
    with contextlib.ExitStack() as stack:
        loads = {
            env: stack.enter_context(
                BackgroundLoad(s.url(env), rate=40, connections=2, count_header="X-Version")
            )
            for env in ("dev", "staging")
        }
        ok(s.cli("release", "promote", "2.0.0", "--to", "dev"))
        s.service.status_of("dev")
        waiting = s.cli("release", "promote", "2.0.0", "--to", "staging")
        assert waiting.returncode == 1, waiting.stdout + waiting.stderr
        assert "WAITING approvals: 0 of 1 approval(s)" in waiting.stderr
        approved = s.accounts.run_as(
            bob, [*s.accounts.changeover(), "release", "approve", "2.0.0", "--to", "staging"],
            cwd=s.service.dir,
        )  # fmt: skip
        assert approved.returncode == 0, approved.stdout + approved.stderr
        ok(s.cli("release", "promote", "2.0.0", "--to", "staging", "--wait",
                 "--wait-timeout", "120"))  # fmt: skip
        s.service.status_of("staging")

        def staging_noted() -> dict[str, Any] | None:
            doc = notes_of(s, "2.0.0")
            by = {e["environment"]: e for e in doc["evidence"]}
            staging = by.get("staging")
            return doc if staging is not None and staging["rollout"] is not None else None

        notes = wait_for(staging_noted, 30, "staging's agent noting 2.0.0 stable", every=0.5)
    for env, load in loads.items():
        assert load.report is not None
        assert load.report.failed == 0, f"{env}: {load.report.summary()}"
        assert load.report.header_counts.get("2.0.0", 0) > 0, env  # it served the release

    assert notes["since"] == "1.0.0"
    assert notes["unreachable"] == []
    by = {e["environment"]: e for e in notes["evidence"]}
    assert list(by) == ["dev", "staging"]
    dev, staging = by["dev"], by["staging"]
    assert (dev["outcome"], dev["strategy"], dev["approvals"]) == ("succeeded", "rolling", [])
    assert dev["rollout"]["failed"] == 0
    assert dev["since_stable"]["served"] >= 30  # the soak staging's gate asked for
    assert dev["since_stable"]["failed"] == 0

    assert (staging["outcome"], staging["strategy"]) == ("succeeded", "canary")
    assert (staging["promoted_from"], staging["rollbacks"]) == ("dev", [])
    assert staging["rollout"]["served"] > 0
    assert staging["rollout"]["failed"] == 0
    assert [a["by"] for a in staging["approvals"]] == [bob]
    assert staging["soak"]["passed"] is True
    assert staging["soak"]["requests"] >= 30
    assert staging["soak"]["duration"] >= 3
    assert {g["gate"]: g["state"] for g in staging["gates"]} == {
        "soak": "met", "approvals": "met", "freezes": "met",
    }  # fmt: skip
    (slo,) = staging["analyses"]
    assert slo["name"].startswith("slo (")
    assert slo["status"] == "successful"
    (success,) = slo["measurements"]
    assert (success["metric"], success["outcome"]) == ("success", "passed")
    assert success["value"] >= 0.95

    text = ok(s.cli("release", "notes", "2.0.0")).stdout
    assert text.startswith("## 2.0.0 (")
    assert "### Breaking changes\n- **api:** drop the v1 endpoints" in text
    assert "### Performance\n- **db:** index orders by customer" in text
    assert "export orders as CSV" not in text  # it was reverted
    assert "#### staging\n- Deployed " in text
    assert "with canary: succeeded (promoted from dev, asked by root)" in text
    assert f"- Approved by {bob} at " in text
    assert "- Analysis `slo (" in text
    assert f"  - `success` passed: {success['value']:g}" in text
    served = staging["rollout"]["served"]
    assert f"- Requests during the rollout: {served:,} served, 0 failed" in text
