"""`changeover status` rendering of status documents made by the agent's own code."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, cast

import pytest
from rich.console import Console

from changeover.agent.core import Agent
from changeover.agent.status import status_document
from changeover.cli.status import render
from changeover.rollout.phase import Phase
from changeover.store import RevisionStatus
from changeover.supervisor.state import ReplicaState
from tests.io.agent._fakes import FakeAgent, MemoryStore, replica_info, revision, rollout


def as_text(doc: dict[str, Any]) -> str:
    console = Console(record=True, width=200, file=io.StringIO())
    console.print(render(doc))
    return console.export_text()


def agent_with(store: MemoryStore, tmp_path: Path) -> FakeAgent:
    agent = FakeAgent(store, tmp_path, name="hello")
    agent.proxy.address = ("127.0.0.1", 18080)
    return agent


def test_render_shows_service_rollout_revisions_replicas_and_events(tmp_path: Path) -> None:
    store = MemoryStore(
        revision_list=[revision(1, RevisionStatus.STABLE), revision(2, RevisionStatus.FAILED)],
        rollout_list=[rollout(2, 1, 2, Phase.FAILED, "replica r2-1 failed at boot 3 times")],
    )
    agent = agent_with(store, tmp_path)
    store.add_event("rollout", "rollout 2 (deploy, rolling) started", now=1_700_000_000.0)
    agent.proxy.metrics_doc = {
        "revisions": {
            "1": {"requests": 9120, "status": {"2xx": 9119, "5xx": 1}, "latency": {"p50": 0.0011}}
        }
    }
    agent.supervisor.infos = [
        replica_info("r1-1", ReplicaState.READY, pid=5120, port=40211),
        replica_info("r1-2", ReplicaState.NOT_READY, pid=5121, port=40212, restarts=2),
        replica_info("r2-1", ReplicaState.BACKOFF, pid=None, port=40213, last_error="exit 3"),
    ]
    text = as_text(status_document(cast(Agent, agent)))
    lines = text.splitlines()
    assert lines[0] == "hello  http://127.0.0.1:18080  stable revision 1"
    assert (
        "rollout 2 (deploy, rolling): revision 1 -> 2: failed (replica r2-1 failed at boot 3 times)"
    ) in lines
    row = {line.split()[1]: line for line in lines if line.startswith("│ r")}
    assert set(row) == {"r1-1", "r1-2", "r2-1"}
    cells = {rid: [c.strip() for c in line.split("│")[1:-1]] for rid, line in row.items()}
    assert cells["r1-1"] == ["r1-1", "v1", "ready", "5120", "40211", "0", ""]
    assert cells["r1-2"] == ["r1-2", "v1", "not-ready", "5121", "40212", "2", ""]
    assert cells["r2-1"] == ["r2-1", "v2", "backoff", "-", "40213", "0", "exit 3"]
    revisions = {
        c[0]: c
        for c in ([x.strip() for x in line.split("│")[1:-1]] for line in lines)
        if c and c[0] in {"1", "2"}
    }
    assert revisions["1"] == ["1", "v1", "stable", "1/2", "9120", "9119", "1", "1.1ms", "-"]
    assert revisions["2"] == ["2", "v2", "failed", "0/2", "0", "0", "0", "-", "-"]
    assert "rollout 2 (deploy, rolling) started" in text


def test_render_before_the_first_rollout(tmp_path: Path) -> None:
    text = as_text(status_document(cast(Agent, agent_with(MemoryStore(), tmp_path))))
    assert text.splitlines()[0].startswith("hello  http://127.0.0.1:18080")
    assert "rollout " not in text
    assert "revisions" in text
    assert "replicas" in text


@pytest.mark.parametrize("version", ["v2[/rc]", "[canary]"])
def test_render_shows_user_text_literally(tmp_path: Path, version: str) -> None:
    store = MemoryStore(revision_list=[revision(2, RevisionStatus.STABLE, version=version)])
    store.add_event("rollout", f"started: nothing -> revision 2 ({version})", now=1.0)
    agent = agent_with(store, tmp_path)
    agent.supervisor.infos = [replica_info("r2-1", version=version)]
    text = as_text(status_document(cast(Agent, agent)))
    assert text.count(version) == 3  # revisions table, replicas table, events


def test_render_says_how_traffic_is_spread(tmp_path: Path) -> None:
    store = MemoryStore(revision_list=[revision(2, RevisionStatus.STABLE)])
    agent = agent_with(store, tmp_path)
    agent.supervisor.infos = [
        replica_info("r2-1"),
        replica_info("r2-2"),
        replica_info("r2-3", ReplicaState.STARTING),
    ]
    doc = status_document(cast(Agent, agent))
    assert "traffic: spread over 2 ready replica(s), least in-flight first" in as_text(doc)
    doc["weights"] = {"2": 90, "3": 10}
    assert "traffic weights: revision 2: 90, revision 3: 10" in as_text(doc)


def test_render_shows_steps_routing_live_traffic_and_measurements() -> None:
    from changeover.cli.progress import progress_parts

    doc = {
        "rollout": {"finished_at": None},
        "traffic": {
            "weights": {"1": 90, "2": 10},
            "header_route": {"header": "x-canary", "value": "1", "revision": 2},
            "sticky": "cookie:user",
            "preview_revision": None,
            "preview_listen": None,
            "warm": {"1": 42.0},
        },
        "live": {
            "1": {
                "window": 10.0,
                "request_rate": 90.0,
                "success_rate": 1.0,
                "latency_p95": 0.002,
                "latency_p99": 0.004,
            }
        },
        "progress": {
            "steps": ["set_weight 10%", "analysis slo", "set_weight 50%"],
            "step": 1,
            "analysis": [
                {
                    "key": "step-1",
                    "template": "slo",
                    "status": "failed",
                    "summary": "metric [b]success[/b] failed",
                    "measurements": [
                        {
                            "metric": "success",
                            "outcome": "failed",
                            "value": 0.7,
                            "message": "success_rate 0.70 < min 0.99",
                        }
                    ],
                }
            ],
        },
    }
    console = Console(file=io.StringIO(), width=200, color_system=None)
    for part in progress_parts(doc):
        console.print(part)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "1. set_weight 10% > 2. analysis slo > 3. set_weight 50%" in text
    assert "header x-canary value '1' -> revision 2" in text
    assert "sticky users by cookie:user" in text
    assert "revision 1 kept warm for 42s" in text
    assert "90.0" in text
    assert "100.00%" in text
    assert "2.0ms" in text
    assert "success_rate 0.70 < min 0.99" in text
    assert "[b]success[/b]" in text  # user text is never markup
