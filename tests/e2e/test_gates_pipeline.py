"""Issue 14's "Done when", end to end: dev, staging and prod agents on this machine, prod
reached over ssh to a loopback sshd as two real accounts (co-alice, co-bob: their own
keys; `dial` runs as them, through the prod socket's group), under continuous load on
all three with no retries. A release is promoted to dev; staging refuses it until the
soak (time and requests in dev) passes, then takes it; prod refuses it outside its
window and without approval, refuses co-alice's approval of her own request, accepts
co-bob's, then rolls it out with a canary once its window opens. 0 failed requests in
every environment throughout. Then a hotfix release skips staging's soak, as
`hotfix_skips` says, and nothing else: prod still wants an approval.

Timing decides no verdict: the soak is waited for with `--wait` (and a deadline), the
first refusal comes right after dev's rollout with a soak far longer than that takes,
and prod's window is computed from the clock with hours of margin on either side."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from changeover.loadgen import BackgroundLoad
from tests.accounts import Accounts, two_accounts
from tests.e2e.harness import Service
from tests.e2e.sshd import Sshd, running_sshd
from tests.helpers import free_port

OVERLAYS = """
[environments.dev]
[environments.dev.spec.proxy]
listen = "127.0.0.1:{dev}"

[environments.staging]
promote_from = "dev"
soak = "10s"  # about 10x what the first refusal takes to come after dev's rollout
soak_requests = 100
hotfix_skips = ["soak"]
[environments.staging.spec.proxy]
listen = "127.0.0.1:{staging}"

[environments.prod]
promote_from = "staging"
host = "{host}"
approvals = 1
approvers = ["{alice}", "{bob}"]
windows = [{{ deny = "{deny}" }}]
[environments.prod.spec.proxy]
listen = "127.0.0.1:{prod}"
[environments.prod.spec.strategy]
type = "canary"
steps = [{{ set_weight = 50 }}, {{ pause = "1s" }}]
[environments.prod.spec.control]
group = "{group}"
"""
GIT_ID = ["-c", "user.name=gates-test", "-c", "user.email=gates@example.com"]


def deny_range(hours_from_now: float, length: float = 6.0) -> str:
    """A daily UTC range starting `hours_from_now` (may be negative), `length` hours long."""
    now = datetime.now(UTC)
    start, end = (
        now + timedelta(hours=hours_from_now),
        now + timedelta(hours=hours_from_now + length),
    )
    return f"{start:%H:%M} - {end:%H:%M}"


@dataclass
class Pipeline:
    service: Service  # the build machine's folder: its spec names prod's host
    host_dir: Path  # prod's service folder "on the host"
    sshd: Sshd
    accounts: Accounts
    ports: dict[str, int]

    def cli(
        self, *args: str, who: str | None = None, ssh: str | None = None, timeout: float = 180
    ) -> Result:
        """The CLI here, as root; prod is reached over ssh as `who` (co-alice by default),
        or with the ssh command `ssh`."""
        env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
        env["CHANGEOVER_SSH"] = ssh or self.sshd.ssh_as(who or self.accounts.alice)
        env["CHANGEOVER_REMOTE"] = self.accounts.remote()
        done = subprocess.run([sys.executable, "-m", "changeover", *args], cwd=self.service.dir,
                              capture_output=True, text=True, timeout=timeout, env=env)  # fmt: skip
        return Result(done.returncode, done.stdout, done.stderr)

    def on_host(self, *args: str, timeout: float = 180) -> Result:
        """The CLI on prod's host, in its service folder (prod is local there), as root."""
        env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
        done = subprocess.run([sys.executable, "-m", "changeover", *args], cwd=self.host_dir,
                              capture_output=True, text=True, timeout=timeout, env=env)  # fmt: skip
        return Result(done.returncode, done.stdout, done.stderr)

    def url(self, env: str) -> str:
        return f"http://127.0.0.1:{self.ports[env]}"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def ok(self) -> Result:
        assert self.code == 0, self.stdout + self.stderr
        return self

    def said(self) -> str:
        return self.stdout + self.stderr


