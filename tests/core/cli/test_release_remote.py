"""`release promote --to ENV` reaches ENV's agent where it runs: over ssh for a remote one."""

from __future__ import annotations

from pathlib import Path

from changeover.cli.release import client_for
from changeover.cli.ssh import RemotePaths

SPEC = """
[app]
name = "hello"
command = "uvicorn app:app --fd 3"

[environments.staging]
[environments.prod]
promote_from = "staging"
host = "ssh://deploy@prod-1:2222/srv/hello"
"""


def test_a_remote_target_is_reached_over_ssh_and_a_local_one_here(tmp_path: Path) -> None:
    spec = tmp_path / "changeover.toml"
    spec.write_text(SPEC)
    with client_for(spec, "prod") as prod, client_for(spec, "staging") as staging:
        assert isinstance(prod.paths, RemotePaths)
        assert (prod.paths.remote.host.host, prod.paths.remote.host.port) == ("prod-1", 2222)
        assert not isinstance(staging.paths, RemotePaths)
        assert staging.paths.root == tmp_path / ".changeover" / "staging"
