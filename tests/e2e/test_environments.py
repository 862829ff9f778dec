"""Environments side by side on one machine: each has its own agent, state and listener,
selected by `-E` or CHANGEOVER_ENVIRONMENT, and a deploy to one under load leaves the
other untouched."""

from __future__ import annotations

from pathlib import Path

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
replicas = 1
[environments.staging.spec.proxy]
listen = "127.0.0.1:{staging}"
"""


def test_dev_and_staging_run_side_by_side_and_deploy_apart(tmp_path: Path) -> None:
    service = Service(tmp_path)
    ports = {"dev": free_port(), "staging": free_port()}
    service.spec.write_text(service.spec.read_text() + OVERLAYS.format(**ports))
    try:
        for env in ("dev", "staging"):
            started = service.cli("-E", env, "up", "--detach")
            assert started.returncode == 0, started.stdout + started.stderr
            service.track_agent_of(env)
        dev, staging = (service.status_of(env) for env in ("dev", "staging"))
        assert dev["agent"]["listen"] == f"127.0.0.1:{ports['dev']}"
        assert staging["agent"]["listen"] == f"127.0.0.1:{ports['staging']}"
        assert dev["agent"]["state_dir"] == str(service.dir / ".changeover" / "dev")
        assert len([r for r in staging["replicas"] if r["state"] == "ready"]) == 1  # overlay
        plain = ("-E", "staging", "deploy", "--version", "v2", "--env", "HELLO_VERSION=v2")
        refused = service.cli(*plain)  # staging takes releases promoted from dev
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "environment staging is gated (promotion from dev)" in refused.stderr, refused.stdout
        with BackgroundLoad(f"http://127.0.0.1:{ports['staging']}", rate=100, connections=4,
                            count_header="X-Version") as load:  # fmt: skip
            deployed = service.cli(*plain, "--force")
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        assert load.report.failed == 0, load.report.summary()
        assert set(load.report.header_counts) == {"v1", "v2"}
        assert service.status_of("staging")["stable_revision"] == 2
        assert service.status_of("dev")["stable_revision"] == 1  # untouched
    finally:
        for env in ("dev", "staging"):
            service.cli("-E", env, "down", timeout=180)
        survivors = service.cleanup()
        assert not survivors, f"processes left behind: {survivors}"
