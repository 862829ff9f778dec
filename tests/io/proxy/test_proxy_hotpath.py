"""What the hot-path work changed: the head-size bound computed lazily, the clock read
once per event, one-cell metrics, the remembered sticky buckets, the plain-name shortcut
in head rewriting."""

from __future__ import annotations

import asyncio
from bisect import bisect_left

from hypothesis import given, settings
from hypothesis import strategies as st

from changeover.histogram import BOUNDS, STATUS_CLASSES
from changeover.proxy.chooser import BUCKET_CACHE, Chooser, sticky_bucket
from changeover.proxy.config import ProxyConfig
from changeover.proxy.headers import _PLAIN, _REQUEST_SPECIAL, _RESPONSE_SPECIAL
from changeover.proxy.metrics import RevisionStats
from changeover.proxy.policy import Sticky, TrafficPolicy, _cookie_value
from tests.io.proxy.proxy_kit import Backend, Client, Message, respond, run, serving

HOST = b"Host: example.test\r\n"
GOOD = b"GET /ok HTTP/1.1\r\n" + HOST + b"\r\n"
LIMIT = 4096  # ProxyConfig.max_header_bytes in these tests: small heads, same logic


def head_of(size: int) -> bytes:
    """A request head whose header lines add up to about `size` bytes."""
    filler = b"X-Pad: " + b"p" * (size - len(HOST) - 40) + b"\r\n"
    return b"GET /padded HTTP/1.1\r\n" + HOST + filler + b"\r\n"


async def pipelined_in_two_writes(second_head: bytes) -> tuple[Message, Message, Backend]:
    """A complete request plus the start of a second one, then the rest of the second:
    the second head begins in a read it shares with another request."""
    backend = Backend()
    async with serving(backend, config=ProxyConfig(max_header_bytes=LIMIT)) as proxy:
        client = await Client.connect(proxy.address)
        half = len(second_head) // 2
        await client.send(GOOD + second_head[:half])
        first = await client.response()
        await client.send(second_head[half:])
        second = await client.response()
        await client.close()
    return first, second, backend


def test_head_over_the_limit_split_behind_a_pipelined_request_is_refused() -> None:
    async def main() -> None:
        first, second, backend = await pipelined_in_two_writes(head_of(LIMIT + 200))
        assert first.status == 200
        assert second.status == 400
        assert b"larger than" in second.body or b"over" in second.body
        assert [m.target for m in backend.requests] == ["/ok"]

    run(main)


def test_head_under_the_limit_split_behind_a_pipelined_request_is_served() -> None:
    async def main() -> None:
        first, second, backend = await pipelined_in_two_writes(head_of(LIMIT - 200))
        assert (first.status, second.status) == (200, 200)
        assert [m.target for m in backend.requests] == ["/ok", "/padded"]

    run(main)


def test_latency_is_measured_with_the_clock_of_the_response_event() -> None:
    """The clock is read once per I/O event: a stale reading would record ~0 s here."""

    async def slow(b: Backend, msg: Message, reader: object, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(0.2)
        writer.write(respond(200, b"late"))
        return True

    async def main() -> None:
        async with serving(Backend(handler=slow)) as proxy:
            client = await Client.connect(proxy.address)
            for _ in range(2):
                await client.send(GOOD)
                assert (await client.response()).body == b"late"
            await client.close()
            latency = proxy.metrics()["revisions"]["1"]["latency"]
        assert latency["count"] == 2
        # Each took at least the app's 0.2 s (less a timer tick); a stale clock gives ~0.
        assert latency["sum"] >= 0.3

    run(main)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 999), st.floats(0, 100, allow_nan=False)), max_size=60))
def test_one_cell_per_request_adds_up_to_the_same_snapshot(
    records: list[tuple[int, float]],
) -> None:
    stats = RevisionStats()
    for status, elapsed in records:
        stats.completed(status, elapsed)
    snap = stats.snapshot()
    classes = [0] * len(STATUS_CLASSES)
    buckets = [0] * (len(BOUNDS) + 1)
    for status, elapsed in records:
        classes[min(max(status // 100, 1), 5) - 1] += 1
        buckets[bisect_left(BOUNDS, elapsed)] += 1
    assert snap["requests"] == len(records) == snap["latency"]["count"]
    assert list(snap["status"].values()) == classes
    running = 0
    for (bound, seen), n in zip(snap["latency"]["buckets"], buckets, strict=False):
        running += n
        assert (bound, seen) == (bound, running)
    assert abs(snap["latency"]["sum"] - sum(e for _, e in records)) < 1e-6


@settings(max_examples=50, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=12), min_size=1, max_size=40))
def test_remembered_buckets_are_the_hashed_ones(keys: list[bytes]) -> None:
    chooser = Chooser(TrafficPolicy({1: 50, 2: 50}, (), Sticky("cookie", "u")))
    for key in keys + keys:
        assert chooser.bucket(key) == sticky_bucket(key)


def test_bucket_memory_is_bounded() -> None:
    chooser = Chooser(TrafficPolicy({1: 50, 2: 50}, (), Sticky("header", "x-user")))
    for n in range(BUCKET_CACHE * 2 + 5):
        key = b"user-%d" % n
        assert chooser.bucket(key) == sticky_bucket(key)
    assert len(chooser._buckets) <= BUCKET_CACHE


def test_plain_names_are_never_names_the_rewrite_must_handle() -> None:
    lowered = {name.lower() for name in _PLAIN}
    assert lowered.isdisjoint(_REQUEST_SPECIAL)
    assert lowered.isdisjoint(_RESPONSE_SPECIAL)


def split_cookie_value(headers: list[tuple[bytes, bytes]], cname: bytes) -> bytes | None:
    """The definition `_cookie_value` keeps: split every Cookie line into its pairs."""
    for name, value in headers:
        if name.lower() != b"cookie":
            continue
        for pair in value.split(b";"):
            key, sep, found = pair.strip(b" \t").partition(b"=")
            if sep and key.rstrip(b" \t") == cname:
                return found.strip(b" \t") or None
    return None


COOKIE_TEXT = st.text(alphabet="us=; \tab", max_size=30).map(str.encode)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([b"Cookie", b"cookie", b"COOKIE", b"X-Other"]), COOKIE_TEXT),
        max_size=3,
    ),
    st.sampled_from([b"u", b"us", b"a"]),
)
def test_cookie_search_finds_what_splitting_finds(
    headers: list[tuple[bytes, bytes]], cname: bytes
) -> None:
    assert _cookie_value(headers, cname) == split_cookie_value(headers, cname)
