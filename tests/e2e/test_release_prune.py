"""`release prune` end to end with a real agent: three releases built, the oldest promoted
to dev; `prune --keep 1` asks dev's agent, keeps the newest and what dev runs, removes
the other's artifact, keeps every record; promoting the pruned release exits 2."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.harness import Service
from tests.e2e.test_releases import create, git, ok
from tests.helpers import free_port

OVERLAY = """
[environments.dev]
[environments.dev.spec.app]
replicas = 1
[environments.dev.spec.proxy]
listen = "127.0.0.1:{port}"
"""


def test_prune_keeps_what_dev_runs_and_the_newest(tmp_path: Path) -> None:
    service = Service(tmp_path)
    service.spec.write_text(service.spec.read_text() + OVERLAY.format(port=free_port()))
    (service.dir / ".gitignore").write_text(".changeover/\n__pycache__/\n")
    git(service, "init", "-q", ".")
    git(service, "add", "-A")
    git(service, "commit", "-qm", "hello")
    store = service.state / "releases"
    try:
        ok(service.cli("-E", "dev", "up", "--detach"))
        service.track_agent_of("dev")
        for version in ("1.0.0", "1.1.0", "1.2.0"):
            (service.dir / "CHANGES").write_text(f"{version}\n")
            git(service, "add", "CHANGES")
            git(service, "commit", "-qm", f"fix: {version}")
            create(service, version)
        ok(service.cli("release", "promote", "1.0.0", "--to", "dev", timeout=180))
        service.status_of("dev")  # tracks its replica

        doc = json.loads(ok(service.cli("release", "prune", "--keep", "1", "--json")).stdout)
        assert doc["asked"] == ["dev"]
        verdicts = {r["version"]: (r["removed"], r["kept_because"]) for r in doc["releases"]}
        assert verdicts == {
            "1.2.0": (False, ["one of the 1 newest"]),
            "1.1.0": (True, []),
            "1.0.0": (False, ["dev runs it"]),
        }
        assert sorted(p.name for p in store.glob("*.tar.gz")) == ["1.0.0.tar.gz", "1.2.0.tar.gz"]
        assert sorted(p.name for p in store.glob("*.json")) == [
            "1.0.0.json", "1.1.0.json", "1.2.0.json"
        ]  # fmt: skip

        refused = service.cli("release", "promote", "1.1.0", "--to", "dev")
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "release 1.1.0 was pruned from" in refused.stderr
    finally:
        service.cli("-E", "dev", "down", timeout=180)
        survivors = service.cleanup()
        assert not survivors, f"processes left behind: {survivors}"
