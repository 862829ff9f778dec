"""AgentClient against the real control server (uvicorn on a unix socket) and without one."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import tempfile
import warnings
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import pytest
from typer.testing import CliRunner

from changeover.agent.api import create_app
from changeover.agent.control import ControlServer, bind_control_socket
from changeover.agent.core import Agent, BadRequest, Busy
from changeover.agent.lock import AgentLock
from changeover.agent.paths import StatePaths
from changeover.agent.releases import DeployRequest
from changeover.cli.app import app
from changeover.cli.client import AgentClient, Refused, Unreachable, _refused
from changeover.rollout.phase import Phase
from changeover.store import RevisionStatus, Rollout
from tests.io.agent._fakes import FakeAgent, MemoryStore, replica_info, revision, rollout

T = TypeVar("T")
BODY = {"version": "v2", "spec_text": "", "spec_path": "/srv/svc.toml"}


def make_agent(paths: StatePaths) -> FakeAgent:
    store = MemoryStore(
        revision_list=[revision(1, RevisionStatus.STABLE)], rollout_list=[rollout(1, None, 1)]
    )
    return FakeAgent(store, paths.root)


@contextlib.asynccontextmanager
async def serving(agent: FakeAgent, paths: StatePaths) -> AsyncIterator[None]:
    server = ControlServer(
        create_app(cast(Agent, agent)), bind_control_socket(paths.control_socket)
    )
    await server.start()
    try:
        yield
    finally:
        await server.stop()
    assert not paths.control_socket.exists()


def against_agent(agent: FakeAgent, paths: StatePaths, use: Callable[[AgentClient], T]) -> T:
    """Serve `agent` on the loop; run the blocking client in a worker thread, as the CLI does."""

    def client_side() -> T:
        with AgentClient(paths, timeout=5.0) as client:
            return use(client)

    async def main() -> T:
        async with asyncio.timeout(15), serving(agent, paths):
            return await asyncio.to_thread(client_side)

    return asyncio.run(main())


def test_get_and_post_return_the_json_answers(paths: StatePaths) -> None:
    agent = make_agent(paths)
    agent.on_deploy = lambda request: rollout(2, 1, 2, Phase.PROGRESSING)
    agent.events.add("rollout", "hello")

    def use(client: AgentClient) -> tuple[Any, Any, Any]:
        return (
            client.get("/v1/rollouts/1"),
            client.post("/v1/deploy", BODY),
            client.get("/v1/events", after=0, wait=0),
        )

    got, posted, events = against_agent(agent, paths, use)
    assert (got["id"], got["phase"]) == (1, "succeeded")
    assert (posted["id"], posted["to_revision"], posted["phase"]) == (2, 2, "progressing")
    assert [e["message"] for e in events["events"]] == ["hello"]
    assert agent.requests == [DeployRequest(**BODY)]


def refuse_with(exc: Exception) -> Callable[[Any], Rollout]:
    def refuse(request: Any) -> Rollout:
        raise exc

    return refuse


def test_refused_carries_the_agents_lines(paths: StatePaths) -> None:
    agent = make_agent(paths)
    agent.on_deploy = refuse_with(BadRequest("svc.toml: app.name: required", "second line"))
    agent.on_undo = refuse_with(Busy("rollout 2 is still in progress"))

    def use(client: AgentClient) -> list[Refused]:
        refusals = []
        calls: list[Callable[[], object]] = [
            lambda: client.post("/v1/deploy", BODY),
            lambda: client.post("/v1/undo"),
            lambda: client.post("/v1/deploy", {**BODY, "bogus": 1}),
            lambda: client.get("/v1/rollouts/77"),
            lambda: client.get("/v1/rollouts/x"),
        ]
        for call in calls:
            with pytest.raises(Refused) as exc:
                call()
            refusals.append(exc.value)
        return refusals

    got = [(r.status, r.lines) for r in against_agent(agent, paths, use)]
    assert got == [
        (400, ["svc.toml: app.name: required", "second line"]),
        (409, ["rollout 2 is still in progress"]),
        (400, ["bogus: Extra inputs are not permitted"]),
        (404, ["no rollout #77"]),
        (400, ["rollout id: expected an integer, got 'x'"]),
    ]


def test_stream_yields_bytes_or_refuses(paths: StatePaths) -> None:
    agent = make_agent(paths)
    log = paths.logs / "r1-1.log"
    log.write_bytes(b"one\ntwo\n")
    agent.supervisor.infos = [replica_info("r1-1", log_path=log)]

    def use(client: AgentClient) -> tuple[bytes, Refused]:
        data = b"".join(client.stream("/v1/logs", lines=5, follow=0))
        with pytest.raises(Refused) as exc:
            b"".join(client.stream("/v1/logs", replica="r9-1"))
        return data, exc.value

    data, refused = against_agent(agent, paths, use)
    assert data == b"r1-1 | one\nr1-1 | two\n"
    assert (refused.status, refused.lines) == (400, ["no logs for replica 'r9-1' (known: r1-1)"])


def test_logs_access_prints_the_access_log(paths: StatePaths) -> None:
    agent = make_agent(paths)
    (paths.logs / "access.log").write_bytes(b'{"n":1}\n{"n":2}\n')
    argv = ["logs", "--access", "--lines", "1", "--state-dir", str(paths.root)]
    result = against_agent(agent, paths, lambda client: CliRunner().invoke(app, argv))
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == b'{"n":2}\n'


def test_logs_takes_one_source_only(paths: StatePaths) -> None:
    for extra in (["--agent"], ["r1-1"]):
        argv = ["logs", "--access", *extra, "--state-dir", str(paths.root)]
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 2
        assert "choose one of REPLICA, --agent and --access" in result.output


def unreachable(paths: StatePaths, call: Callable[[AgentClient], object]) -> str:
    """The message of the Unreachable that `call` raises.

    httpcore 1.0 leaves the socket of a failed unix-socket connect to the garbage collector
    (a ResourceWarning, not the project's code): drop every reference and collect it here,
    where that one warning is expected, so it cannot surface in a later test.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "unclosed <socket.socket", ResourceWarning)
        with AgentClient(paths, timeout=2.0) as client:
            try:
                call(client)
            except Unreachable as exc:
                message = str(exc)
            else:
                raise AssertionError("the call did not raise Unreachable")
        gc.collect()
    return message


