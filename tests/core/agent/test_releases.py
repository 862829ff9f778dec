"""From a deploy request to revision fields, replica environments and rolling parameters."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from changeover.agent.releases import (
    BadRequest,
    DeployRequest,
    UndoRequest,
    env_files,
    release_fields,
    replica_env,
    revision_spec,
    rolling_params,
    template_for,
)
from changeover.agent.secret_env import ENVIRONMENT, SecretReader, digest
from changeover.spec.load import load_spec
from changeover.spec.models import Spec
from changeover.supervisor.spawn import SpawnError

WriteSpec = Callable[..., tuple[Spec, Path]]
HERE = os.path.dirname(sys.executable)


def KEY() -> bytes:  # stands for the agent's DigestKey
    return b"k" * 32


def request(spec_path: Path, **kw: Any) -> DeployRequest:
    return DeployRequest(version="v2", spec_text="", spec_path=str(spec_path), **kw)


def test_release_fields_resolve_the_workdir_beside_the_spec(write_spec: WriteSpec) -> None:
    spec, path = write_spec(workdir="app/src")
    fields = release_fields(spec, request(path), KEY)
    assert fields["path"] == str(path.parent / "app" / "src")
    assert fields["version"] == "v2"
    assert fields["command"] == "python -m app"
    assert fields["replicas"] == 3
    assert fields["spec"] == spec.model_dump(mode="json")
    assert revision_spec(7, fields["spec"]) == spec  # the snapshot loads back unchanged


def test_release_fields_path_and_command_overrides(write_spec: WriteSpec, tmp_path: Path) -> None:
    spec, path = write_spec()
    other = tmp_path / "release-2"
    other.mkdir()
    fields = release_fields(spec, request(path, path=str(other), command="./serve --fast"), KEY)
    assert fields["path"] == str(other)
    assert fields["command"] == "./serve --fast"


def test_release_fields_normalise_the_path(write_spec: WriteSpec, tmp_path: Path) -> None:
    spec, path = write_spec()
    (tmp_path / "a" / "b").mkdir(parents=True)
    fields = release_fields(spec, request(path, path=str(tmp_path / "a" / "b" / "..")), KEY)
    assert fields["path"] == str(tmp_path / "a")


def test_a_missing_directory_is_a_bad_request(write_spec: WriteSpec, tmp_path: Path) -> None:
    spec, path = write_spec()
    missing = tmp_path / "no-such-release"
    with pytest.raises(BadRequest) as exc:
        release_fields(spec, request(path, path=str(missing)), KEY)
    assert exc.value.lines == [f"--path: directory {str(missing)!r} does not exist"]
    (tmp_path / "file").write_text("")
    with pytest.raises(BadRequest, match="does not exist"):
        release_fields(spec, request(path, path=str(tmp_path / "file")), KEY)


def test_release_env_overrides_the_spec_env(write_spec: WriteSpec) -> None:
    spec, path = write_spec()
    fields = release_fields(spec, request(path, env={"B": "release", "C": "x=y", "D": ""}), KEY)
    assert fields["env"] == {"A": "from-spec", "B": "release", "C": "x=y", "D": ""}
    assert spec.app.env == {"A": "from-spec", "B": "from-spec"}  # the spec is not changed


@pytest.mark.parametrize("name", ["", "A=B", "MY-VAR", "SP ACE", "DOT.TED", "$X"])
def test_invalid_env_names_are_bad_requests(write_spec: WriteSpec, name: str) -> None:
    spec, path = write_spec()
    with pytest.raises(BadRequest) as exc:
        release_fields(spec, request(path, env={"OK_1": "1", name: "v"}), KEY)
    assert exc.value.lines == [f"--env: invalid variable name {name!r}; expected KEY=VALUE"]


@pytest.mark.parametrize("name", ["_X", "lower", "A1_B2"])
def test_valid_env_names_pass(write_spec: WriteSpec, name: str) -> None:
    spec, path = write_spec()
    assert release_fields(spec, request(path, env={name: "v"}), KEY)["env"][name] == "v"


@pytest.mark.parametrize("name", ["1ABC", "CAFÉ"])
def test_env_names_follow_the_spec_rule(write_spec: WriteSpec, name: str) -> None:
    spec, path = write_spec()
    with pytest.raises(BadRequest, match="invalid variable name"):
        release_fields(spec, request(path, env={name: "v"}), KEY)


def test_replica_env_appends_the_interpreter_folder_to_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/usr/local/bin:/usr/bin")
    monkeypatch.setenv("AGENT_ONLY", "agent")
    monkeypatch.setenv("SHARED", "agent")
    env = replica_env({"SHARED": "release", "NEW": "1"})
    assert env["PATH"] == f"/usr/local/bin:/usr/bin{os.pathsep}{HERE}"
    assert (env["AGENT_ONLY"], env["SHARED"], env["NEW"]) == ("agent", "release", "1")
    assert os.environ["PATH"] == "/usr/local/bin:/usr/bin"  # the agent's own env is untouched


def test_replica_env_keeps_a_path_that_already_has_the_interpreter_folder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", f"{HERE}{os.pathsep}/usr/bin")
    assert replica_env({})["PATH"] == f"{HERE}{os.pathsep}/usr/bin"
    env = replica_env({"PATH": f"/opt/x{os.pathsep}{HERE}"})
    assert env["PATH"].split(os.pathsep).count(HERE) == 1
    assert env["PATH"] == f"/opt/x{os.pathsep}{HERE}"


def test_replica_env_puts_the_release_path_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/usr/bin")
    assert replica_env({"PATH": "/opt/tools"})["PATH"] == f"/opt/tools{os.pathsep}{HERE}"
    assert replica_env({"PATH": ""})["PATH"] == HERE


def test_replica_env_without_any_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PATH", raising=False)
    assert replica_env({})["PATH"].split(os.pathsep) == [*os.defpath.split(os.pathsep), HERE]


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [
        (3, "50%", "50%", (2, 1)),  # 1.5: surge rounds up, unavailable down
        (4, "25%", "25%", (1, 1)),
        (3, "10%", "90%", (1, 2)),
        (2, "0%", "99%", (0, 1)),
        (10, "100%", "0%", (10, 0)),
        (5, "2", "1", (2, 1)),  # plain counts are taken as they are
    ],
)
def test_rolling_params_round_surge_up_and_unavailable_down(
    write_spec: WriteSpec, replicas: int, surge: str, unavailable: str, expected: tuple[int, int]
) -> None:
    spec, _ = write_spec(replicas=replicas, surge=surge, unavailable=unavailable)
    params = rolling_params(spec, stable_replicas=None)
    assert (params.max_surge, params.max_unavailable) == expected
    assert params.replicas == replicas


def test_rolling_params_carry_timings_and_the_stable_size(write_spec: WriteSpec) -> None:
    spec, _ = write_spec()
    params = rolling_params(spec, stable_replicas=5)
    assert (params.min_ready, params.progress_deadline, params.stable_replicas) == (2.0, 45.0, 5)
    assert rolling_params(spec, None).stable_replicas is None


def test_deploy_request_rejects_unknown_fields() -> None:
    body = {"version": "v2", "spec_text": "", "spec_path": "/x.toml", "replicas": 3}
    with pytest.raises(ValidationError) as exc:
        DeployRequest.model_validate(body)
    assert [(e["loc"], e["type"]) for e in exc.value.errors()] == [
        (("replicas",), "extra_forbidden")
    ]
    with pytest.raises(ValidationError, match="extra"):
        UndoRequest.model_validate({"to_revision": 1, "forced": True})
    assert UndoRequest.model_validate({"to_revision": 1, "force": True}).force  # past a contract


def test_deploy_request_defaults_and_limits() -> None:
    req = DeployRequest.model_validate_json('{"version": "v", "spec_text": "", "spec_path": "/s"}')
    assert (req.path, req.command, req.env, req.strategy) == (None, None, {}, None)
    for bad in ({"version": ""}, {"version": "v" * 129}, {"command": "   "}):
        with pytest.raises(ValidationError):
            DeployRequest.model_validate({"version": "v", "spec_text": "", "spec_path": "/s"} | bad)
    with pytest.raises(ValidationError):
        UndoRequest(to_revision=0)


SECRET_SPEC = """\
[app]
name = "svc"
command = "python -m app"
env = {{ LOG = "info" }}
{extra}
"""


def secret_spec(tmp_path: Path, extra: str, dotenv: str | None = None) -> tuple[Spec, Path]:
    base = tmp_path / "service"
    base.mkdir(exist_ok=True)
    if dotenv is not None:
        (base / ".env").write_text(dotenv)
    path = base / "svc.toml"
    path.write_text(SECRET_SPEC.format(extra=extra))
    return load_spec(path), path


def test_release_fields_store_digests_and_sources_of_secrets(tmp_path: Path) -> None:
    extra = 'env_file = ".env"\nsecret_env = ["DATABASE_URL", "TOKEN"]'
    spec, path = secret_spec(tmp_path, extra, "DATABASE_URL=pw-1\nLOG=debug\n")
    deploy_file = tmp_path / "deploy.env"
    deploy_file.write_text("EXTRA=1\n")
    req = request(path, env={"LOG": "warn"}, env_file=str(deploy_file))
    fields = release_fields(spec, req, KEY, environ={"TOKEN": "t0ken"})
    assert fields["env"] == {
        "LOG": "warn",
        "EXTRA": "1",
        "DATABASE_URL": digest(KEY(), "pw-1"),
        "TOKEN": digest(KEY(), "t0ken"),
    }
    assert fields["secret_sources"] == {
        "DATABASE_URL": str(path.parent / ".env"),
        "TOKEN": ENVIRONMENT,
    }
    assert "pw-1" not in repr(fields)
    assert "t0ken" not in repr(fields)


def test_release_fields_refuse_a_secret_given_with_env(tmp_path: Path) -> None:
    spec, path = secret_spec(tmp_path, 'secret_env = ["TOKEN"]')
    with pytest.raises(BadRequest) as exc:
        release_fields(spec, request(path, env={"TOKEN": "t0ken"}), KEY, environ={})
    (line,) = exc.value.lines
    assert line.startswith("--env TOKEN: TOKEN is a secret (app.secret_env)")
    assert "t0ken" not in line


def test_release_fields_name_a_missing_secret(tmp_path: Path) -> None:
    spec, path = secret_spec(tmp_path, 'env_file = ".env"\nsecret_env = ["TOKEN"]', "A=1\n")
    with pytest.raises(BadRequest) as exc:
        release_fields(spec, request(path), KEY, environ={})
    assert exc.value.lines == [
        f"app.secret_env: TOKEN was found nowhere; looked in {path.parent / '.env'} "
        "(app.env_file), the agent's environment; put it in one of them"
    ]


def test_the_env_file_of_a_deploy_must_be_absolute(tmp_path: Path) -> None:
    spec, path = secret_spec(tmp_path, "")
    with pytest.raises(BadRequest) as exc:
        release_fields(spec, request(path, env_file="prod.env"), KEY)
    assert exc.value.lines == ["--env-file: expected an absolute path, got 'prod.env'"]


def test_env_files_keep_symlinks_so_secrets_are_read_through_them(tmp_path: Path) -> None:
    (tmp_path / "service").mkdir()
    (tmp_path / "service" / "v1.env").write_text("A=1\n")
    (tmp_path / "service" / "current.env").symlink_to("v1.env")
    spec, path = secret_spec(tmp_path, 'env_file = "current.env"')
    (spec_file,) = env_files(spec, path.parent, None)
    assert spec_file.path == path.parent / "current.env"
    (_, other) = env_files(spec, path.parent, f"{tmp_path}/x/../prod.env")
    assert (other.path, other.origin) == (tmp_path / "prod.env", "--env-file")


def test_a_template_holds_no_secret_and_reads_them_at_each_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, _ = secret_spec(tmp_path, 'secret_env = ["TOKEN"]')
    monkeypatch.setenv("TOKEN", "t0ken")
    stored = {"LOG": "info", "TOKEN": digest(KEY(), "t0ken")}
    changes: list[str] = []
    secrets = SecretReader(
        4, {"TOKEN": ENVIRONMENT}, {"TOKEN": stored["TOKEN"]}, KEY,
        lambda who, name, old, new: changes.append(name),
    )  # fmt: skip
    template = template_for(4, "v4", str(tmp_path), "app", stored, spec, secrets)
    assert "TOKEN" not in template.env  # neither the digest nor the agent's own value
    assert template.env["LOG"] == "info"
    assert template.secrets is not None
    assert template.secrets("r4-1") == {"TOKEN": "t0ken"}
    monkeypatch.delenv("TOKEN")
    with pytest.raises(SpawnError, match="secret TOKEN of revision 4 is no longer in the agent"):
        template.secrets("r4-1")
    assert changes == []


def test_a_template_without_secrets_reads_nothing(tmp_path: Path) -> None:
    spec, _ = secret_spec(tmp_path, "")
    template = template_for(1, "v1", str(tmp_path), "app", {"LOG": "info"}, spec)
    assert template.secrets is None
    assert template.env["LOG"] == "info"
