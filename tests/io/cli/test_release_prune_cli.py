"""`changeover release prune` on a real build store: artifacts beyond the newest go,
records stay (version, list, show, next still read them), what an environment's agent
needs stays, an agent that cannot be asked removes nothing (exit 3), and a pruned
release is refused for promotion (exit 2) and for re-creation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from changeover.cli import release_prune, release_store
from changeover.cli.client import AgentClient, Unreachable
from tests.io.agent._releases import serve_and_call
from tests.io.cli.test_release_cli import cli, created, git, work_tree

VERSIONS = ("1.0.0", "1.1.0", "1.2.0", "1.9.0", "1.10.0")


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CHANGEOVER_ENVIRONMENT", raising=False)
    monkeypatch.delenv("CHANGEOVER_STATE_DIR", raising=False)


class FakeAgent:
    """An environment's agent as prune asks it: its promotions, or no answer."""

    def __init__(self, name: str, promotions: list[dict[str, Any]] | None) -> None:
        self.name, self.promotions = name, promotions

    def __enter__(self) -> FakeAgent:
        if self.promotions is None:
            raise Unreachable(f"no agent is running for /srv/{self.name}/.changeover")
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def get(self, path: str) -> dict[str, Any]:
        assert path == "/v1/promotions"
        return {"promotions": self.promotions}


def agents(monkeypatch: pytest.MonkeyPatch, **answers: list[dict[str, Any]] | None) -> None:
    monkeypatch.setattr(
        release_prune, "client_for", lambda spec_file, name: FakeAgent(name, answers[name])
    )


def made(spec: Path, *versions: str) -> None:
    """Releases `versions`, each of one more commit (a release carries at least one)."""
    for v in versions:
        (spec.parent / "app.py").write_text(f"print({v!r})\n")
        git(spec.parent, "commit", "-qam", f"fix: {v}")
        created(spec, v)


def store_of(tmp_path: Path) -> tuple[Path, Path]:
    spec = work_tree(tmp_path)
    made(spec, *VERSIONS)
    return spec, release_store.releases_dir(spec)


def artifacts(folder: Path) -> set[str]:
    return {p.name.removesuffix(".tar.gz") for p in folder.glob("*.tar.gz")}


def records(folder: Path) -> set[str]:
    return {p.name.removesuffix(".json") for p in folder.glob("*.json")}


