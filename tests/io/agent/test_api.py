"""The control API through Starlette's TestClient, against a fake agent."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from changeover.agent.api import create_app
from changeover.agent.core import Agent, BadRequest, Busy
from changeover.agent.releases import DeployRequest, UndoRequest
from changeover.rollout.decision import Command, Decision, Hold, PausedBy
from changeover.rollout.phase import Phase
from changeover.spec.strategy import StrategyName
from changeover.store import Event, RevisionStatus, Rollout

from ._fakes import FakeAgent, MemoryStore, replica_info, revision, rollout

with warnings.catch_warnings():
    # Starlette 1.x nudges towards the httpx2 fork at import; the project ships httpx.
    warnings.filterwarnings(
        "ignore", "Using `httpx` with `starlette.testclient`", StarletteDeprecationWarning
    )
    from starlette.testclient import TestClient

BODY = {"version": "v2", "spec_text": "[app]", "spec_path": "/srv/svc.toml"}


@pytest.fixture
def agent(tmp_path: Path) -> FakeAgent:
    store = MemoryStore(
        revision_list=[revision(1, RevisionStatus.STABLE), revision(2, RevisionStatus.FAILED)],
        rollout_list=[rollout(1, None, 1), rollout(2, 1, 2, Phase.FAILED, "boot failures")],
    )
    return FakeAgent(store, tmp_path / "state")


@pytest.fixture
def client(agent: FakeAgent) -> Iterator[TestClient]:
    # One portal (one loop) for the whole test, as the agent has one loop.
    with TestClient(create_app(cast(Agent, agent)), raise_server_exceptions=False) as c:
        yield c


def test_deploy_parses_the_body_and_answers_202_with_the_rollout(
    agent: FakeAgent, client: TestClient
) -> None:
    started = rollout(3, 1, 3, Phase.PROGRESSING)
    agent.store.add_event("agent", "before", now=1.0)
    agent.on_deploy = lambda request: started
    response = client.post("/v1/deploy", json={**BODY, "env": {"K": "V"}, "strategy": "rolling"})
    assert response.status_code == 202
    assert response.json() == {
        "events_after": 1,
        "id": 3,
        "kind": "deploy",
        "strategy": "rolling",
        "from_revision": 1,
        "to_revision": 3,
        "phase": "progressing",
        "reason": "",
        "started_at": 2003.0,
        "finished_at": None,
        "paused": None,
        "guard": None,
        "pending_reload": [],  # the start-only keys this deploy changed (spec.startonly)
    }
    assert agent.requests == [DeployRequest(**BODY, env={"K": "V"}, strategy="rolling")]


def test_a_deploy_answer_names_the_keys_that_wait_for_a_reload(
    agent: FakeAgent, client: TestClient
) -> None:
    def begin(request: DeployRequest) -> Rollout:
        agent.pending_reload = ["proxy.listen", "proxy.tls"]  # as `Agent.deploy` sets it
        return rollout(3, 1, 3, Phase.PROGRESSING)

    agent.on_deploy = begin
    answer = client.post("/v1/deploy", json=BODY).json()
    assert answer["pending_reload"] == ["proxy.listen", "proxy.tls"]
    assert client.get("/v1/status").json()["agent"]["pending_reload"] == [
        "proxy.listen",
        "proxy.tls",
    ]
    agent.on_undo = lambda request: rollout(4, 3, 1, Phase.PROGRESSING)
    assert "pending_reload" not in client.post("/v1/undo", json={}).json()  # a deploy's only


def test_bad_request_is_400_with_every_line(agent: FakeAgent, client: TestClient) -> None:
    def refuse(request: DeployRequest) -> Rollout:
        raise BadRequest("svc.toml: app.replicas: must be >= 1", "svc.toml: app.name: missing")

    agent.on_deploy = refuse
    response = client.post("/v1/deploy", json=BODY)
    assert response.status_code == 400
    assert response.json() == {
        "error": "svc.toml: app.replicas: must be >= 1",
        "lines": ["svc.toml: app.replicas: must be >= 1", "svc.toml: app.name: missing"],
    }


def test_busy_is_409(agent: FakeAgent, client: TestClient) -> None:
    def busy(request: UndoRequest) -> Rollout:
        raise Busy("rollout 7 (revision 1 -> 2) is still in progress; wait for it to finish")

    agent.on_undo = busy
    response = client.post("/v1/undo", json={"to_revision": 1})
    assert response.status_code == 409
    assert response.json()["lines"] == [
        "rollout 7 (revision 1 -> 2) is still in progress; wait for it to finish"
    ]
    assert agent.requests == [UndoRequest(to_revision=1)]


def test_unknown_things_are_404(client: TestClient) -> None:
    response = client.get("/v1/rollouts/42")
    assert response.status_code == 404
    assert response.json() == {"error": "no rollout #42", "lines": ["no rollout #42"]}


def test_a_bare_key_error_is_404_too(agent: FakeAgent, client: TestClient) -> None:
    def missing(request: UndoRequest) -> Rollout:
        raise KeyError("revision 9")

    agent.on_undo = missing
    response = client.post("/v1/undo", json={})
    assert (response.status_code, response.json()["lines"]) == (404, ["revision 9"])


def test_unknown_deploy_fields_are_400_naming_them(agent: FakeAgent, client: TestClient) -> None:
    response = client.post("/v1/deploy", json={**BODY, "replicas": 3, "colour": "blue"})
    assert response.status_code == 400
    assert response.json()["lines"] == [
        "replicas: Extra inputs are not permitted",
        "colour: Extra inputs are not permitted",
    ]
    assert agent.requests == []  # never reached the agent


def test_an_unknown_strategy_is_400_naming_the_choices(
    agent: FakeAgent, client: TestClient
) -> None:
    response = client.post("/v1/deploy", json={**BODY, "strategy": "Rolling"})
    assert response.status_code == 400
    assert response.json()["lines"] == [
        "strategy: Input should be 'rolling', 'blue-green' or 'canary'"
    ]
    assert agent.requests == []


@pytest.mark.parametrize("name", list(StrategyName))
def test_the_strategy_reaches_the_agent_as_the_one_enum(
    agent: FakeAgent, client: TestClient, name: StrategyName
) -> None:
    agent.on_deploy = lambda request: rollout(3, 1, 3, Phase.PROGRESSING)
    assert client.post("/v1/deploy", json={**BODY, "strategy": name.value}).status_code == 202
    (request,) = agent.requests
    assert isinstance(request, DeployRequest)
    assert request.strategy is name


def test_missing_fields_and_broken_json_are_400(client: TestClient) -> None:
    response = client.post("/v1/deploy", json={"version": "v2"})
    assert response.status_code == 400
    assert response.json()["lines"] == ["spec_text: Field required", "spec_path: Field required"]
    response = client.post("/v1/deploy", content=b"{not json")
    assert response.status_code == 400
    assert response.json()["lines"][0].startswith("body: Invalid JSON")
    response = client.post("/v1/undo", json={"to_revision": 0})
    assert response.status_code == 400
    assert response.json()["lines"][0].startswith("to_revision: ")


def test_rollout_by_id(agent: FakeAgent, client: TestClient) -> None:
    response = client.get("/v1/rollouts/2")
    assert response.status_code == 200
    assert (response.json()["phase"], response.json()["reason"]) == ("failed", "boot failures")
    active = rollout(3, 1, 2, Phase.PROGRESSING)
    hold = Hold(PausedBy.ANALYSIS, "analysis 'slo' inconclusive")
    decision = Decision(Phase.PAUSED, {1: 2, 2: 1}, (), hold=hold)
    agent.controller = SimpleNamespace(
        active=SimpleNamespace(rollout=active, phase=Phase.PAUSED, decision=decision)
    )
    doc = client.get("/v1/rollouts/3").json()
    assert doc["phase"] == "paused"  # live phase of the active one
    assert doc["paused"] == {
        "by": "analysis",
        "continue": ["promote"],
        "message": "analysis 'slo' inconclusive",
    }


@pytest.mark.parametrize("raw", ["abc", "1.5", "%20", "0x1"])
def test_a_non_integer_rollout_id_is_400(client: TestClient, raw: str) -> None:
    response = client.get(f"/v1/rollouts/{raw}")
    assert response.status_code == 400
    assert response.json()["lines"][0].startswith("rollout id: expected an integer, got ")


def test_events_after_a_cursor(agent: FakeAgent, client: TestClient) -> None:
    agent.events.add("rollout", "one", rollout_id=2, revision=None)
    agent.events.add("replica", "r2-1 ready", revision=2)
    response = client.get("/v1/events", params={"after": 1, "wait": 0})
    assert response.status_code == 200
    assert response.json() == {
        "events": [
            {
                "id": 2,
                "ts": agent.started_at + 1,
                "kind": "replica",
                "rollout_id": None,
                "revision": 2,
                "message": "r2-1 ready",
            }
        ]
    }
    assert [e["id"] for e in client.get("/v1/events").json()["events"]] == [1, 2]
    # With events waiting, even a long wait answers at once.
    assert len(client.get("/v1/events", params={"after": 0, "wait": 30}).json()["events"]) == 2


def test_events_long_poll_times_out_empty(client: TestClient) -> None:
    response = client.get("/v1/events", params={"after": 0, "wait": 0.05})
    assert (response.status_code, response.json()) == (200, {"events": []})


class RecordingEvents:
    def __init__(self) -> None:
        self.calls: list[tuple[int, float]] = []

    async def wait_after(self, after_id: int, timeout: float) -> list[Event]:  # noqa: ASYNC109
        self.calls.append((after_id, timeout))
        return []


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, (0, 0.0)),
        ({"after": "7", "wait": "2.5"}, (7, 2.5)),
        ({"wait": ""}, (0, 0.0)),
        ({"wait": "999"}, (0, 30.0)),  # capped
        ({"wait": "inf"}, (0, 30.0)),
    ],
)
def test_events_parameters(
    agent: FakeAgent, client: TestClient, query: dict[str, str], expected: tuple[int, float]
) -> None:
    agent.events = RecordingEvents()  # type: ignore[assignment]
    assert client.get("/v1/events", params=query).status_code == 200
    assert agent.events.calls == [expected]  # type: ignore[attr-defined]


def test_events_with_a_bad_cursor_is_400(client: TestClient) -> None:
    response = client.get("/v1/events", params={"after": "x"})
    assert response.status_code == 400
    assert response.json()["lines"] == ["after: expected an integer, got 'x'"]


def test_events_with_a_bad_wait_is_400(client: TestClient) -> None:
    response = client.get("/v1/events", params={"wait": "abc"})
    assert response.status_code == 400
    assert response.json()["lines"][0].startswith("wait: ")


def test_events_wait_nan_is_capped(agent: FakeAgent, client: TestClient) -> None:
    agent.events = RecordingEvents()  # type: ignore[assignment]
    response = client.get("/v1/events", params={"wait": "nan"})
    assert response.status_code in (200, 400)
    for _, timeout in agent.events.calls:  # type: ignore[attr-defined]
        assert not math.isnan(timeout)
        assert 0 <= timeout <= 30


def test_status_and_history_documents(agent: FakeAgent, client: TestClient) -> None:
    agent.supervisor.infos = [replica_info("r1-1")]
    status = client.get("/v1/status")
    assert status.status_code == 200
    assert status.json()["stable_revision"] == 1
    assert [r["id"] for r in status.json()["replicas"]] == ["r1-1"]
    history = client.get("/v1/history").json()
    assert [r["revision"] for r in history["revisions"]] == [2, 1]
    assert [r["id"] for r in history["rollouts"]] == [2, 1]


def test_logs_tail_and_unknown_replica(agent: FakeAgent, client: TestClient) -> None:
    agent.paths.logs.mkdir(parents=True)
    (agent.paths.logs / "r1-1.log").write_bytes(b"a\nb\nc\n")
    agent.supervisor.infos = [replica_info("r1-1", log_path=agent.paths.logs / "r1-1.log")]
    assert client.get("/v1/logs", params={"lines": 2}).text == "r1-1 | b\nr1-1 | c\n"
    assert client.get("/v1/logs", params={"replica": "r1-1", "lines": 1}).text == "c\n"
    response = client.get("/v1/logs", params={"replica": "r7-1"})
    assert response.status_code == 400
    assert response.json()["lines"] == ["no logs for replica 'r7-1' (known: r1-1)"]
    response = client.get("/v1/logs", params={"lines": "many"})
    assert response.status_code == 400


def test_logs_access_is_the_access_log_alone(agent: FakeAgent, client: TestClient) -> None:
    missing = client.get("/v1/logs", params={"access": 1})
    assert missing.status_code == 400
    assert missing.json()["error"].startswith("no access log: it is off unless the spec sets")
    agent.paths.logs.mkdir(parents=True)
    (agent.paths.logs / "access.log").write_bytes(b'{"n":1}\n{"n":2}\n')
    (agent.paths.logs / "r1-1.log").write_bytes(b"x\n")
    agent.supervisor.infos = [replica_info("r1-1", log_path=agent.paths.logs / "r1-1.log")]
    assert client.get("/v1/logs", params={"access": 1, "lines": 1}).text == '{"n":2}\n'
    assert client.get("/v1/logs").text == "r1-1 | x\n"  # not one of the replicas' logs
    unknown = client.get("/v1/logs", params={"replica": "access"})
    assert unknown.json()["lines"] == ["no logs for replica 'access' (known: r1-1)"]
    both = client.get("/v1/logs", params={"access": 1, "agent": 1})
    assert both.status_code == 400
    assert both.json()["error"] == "choose one of: a replica, the agent's log, the access log"


def test_down_sets_stopping(agent: FakeAgent, client: TestClient) -> None:
    assert not agent.stopping.is_set()
    response = client.post("/v1/down")
    assert response.status_code == 202
    assert response.json()["stopping"] is True
    assert isinstance(response.json()["pid"], int)
    assert agent.stopping.is_set()


def test_a_started_rollout_names_the_event_cursor_to_follow_it_from(
    agent: FakeAgent, client: TestClient
) -> None:
    agent.store.add_event("agent", "earlier", now=1.0)

    def begin(request: DeployRequest) -> Rollout:
        agent.store.add_event("rollout", "rollout 3 started", now=2.0, rollout_id=3)
        return rollout(3, 1, 3, Phase.PROGRESSING)

    agent.on_deploy = begin
    after = client.post("/v1/deploy", json=BODY).json()["events_after"]
    followed = client.get("/v1/events", params={"after": after}).json()["events"]
    assert [e["message"] for e in followed] == ["rollout 3 started"]  # all of it, nothing older


def test_a_command_names_the_event_cursor_before_it(agent: FakeAgent, client: TestClient) -> None:
    agent.store.add_event("agent", "earlier", now=1.0)
    assert client.post("/v1/abort").json()["events_after"] == 1


def test_methods_are_enforced(client: TestClient) -> None:
    assert client.get("/v1/deploy").status_code == 405
    assert client.post("/v1/status").status_code == 405


def test_commands_name_who_sent_them(agent: FakeAgent, client: TestClient) -> None:
    assert client.post("/v1/pause").json()["message"] == "pause by operator"
    answer = client.post("/v1/abort", params={"by": "verify (--max-wait 3s)"})
    assert answer.status_code == 200
    assert client.post("/v1/promote", params={"full": "1", "by": "ci"}).status_code == 200
    assert agent.commands == [
        (Command.PAUSE, "operator"),
        (Command.ABORT, "verify (--max-wait 3s)"),
        (Command.PROMOTE_FULL, "ci"),
    ]


@pytest.mark.parametrize("by", ["", " x", "a\nb", "x" * 41, "<script>"])
def test_a_bad_sender_name_is_400_and_sends_nothing(
    agent: FakeAgent, client: TestClient, by: str
) -> None:
    answer = client.post("/v1/abort", params={"by": by})
    assert answer.status_code == 400
    assert "by: expected 1-40 letters" in answer.json()["error"]
    assert agent.commands == []


def test_history_says_what_changed_and_diff_says_everything(
    agent: FakeAgent, client: TestClient
) -> None:
    one, two = agent.store.revision_list
    agent.store.revision_list = [
        replace(one, spec={"app": {"replicas": 2}, "strategy": {"max_surge": 1}}),
        replace(
            two,
            env={"K": "W", "NEW": "1"},
            replicas=3,
            spec={"app": {"replicas": 3}, "strategy": {"max_surge": 2}},
        ),
    ]
    history = client.get("/v1/history").json()
    newest, oldest = history["revisions"]
    assert newest["changes"] == [
        "env.K: 'V' -> 'W'",
        "env.NEW added: '1'",
        "path: '/srv/app/v1' -> '/srv/app/v2'",
        "replicas: 2 -> 3",
        "spec.strategy.max_surge: 1 -> 2",  # spec.app.replicas repeats `replicas`: not shown
    ]
    assert oldest["changes"] == []  # nothing before it
    diff = client.get("/v1/diff", params={"from": 1, "to": 2}).json()
    assert (diff["from"], diff["to"]) == (1, 2)
    assert {"path": "version", "old": "v1", "new": "v2", "text": "version: 'v1' -> 'v2'"} in (
        diff["changes"]
    )
    assert client.get("/v1/diff", params={"from": 1, "to": 9}).status_code == 404
    assert client.get("/v1/diff", params={"from": "x", "to": 2}).status_code == 400


def test_a_rollouts_analysis_runs_and_an_unknown_rollout(client: TestClient) -> None:
    response = client.get("/v1/rollouts/2/analysis")
    assert response.status_code == 200
    assert response.json() == {"rollout_id": 2, "analysis": []}  # the fake store has no runs
    missing = client.get("/v1/rollouts/42/analysis")
    assert missing.status_code == 404
    assert missing.json()["lines"] == ["no rollout #42"]


def test_migration_steps_are_named_and_their_log_comes_alone(client: TestClient) -> None:
    unknown = client.post("/v1/migrations/drop", json={})
    assert unknown.status_code == 400
    assert unknown.json()["error"] == (
        "unknown migration step 'drop'; expected expand, contract or rollback"
    )
    empty = client.get("/v1/logs", params={"migrations": 1})
    assert empty.status_code == 400
    assert empty.json()["error"] == "no migration command has run yet: the migrations log is empty"
    both = client.get("/v1/logs", params={"migrations": 1, "agent": 1})
    assert both.status_code == 400
    assert both.json()["error"].startswith("the migrations log comes alone")
