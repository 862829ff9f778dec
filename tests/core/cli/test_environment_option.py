"""`-E/--environment` (or CHANGEOVER_ENVIRONMENT) selects an environment of the spec for
every command; `check` validates them all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from changeover.agent.paths import StatePaths
from changeover.cli.app import app

SPEC = """
[app]
name = "hello"
command = "uvicorn app:app --fd 3"
replicas = 3

[environments.dev]
[environments.dev.spec.proxy]
listen = "127.0.0.1:9001"

[environments.staging]
promote_from = "dev"
[environments.staging.spec.app]
replicas = 2
[environments.staging.spec.proxy]
listen = "127.0.0.1:9002"
"""


@pytest.fixture
def spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CHANGEOVER_ENVIRONMENT", raising=False)
    monkeypatch.delenv("CHANGEOVER_STATE_DIR", raising=False)
    path = tmp_path / "changeover.toml"
    path.write_text(SPEC)
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    os.environ.pop("CHANGEOVER_ENVIRONMENT", None)  # what -E set for this run only
    return result.exit_code, result.output


def test_check_validates_the_base_and_every_environment(spec: Path) -> None:
    code, output = invoke("check", "-f", str(spec))
    assert code == 0, output
    assert "ok (hello: 3 replica(s)" in output
    dev = "environment dev: hello: 3 replica(s), strategy rolling, listening on 127.0.0.1:9001"
    assert dev in output
    assert "environment staging: hello: 2 replica(s)" in output
    assert "promoted from dev" in output


def test_check_of_one_environment_shows_its_merged_spec(spec: Path) -> None:
    code, output = invoke("-E", "staging", "check", "-f", str(spec))
    assert code == 0, output
    assert "hello: 2 replica(s), strategy rolling, listening on 127.0.0.1:9002" in output


def test_an_unknown_environment_is_refused_naming_the_known_ones(spec: Path) -> None:
    for command in (["check"], ["status"], ["deploy", "--version", "v2"]):
        code, output = invoke("-E", "qa", *command, "-f", str(spec))
        assert code == 2, (command, output)
        assert "unknown environment 'qa'; the spec defines: dev, staging" in output


def test_the_variable_works_like_the_option(spec: Path) -> None:
    result = CliRunner().invoke(
        app, ["check", "-f", str(spec)], env={"CHANGEOVER_ENVIRONMENT": "dev", "COLUMNS": "200"}
    )
    os.environ.pop("CHANGEOVER_ENVIRONMENT", None)
    assert result.exit_code == 0, result.output
    assert "listening on 127.0.0.1:9001" in result.output


def test_each_environment_has_its_own_state_folder(tmp_path: Path) -> None:
    spec = tmp_path / "changeover.toml"
    assert StatePaths.resolve(None, spec).root == tmp_path / ".changeover"
    assert StatePaths.resolve(None, spec, "dev").root == tmp_path / ".changeover" / "dev"
    assert StatePaths.resolve(tmp_path / "s", spec, "dev").root == tmp_path / "s"  # as asked
