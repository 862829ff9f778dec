"""The `status --json` / `history --json` documents against the contract in docs/cli-json.md."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from changeover import __version__
from changeover.agent.core import Agent
from changeover.agent.status import history_document, status_document
from changeover.rollout.decision import Decision, GuardState, GuardView, Hold, PausedBy
from changeover.rollout.phase import Phase
from changeover.store import RevisionStatus, Store
from changeover.supervisor.state import ReplicaState
from tests.io.agent._fakes import STARTED_AT, FakeAgent, replica_info

TOP = {
    "traffic",
    "live",
    "progress",
    "service",
    "agent",
    "stable_revision",
    "rollout",
    "revisions",
    "replicas",
    "weights",
    "unrouted",
    "events",
}
AGENT = {
    "pid",
    "version",
    "listen",
    "engine",
    "log_sample",
    "tls",
    "state_dir",
    "started_at",
    "flags_listen",
    "ops_listen",
    "environment",
    "pending_reload",
}
ROLLOUT = {
    "id",
    "kind",
    "strategy",
    "from_revision",
    "to_revision",
    "phase",
    "reason",
    "started_at",
    "finished_at",
    "paused",
    "guard",
}
REVISION = {"revision", "version", "status", "replicas", "ready", "created_at", "metrics", "schema"}
REPLICA = {"id", "revision", "version", "state", "pid", "port", "restarts", "last_error"}
EVENT = {"id", "ts", "kind", "rollout_id", "revision", "message"}
HISTORY_REVISION = {
    "changes",
    "revision",
    "version",
    "status",
    "path",
    "command",
    "env",
    "replicas",
    "created_at",
    "source_revision",
    "schema",  # the revision's database schema step (null: none ran)
}
METRICS = {
    "requests": 10,
    "inflight": 1,
    "status": {"1xx": 0, "2xx": 9, "3xx": 0, "4xx": 0, "5xx": 1},
    "latency": {"p50": 0.001, "p99": 0.25},
}


def add_revision(store: Store, version: str, replicas: int = 2) -> int:
    return store.create_revision(
        version=version,
        path=f"/srv/{version}",
        command="uvicorn app:app --fd 3",
        env={"HELLO_VERSION": version},
        spec={},
        replicas=replicas,
        now=1000.0,
    ).id


def settled_agent(store: Store, tmp_path: Path) -> FakeAgent:
    """r1 stable, r2 the target of a finished failed deploy, r3 pending; replicas of r1, r2."""
    r1, r2, _ = add_revision(store, "v1"), add_revision(store, "v2"), add_revision(store, "v3")
    first = store.start_rollout(
        from_revision=None, to_revision=r1, kind="initial", strategy="rolling", now=1.0
    )
    store.finish_rollout(first.id, phase="succeeded", reason="", now=2.0)
    second = store.start_rollout(
        from_revision=r1, to_revision=r2, kind="deploy", strategy="rolling", now=3.0
    )
    store.finish_rollout(second.id, phase="failed", reason="r2-1 failed at boot 3 times", now=4.0)
    for i in range(20):
        store.add_event("note", f"event {i}", now=10.0 + i, rollout_id=second.id, revision=r2)
    agent = FakeAgent(store, tmp_path / ".changeover", name="hello")
    agent.proxy.metrics_doc = {"revisions": {str(r1): METRICS}, "unrouted": 4}
    agent.proxy.address = ("127.0.0.1", 18080)
    agent.supervisor.infos = [
        replica_info("r1-1", ReplicaState.READY, pid=501, port=40001),
        replica_info("r1-2", ReplicaState.NOT_READY, pid=502, port=40002, restarts=1),
        replica_info("r2-1", ReplicaState.EXITED, pid=None, port=40003, last_error="exit 3"),
    ]
    return agent


def document(agent: FakeAgent) -> dict[str, Any]:
    doc = status_document(cast(Agent, agent))
    assert json.loads(json.dumps(doc)) == doc  # plain JSON, nothing lost on the way
    return doc


def test_status_document_has_every_documented_field(store: Store, tmp_path: Path) -> None:
    doc = document(settled_agent(store, tmp_path))
    assert set(doc) == TOP
    assert set(doc["agent"]) == AGENT
    assert set(doc["rollout"]) == ROLLOUT
    assert doc["revisions"]
    assert doc["replicas"]
    assert doc["events"]
    assert all(set(r) == REVISION for r in doc["revisions"])
    assert all(set(r) == REPLICA for r in doc["replicas"])
    assert all(set(e) == EVENT for e in doc["events"])


def test_status_document_values(store: Store, tmp_path: Path) -> None:
    doc = document(settled_agent(store, tmp_path))
    assert doc["service"] == "hello"
    assert doc["agent"] == {
        "pid": os.getpid(),
        "version": __version__,
        "listen": "127.0.0.1:18080",
        "engine": "builtin",
        "log_sample": None,  # the builtin proxy measures every request
        "tls": None,
        "state_dir": str(tmp_path / ".changeover"),
        "started_at": STARTED_AT,
        "flags_listen": None,
        "ops_listen": None,
        "environment": None,
        "pending_reload": [],
    }
    assert doc["stable_revision"] == 1
    assert (doc["weights"], doc["unrouted"]) == (None, 4)
    # No active rollout: the last one, as stored.
    assert doc["rollout"] == {
        "id": 2,
        "kind": "deploy",
        "strategy": "rolling",
        "from_revision": 1,
        "to_revision": 2,
        "phase": "failed",
        "reason": "r2-1 failed at boot 3 times",
        "started_at": 3.0,
        "finished_at": 4.0,
        "paused": None,
        "guard": None,
    }
    # Listed: revisions with replicas (2, failed) and the stable one; not pending 3.
    assert [(r["revision"], r["status"], r["ready"]) for r in doc["revisions"]] == [
        (2, "failed", 0),
        (1, "stable", 1),
    ]
    assert doc["revisions"][1]["metrics"] == METRICS
    assert doc["revisions"][0]["metrics"] is None  # served nothing
    assert doc["revisions"][1]["replicas"] == 2
    assert doc["replicas"][1] == {
        "id": "r1-2",
        "revision": 1,
        "version": "v1",
        "state": "not-ready",
        "pid": 502,
        "port": 40002,
        "restarts": 1,
        "last_error": "",
    }
    assert [(r["id"], r["state"], r["pid"]) for r in doc["replicas"]] == [
        ("r1-1", "ready", 501),
        ("r1-2", "not-ready", 502),
        ("r2-1", "exited", None),
    ]
    # The 15 most recent events, oldest first.
    assert [e["message"] for e in doc["events"]] == [f"event {i}" for i in range(5, 20)]
    assert doc["events"][-1] == {
        "id": 20,
        "ts": 29.0,
        "kind": "note",
        "rollout_id": 2,
        "revision": 2,
        "message": "event 19",
    }


def test_status_document_shows_the_active_rollout_and_its_live_phase(
    store: Store, tmp_path: Path
) -> None:
    agent = settled_agent(store, tmp_path)
    r4 = add_revision(store, "v4")
    active = store.start_rollout(
        from_revision=1, to_revision=r4, kind="deploy", strategy="rolling", now=50.0
    )
    agent.controller = SimpleNamespace(
        active=SimpleNamespace(rollout=active, phase=Phase.ROLLING_BACK, decision=None),
        linger={},
    )
    doc = document(agent)
    assert doc["rollout"]["id"] == active.id
    assert doc["rollout"]["phase"] == "rolling-back"  # the controller's, not yet stored
    assert doc["rollout"]["finished_at"] is None
    assert [r["revision"] for r in doc["revisions"]] == [4, 2, 1]  # progressing one listed
    assert doc["revisions"][0]["status"] == RevisionStatus.PROGRESSING.value


@pytest.mark.parametrize(
    ("hold", "paused"),
    [
        (
            Hold(PausedBy.STEP, "step 3/4: pause until promote"),
            {"by": "step", "continue": ["promote"], "message": "step 3/4: pause until promote"},
        ),
        (
            Hold(PausedBy.OPERATOR, "paused by alice"),
            {"by": "operator", "continue": ["resume"], "message": "paused by alice"},
        ),
        (
            Hold(PausedBy.ANALYSIS, "analysis 'slo' inconclusive"),
            {"by": "analysis", "continue": ["promote"], "message": "analysis 'slo' inconclusive"},
        ),
    ],
)
def test_status_document_says_why_the_active_rollout_is_paused(
    store: Store, tmp_path: Path, hold: Hold, paused: dict[str, Any]
) -> None:
    agent = settled_agent(store, tmp_path)
    r4 = add_revision(store, "v4")
    active = store.start_rollout(
        from_revision=1, to_revision=r4, kind="deploy", strategy="canary", now=50.0
    )
    decision = Decision(Phase.PAUSED, {1: 2, r4: 1}, (), hold=hold)
    agent.controller = SimpleNamespace(
        active=SimpleNamespace(rollout=active, phase=Phase.PAUSED, decision=decision), linger={}
    )
    assert document(agent)["rollout"]["paused"] == paused
    # resumed: the phase moved on before the next decision; the old hold is not shown
    agent.controller.active.phase = Phase.PROGRESSING
    assert document(agent)["rollout"]["paused"] is None


def test_status_document_shows_the_guard_window_and_what_is_left_of_it(
    store: Store, tmp_path: Path
) -> None:
    agent = settled_agent(store, tmp_path)
    r4 = add_revision(store, "v4")
    active = store.start_rollout(
        from_revision=1, to_revision=r4, kind="deploy", strategy="canary", now=50.0
    )
    view = GuardView(900.0, 100.0, "slo", GuardState.WATCHING, "watching analysis 'slo'")
    decision = Decision(Phase.GUARDING, {1: 2, r4: 2}, (), guard=view)
    agent.controller = SimpleNamespace(
        active=SimpleNamespace(rollout=active, phase=Phase.GUARDING, decision=decision), linger={}
    )
    agent.clock = lambda: 160.0
    assert document(agent)["rollout"]["guard"] == {
        "window": 900.0,
        "remaining": 840.0,
        "analysis": "slo",
        "state": "watching",
        "message": "watching analysis 'slo'",
    }
    agent.controller.active.phase = Phase.ROLLING_BACK  # a failure in the window
    assert document(agent)["rollout"]["guard"] is None


def test_status_document_before_anything_happened(store: Store, tmp_path: Path) -> None:
    doc = document(FakeAgent(store, tmp_path, name="svc"))
    assert doc["stable_revision"] is None
    assert doc["rollout"] is None
    assert (doc["revisions"], doc["replicas"], doc["events"]) == ([], [], [])
    assert doc["unrouted"] == 0


def test_history_document(store: Store, tmp_path: Path) -> None:
    doc = history_document(cast(Agent, settled_agent(store, tmp_path)))
    assert json.loads(json.dumps(doc)) == doc
    assert set(doc) == {"stable_revision", "revisions", "rollouts"}
    assert doc["stable_revision"] == 1
    assert [r["revision"] for r in doc["revisions"]] == [3, 2, 1]  # newest first
    assert all(set(r) == HISTORY_REVISION for r in doc["revisions"])
    assert doc["revisions"][1] == {
        "revision": 2,
        "version": "v2",
        "status": "failed",
        "path": "/srv/v2",
        "command": "uvicorn app:app --fd 3",
        "env": {"HELLO_VERSION": "v2"},
        "replicas": 2,
        "created_at": 1000.0,
        "source_revision": None,
        "changes": ["env.HELLO_VERSION: 'v1' -> 'v2'", "path: '/srv/v1' -> '/srv/v2'"],
        "schema": None,
    }
    assert doc["revisions"][2]["changes"] == []  # the first revision: nothing before it
    assert [(r["id"], r["kind"], r["phase"]) for r in doc["rollouts"]] == [
        (2, "deploy", "failed"),
        (1, "initial", "succeeded"),
    ]
    assert all(set(r) == ROLLOUT for r in doc["rollouts"])


def test_status_shows_the_serving_certificate_and_no_key(store: Store, tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from changeover.tlsfiles import Pair

    agent = FakeAgent(store, tmp_path, name="svc")
    assert document(agent)["agent"]["tls"] is None
    not_after = datetime.now(UTC).replace(microsecond=0) + timedelta(days=300)
    agent.proxy.certificate = Pair(b"cert", b"SECRET-KEY", "CN=svc.test", not_after, "AB:CD")
    doc = document(agent)
    assert doc["agent"]["tls"] == {
        "subject": "CN=svc.test",
        "not_after": not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha256": "AB:CD",
        "warning": None,
    }
    assert "SECRET-KEY" not in json.dumps(doc)
    # near its end, status says so (tlsfiles.expiry)
    soon = not_after - timedelta(days=295)
    agent.proxy.certificate = Pair(b"cert", b"SECRET-KEY", "CN=svc.test", soon, "AB:CD")
    assert "expires in" in document(agent)["agent"]["tls"]["warning"]


def test_status_shows_the_haproxy_engines_request_log_sampling(
    store: Store, tmp_path: Path
) -> None:
    agent = FakeAgent(store, tmp_path, name="svc")
    agent.proxy.engine_name = "haproxy"
    sampled = {"mode": "auto", "one_in": 64, "level": 6}
    agent.proxy.metrics_doc = {"revisions": {}, "unrouted": 0, "log_sample": sampled}
    assert document(agent)["agent"]["log_sample"] == sampled