def git(folder: Path, *args: str) -> None:
    subprocess.run(["git", *GIT_ID, *args], cwd=folder, check=True, capture_output=True)


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    with (
        two_accounts() as accounts,
        running_sshd(accounts.folder / "sshd", accounts=(accounts.alice, accounts.bob)) as sshd,
    ):
        service = Service(tmp_path)
        host_dir = accounts.folder / "host" / "hello"  # where the accounts may go
        ports = {"dev": free_port(), "staging": free_port(), "prod": free_port()}
        overlay = OVERLAYS.format(
            **ports, host=sshd.url(host_dir, user=False), alice=accounts.alice,
            bob=accounts.bob, group=accounts.group, deny=deny_range(-3),
        )  # fmt: skip
        spec = service.spec.read_text().replace('HELLO_VERSION = "v1"', 'HELLO_VERSION = ""')
        service.spec.write_text(spec + overlay)
        (service.dir / ".gitignore").write_text(".changeover/\n__pycache__/\n")
        git(service.dir, "init", "-q", ".")
        git(service.dir, "add", "-A")
        git(service.dir, "commit", "-qm", "hello")
        shutil.copytree(service.dir, host_dir, ignore=shutil.ignore_patterns(".git", ".changeover"))
        p = Pipeline(service, host_dir, sshd, accounts, ports)
        try:
            yield p
        finally:
            for env in ("dev", "staging"):
                p.cli("-E", env, "down")
            p.on_host("-E", "prod", "down")
            with contextlib.suppress(OSError, ValueError):
                service.tracked.add(int((host_dir / ".changeover/prod/agent.pid").read_text()))
            survivors = service.cleanup()
            assert not survivors, f"processes left behind: {survivors}"


def gates(result: Result) -> dict[str, str]:
    """The gate lines a refused promotion printed: name -> its line."""
    out = {}
    for line in result.stderr.splitlines():
        words = line.split()
        if words and words[0] in ("ok", "WAITING", "SKIPPED"):
            out[line.split(":")[0].split(maxsplit=1)[1]] = " ".join(words)
    return out


def shown(p: Pipeline, version: str) -> dict[str, Any]:
    doc = json.loads(p.cli("release", "show", version, "--json").ok().stdout)
    return {e["name"]: e for e in doc["environments"]}


