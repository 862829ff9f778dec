"""What commands do for an environment on another host before anything runs: which state
directory they mean, and the refusals (exit 2) that say what to do instead."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from changeover.agent.paths import StatePaths
from changeover.cli.app import app
from changeover.cli.common import state_paths
from changeover.cli.remote import deploy_on_host
from changeover.cli.ssh import Remote, RemotePaths, SshHost

SPEC = """
[app]
name = "hello"
command = "uvicorn app:app --fd 3"

[environments.dev]
[environments.prod]
host = "{host}"
"""
HOST = "ssh://deploy@prod-1:2222/srv/hello"


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in ("CHANGEOVER_ENVIRONMENT", "CHANGEOVER_STATE_DIR", "CHANGEOVER_SSH"):
        monkeypatch.delenv(var, raising=False)
    path = tmp_path / "changeover.toml"
    path.write_text(SPEC.format(host=HOST))
    return path


def invoke(*args: str, **env: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "300", **env})
    os.environ.pop("CHANGEOVER_ENVIRONMENT", None)  # what -E set for this run only
    return result.exit_code, result.output


def selected(name: str, spec: Path, monkeypatch: pytest.MonkeyPatch) -> StatePaths:
    monkeypatch.setenv("CHANGEOVER_ENVIRONMENT", name)
    return state_paths(None, spec)


def test_an_environment_with_a_host_is_reached_over_ssh(
    spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = selected("prod", spec, monkeypatch)
    assert isinstance(paths, RemotePaths)
    assert paths.remote.host == SshHost.parse(HOST)
    assert paths.root == Path("/srv/hello/.changeover/prod")  # on the host
    local = selected("dev", spec, monkeypatch)
    assert not isinstance(local, RemotePaths)
    assert local.root == spec.parent / ".changeover" / "dev"


def test_on_the_host_itself_the_environment_is_local(
    spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spec in the host's service folder is the host's own copy: its agent is here."""
    spec.write_text(SPEC.format(host=f"ssh://deploy@prod-1{spec.parent}"))
    paths = selected("prod", spec, monkeypatch)
    assert not isinstance(paths, RemotePaths)
    assert paths.root == spec.parent / ".changeover" / "prod"


def test_up_in_the_foreground_is_refused_for_a_remote_environment(spec: Path) -> None:
    code, output = invoke("-E", "prod", "up", "-f", str(spec))
    assert code == 2, output
    assert f"environment prod on {HOST}: an agent started over ssh must outlive" in output
    assert "`changeover -E prod up --detach`" in output
    assert "`changeover systemd`" in output


def test_deploy_to_a_remote_environment_needs_a_path_on_that_host(spec: Path) -> None:
    code, output = invoke("-E", "prod", "deploy", "--version", "v2", "-f", str(spec))
    assert code == 2, output
    assert "deploy needs --path naming the release's folder on that host" in output
    assert "`changeover release promote VERSION --to prod`" in output


def test_a_local_state_dir_is_refused_for_a_remote_environment(spec: Path) -> None:
    code, output = invoke("-E", "prod", "status", "-f", str(spec), "--state-dir", "/tmp/x")
    assert code == 2, output
    assert "the agent of environment prod on ssh://" in output
    assert "keeps its state there, in /srv/hello/.changeover/prod" in output


def test_an_unreadable_ssh_command_is_bad_input(spec: Path) -> None:
    code, output = invoke("-E", "prod", "status", "-f", str(spec), CHANGEOVER_SSH="ssh -F 'x")
    assert code == 2, output
    assert "$CHANGEOVER_SSH: No closing quotation" in output


def test_a_deploy_names_the_hosts_folders() -> None:
    remote = Remote.of("prod", SshHost.parse(HOST), {})
    body = {"version": "v2", "spec_path": "/home/me/hello/changeover.toml", "path": None}
    sent = deploy_on_host(
        remote, body, Path("/home/me/hello/changeover.toml"), Path("releases/v2"), Path(".env")
    )
    assert sent == {
        "version": "v2",
        "spec_path": "/srv/hello/changeover.toml",
        "path": "/srv/hello/releases/v2",
        "env_file": "/srv/hello/.env",
    }
    absolute = deploy_on_host(remote, body, Path("/x/changeover.toml"), Path("/opt/v2"), None)
    assert (absolute["path"], absolute["env_file"]) == ("/opt/v2", None)
