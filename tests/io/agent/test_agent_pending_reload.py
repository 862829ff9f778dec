"""A deploy whose spec changes start-only keys (`spec.startonly`) through a real `Agent`
(its store, events and documents; no replica runs): the rollout starts as ever, one
`agent` event names the keys, never a value, and `status` shows them until a deploy
changes none (a new agent, after a reload, starts with none)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from changeover.agent.core import Agent
from changeover.agent.paths import StatePaths
from changeover.agent.releases import DeployRequest, UndoRequest, release_fields
from changeover.agent.status import status_document
from changeover.proxy.server import Proxy
from changeover.spec.load import load_spec
from changeover.store import Revision, RevisionStatus, Store
from tests.helpers import bounded

SPEC = """\
[app]
name = "svc"
command = "python -m app"
"""
CHANGED = SPEC + "[proxy]\nmax_header_size = 32768\naccess_log = true\n[logs]\nkeep = 7\n"


def body(spec: Path, version: str) -> DeployRequest:
    return DeployRequest(version=version, spec_text=spec.read_text(), spec_path=str(spec))


@dataclass
class Running:
    """A real agent started from SPEC, its store holding revision 1 (v1) stable."""

    agent: Agent
    store: Store
    spec_path: Path
    first: Revision


@asynccontextmanager
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    spec_path = tmp_path / "svc.toml"
    spec_path.write_text(SPEC)
    paths = StatePaths(tmp_path / "state")
    paths.ensure()
    proxy = Proxy()
    await proxy.serve(socket.create_server(("127.0.0.1", 0)))
    with Store.open(paths.store) as store:
        agent = Agent(
            paths=paths, spec=load_spec(spec_path), spec_path=spec_path, store=store, proxy=proxy
        )
        first = store.create_revision(
            **release_fields(agent.spec, body(spec_path, "v1"), agent.digest_key), now=1.0
        )
        store.set_revision_status(first.id, RevisionStatus.STABLE)
        yield Running(agent, store, spec_path, first)
        agent.controller.cancel("test over")
        await proxy.shutdown(timeout=1.0)


async def scenario(tmp_path: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    async with running(tmp_path) as run:
        agent, store, spec_path = run.agent, run.store, run.spec_path
        out["before"] = status_document(agent)["agent"]["pending_reload"]
        spec_path.write_text(CHANGED)
        rollout = await agent.deploy(body(spec_path, "v2"))
        out["rollout"] = rollout
        out["pending"] = list(agent.pending_reload)
        out["status"] = status_document(agent)["agent"]["pending_reload"]
        out["events"] = [(e.kind, e.message, e.rollout_id) for e in store.events()]
        agent.controller.cancel("test over")
        spec_path.write_text(SPEC)  # the same start-only keys as the agent's again
        await agent.deploy(body(spec_path, "v3"))
        out["after"] = status_document(agent)["agent"]["pending_reload"]
        out["events_after"] = [e.message for e in store.events()]
        agent.controller.cancel("test over")
        other = tmp_path / "other.toml"  # not the file a reload reads
        other.write_text(CHANGED)
        await agent.deploy(body(other, "v4"))
        out["elsewhere"] = store.events()[-1].message
    return out


@pytest.fixture
def result(tmp_path: Path) -> dict[str, Any]:
    return bounded(scenario(tmp_path))


def test_the_deploy_starts_and_names_the_keys_it_cannot_apply(result: dict[str, Any]) -> None:
    assert result["before"] == []
    assert result["rollout"].to_revision == 2  # the revision's part rolls out as ever
    keys = ["proxy.max_header_size", "proxy.access_log", "logs.keep"]
    assert result["pending"] == keys
    assert result["status"] == keys
    message = (
        "spec keys not applied until changeover reload: "
        "proxy.max_header_size, proxy.access_log, logs.keep"
    )
    said = [e for e in result["events"] if e[0] == "agent" and "not applied" in e[1]]
    assert said == [("agent", message, result["rollout"].id)]
    assert "32768" not in message  # names, never values


def test_a_deploy_that_changes_none_clears_them_and_says_nothing(result: dict[str, Any]) -> None:
    assert result["after"] == []
    assert sum("not applied" in m for m in result["events_after"]) == 1


def test_a_deploy_from_another_file_says_which_file_a_reload_reads(
    tmp_path: Path, result: dict[str, Any]
) -> None:
    assert result["elsewhere"] == (
        "spec keys not applied until changeover reload: proxy.max_header_size, "
        f"proxy.access_log, logs.keep (changeover reload reads {tmp_path / 'svc.toml'}, "
        f"not {tmp_path / 'other.toml'})"
    )


def make_stable(store: Store, revision: int) -> None:
    """As a successful rollout leaves the store: `revision` stable, the other superseded."""
    for rev in store.revisions():
        if rev.status is RevisionStatus.STABLE:
            store.set_revision_status(rev.id, RevisionStatus.SUPERSEDED)
    store.set_revision_status(revision, RevisionStatus.STABLE)


async def undo_scenario(tmp_path: Path) -> dict[str, Any]:
    """Undo follows what runs, as a promotion does: undoing a deploy that changed
    start-only keys back to a revision with the agent's own clears them; undoing to a
    revision whose spec changed them names them again."""
    out: dict[str, Any] = {}
    async with running(tmp_path) as run:
        agent, store, spec_path, first = run.agent, run.store, run.spec_path, run.first
        spec_path.write_text(CHANGED)
        changed = await agent.deploy(body(spec_path, "v2"))
        agent.controller.cancel("test over")
        make_stable(store, changed.to_revision)
        out["deployed"] = list(agent.pending_reload)
        undone = await agent.undo(UndoRequest(to_revision=first.id))
        out["undone"] = undone
        out["after_undo"] = status_document(agent)["agent"]["pending_reload"]
        out["events_after_undo"] = [(e.kind, e.message, e.rollout_id) for e in store.events()]
        agent.controller.cancel("test over")
        make_stable(store, first.id)
        redone = await agent.undo(UndoRequest(to_revision=changed.to_revision))
        out["redone"] = redone
        out["after_redo"] = status_document(agent)["agent"]["pending_reload"]
        out["redo_events"] = [
            e.message for e in store.events() if e.rollout_id == redone.id and e.kind == "agent"
        ]
    return out


def test_an_undo_recomputes_the_keys_against_the_revision_it_returns_to(tmp_path: Path) -> None:
    result = bounded(undo_scenario(tmp_path))
    keys = ["proxy.max_header_size", "proxy.access_log", "logs.keep"]
    assert result["deployed"] == keys
    assert result["undone"].kind == "undo"
    # revision 1 has the agent's own start-only keys: nothing waits for a reload any more
    assert result["after_undo"] == []
    undo_id = result["undone"].id
    assert not [e for e in result["events_after_undo"] if e[2] == undo_id and "not applied" in e[1]]
    # back to revision 2, whose spec changed them: named again, with the undo's event
    assert result["after_redo"] == keys
    (note,) = result["redo_events"]
    assert note == (
        "spec keys not applied until changeover reload: proxy.max_header_size, "
        f"proxy.access_log, logs.keep (changeover reload reads {tmp_path / 'svc.toml'}, "
        "not revision 2's spec)"
    )
    assert "32768" not in note  # names, never values


async def rolled_back_scenario(tmp_path: Path, kind: str) -> dict[str, Any]:
    """A deploy that changed start-only keys, then rolled back (or aborted) by the
    controller: the stable revision's spec runs again, as after an undo."""
    out: dict[str, Any] = {}
    async with running(tmp_path) as run:
        agent, spec_path = run.agent, run.spec_path
        spec_path.write_text(CHANGED)
        rollout = await agent.deploy(body(spec_path, "v2"))
        out["deployed"] = list(agent.pending_reload)
        agent.controller._notify(kind, rollout, "the test ends it")  # as `_finish` does
        out["after"] = status_document(agent)["agent"]["pending_reload"]
    return out


@pytest.mark.parametrize("kind", ["rolled-back", "aborted"])
def test_a_deploy_rolled_back_leaves_the_stable_revisions_keys(tmp_path: Path, kind: str) -> None:
    result = bounded(rolled_back_scenario(tmp_path, kind))
    assert result["deployed"] == ["proxy.max_header_size", "proxy.access_log", "logs.keep"]
    assert result["after"] == []  # revision 1 runs again, with the agent's own keys


def test_a_deploy_that_succeeded_keeps_its_keys(tmp_path: Path) -> None:
    result = bounded(rolled_back_scenario(tmp_path, "succeeded"))
    assert result["after"] == result["deployed"] != []
