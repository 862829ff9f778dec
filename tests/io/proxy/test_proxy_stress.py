"""Many concurrent clients with a mix of request shapes: every answer right, nothing leaks."""

from __future__ import annotations

import asyncio
import random

from tests.io.proxy.proxy_kit import Backend, Client, Message, build, eventually, run, serving

Expect = tuple[int, bytes | None]  # status, body (None: don't check)


def make_request(rng: random.Random, i: int) -> tuple[bytes, str, Expect]:
    kind = rng.choice(["get", "echo", "chunked-echo", "chunked", "eof", "head", "204", "close"])
    if kind == "get":
        return build("GET", f"/g{i}"), "GET", (200, None)
    if kind in ("echo", "chunked-echo"):
        body = rng.randbytes(rng.choice([0, 1, 1000, 70_000, 200_000]))
        if kind == "echo":
            return build("POST", "/echo", body=body), "POST", (200, body)
        encoded = b"".join(
            b"%x\r\n%s\r\n" % (len(body[j : j + 9000]), body[j : j + 9000])
            for j in range(0, len(body), 9000)
        )
        head = build("POST", "/echo", {"Transfer-Encoding": "chunked"})
        return head + encoded + b"0\r\n\r\n", "POST", (200, body)
    if kind == "chunked":
        return build("GET", "/chunked"), "GET", (200, b"hello chunked world")
    if kind == "eof":
        return build("GET", "/eof"), "GET", (200, b"until the end")
    if kind == "head":
        return build("HEAD", f"/h{i}"), "HEAD", (200, b"")
    if kind == "204":
        return build("GET", "/status/204"), "GET", (204, b"")
    return build("GET", "/close"), "GET", (502, None)


async def client_session(address: tuple[str, int], seed: int, count: int) -> list[int]:
    rng = random.Random(seed)
    client = await Client.connect(address)
    statuses = []
    i = 0
    while i < count:
        batch = [make_request(rng, i + k) for k in range(rng.choice([1, 1, 1, 3]))]
        await client.send(b"".join(raw for raw, _, _ in batch))  # sometimes pipelined
        for _, method, (status, body) in batch:
            resp: Message = await client.response(head=method == "HEAD")
            assert resp.status == status
            if body is not None:
                assert resp.body == body
            statuses.append(resp.status)
        i += len(batch)
    await client.close()
    return statuses


def test_mixed_concurrent_traffic() -> None:
    async def main() -> None:
        backends = [Backend(1, "r1-1"), Backend(1, "r1-2"), Backend(2, "r2-1")]
        async with serving(*backends) as proxy:
            proxy.set_weights({1: 70, 2: 30})
            results = await asyncio.gather(
                *(client_session(proxy.address, seed, 30) for seed in range(25))
            )
            total = sum(len(r) for r in results)
            await eventually(
                lambda: all(proxy.inflight(b.name) == 0 for b in backends), "in-flight to be 0"
            )
            snap = proxy.metrics()
            done = sum(rev["requests"] for rev in snap["revisions"].values())
            assert done == total
            fivexx = sum(rev["status"]["5xx"] for rev in snap["revisions"].values())
            assert fivexx == sum(r.count(502) for r in results)
            assert all(rev["inflight"] == 0 for rev in snap["revisions"].values())
            assert all(rev["aborted"] == 0 for rev in snap["revisions"].values())

    run(main)
