"""Routing end to end: weights, least in-flight, drain, remove, pool expiry, metrics."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest

from changeover.proxy.config import ProxyConfig
from tests.io.proxy.proxy_kit import Backend, Client, build, eventually, run, serving


async def revisions_seen(address: tuple[str, int], count: int, clients: int = 4) -> Counter[str]:
    seen: Counter[str] = Counter()

    async def worker(n: int) -> None:
        client = await Client.connect(address)
        for _ in range(n):
            resp = await client.request("GET", "/")
            seen[resp.header("x-revision") or "?"] += 1
        await client.close()

    await asyncio.gather(*(worker(count // clients) for _ in range(clients)))
    return seen


def test_weights_are_honoured_exactly_across_revisions() -> None:
    async def main() -> None:
        old = [Backend(1, f"r1-{i}") for i in range(3)]
        new = Backend(2, "r2-1")
        async with serving(*old, new) as proxy:
            proxy.set_weights({1: 90, 2: 10})
            seen = await revisions_seen(proxy.address, 1000)
            assert abs(seen["2"] - 100) <= 2
            assert seen["1"] + seen["2"] == 1000
            proxy.set_weights({1: 0, 2: 100})
            assert await revisions_seen(proxy.address, 40) == {"2": 40}

    run(main)


def test_weighted_revision_without_routable_endpoints_falls_back_to_others() -> None:
    async def main() -> None:
        old, new = Backend(1, "r1-1"), Backend(2, "r2-1")
        async with serving(old, new) as proxy:
            proxy.set_weights({1: 50, 2: 50})
            proxy.set_routable("r2-1", False)
            assert await revisions_seen(proxy.address, 20) == {"1": 20}
            proxy.set_routable("r1-1", False)
            client = await Client.connect(proxy.address)
            assert (await client.request("GET", "/")).status == 503
            await client.close()

    run(main)


def test_unweighted_routing_spreads_over_all_revisions() -> None:
    async def main() -> None:
        backends = [Backend(1, "r1-1"), Backend(2, "r2-1")]
        async with serving(*backends) as proxy:
            seen = await revisions_seen(proxy.address, 40, clients=1)
        assert seen == {"1": 20, "2": 20}  # sequential: equal load, round-robin ties

    run(main)


def test_least_inflight_spreads_concurrent_slow_requests() -> None:
    async def main() -> None:
        backends = [Backend(1, f"r1-{i}") for i in range(3)]
        async with serving(*backends) as proxy:
            clients = [await Client.connect(proxy.address) for _ in range(6)]
            for client in clients:
                await client.send(build("GET", "/gate"))
            await eventually(lambda: sum(len(b.requests) for b in backends) == 6, "6 requests")
            assert [proxy.inflight(f"r1-{i}") for i in range(3)] == [2, 2, 2]
            assert [len(b.requests) for b in backends] == [2, 2, 2]
            for b in backends:
                b.gate.set()
            for client in clients:
                assert (await client.response()).body == b"opened"
                await client.close()

    run(main)


def test_drain_resolves_when_the_slow_request_completes() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(build("GET", "/gate"))
            await eventually(lambda: proxy.inflight("r1-1") == 1, "request in flight")
            proxy.set_routable("r1-1", False)
            assert await proxy.drain("r1-1", timeout=0.05) is False
            drained = asyncio.ensure_future(proxy.drain("r1-1", timeout=10))
            await asyncio.sleep(0)
            assert not drained.done()
            backend.gate.set()
            assert await drained is True
            assert proxy.inflight("r1-1") == 0
            assert (await client.response()).status == 200
            assert await proxy.drain("r1-1", timeout=0.01) is True  # already idle
            await client.close()

    run(main)


def test_remove_endpoint_closes_idle_pooled_connections() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            assert (await client.request("GET", "/")).status == 200
            assert proxy.metrics()["endpoints"]["r1-1"]["idle_connections"] == 1
            proxy.set_routable("r1-1", False)
            proxy.remove_endpoint("r1-1")
            await eventually(lambda: backend.closed == 1, "upstream to see the close")
            assert "r1-1" not in proxy.metrics()["endpoints"]
            assert proxy.inflight("r1-1") == 0
            await client.close()

    run(main)


def test_removed_endpoint_busy_connection_is_closed_after_its_exchange() -> None:
    async def main() -> None:
        backend = Backend()
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            await client.send(build("GET", "/gate"))
            await eventually(lambda: proxy.inflight("r1-1") == 1, "request in flight")
            proxy.set_routable("r1-1", False)
            proxy.remove_endpoint("r1-1")
            backend.gate.set()
            assert (await client.response()).status == 200
            await eventually(lambda: backend.closed == 1, "busy connection closed, not pooled")
            await client.close()

    run(main)


def test_idle_pooled_connections_expire() -> None:
    async def main() -> None:
        backend = Backend()
        config = ProxyConfig(upstream_idle_timeout=0.1)
        async with serving(backend, config=config) as proxy:
            client = await Client.connect(proxy.address)
            assert (await client.request("GET", "/")).status == 200
            await eventually(lambda: backend.closed == 1, "pooled connection to expire")
            assert proxy.metrics()["endpoints"]["r1-1"]["idle_connections"] == 0
            assert (await client.request("GET", "/")).status == 200
            assert backend.connections == 2
            await client.close()

    run(main)


def test_metrics_count_statuses_and_latency() -> None:
    async def main() -> None:
        backend = Backend(3, "r3-1")
        async with serving(backend) as proxy:
            client = await Client.connect(proxy.address)
            for path in ("/a", "/b", "/status/304", "/close"):
                await client.request("GET", path)
            await client.close()
            snap = json.loads(json.dumps(proxy.metrics()))
        rev = snap["revisions"]["3"]
        assert rev["requests"] == 4
        assert rev["status"] == {"1xx": 0, "2xx": 2, "3xx": 1, "4xx": 0, "5xx": 1}
        assert rev["proxy_errors"] == {"502": 1, "503": 0, "504": 0}
        assert rev["inflight"] == 0
        latency = rev["latency"]
        assert latency["count"] == 4
        assert 0 < latency["p50"] <= latency["p90"] <= latency["p95"] <= latency["p99"] < 5
        assert latency["buckets"][-1][1] == 4
        assert snap["endpoints"]["r3-1"] == {
            "revision": 3,
            "routable": True,
            "inflight": 0,
            "tunnels": 0,
            "idle_connections": 0,
        }

    run(main)


def test_endpoint_api_validation() -> None:
    async def main() -> None:
        async with serving(Backend()) as proxy:
            with pytest.raises(ValueError, match="already exists"):
                proxy.add_endpoint("r1-1", 1, "127.0.0.1", 1)
            with pytest.raises(KeyError):
                proxy.set_routable("nope", True)
            proxy.remove_endpoint("nope")  # forgetting an unknown replica is a no-op
            assert await proxy.drain("nope", 0.01) is True

    run(main)
