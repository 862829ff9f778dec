"""Flags served by a real agent: `changeover flags` changes reach a long-polling
`changeover.flags.Client` over the control socket at once, the client keeps its last state
while the agent is down and follows again after `up`, and `flags stale` fails CI."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

from changeover.agent.paths import StatePaths
from changeover.flags import Client
from tests.e2e.harness import Service
from tests.helpers import wait_for

ROLLOUT = """\
name = "checkout"
enabled = true
owner = "payments"

[[strategies]]
name = "flexibleRollout"
parameters = { rollout = "10", stickiness = "userId" }
"""
EXPIRED = '{"name": "old-banner", "enabled": false, "expiresAt": "2020-01-01T00:00:00Z"}'


def flags(service: Service, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "changeover", "flags", *args],
        cwd=service.dir,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def failures(client: Client) -> int:
    status = client.status()
    return status.failures if status is not None else 0


def test_a_rollout_reaches_a_long_polling_client_without_a_poll(service: Service) -> None:
    service.write_spec(replicas=1)
    service.up()
    (service.dir / "checkout.toml").write_text(ROLLOUT)
    ok(flags(service, "create", "checkout.toml", "--by", "ann"))
    sock = StatePaths(service.state.resolve()).control_socket
    users = [{"userId": f"user-{n}"} for n in range(10_000)]

    def enabled(client: Client) -> set[int]:
        return {n for n, user in enumerate(users) if client.is_enabled("checkout", user)}

    # The agent holds each request up to `wait` (5 s, not the default 30 s): the client
    # knows the server holds once one request was held, so long-poll mode comes 25 s sooner.
    with Client("http://agent/v1/flags", uds=str(sock), poll_interval=5.0, wait=5.0) as client:
        assert client.wait_until_ready(10)
        # held requests, one after the other: no interval poll is due in this mode
        wait_for(lambda: (st := client.status()) and st.mode == "long-poll", 30, "long-poll mode")
        at_10 = enabled(client)
        assert 850 <= len(at_10) <= 1150  # 10% +- 1.5 points
        changed = threading.Event()
        client.on_change(lambda event: changed.set())

        ok(flags(service, "rollout", "checkout", "50", "--by", "bob"))
        # the agent answered after committing, so the change is out: the held request
        # brings it (the deadline only bounds a hang; no poll comes before it)
        assert changed.wait(60.0), "the rollout did not reach the long-polling client"
        at_50 = enabled(client)
        assert 4850 <= len(at_50) <= 5150
        assert at_10 <= at_50, "users in at 10% must stay in at 50%"

        ok(service.cli("down"))
        wait_for(lambda: failures(client) > 0, 30, "the client to notice the agent is gone")
        assert enabled(client) == at_50  # the last known state keeps serving

        changed.clear()
        service.up()
        ok(flags(service, "disable", "checkout", "--by", "bob"))
        assert changed.wait(15), "the client did not follow the restarted agent"
        assert enabled(client) == set()

    messages = [e["message"] for e in service.status()["events"] if e["kind"] == "flags"]
    assert messages[-3:] == [
        "ann created flag 'checkout': on, 10%",
        "bob changed flag 'checkout': rollout 10% -> 50%",
        "bob changed flag 'checkout': enabled true -> false",
    ]

    assert flags(service, "stale").returncode == 0
    (service.dir / "old.json").write_text(EXPIRED)
    ok(flags(service, "set", "old.json"))
    stale = flags(service, "stale")
    assert (stale.returncode, stale.stdout) == (1, "old-banner: expired 2020-01-01T00:00:00Z\n")
