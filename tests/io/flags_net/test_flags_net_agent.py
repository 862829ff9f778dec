"""A real agent process with `[flags] listen`: the bound port is announced, the document is
served over TCP with the token next to the control socket's admin routes, `from_env()`
follows it, and SIGTERM closes the listener (held long-polls are released: see
test_flags_net_listener, which can see a poll parked). Bad input (port
taken, token file open to others) fails the start with exit 2 before any replica starts."""

from __future__ import annotations

import concurrent.futures
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from changeover.agent.paths import StatePaths
from changeover.flags import Client
from changeover.store import Store

from ._net import BEARER, GUARD, TOKEN, rollout_flag

SPEC = """\
[app]
name = "svc"
command = "sleep 600"

[proxy]
listen = "127.0.0.1:0"

[flags]
listen = "{listen}"
token_file = "token"
"""
ANNOUNCED = re.compile(r"flags listener on (http://127\.0\.0\.1:\d+/v1/flags) \(bearer token\)")


class Agent:
    def __init__(self, folder: Path, tracked: list[int]) -> None:
        self.spec, self.state = folder / "svc.toml", folder / "state"
        self.socket = StatePaths(self.state.resolve()).control_socket
        self.log = folder / "agent.log"
        self.tracked = tracked
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "changeover.agent", "--spec", str(self.spec)]
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [*argv, "--state-dir", str(self.state)], stdout=log, stderr=log
            )
        self.tracked.append(self.proc.pid)
        return self.proc

    def control(self) -> httpx.Client:
        transport = httpx.HTTPTransport(uds=str(self.socket))
        return httpx.Client(transport=transport, base_url="http://agent", timeout=GUARD)

    def ready(self) -> str:
        """The announced flags URL, once revision 1 is stable (its replica pids tracked)."""
        deadline = time.monotonic() + GUARD
        while time.monotonic() < deadline:
            assert self.proc is not None
            assert self.proc.poll() is None, self.log.read_text()
            status = self.status() if _accepts(self.socket) else None
            if status is not None and status["stable_revision"] == 1:
                self.tracked.extend(r["pid"] for r in status["replicas"] if r["pid"])
                found = [ANNOUNCED.search(e["message"]) for e in status["events"]]
                return next(m.group(1) for m in found if m)
            time.sleep(0.05)
        raise AssertionError(f"the agent did not become ready: {self.log.read_text()}")

    def status(self) -> Any:
        with self.control() as control:
            return control.get("/v1/status").json()


def _accepts(path: Path) -> bool:
    # a plain probe first: httpx leaks its socket when a unix connect is refused
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


@pytest.fixture
def tracked() -> Iterator[list[int]]:
    """Pids this test started (agent, replicas): any left alive is killed, and fails it."""
    pids: list[int] = []
    yield pids
    survivors = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                survivors.append(pid)
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    assert not survivors, f"processes outlived the test: {survivors}"


@pytest.fixture
def folder(short_tmp: Path) -> Path:
    token = short_tmp / "token"
    token.write_text(TOKEN + "\n")
    token.chmod(0o600)
    return short_tmp


def test_a_real_agent_serves_flags_over_tcp_until_it_stops(
    folder: Path, tracked: list[int]
) -> None:
    agent = Agent(folder, tracked)
    agent.spec.write_text(SPEC.format(listen="127.0.0.1:0"))
    proc = agent.start()
    url = agent.ready()
    assert f"http://{agent.status()['agent']['flags_listen']}/v1/flags" == url
    with agent.control() as control, httpx.Client(timeout=GUARD) as tcp:
        put = {"document": rollout_flag(), "by": "ann"}
        control.post("/v1/admin/flags", json=put).raise_for_status()
        full = tcp.get(url, headers=BEARER)
        assert (full.status_code, full.content) == (200, control.get("/v1/flags").content)
        assert tcp.get(url).status_code == 401
        assert (
            tcp.get(url.replace("/v1/flags", "/v1/admin/flags"), headers=BEARER).status_code == 404
        )
        etag = {"If-None-Match": full.headers["etag"], **BEARER}
        assert tcp.get(url, headers=etag).status_code == 304
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            held = pool.submit(tcp.get, f"{url}?wait=60s", headers=etag)
            change = {"percent": 50, "by": "bob"}
            control.post("/v1/admin/flags/checkout/rollout", json=change).raise_for_status()
            woken = held.result(GUARD)  # at once: the 60 s wait is far beyond GUARD
        assert woken.status_code == 200
        assert b'"rollout":"50"' in woken.content

        env = {"CHANGEOVER_FLAGS_URL": url, "CHANGEOVER_FLAGS_TOKEN": TOKEN}
        with Client.from_env(env) as client:
            assert client.wait_until_ready(GUARD)
            users = [{"userId": str(u)} for u in range(1000)]
            assert 440 <= sum(client.is_enabled("checkout", u) for u in users) <= 560  # 50%
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(GUARD) == 0
    port = int(url.split(":")[2].split("/")[0])
    with pytest.raises(ConnectionRefusedError):  # the listener closed with the agent
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def _bad_start(folder: Path, tracked: list[int], spec: str) -> tuple[int, str, Path]:
    agent = Agent(folder, tracked)
    agent.spec.write_text(spec)
    code = agent.start().wait(GUARD)
    return code, agent.log.read_text(), agent.state


def test_a_taken_port_fails_the_start_naming_the_address(folder: Path, tracked: list[int]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        code, log, state = _bad_start(folder, tracked, SPEC.format(listen=f"127.0.0.1:{port}"))
    spec = folder / "svc.toml"
    assert code == 2
    assert (
        f"changeover: {spec}: flags.listen: cannot listen on 127.0.0.1:{port}: "
        "Address already in use" in log
    )
    with Store.open(state / "state.db") as store:
        assert store.revisions() == []  # failed before any revision or replica


def test_a_token_file_open_to_others_fails_the_start(folder: Path, tracked: list[int]) -> None:
    (folder / "token").chmod(0o644)
    code, log, _ = _bad_start(folder, tracked, SPEC.format(listen="127.0.0.1:0"))
    token = folder / "token"
    assert code == 2
    assert (
        f"{folder / 'svc.toml'}: flags.token_file: {token} is open to group or "
        f"others (mode 0644), so other users could read the token; run `chmod 600 {token}`"
    ) in log
    assert os.stat(token).st_mode & 0o777 == 0o644  # never changed behind the user's back
