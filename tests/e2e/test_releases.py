"""Releases end to end, under continuous load (no retries): built once from a git work
tree, promoted to dev then staging as the same bytes (one sha256, unpacked in each
agent's own folder), shown per environment, then a second release and a rollback of
staging to the first; not one failed request in either environment."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from changeover.loadgen import BackgroundLoad
from tests.e2e.harness import Service
from tests.helpers import free_port

OVERLAYS = """
[environments.dev]
[environments.dev.spec.proxy]
listen = "127.0.0.1:{dev}"

[environments.staging]
promote_from = "dev"
[environments.staging.spec.app]
replicas = 3
[environments.staging.spec.proxy]
listen = "127.0.0.1:{staging}"
"""
GIT_ID = ["-c", "user.name=release-test", "-c", "user.email=release@example.com"]


def git(service: Service, *args: str) -> None:
    subprocess.run(["git", *GIT_ID, *args], cwd=service.dir, check=True, capture_output=True)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def create(service: Service, version: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(
        ok(service.cli("release", "create", "--version", version, "--json")).stdout
    )
    return doc


def under_load(service: Service, env: str, url: str, *args: str) -> dict[str, int]:
    """Run `args` while load runs on `env`; the versions that answered (no failure)."""
    with BackgroundLoad(url, rate=100, connections=4, count_header="X-Version") as load:
        ok(service.cli(*args, timeout=180))
    assert load.report.failed == 0, f"{env}: {load.report.summary()}"
    service.status_of(env)  # tracks the new replicas
    return dict(load.report.header_counts)


def stable(service: Service, env: str) -> dict[str, Any]:
    """The stable revision of `env`, as `history --json` shows it (version, path)."""
    doc = json.loads(ok(service.cli("-E", env, "history", "--json")).stdout)
    found: dict[str, Any] = next(
        r for r in doc["revisions"] if r["revision"] == doc["stable_revision"]
    )
    return found


def test_a_release_is_promoted_as_the_same_bytes_and_rolled_back(tmp_path: Path) -> None:
    service = Service(tmp_path)
    ports = {"dev": free_port(), "staging": free_port()}
    # no HELLO_VERSION: the app labels its answers with the release's version
    spec = service.spec.read_text().replace('HELLO_VERSION = "v1"', 'HELLO_VERSION = ""')
    service.spec.write_text(spec + OVERLAYS.format(**ports))
    (service.dir / ".gitignore").write_text(".changeover/\n__pycache__/\n")
    git(service, "init", "-q", ".")
    git(service, "add", "-A")
    git(service, "commit", "-qm", "hello")
    urls = {env: f"http://127.0.0.1:{port}" for env, port in ports.items()}
    try:
        for env in ("dev", "staging"):
            ok(service.cli("-E", env, "up", "--detach"))
            service.track_agent_of(env)
        first = create(service, "1.0.0")
        assert (first["source"], first["dirty"]) == ("git", False)

        for env in ("dev", "staging"):
            seen = under_load(service, env, urls[env], "release", "promote", "1.0.0", "--to", env)
            assert set(seen) == {"v1", "1.0.0"}, seen
        folders = {env: stable(service, env)["path"] for env in ("dev", "staging")}
        for env, folder in folders.items():
            assert folder == str(service.state / env / "releases" / f"1.0.0-{first['sha256'][:12]}")
        shown = json.loads(ok(service.cli("release", "show", "1.0.0", "--json")).stdout)
        envs = {e["name"]: e for e in shown["environments"]}
        assert set(envs) == {"dev", "staging"}
        for env in ("dev", "staging"):
            assert envs[env]["held"]["sha256"] == first["sha256"]  # the same bytes in both
            (promotion,) = envs[env]["promotions"]
            assert (promotion["outcome"], promotion["current"]) == ("succeeded", True)
        assert envs["staging"]["promotions"][0]["from_environment"] == "dev"

        (service.dir / "CHANGES").write_text("1.1.0: a second release\n")
        git(service, "add", "CHANGES")
        git(service, "commit", "-qm", "1.1.0")
        second = create(service, "1.1.0")
        assert second["sha256"] != first["sha256"]
        seen = under_load(service, "staging", urls["staging"], "release", "promote", "1.1.0",
                          "--to", "staging")  # fmt: skip
        assert set(seen) == {"1.0.0", "1.1.0"}, seen
        assert stable(service, "staging")["version"] == "1.1.0"

        seen = under_load(service, "staging", urls["staging"], "-E", "staging", "release",
                          "rollback")  # fmt: skip
        assert set(seen) == {"1.0.0", "1.1.0"}, seen
        back = stable(service, "staging")
        assert (back["version"], back["path"]) == ("1.0.0", folders["staging"])
        assert stable(service, "dev")["version"] == "1.0.0"  # untouched
        # the release's notes say it was rolled back off staging, and by whom
        notes = json.loads(ok(service.cli("release", "notes", "1.1.0", "--json")).stdout)
        (there,) = notes["evidence"]
        assert there["environment"] == "staging"
        (back_off,) = there["rollbacks"]
        assert back_off["reason"].startswith("release rollback to 1.0.0 by "), back_off
    finally:
        for env in ("dev", "staging"):
            service.cli("-E", env, "down", timeout=180)
        survivors = service.cleanup()
        assert not survivors, f"processes left behind: {survivors}"
