"""`changeover deploy --env-file FILE`, and `--env` refused for a secret before anything
is sent to the agent (a command line is seen by `ps` and kept in shell history)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from changeover.cli import deploy as deploy_cli
from changeover.cli.app import app

SPEC = """\
[app]
name = "svc"
command = "python -m app"
env_file = ".env"
secret_env = ["DATABASE_URL"]
"""


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[dict[str, Any]]:
    """The bodies `deploy` would post (no agent, no socket)."""
    bodies: list[dict[str, Any]] = []

    class Client:
        def __init__(self, paths: Any) -> None:
            pass

        def __enter__(self) -> Client:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

    def run_rollout(client: Any, endpoint: str, body: dict[str, Any], **kw: Any) -> None:
        bodies.append(body)

    monkeypatch.setattr(deploy_cli, "AgentClient", Client)
    monkeypatch.setattr(deploy_cli, "run_rollout", run_rollout)
    (tmp_path / "changeover.toml").write_text(SPEC)
    (tmp_path / ".env").write_text("DATABASE_URL=postgres://u:pw@db/app\n")
    monkeypatch.chdir(tmp_path)
    return bodies


def test_env_file_is_sent_as_an_absolute_path(sent: list[dict[str, Any]], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["deploy", "--version", "v2", "--env-file", "prod.env"])
    assert result.exit_code == 0, result.output
    (body,) = sent
    assert body["env_file"] == str(tmp_path / "prod.env")
    assert body["env"] == {}


def test_without_env_file_none_is_sent(sent: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(app, ["deploy", "--version", "v2", "--env", "LOG=debug"])
    assert result.exit_code == 0, result.output
    assert (sent[0]["env_file"], sent[0]["env"]) == (None, {"LOG": "debug"})


def test_a_secret_on_the_command_line_exits_2_before_sending(
    sent: list[dict[str, Any]], tmp_path: Path
) -> None:
    args = ["deploy", "--version", "v2", "--env", "DATABASE_URL=postgres://u:hunter2@db/app"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert sent == []
    assert "--env DATABASE_URL: DATABASE_URL is a secret (app.secret_env)" in result.output
    assert f"the env file ({tmp_path / '.env'})" in " ".join(result.output.split())
    assert "hunter2" not in result.output