def test_prune_keeps_the_newest_and_what_environments_need(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, folder = store_of(tmp_path)
    agents(
        monkeypatch,
        dev=[{"version": "1.1.0", "state": "waiting", "current": False},
             {"version": "1.10.0", "state": "done", "current": True}],
        staging=[{"version": "1.0.0", "state": "done", "current": True},
                 {"version": "1.2.0", "state": "done", "current": False}],
    )  # fmt: skip
    dry = cli("release", "prune", "--keep", "1", "--dry-run", "-f", str(spec))
    assert dry.exit_code == 0, dry.output
    assert artifacts(folder) == set(VERSIONS)  # nothing removed
    assert "would remove 1.9.0 (" in dry.stdout
    assert "would remove 1.2.0 (" in dry.stdout
    assert "kept 1.10.0: one of the 1 newest, dev runs it" in dry.stdout
    assert "kept 1.1.0: dev a promotion of it waits" in dry.stdout
    assert "kept 1.0.0: staging runs it" in dry.stdout
    assert "would remove 2 artifact(s)" in dry.stdout

    done = cli("release", "prune", "--keep", "1", "--json", "-f", str(spec))
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert (doc["dry_run"], doc["keep"], doc["asked"]) == (False, 1, ["dev", "staging"])
    gone = {r["version"] for r in doc["releases"] if r["removed"]}
    assert gone == {"1.9.0", "1.2.0"}
    assert doc["removed_bytes"] == sum(r["size"] for r in doc["releases"] if r["removed"]) > 0
    assert artifacts(folder) == {"1.0.0", "1.1.0", "1.10.0"}
    assert records(folder) == set(VERSIONS)  # records always stay
    assert "pruned_at" in json.loads((folder / "1.9.0.json").read_text())

    # a second prune has nothing more to remove
    again = cli("release", "prune", "--keep", "1", "-f", str(spec))
    assert again.exit_code == 0, again.output
    assert "removed 0 artifact(s), 0 B; kept 3" in again.stdout

    # the records still serve: list, show, the next version; promotion is refused
    listed = cli("release", "list", "-f", str(spec), "--json")
    assert {r["version"] for r in json.loads(listed.stdout)["releases"]} == set(VERSIONS)
    assert "1.9.0 (pruned)" in cli("release", "list", "-f", str(spec)).stdout
    shown = cli("release", "show", "1.9.0", "-f", str(spec), "--json")
    assert json.loads(shown.stdout)["release"]["pruned_at"] > 0
    nxt = cli("release", "next", "-f", str(spec), "--json")
    assert nxt.exit_code == 0, nxt.output
    assert "1.10.0" in nxt.stdout  # the last release is still known
    promote = cli("release", "promote", "1.9.0", "--to", "dev", "-f", str(spec))
    assert promote.exit_code == 2
    assert "release 1.9.0 was pruned from" in promote.output
    assert "its artifact is gone" in promote.output
    again_made = cli("release", "create", "--version", "1.9.0", "-f", str(spec))
    assert again_made.exit_code == 2
    assert "release 1.9.0 exists already" in again_made.output


def test_an_agent_that_cannot_be_asked_removes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, folder = store_of(tmp_path)
    agents(monkeypatch, dev=[], staging=None)
    refused = cli("release", "prune", "--keep", "1", "-f", str(spec))
    assert refused.exit_code == 3
    assert "staging: no agent is running for /srv/staging/.changeover" in refused.output
    assert "changeover status -E ENV" in refused.output
    assert artifacts(folder) == set(VERSIONS)


def test_real_agents_not_running_refuse_with_exit_3(tmp_path: Path) -> None:
    spec, folder = store_of(tmp_path)
    refused = cli("release", "prune", "-f", str(spec))
    assert refused.exit_code == 3
    assert "dev: no agent is running for" in refused.output
    assert artifacts(folder) == set(VERSIONS)


@pytest.mark.parametrize(("keep", "said"), [("0", "--keep 0"), ("-2", "--keep -2"),
                                            ("two", "Invalid value for '--keep'")])  # fmt: skip
def test_bad_keep_is_refused(tmp_path: Path, keep: str, said: str) -> None:
    spec = work_tree(tmp_path)
    created(spec, "1.0.0")
    bad = cli("release", "prune", "--keep", keep, "-f", str(spec))
    assert bad.exit_code == 2
    assert said in bad.output


def test_without_environments_and_agent_only_the_newest_stay(tmp_path: Path) -> None:
    spec = work_tree(tmp_path)
    spec.write_text('[app]\nname = "svc"\ncommand = "python app.py"\n\n[releases]\nkeep = 2\n')
    made(spec, "0.1.0", "0.2.0", "0.3.0")
    folder = release_store.releases_dir(spec)
    done = cli("release", "prune", "-f", str(spec))  # the spec's keep: 2
    assert done.exit_code == 0, done.output
    assert "no agent was asked (none runs here)" in done.stdout
    assert "removed 0.1.0 (" in done.stdout
    assert artifacts(folder) == {"0.2.0", "0.3.0"}


def test_a_release_rolling_out_on_a_real_agent_stays(tmp_path: Path) -> None:
    spec = work_tree(tmp_path / "host")
    made(spec, "1.0.0", "1.1.0", "1.2.0")
    folder = release_store.releases_dir(spec)
    real = release_prune.client_for

    def use(client: AgentClient) -> tuple[Any, Any]:
        started = cli("release", "promote", "1.0.0", "--to", "staging", "--no-wait",
                      "-f", str(spec))  # fmt: skip
        with pytest.MonkeyPatch.context() as m:  # dev has no agent here; staging is real
            m.setattr(
                release_prune,
                "client_for",
                lambda f, n: FakeAgent(n, []) if n == "dev" else real(f, n),
            )
            return started, cli("release", "prune", "--keep", "1", "-f", str(spec))

    (started, pruned), _ = serve_and_call(
        tmp_path, use, state=tmp_path / "host" / ".changeover" / "staging"
    )
    assert started.exit_code == 0, started.output
    assert pruned.exit_code == 0, pruned.output
    assert "kept 1.0.0: staging rolls it out" in pruned.stdout
    assert "removed 1.1.0 (" in pruned.stdout
    assert artifacts(folder) == {"1.0.0", "1.2.0"}


def test_a_crash_between_marking_and_removing_leaves_a_release_not_promotable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec, folder = store_of(tmp_path)
    meta = json.loads((folder / "1.0.0.json").read_text())
    (folder / "1.0.0.json").write_text(json.dumps({**meta, "pruned_at": 5.0}))  # marked only
    assert release_store.read(folder, "1.0.0") is None  # its artifact is not offered
    assert release_store.record(folder, "1.0.0") == {**meta, "pruned_at": 5.0}
    agents(monkeypatch, dev=[], staging=[])
    done = cli("release", "prune", "--keep", "9", "-f", str(spec))
    assert done.exit_code == 0, done.output
    assert artifacts(folder) == set(VERSIONS) - {"1.0.0"}  # the leftover went
    assert json.loads((folder / "1.0.0.json").read_text())["pruned_at"] == 5.0
