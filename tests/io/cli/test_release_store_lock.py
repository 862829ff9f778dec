"""The build store's lock (`release_store.locked`): a prune waits while a promote reads and
sends an artifact, then finds the promotion on record and keeps its release; past its
`--lock-timeout` either side exits 1 having changed nothing; promotes share the lock, and
a promote lets it go once its promotion is on record."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console

from changeover.cli import release, release_prune, release_store
from changeover.cli.client import AgentClient
from tests.helpers import wait_for
from tests.io.agent._releases import serve_and_call
from tests.io.cli.test_release_cli import cli, work_tree
from tests.io.cli.test_release_prune_cli import VERSIONS, artifacts, made, store_of


class Recorded:
    """An environment's agent as prune asks it, noting each time it is asked."""

    def __init__(self, name: str, promotions: list[dict[str, Any]], asked: list[str]) -> None:
        self.name, self.promotions, self.asked = name, promotions, asked

    def __enter__(self) -> Recorded:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def get(self, path: str) -> dict[str, Any]:
        assert path == "/v1/promotions"
        self.asked.append(self.name)
        return {"promotions": list(self.promotions)}


Answers = dict[str, list[dict[str, Any]]]


@pytest.fixture
def env_agents(monkeypatch: pytest.MonkeyPatch) -> tuple[Answers, list[str]]:
    """dev runs the newest release, staging nothing yet; who was asked."""
    answers: Answers = {
        "dev": [{"version": "1.10.0", "state": "done", "current": True}],
        "staging": [],
    }
    asked: list[str] = []
    monkeypatch.setattr(
        release_prune, "client_for", lambda spec_file, name: Recorded(name, answers[name], asked)
    )
    return answers, asked


def test_prune_waits_for_a_promote_then_keeps_the_release_it_sent(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    env_agents: tuple[Answers, list[str]],
) -> None:
    answers, asked = env_agents
    spec, folder = store_of(tmp_path)
    said = io.StringIO()
    monkeypatch.setattr(release_prune, "err", Console(file=said, width=300))
    ended: list[BaseException | None] = []

    def prune() -> None:
        try:
            release_prune.prune(keep=1, dry_run=False, lock_timeout=120.0, file=spec, json=True)
            ended.append(None)
        except (typer.Exit, SystemExit) as exc:
            ended.append(exc)

    pruning = threading.Thread(target=prune)
    # a promote of 1.0.0 to staging: it holds the lock from reading the release until
    # staging's agent has the promotion on record
    with release_store.locked(folder, exclusive=False, wait=0):
        pruning.start()
        wait_for(lambda: "waiting for the release store" in said.getvalue(), 30, "prune waiting")
        assert asked == []  # nothing decided while the promote reads and sends
        assert artifacts(folder) == set(VERSIONS)
        answers["staging"].append({"version": "1.0.0", "state": "waiting", "current": False})
    pruning.join(timeout=120)
    assert not pruning.is_alive()
    assert ended == [None]
    assert sorted(asked) == ["dev", "staging"]
    # 1.0.0 is beyond --keep 1, but the promotion that held the lock needs it
    assert artifacts(folder) == {"1.10.0", "1.0.0"}


def test_prune_past_its_lock_timeout_removes_nothing_and_says_why(
    tmp_path: Path, env_agents: tuple[Answers, list[str]]
) -> None:
    _, asked = env_agents
    spec, folder = store_of(tmp_path)
    with release_store.locked(folder, exclusive=False, wait=0):  # a promote
        refused = cli("release", "prune", "--keep", "1", "--lock-timeout", "0s", "-f", str(spec))
    assert refused.exit_code == 1, refused.output
    text = " ".join(refused.output.split())
    assert f"the release store {folder} was in use by another `release promote`" in text
    assert "nothing removed" in text
    assert "--lock-timeout" in text
    assert asked == []
    assert artifacts(folder) == set(VERSIONS)
    done = cli("release", "prune", "--keep", "1", "--lock-timeout", "0s", "-f", str(spec))
    assert done.exit_code == 0, done.output  # free again: the same command goes through
    assert artifacts(folder) == {"1.10.0"}


def test_promote_past_its_lock_timeout_sends_nothing(tmp_path: Path) -> None:
    spec, folder = store_of(tmp_path)
    with release_store.locked(folder, exclusive=True, wait=0):  # a prune
        refused = cli(
            "release", "promote", "1.0.0", "--to", "dev", "--lock-timeout", "0s", "-f", str(spec)
        )
    # exit 1 before any agent is asked (dev has none here: asking it would be exit 3)
    assert refused.exit_code == 1, refused.output
    text = " ".join(refused.output.split())
    assert f"the release store {folder} was in use by another" in text
    assert "nothing sent" in text


def test_promotes_share_the_lock_and_prune_has_it_alone(tmp_path: Path) -> None:
    folder = tmp_path / "releases"
    folder.mkdir()
    shared = release_store.locked(folder, exclusive=False, wait=0)
    with release_store.locked(folder, exclusive=False, wait=0):
        with shared:
            pass  # a second promote does not wait
        refused = release_store.locked(folder, exclusive=True, wait=0)
        with pytest.raises(release_store.StoreBusy), refused:
            pass
    with release_store.locked(folder, exclusive=True, wait=0):
        for exclusive in (True, False):  # a second prune waits too, and a promote
            refused = release_store.locked(folder, exclusive=exclusive, wait=0)
            with pytest.raises(release_store.StoreBusy), refused:
                pass
    missing = tmp_path / "none"
    with release_store.locked(missing, exclusive=True, wait=0):
        pass  # no store: nothing to guard
    assert not missing.exists()


def test_a_promote_lets_the_lock_go_once_its_promotion_is_on_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Following the rollout does not hold prune off: the promotion is on record by then."""
    spec = work_tree(tmp_path / "host")
    made(spec, "1.0.0")
    folder = release_store.releases_dir(spec)
    free_when_following: list[bool] = []
    real_finish = release.finish

    def finish(*args: Any, **kwargs: Any) -> None:
        try:
            with release_store.locked(folder, exclusive=True, wait=0):
                free_when_following.append(True)
        except release_store.StoreBusy:
            free_when_following.append(False)
        real_finish(*args, **kwargs)

    monkeypatch.setattr(release, "finish", finish)

    def use(client: AgentClient) -> Any:
        return cli("release", "promote", "1.0.0", "--to", "staging", "--no-wait", "-f", str(spec))

    started, _ = serve_and_call(tmp_path, use, state=tmp_path / "host" / ".changeover" / "staging")
    assert started.exit_code == 0, started.output
    assert free_when_following == [True]
