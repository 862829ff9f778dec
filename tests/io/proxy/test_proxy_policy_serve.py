"""Traffic policy through a real Proxy: header routes, sticky users, policy switches, retries."""

from __future__ import annotations

import asyncio
import socket

from changeover.proxy.policy import HeaderRoute, Sticky, TrafficPolicy
from tests.io.proxy.proxy_kit import LOOPBACK, Backend, Client, build, eventually, run, serving

CANARY_ROUTE = HeaderRoute("X-Canary", 2, value="always")
STICKY = Sticky.parse("cookie:sid")


def dead_port() -> int:
    """A loopback port nobody listens on: connecting to it is refused."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


async def revisions(client: Client, count: int, headers: dict[str, str] | None = None) -> set[str]:
    seen = set()
    for _ in range(count):
        resp = await client.request("GET", "/", headers)
        assert resp.status == 200
        seen.add(resp.header("x-revision") or "?")
    return seen


def test_header_routed_requests_always_reach_the_canary() -> None:
    async def main() -> None:
        backends = [Backend(1, "r1-1"), Backend(1, "r1-2"), Backend(2, "r2-1")]
        async with serving(*backends) as proxy:
            proxy.set_traffic(TrafficPolicy({1: 100}, (CANARY_ROUTE,)))
            client = await Client.connect(proxy.address)
            assert await revisions(client, 30, {"x-canary": "always"}) == {"2"}
            assert await revisions(client, 30) == {"1"}
            assert await revisions(client, 5, {"X-Canary": "sometimes"}) == {"1"}
            await client.close()

    run(main)


def test_sticky_users_stay_put_and_never_leave_the_canary() -> None:
    async def main() -> None:
        backends = [Backend(1, "r1-1"), Backend(2, "r2-1")]
        users = [f"user-{i}" for i in range(40)]
        history: dict[str, list[str]] = {user: [] for user in users}
        async with serving(*backends) as proxy:
            client = await Client.connect(proxy.address)
            for canary in (10, 50, 100):
                proxy.set_traffic(TrafficPolicy({1: 100 - canary, 2: canary}, sticky=STICKY))
                for user in users:
                    seen = await revisions(client, 3, {"Cookie": f"theme=dark; sid={user}"})
                    assert len(seen) == 1, f"{user} saw {seen} at canary {canary}%"
                    history[user] += seen
            await client.close()
        for user, steps in history.items():
            if "2" in steps:
                first = steps.index("2")
                assert steps[first:] == ["2"] * (3 - first), f"{user} left the canary: {steps}"
        early = sum(steps[0] == "2" for steps in history.values())
        middle = sum(steps[1] == "2" for steps in history.values())
        assert 0 < early < middle < 40  # some users moved to the canary, none back
        assert all(steps[2] == "2" for steps in history.values())

    run(main)


def test_requests_without_the_sticky_key_follow_the_weights() -> None:
    async def main() -> None:
        backends = [Backend(1, "r1-1"), Backend(2, "r2-1")]
        async with serving(*backends) as proxy:
            proxy.set_traffic(TrafficPolicy({1: 75, 2: 25}, sticky=STICKY))
            client = await Client.connect(proxy.address)
            seen = [(await client.request("GET", "/")).header("x-revision") for _ in range(200)]
            assert seen.count("2") == 50  # smooth WRR: exact over whole cycles
            await client.close()

    run(main)


def test_set_traffic_switches_the_very_next_request_without_disturbing_one_in_flight() -> None:
    async def main() -> None:
        old, new = Backend(1, "r1-1"), Backend(2, "r2-1")
        async with serving(old, new) as proxy:
            proxy.set_traffic(TrafficPolicy({1: 100}))
            slow = await Client.connect(proxy.address)
            await slow.send(build("GET", "/gate"))
            await eventually(lambda: proxy.inflight("r1-1") == 1, "a request in flight on r1")
            client = await Client.connect(proxy.address)
            assert await revisions(client, 3) == {"1"}
            proxy.set_traffic(TrafficPolicy({2: 100}))
            assert await revisions(client, 1) == {"2"}
            assert proxy.traffic == TrafficPolicy({2: 100})
            old.gate.set()
            resp = await slow.response()
            assert (resp.status, resp.body, resp.header("x-revision")) == (200, b"opened", "1")
            proxy.set_weights(None)  # the shortcut still works and clears the policy
            assert proxy.traffic == TrafficPolicy()
            await client.close()
            await slow.close()

    run(main)


def test_header_routed_request_never_retries_onto_another_revision() -> None:
    async def main() -> None:
        stable = Backend(1, "r1-1")
        async with serving(stable) as proxy:
            proxy.add_endpoint("r2-1", 2, LOOPBACK, dead_port())
            proxy.set_routable("r2-1", True)
            proxy.set_traffic(TrafficPolicy(header_routes=(CANARY_ROUTE,)))
            client = await Client.connect(proxy.address)
            routed = await client.request("GET", "/", {"X-Canary": "always"})
            assert routed.status == 502
            assert b"could not connect to upstream r2-1" in routed.body
            assert stable.requests == []
            # Unrouted traffic (no weights) may retry elsewhere: it reaches revision 1.
            statuses = {(await client.request("GET", "/")).status for _ in range(4)}
            assert statuses == {200}
            await client.close()

    run(main)


def test_header_routed_request_retries_on_its_own_revision() -> None:
    async def main() -> None:
        canary = Backend(2, "r2-2")
        async with serving(Backend(1, "r1-1"), canary) as proxy:
            proxy.add_endpoint("r2-1", 2, LOOPBACK, dead_port())
            proxy.set_routable("r2-1", True)
            proxy.set_traffic(TrafficPolicy({1: 100}, (CANARY_ROUTE,)))
            client = await Client.connect(proxy.address)
            for _ in range(4):  # least-loaded rotation tries the dead one first at times
                resp = await client.request("GET", "/", {"X-Canary": "always"})
                assert (resp.status, resp.header("x-revision")) == (200, "2")
            await client.close()
            assert len(canary.requests) == 4

    run(main)


def test_policy_change_mid_connect_keeps_the_request() -> None:
    async def main() -> None:
        async with serving(Backend(1, "r1-1"), Backend(2, "r2-1")) as proxy:
            proxy.set_traffic(TrafficPolicy({1: 1, 2: 1}, sticky=STICKY))
            clients = [await Client.connect(proxy.address) for _ in range(8)]
            for i, client in enumerate(clients):
                await client.send(build("GET", "/", {"Cookie": f"sid=u{i}"}))
            proxy.set_traffic(TrafficPolicy({2: 1}))
            answers = await asyncio.gather(*(client.response() for client in clients))
            assert {resp.status for resp in answers} == {200}
            for client in clients:
                await client.close()

    run(main)