def test_a_release_through_soak_window_and_approvals_under_load(pipeline: Pipeline) -> None:
    p, alice, bob = pipeline, pipeline.accounts.alice, pipeline.accounts.bob
    for env in ("dev", "staging"):
        p.cli("-E", env, "up", "--detach").ok()
        p.service.track_agent_of(env)
    p.on_host("-E", "prod", "up", "--detach").ok()
    with contextlib.ExitStack() as loads:
        load = {
            env: loads.enter_context(
                BackgroundLoad(p.url(env), rate=30, connections=2, count_header="X-Version")
            )
            for env in ("dev", "staging", "prod")
        }
        p.cli("release", "create", "--version", "1.0.0").ok()
        never = p.cli("release", "promote", "1.0.0", "--to", "staging")  # not in dev yet
        assert never.code == 2, never.said()
        assert "no soak evidence for release 1.0.0 in dev: release 1.0.0 (sha256" in never.stderr
        p.cli("release", "promote", "1.0.0", "--to", "dev").ok()

        early = p.cli("release", "promote", "1.0.0", "--to", "staging")
        assert early.code == 1, early.said()
        assert gates(early)["soak"].startswith("WAITING soak: stable in dev for")
        assert "more stable in dev (soak 10s)" in early.stderr
        soaked = p.cli("release", "promote", "1.0.0", "--to", "staging", "--wait",
                       "--wait-timeout", "180")  # fmt: skip
        assert soaked.code == 0, soaked.said()
        assert "revision 2 is stable" in soaked.stdout

        refused = p.cli("release", "promote", "1.0.0", "--to", "prod")  # as co-alice
        assert refused.code == 1, refused.said()
        assert f"asked by {alice}" in refused.stderr
        listed = gates(refused)
        assert listed["approvals"].startswith("WAITING approvals: 0 of 1 approval(s)")
        assert listed["windows"].startswith("WAITING windows: outside the allowed time")
        assert f"{bob}: `changeover release approve 1.0.0 --to prod`" in refused.stderr

        nothing = p.cli("release", "approve", "0.9.0", "--to", "prod", who=bob)
        assert nothing.code == 2, nothing.said()
        assert "no promotion of release 0.9.0 is waiting in environment prod" in nothing.stderr
        cut_off = p.cli("release", "approve", "1.0.0", "--to", "prod", ssh=p.sshd.ssh("wrong_key"))
        assert cut_off.code == 3, cut_off.said()
        assert "Permission denied (publickey)" in cut_off.stderr
        own = p.cli("release", "approve", "1.0.0", "--to", "prod", who=alice)
        assert own.code == 2, own.said()
        assert f"{alice} asked for this promotion and cannot approve it" in own.stderr
        p.cli("release", "approve", "1.0.0", "--to", "prod", "--comment", "soaked", who=bob).ok()

        still = p.cli("release", "promote", "1.0.0", "--to", "prod")
        assert still.code == 1, still.said()
        assert gates(still)["approvals"].startswith(f"ok approvals: 1 of 1 approval(s): {bob}")
        assert "windows" in {k for k, v in gates(still).items() if v.startswith("WAITING")}

        # the window opens: prod's own spec moves its deny range hours away, read anew
        host_spec = p.host_dir / "changeover.toml"
        host_spec.write_text(host_spec.read_text().replace(deny_range_of(host_spec), deny_range(9)))
        p.on_host("-E", "prod", "reload").ok()
        rolled = p.cli("release", "promote", "1.0.0", "--to", "prod")
        assert rolled.code == 0, rolled.said()
        assert "revision 2 is stable" in rolled.stdout
        # a hotfix skips staging's soak, and nothing else: prod still wants an approval
        (p.service.dir / "FIX").write_text("the hotfix\n")  # a release carries a commit
        git(p.service.dir, "add", "FIX")
        git(p.service.dir, "commit", "-qm", "fix: the hotfix")
        # no version given: production is asked what it runs (1.0.0, over ssh) and the
        # hotfix is its patch
        made = p.cli("release", "create", "--hotfix").ok()
        assert "1.0.1" in made.stdout, made.said()
        p.cli("release", "promote", "1.0.1", "--to", "dev").ok()
        hot = p.cli("release", "promote", "1.0.1", "--to", "staging").ok()
        assert "soak: HOTFIX: skipped (hotfix_skips lists soak)" in hot.stderr
        gated = p.cli("release", "promote", "1.0.1", "--to", "prod")
        assert gated.code == 1, gated.said()
        assert gates(gated)["approvals"].startswith("WAITING approvals: 0 of 1")
        envs = shown(p, "1.0.1")
        staging_gates = {g["gate"]: g["state"] for g in envs["staging"]["promotions"][0]["gates"]}
        assert staging_gates == {"soak": "skipped", "freezes": "met"}
        prod_gates = {g["gate"]: g["state"] for g in envs["prod"]["promotions"][0]["gates"]}
        assert prod_gates == {"approvals": "unmet", "windows": "met", "freezes": "met"}
    for env, done in load.items():
        assert done.report.failed == 0, f"{env}: {done.report.summary()}"
        assert "1.0.0" in done.report.header_counts, (env, done.report.header_counts)

    envs = shown(p, "1.0.0")
    prod = envs["prod"]["promotions"][0]
    assert (prod["state"], prod["outcome"], prod["requested_by"]) == ("done", "succeeded", alice)
    approval = next(g for g in prod["gates"] if g["gate"] == "approvals")
    assert approval["state"] == "met"
    assert [(a["verdict"], a["by"], a["note"]) for a in prod["approvals"]] == [
        ("approve", bob, "soaked"),
    ]  # fmt: skip
    soak = next(g for g in envs["staging"]["promotions"][0]["gates"] if g["gate"] == "soak")
    assert soak["state"] == "met"
    assert soak["evidence"]["served"] >= 100
    text = p.cli("release", "show", "1.0.0").ok().stdout
    assert f"approved by {bob}" in text
    events = p.cli("-E", "prod", "events", "-n", "200", who=bob).ok().stdout
    assert f"promotion #1 of 1.0.0 approved by {bob} (soaked)" in events


def deny_range_of(spec: Path) -> str:
    line = next(x for x in spec.read_text().splitlines() if x.startswith("windows = "))
    return line.split('deny = "')[1].split('"')[0]
