"""`changeover release ...` from the command line: create from a git work tree or a plain
folder (reproducible, clean unless told), list, show (unreachable agents are a state),
promote to a served agent, and the refusals with their exit codes."""

from __future__ import annotations

import gc
import json
import os
import pwd
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from changeover.cli.app import app
from changeover.cli.client import AgentClient, Refused
from tests.io.agent._releases import SPEC, serve_and_call

GIT_ID = ["-c", "user.name=t", "-c", "user.email=t@example.com"]


def cli(*args: str) -> Result:
    """The command, in this process. httpcore leaves the socket of a failed unix-socket
    connect (an agent not running) to the garbage collector: collected here, where that
    warning is expected (as in test_client)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "unclosed <socket.socket", ResourceWarning)
        result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})
        gc.collect()
    os.environ.pop("CHANGEOVER_ENVIRONMENT", None)  # what -E set for this run only
    return result


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", *GIT_ID, *args], cwd=folder, capture_output=True, text=True,
                          check=True)  # fmt: skip
    return done.stdout


def service(folder: Path, spec: str = SPEC) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "changeover.toml").write_text(spec.format(version="1.0.0"))
    (folder / "app.py").write_text("print('hi')\n")
    (folder / ".env").write_text("DATABASE_URL=postgres://secret\n")
    return folder / "changeover.toml"


def work_tree(folder: Path) -> Path:
    spec = service(folder)
    (folder / ".gitignore").write_text(".changeover/\n.env\n")
    git(folder, "init", "-q", ".")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "first")
    return spec


def created(spec: Path, version: str, *more: str) -> dict[str, Any]:
    result = cli("release", "create", "--version", version, "-f", str(spec), "--json", *more)
    assert result.exit_code == 0, result.output
    doc: dict[str, Any] = json.loads(result.stdout)
    return doc


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHANGEOVER_ENVIRONMENT", raising=False)
    monkeypatch.delenv("CHANGEOVER_STATE_DIR", raising=False)


def test_a_clean_work_tree_gives_the_same_artifact_in_every_checkout(tmp_path: Path) -> None:
    spec = work_tree(tmp_path / "a")
    first = created(spec, "1.0.0")
    commit = git(tmp_path / "a", "rev-parse", "HEAD").strip()
    assert (first["source"], first["commit"], first["dirty"]) == ("git", commit, False)
    assert (first["files"], first["hotfix"], first["spec_file"]) == (3, False, "changeover.toml")
    assert first["created_by"] == pwd.getpwuid(os.getuid()).pw_name
    git(tmp_path, "clone", "-q", str(tmp_path / "a"), "b")  # other files, other times
    other = created(tmp_path / "b" / "changeover.toml", "1.0.0")
    assert other["sha256"] == first["sha256"]
    assert other["size"] == first["size"]
    kept = Path(first["artifact"])
    assert kept == tmp_path / "a" / ".changeover" / "releases" / "1.0.0.tar.gz"
    listing = subprocess.run(["tar", "tzf", str(kept)], capture_output=True, text=True, check=True)
    assert listing.stdout.split() == [".gitignore", "app.py", "changeover.toml"]  # git's files


def test_a_dirty_tree_is_refused_unless_allowed(tmp_path: Path) -> None:
    spec = work_tree(tmp_path)
    (tmp_path / "app.py").write_text("print('changed')\n")
    refused = cli("release", "create", "--version", "1.0.0", "-f", str(spec))
    assert refused.exit_code == 2
    assert "uncommitted changes (commit them, or pass --allow-dirty)" in refused.output
    assert " M app.py" in refused.output
    assert not (tmp_path / ".changeover" / "releases" / "1.0.0.json").exists()
    allowed = created(spec, "1.0.0", "--allow-dirty", "--hotfix")
    assert (allowed["dirty"], allowed["hotfix"]) == (True, True)


def test_refusals_of_create(tmp_path: Path) -> None:
    spec = work_tree(tmp_path)
    created(spec, "1.0.0")
    again = cli("release", "create", "--version", "1.0.0", "-f", str(spec))
    assert (again.exit_code, "release 1.0.0 exists already" in again.output) == (2, True)
    bad = cli("release", "create", "--version", "../x", "-f", str(spec))
    assert (bad.exit_code, "is not a semantic version" in bad.output) == (2, True)
    (tmp_path / "escape").symlink_to("../../etc/passwd")
    git(tmp_path, "add", "escape")
    git(tmp_path, "commit", "-qm", "a link out")
    unsafe = cli("release", "create", "--version", "1.0.1", "-f", str(spec))
    assert unsafe.exit_code == 2
    assert "cannot pack these files safely" in unsafe.output
    assert "'escape': a link to '../../etc/passwd', which leads outside" in unsafe.output
    untracked = work_tree(tmp_path / "other")
    git(tmp_path / "other", "rm", "-q", "--cached", "changeover.toml")
    git(tmp_path / "other", "commit", "-qm", "untrack the spec")
    lost = cli("release", "create", "--version", "1.0.0", "-f", str(untracked))
    assert lost.exit_code == 2
    assert "is not tracked by git: `git add` it (the spec ships with the release)" in lost.output


def test_a_plain_folder_leaves_out_state_caches_virtualenvs_and_secrets(tmp_path: Path) -> None:
    spec = service(tmp_path)
    for name in ("__pycache__/app.pyc", ".venv/pyvenv.cfg", ".venv/lib/x.py",
                 ".changeover/dev/state.db"):  # fmt: skip
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    result = cli("release", "create", "--version", "0.1.0", "-f", str(spec), "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert (doc["source"], doc["commit"], doc["files"]) == ("folder", None, 2)
    assert doc["skipped"] == [
        {"path": ".env", "why": "an env or token file of the spec (secrets come from each "
                                "target host)"}
    ]  # fmt: skip
    listing = cli("release", "list", "-f", str(spec), "--json")
    assert [r["version"] for r in json.loads(listing.stdout)["releases"]] == ["0.1.0"]


def test_show_and_promote_without_agents(tmp_path: Path) -> None:
    spec = work_tree(tmp_path)
    (tmp_path / ".env").unlink()  # a build machine holds no host's secrets: not needed
    created(spec, "1.0.0")
    shown = cli("release", "show", "1.0.0", "-f", str(spec), "--json")
    assert shown.exit_code == 0, shown.output
    envs = {e["name"]: e for e in json.loads(shown.stdout)["environments"]}
    assert set(envs) == {"dev", "staging"}
    assert envs["dev"]["reachable"] is False
    assert "no agent is running for" in envs["dev"]["error"]
    text = cli("release", "show", "1.0.0", "-f", str(spec))
    assert "unreachable" in text.output
    unknown = cli("release", "promote", "9.9", "--to", "dev", "-f", str(spec))
    assert (unknown.exit_code, "unknown release '9.9'" in unknown.output) == (2, True)
    nowhere = cli("release", "promote", "1.0.0", "--to", "prod", "-f", str(spec))
    assert nowhere.exit_code == 2
    assert "unknown environment 'prod'; the spec defines: dev, staging" in nowhere.output
    # the contract's exit code 3, through the real entry point
    down = subprocess.run(
        [sys.executable, "-m", "changeover", "release", "promote", "1.0.0", "--to", "dev",
         "-f", str(spec)],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    assert down.returncode == 3, down.stderr
    assert "no agent is running for" in down.stderr


def test_promote_uploads_once_then_posts_and_refuses_while_busy(tmp_path: Path) -> None:
    spec = work_tree(tmp_path / "host")
    meta = created(spec, "1.0.0")
    state = tmp_path / "host" / ".changeover" / "staging"

    artifact = Path(meta["artifact"])
    good = artifact.read_bytes()

    def use(client: AgentClient) -> list[Result]:
        artifact.write_bytes(good[:100] + bytes([good[100] ^ 1]) + good[101:])  # one bit
        corrupt = cli("release", "promote", "1.0.0", "--to", "staging", "-f", str(spec))
        artifact.write_bytes(good)
        first = cli("release", "promote", "1.0.0", "--to", "staging", "--no-wait", "--json",
                    "-f", str(spec))  # fmt: skip
        busy = cli("release", "promote", "1.0.0", "--to", "staging", "--no-wait", "-f", str(spec))
        shown = cli("release", "show", "1.0.0", "-f", str(spec), "--json")
        return [corrupt, first, busy, shown]

    (corrupt, first, busy, shown), events = serve_and_call(tmp_path, use, state=state)
    assert isinstance(corrupt.exception, Refused)  # exit 2 through the entry point
    assert "digest mismatch: the upload's sha256 is" in str(corrupt.exception)
    assert f"but {meta['sha256']} was declared; nothing kept" in str(corrupt.exception)
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    assert doc["uploaded"] is True
    assert doc["promotion"]["sha256"] == meta["sha256"]
    assert doc["promotion"]["from_environment"] == "dev"  # staging's promote_from
    assert doc["promotion"]["requested_by"] == pwd.getpwuid(os.getuid()).pw_name
    assert doc["rollout"]["phase"] == "progressing"
    assert busy.exit_code == 2
    assert "is still in progress in staging" in busy.output
    envs = {e["name"]: e for e in json.loads(shown.stdout)["environments"]}
    assert envs["staging"]["same_digest"] is True
    assert envs["staging"]["promotions"][0]["outcome"] == "progressing"
    assert envs["dev"]["reachable"] is False
    assert sum("received from" in m for m in events) == 1
