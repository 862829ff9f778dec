"""`Client` against a real HTTP flag server on loopback (and a unix socket)."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from changeover.flags import FlagStateError
from changeover.flags.client import Client
from changeover.flags.events import FlagsChanged
from changeover.flags.fakes import FlagServer
from tests.helpers import wait_for


def _doc(enabled: bool = True, rollout: str = "100") -> dict[str, Any]:
    strategy = {"name": "flexibleRollout", "parameters": {"rollout": rollout, "groupId": "g"}}
    return {
        "version": 2,
        "features": [
            {"name": "beta", "enabled": enabled, "strategies": [strategy]},
            {"name": "steady", "enabled": True},
        ],
    }


@pytest.fixture
def server() -> Iterator[FlagServer]:
    srv = FlagServer(_doc()).start()
    yield srv
    srv.stop()


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        client.close()


def _client(clients: list[Client], url: str | None, **kw: Any) -> Client:
    client = Client(url, **kw)
    clients.append(client)
    return client


def _held(server: FlagServer, client: Client) -> bool:
    """The client has a long-poll waiting at the server (its etag is current)."""
    status = client.status()
    return status is not None and status.etag == server.etag and server.requests >= 2


def test_a_change_reaches_a_long_polling_client_without_waiting_for_a_poll(
    server: FlagServer, clients: list[Client]
) -> None:
    client = _client(clients, server.url, poll_interval=60, wait=30)
    events: list[FlagsChanged] = []
    client.on_change(events.append)
    assert client.wait_until_ready(5)
    assert client.is_enabled("beta", {"userId": "u"})
    wait_for(lambda: _held(server, client), 10, every=0.005)
    server.set_document(_doc(enabled=False))
    # poll_interval is 60 s, so only the held request can deliver this in time
    wait_for(lambda: not client.is_enabled("beta", {"userId": "u"}), 10, every=0.005)
    # the change's own event (the first load's may come before on_change was registered)
    wait_for(lambda: events and events[-1].etag == server.etag, 10, every=0.005)
    assert events[-1] == FlagsChanged(frozenset({"beta"}), server.etag)


def test_etag_and_304_and_the_long_poll_mode(server: FlagServer, clients: list[Client]) -> None:
    client = _client(clients, server.url, poll_interval=60, wait=0.2)
    wait_for(lambda: server.requests >= 4, 10)  # several held waits answered 304
    status = client.status()
    assert status is not None
    assert (status.mode, status.etag, status.failures) == ("long-poll", server.etag, 0)


def test_server_down_keeps_the_last_state_and_recovery_picks_up_changes(
    server: FlagServer, clients: list[Client]
) -> None:
    client = _client(clients, server.url, poll_interval=0.2, wait=30)
    assert client.wait_until_ready(5)
    wait_for(lambda: _held(server, client), 10, every=0.005)
    server.stop()
    wait_for(lambda: (s := client.status()) is not None and s.failures >= 2, 10, every=0.005)
    status = client.status()
    assert status is not None
    assert status.last_error is not None
    assert "cannot reach the flag server" in status.last_error
    assert client.is_enabled("beta", {"userId": "u"})  # still the last good state
    server.set_document(_doc(enabled=False))
    server.start()
    wait_for(lambda: not client.is_enabled("beta", {"userId": "u"}), 10, every=0.005)
    wait_for(lambda: (s := client.status()) is not None and s.failures == 0, 10, every=0.005)


def test_a_server_ignoring_wait_is_polled_on_the_interval(clients: list[Client]) -> None:
    with FlagServer(_doc(), long_poll=False) as server:
        client = _client(clients, server.url, poll_interval=0.3, wait=30)
        wait_for(lambda: (s := client.status()) is not None and s.mode == "interval", 10)
        before = server.requests
        time.sleep(0.5)  # a spinning client would send thousands of requests here
        assert server.requests - before <= 4
        server.set_document(_doc(enabled=False))
        wait_for(lambda: not client.is_enabled("beta"), 10, every=0.005)


def test_a_broken_document_from_the_server_is_not_installed(
    server: FlagServer, clients: list[Client]
) -> None:
    client = _client(clients, server.url, poll_interval=0.2, wait=30)
    assert client.wait_until_ready(5)
    server.set_document(b'{"version": 2, "features": [{"name": "beta"}]}')
    wait_for(lambda: (s := client.status()) is not None and s.last_error is not None, 10)
    status = client.status()
    assert status is not None
    assert "features[0].enabled: required key is missing" in str(status.last_error)
    assert client.is_enabled("beta", {"userId": "u"})


def test_bootstrap_serves_at_once_and_while_the_server_is_unreachable(
    tmp_path: Path, clients: list[Client]
) -> None:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(_doc()), encoding="utf-8")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = _client(clients, f"http://127.0.0.1:{port}/flags", bootstrap=path, poll_interval=0.2)
    assert client.wait_until_ready(0)
    assert client.is_enabled("beta", {"userId": "u"})
    wait_for(lambda: (s := client.status()) is not None and s.failures >= 1, 10, every=0.005)
    assert client.is_enabled("beta", {"userId": "u"})
    offline = _client(clients, None, bootstrap=_doc(enabled=False))
    assert offline.status() is None
    assert not offline.is_enabled("beta", default=True)


def test_unix_socket_transport(short_tmp: Path, clients: list[Client]) -> None:
    sock = str(short_tmp / "flags.sock")
    with FlagServer(_doc(), uds=sock) as server:
        client = _client(clients, "http://flags/api/client/features", uds=sock, wait=30)
        assert client.wait_until_ready(5)
        assert client.is_enabled("beta")
        server.set_document(_doc(enabled=False))
        wait_for(lambda: not client.is_enabled("beta"), 10, every=0.005)


def test_evaluation_never_raises_into_the_app(clients: list[Client]) -> None:
    client = _client(clients, None, bootstrap=_doc())
    assert client.is_enabled("unknown", default=True) is True
    assert client.is_enabled("beta", {"properties": 5}, default=True) is True  # bad context
    ev = client.evaluate("beta", {"properties": 5})
    assert (ev.reason.value, ev.error_code and ev.error_code.value) == ("ERROR", "GENERAL")
    assert client.variant("unknown").name == "disabled"


def test_close_ends_a_long_poll_in_flight_and_listener_errors_are_contained(
    server: FlagServer, clients: list[Client]
) -> None:
    client = _client(clients, server.url, poll_interval=60, wait=30)
    seen = threading.Event()

    def broken(event: FlagsChanged) -> None:
        seen.set()
        raise RuntimeError("listener bug")

    unsubscribe = client.on_change(broken)
    wait_for(lambda: _held(server, client), 10, every=0.005)
    server.set_document(_doc(rollout="0"))
    assert seen.wait(5)
    wait_for(lambda: not client.is_enabled("beta", {"userId": "u"}), 10)  # still refreshing
    unsubscribe()
    wait_for(lambda: _held(server, client), 10, every=0.005)
    threads = {t.name for t in threading.enumerate()}
    assert "changeover-flags" in threads
    client.close()
    wait_for(lambda: not any(t.name == "changeover-flags" for t in threading.enumerate()), 10)


def test_bad_configuration_fails_at_construction() -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        Client("ftp://x/flags")
    with pytest.raises(FlagStateError, match=r"bootstrap is invalid:\n  version"):
        Client(None, bootstrap={"features": []})
    with pytest.raises(ValueError, match="positive"):
        Client("http://127.0.0.1:9/x", poll_interval=0)


@pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork:DeprecationWarning")
def test_a_forked_worker_refreshes_on_its_own(server: FlagServer, clients: list[Client]) -> None:
    # gunicorn --preload: the client is made before fork, and each worker must stay fresh
    client = _client(clients, server.url, poll_interval=60, wait=30)
    wait_for(lambda: _held(server, client), 10, every=0.005)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether the change arrives, then leave at once
        try:
            seen = wait_for(lambda: not client.is_enabled("beta", {"userId": "u"}), 10)
            os.write(write_end, b"1" if seen else b"0")
        finally:
            os._exit(0)
    try:
        os.close(write_end)
        wait_for(lambda: server.requests >= 3, 10)  # the child's own first request
        server.set_document(_doc(enabled=False))
        ready, _, _ = select.select([read_end], [], [], 15)
        assert ready
        assert os.read(read_end, 1) == b"1"
    finally:
        os.close(read_end)
        _reap(pid)


def _reap(pid: int) -> None:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)


def test_from_env_finds_the_agent_over_its_socket(short_tmp: Path) -> None:
    sock = str(short_tmp / "agent.sock")
    with FlagServer(_doc(), uds=sock):
        env = {"CHANGEOVER_FLAGS_SOCKET": sock, "CHANGEOVER_FLAGS_URL": "http://agent/"}
        with Client.from_env(env, poll_interval=60) as client:
            assert client.wait_until_ready(20)
            assert client.is_enabled("steady")
    with Client.from_env({}) as offline:  # no agent: an offline client, never an error
        assert not offline.wait_until_ready(0)


def test_from_env_serves_the_flags_file_a_pod_mounts(tmp_path: Path) -> None:
    path = tmp_path / "flags.json"
    path.write_text(json.dumps(_doc()))
    with Client.from_env({"CHANGEOVER_FLAGS_FILE": str(path)}) as client:
        assert client.wait_until_ready(0)  # the file is the state: no fetch to wait for
        assert client.is_enabled("steady")
        assert client.status() is None  # offline: no agent to poll in a pod