def test_no_socket_and_no_lock_means_no_agent(paths: StatePaths) -> None:
    expected = f"no agent is running for {paths.root} (start one with `changeover up`)"
    assert unreachable(paths, lambda client: client.get("/v1/status")) == expected
    assert unreachable(paths, lambda client: client.post("/v1/deploy", BODY)) == expected
    assert unreachable(paths, lambda client: list(client.stream("/v1/logs"))) == expected


def test_a_stale_socket_file_means_no_agent(paths: StatePaths) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(str(paths.control_socket))  # bound, never listening: like a killed agent
    assert paths.control_socket.exists()
    message = unreachable(paths, lambda client: client.post("/v1/down"))
    assert message.startswith(f"no agent is running for {paths.root}")


def test_a_locked_state_dir_without_an_answer_is_reported_as_such(paths: StatePaths) -> None:
    lock = AgentLock(paths.lock, paths.pid_file)
    lock.acquire()  # an agent holds the lock but its socket is not (yet) there
    try:
        message = unreachable(paths, lambda client: client.get("/v1/status"))
    finally:
        lock.release()
    assert message.startswith(f"the agent for {paths.root} did not answer: ")


def test_client_uses_the_fallback_socket_of_a_long_state_dir(
    short_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(short_tmp))
    paths = StatePaths(short_tmp.joinpath(*["a-rather-long-state-directory-name"] * 3))
    paths.ensure()
    assert paths.control_socket.parent != paths.root
    agent = make_agent(paths)
    got = against_agent(agent, paths, lambda client: client.get("/v1/rollouts/1"))
    assert got["id"] == 1


@pytest.mark.parametrize(
    ("response", "lines"),
    [
        (httpx.Response(400, json={"error": "e", "lines": ["a", "b"]}), ["a", "b"]),
        (httpx.Response(404, json={"error": "only error"}), ["only error"]),
        (httpx.Response(500, text="Internal Server Error\n"), ["Internal Server Error"]),
    ],
)
def test_refusals_from_any_body(response: httpx.Response, lines: list[str]) -> None:
    refused = _refused(response)
    assert (refused.status, refused.lines) == (response.status_code, lines)
    assert str(refused) == "\n".join(lines)


@pytest.mark.parametrize(
    "response",
    [httpx.Response(502, text=""), httpx.Response(409, json={"error": "", "lines": []})],
)
def test_an_empty_refusal_still_says_something(response: httpx.Response) -> None:
    refused = _refused(response)
    assert refused.lines == [f"the agent answered {response.status_code}"]
