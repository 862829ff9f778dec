"""The idle pool never hands out a connection idle past the limit, sweep or no sweep."""

from __future__ import annotations

from typing import Any, cast

from changeover.proxy.endpoint import Endpoint
from changeover.proxy.metrics import RevisionStats


class FakeConn:
    def __init__(self, idle_since: float, usable: bool = True) -> None:
        self.idle_since = idle_since
        self._usable = usable
        self.aborted = False

    def usable(self) -> bool:
        return self._usable and not self.aborted

    def abort(self) -> None:
        self.aborted = True


def pooled(*conns: FakeConn) -> Endpoint:
    endpoint = Endpoint("r1-1", 1, "127.0.0.1", 1, RevisionStats())
    endpoint.idle.extend(cast(Any, conns))
    return endpoint


def test_a_connection_idle_past_the_limit_is_closed_not_reused() -> None:
    # An app with a 2 s keep-alive (gunicorn) may be closing it right now: a request
    # written on it could be lost with no safe retry, so it must never be picked.
    old, fresh = FakeConn(idle_since=10.0), FakeConn(idle_since=12.5)
    endpoint = pooled(old, fresh)
    assert endpoint.take_idle(cutoff=12.0) is fresh
    assert endpoint.take_idle(cutoff=12.0) is None
    assert old.aborted
    assert not fresh.aborted


def test_dead_connections_are_skipped_and_closed() -> None:
    dead, alive = FakeConn(idle_since=5.0), FakeConn(idle_since=4.0)
    dead._usable = False
    endpoint = pooled(alive, dead)
    assert endpoint.take_idle(cutoff=0.0) is alive
    assert dead.aborted
