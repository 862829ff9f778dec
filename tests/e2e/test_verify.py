"""`changeover verify` against a real agent on the bundled example, with a small load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.e2e.conftest import shared_service
from tests.e2e.harness import Service, with_tls
from tests.helpers import wait_for
from tests.tlscerts import issue

SMALL = ("--rate", "100", "--connections", "4", "--warmup", "1", "--cooldown", "1")

PAUSING = "[{ set_weight = 50 }, { pause = {} }]"  # step 2 waits for `changeover promote`
# each test leaves its agent serving a stable revision: these pairs share one agent each
rolling = shared_service()
canary = shared_service(extra=f'type = "canary"\nsteps = {PAUSING}\n')


def entry() -> list[str]:
    return [sys.executable, "-m", "changeover", "verify"]


def verify(service: Service, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    result = subprocess.run(
        [*entry(), *args],
        cwd=service.dir,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    service.track_agent()
    return result


def report_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(result.stdout)
    assert sum(w["requests"] for w in doc["windows"]) == doc["load"]["sent"]
    return doc


@pytest.mark.xdist_group("verify-rolling")
def test_redeploy_of_the_stable_release_passes_with_zero_failures(rolling: Service) -> None:
    stable = rolling.status()["stable_revision"]
    version = next(r["version"] for r in rolling.status()["revisions"] if r["revision"] == stable)
    result = verify(rolling, *SMALL, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    doc = report_of(result)
    assert (doc["verdict"], doc["passed"], doc["exit_code"]) == ("passed", True, 0)
    assert doc["release"] == {"version": version, "redeploy": True, "strategy": None}
    assert doc["rollout"]["phase"] == "succeeded"
    target = doc["rollout"]["to_revision"]
    assert target > stable
    load = doc["load"]
    assert load["failed"] == 0
    assert load["ok"] == load["sent"] >= 200  # 1 s warm-up + rollout + 1 s cool-down at 100/s
    assert doc["failures"] == []
    assert all(w["requests"] > 0 and w["latency"]["p50"] for w in doc["windows"])
    assert any("rollout succeeded" in e["message"] for e in doc["events"])
    revision = next(r for r in rolling.status()["revisions"] if r["revision"] == target)
    assert (revision["version"], revision["status"]) == (version, "stable")


def test_a_release_crashing_at_boot_exits_1_with_zero_failed_requests(service: Service) -> None:
    service.write_spec(deadline="6s")
    service.up()
    result = verify(service, *SMALL, "--version", "v2", "--env", "CRASH_AT_BOOT=1", "--json")
    assert result.returncode == 1, result.stdout + result.stderr
    doc = report_of(result)
    assert doc["verdict"] == "rollout-failed"
    assert doc["rollout"]["phase"] == "failed"
    assert "boot" in doc["rollout"]["reason"]
    (output,) = [e for e in doc["events"] if e["kind"] == "output"]  # what the app wrote
    assert "crashing at boot (CRASH_AT_BOOT=1)" in output["message"]
    assert doc["load"]["failed"] == 0
    assert doc["load"]["ok"] == doc["load"]["sent"] > 0
    assert service.status()["stable_revision"] == 1


@pytest.mark.xdist_group("verify-rolling")
def test_human_report_and_a_refused_strategy(rolling: Service) -> None:
    refused = verify(rolling, *SMALL, "--strategy", "no-such-strategy")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "no-such-strategy" in refused.stderr
    result = verify(rolling, *SMALL, "--version", "v2", "--env", "HELLO_VERSION=v2")
    assert result.returncode == 0, result.stdout + result.stderr
    for text in ("deploy of v2", "rollout succeeded", "before", "during", "verdict: passed"):
        assert text in result.stdout


TINY = ("--rate", "50", "--connections", "4", "--warmup", "0.5", "--cooldown", "0.5")


@pytest.mark.xdist_group("verify-rolling")
def test_cacert_for_a_listener_without_tls_exits_2(rolling: Service, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(trustme.CA().cert_pem.bytes())
    revisions = len(rolling.status()["revisions"])
    result = verify(rolling, *TINY, "--cacert", str(ca_file))
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"--cacert {ca_file}: the public listener http://127.0.0.1:" in result.stderr
    assert "speaks plain HTTP" in result.stderr
    assert len(rolling.status()["revisions"]) == revisions  # nothing deployed


@pytest.mark.xdist_group("verify-rolling")
def test_server_name_over_plain_http_is_the_host_the_load_says(rolling: Service) -> None:
    # an app checking Host (Django's ALLOWED_HOSTS) is verified by the name it serves
    named = verify(rolling, *TINY, "--server-name", "svc.test", "--json")
    assert named.returncode == 0, named.stdout + named.stderr
    assert json.loads(named.stdout)["load"]["failed"] == 0


def test_over_https_trusting_cacert_and_a_handshake_that_cannot_succeed(
    service: Service, tmp_path: Path
) -> None:
    ca = trustme.CA()
    with_tls(service, "builtin", ca)  # a certificate for localhost and 127.0.0.1
    service.up()
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.cert_pem.bytes())
    # the system's store does not know the test CA: said, before any deploy
    untrusted = verify(service, *TINY)
    assert untrusted.returncode == 2, untrusted.stdout + untrusted.stderr
    said = untrusted.stderr
    assert "the TLS handshake with https://127.0.0.1:" in said
    assert "certificate verify failed: unable to get local issuer certificate" in said
    assert "--cacert FILE" in said
    assert "nothing was deployed" in said
    assert len(service.status()["revisions"]) == 1
    args = ("--version", "v2", "--env", "HELLO_VERSION=v2", "--json")
    result = verify(service, *TINY, "--cacert", str(ca_file), *args)
    assert result.returncode == 0, result.stdout + result.stderr
    doc = report_of(result)
    assert doc["target"]["url"].startswith("https://127.0.0.1:")
    assert doc["load"]["failed"] == 0
    assert doc["load"]["ok"] == doc["load"]["sent"] > 0
    # a certificate that names the service but not the address verify connects to
    named = issue(ca, service.dir / "tls", "named", hosts=("svc.test",))
    wait_for(lambda: service.status()["agent"]["tls"]["sha256"] == named.sha256, 20, "reload")
    mismatch = verify(service, *TINY, "--cacert", str(ca_file))
    assert mismatch.returncode == 2, mismatch.stdout + mismatch.stderr
    said = mismatch.stderr
    assert (
        "certificate verify failed: IP address mismatch, certificate is not valid for "
        "'127.0.0.1'" in said
    )
    assert f"(trusting --cacert {ca_file})" in said
    assert "verify connects to the listen address, 127.0.0.1" in said
    assert "--server-name NAME" in said
    assert len(service.status()["revisions"]) == 2  # nothing deployed
    # the name it has: checked for it, sent as SNI, the load through it
    other = verify(service, *TINY, "--cacert", str(ca_file), "--server-name", "other.test")
    assert other.returncode == 2, other.stdout + other.stderr
    assert "the certificate does not name other.test (--server-name)" in other.stderr
    named_args = ("--server-name", "svc.test", "--version", "v3", "--env", "HELLO_VERSION=v3")
    passed = verify(service, *TINY, "--cacert", str(ca_file), *named_args, "--json")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    doc = report_of(passed)
    assert doc["load"]["failed"] == 0
    assert doc["load"]["ok"] == doc["load"]["sent"] > 0
    assert len(service.status()["revisions"]) == 3


@pytest.mark.xdist_group("verify-canary")
def test_a_paused_canary_is_aborted_after_max_wait_with_zero_failures(canary: Service) -> None:
    stable = canary.status()["stable_revision"]
    args = ("--version", "v2", "--env", "HELLO_VERSION=v2", "--max-wait", "3", "--json")
    result = verify(canary, *TINY, *args)
    assert result.returncode == 1, result.stdout + result.stderr
    doc = report_of(result)
    assert doc["verdict"] == "rollout-failed"
    assert doc["aborted_by_verify"]["max_wait"] == 3.0
    assert doc["aborted_by_verify"]["after"] >= 3.0
    assert any(r.startswith("the rollout was aborted by verify") for r in doc["reasons"])
    assert [(a["action"], a["accepted"]) for a in doc["actions"]] == [("abort", True)]
    texts = [row["text"] for row in doc["timeline"]]
    verify_line = next(i for i, t in enumerate(texts) if t.startswith("verify aborted"))
    by = "verify (--max-wait 3s)"  # the agent's events name verify, not an operator
    assert verify_line < texts.index(f"rollout aborted by {by}: traffic back to stable")
    assert (doc["rollout"]["phase"], doc["rollout"]["reason"]) == ("aborted", f"aborted by {by}")
    assert doc["load"]["failed"] == 0
    assert doc["load"]["ok"] == doc["load"]["sent"] > 0
    status = canary.status()
    assert status["stable_revision"] == stable
    ready = [r["revision"] for r in status["replicas"] if r["state"] == "ready"]
    assert ready == [stable, stable]  # revision 2's replica may still be draining, out of routing


@pytest.mark.xdist_group("verify-canary")
def test_a_paused_canary_is_promoted_with_promote(canary: Service) -> None:
    result = verify(canary, *TINY, "--version", "v2", "--env", "HELLO_VERSION=v2", "--promote",
                    "--json")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    doc = report_of(result)
    assert (doc["verdict"], doc["rollout"]["phase"]) == ("passed", "succeeded")
    assert doc["aborted_by_verify"] is None
    assert [a["message"] for a in doc["actions"]] == ["verify promoted step 2"]
    texts = [row["text"] for row in doc["timeline"]]
    assert texts.index("verify promoted step 2") < texts.index("step 2 skipped by verify (promote)")
    assert doc["load"]["failed"] == 0
    assert canary.status()["stable_revision"] == doc["rollout"]["to_revision"]
