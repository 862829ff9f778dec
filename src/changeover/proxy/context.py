"""State shared by every connection of one Proxy: config, routing, metrics, live sets.

Invariant: `clients` and `upstreams` hold exactly the connections whose transports
are still open (added in connection_made, removed in connection_lost), and `tunnels`
exactly the open 101 tunnels (a tunnel's client stays in `clients` until both its sides
are gone), so shutdown can close tunnels first and wait for the rest to reach empty
instead of guessing with sleeps. `now` is the time of the event being handled: every
entry point that may set a deadline or finish an exchange (both protocols' data_received
and connection_lost, the connect task, the sweep) refreshes it first, so the hot path
reads the clock once per event, not per use.

Time and scheduling go through here and nowhere else in the proxy: the clock is `clock`
(time.monotonic in production: uvloop's `loop.time()` counts whole milliseconds, too
coarse for latencies), tasks and timers are made on `loop`. So a virtual clock and loop
(`proxy.fakes`) can stand in for both. Connections are made of `client_type` and
`upstream_type`, which the access log replaces with subclasses that log and count
(proxy/access.py): the request path checks nothing while it is off.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from changeover.networks import parse_networks
from changeover.proxy.balancer import Balancer
from changeover.proxy.config import ProxyConfig
from changeover.proxy.downstream import Downstream
from changeover.proxy.metrics import Metrics
from changeover.proxy.upstream import Upstream

if TYPE_CHECKING:
    from changeover.proxy.access import AccessLog
    from changeover.proxy.endpoint import Endpoint
    from changeover.proxy.tunnel import Tunnel


class Context:
    def __init__(self, config: ProxyConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.clock = clock
        self.loop: asyncio.AbstractEventLoop | None = None  # set when the proxy starts
        self.balancer = Balancer()
        self.metrics = Metrics()
        self.endpoints: dict[str, Endpoint] = {}
        self.clients: set[Downstream] = set()
        self.upstreams: set[Upstream] = set()
        self.tunnels: set[Tunnel] = set()
        self.connecting: set[asyncio.Task[None]] = set()
        self.closing = False
        # while a shutdown hands connections to the next agent: how (handoff.Send)
        self.hand_over: Callable[[list[socket.socket]], bool] | None = None
        self.access: AccessLog | None = None  # the access log, while it is on
        self.client_type: type[Downstream] = Downstream  # what accepted connections are
        self.upstream_type: type[Upstream] = Upstream  # what connections to replicas are
        self.now = clock()
        self.proto = config.forwarded_proto.encode()
        # empty (the default): no connection looks its peer up (Downstream.connection_made)
        self.trusted = parse_networks(config.trusted_proxies)
        # Per-process random prefix + counter: unique ids without a uuid per request.
        self._id_prefix = os.urandom(5).hex().encode()
        self._id_seq = 0
        # Bound once: `ctx.new_request_id` would make a new method object per request.
        self.request_ids: Callable[[], bytes] = self.new_request_id
        self._waiter: asyncio.Future[None] | None = None

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run `coro` as a task on the proxy's loop (a connect: tracked for shutdown)."""
        assert self.loop is not None
        task = self.loop.create_task(coro)
        self.connecting.add(task)
        task.add_done_callback(self.connecting.discard)
        return task

    def call_soon(self, callback: Callable[[], None]) -> asyncio.Handle:
        assert self.loop is not None
        return self.loop.call_soon(callback)

    def call_later(self, delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        assert self.loop is not None
        return self.loop.call_later(delay, callback)

    def new_request_id(self) -> bytes:
        self._id_seq += 1
        return b"%s-%x" % (self._id_prefix, self._id_seq)

    def client_closed(self, client: Downstream) -> None:
        self.clients.discard(client)
        self._poke()

    def upstream_closed(self, conn: Upstream) -> None:
        self.upstreams.discard(conn)
        self._poke()

    def _poke(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait_closed(self, upstreams: bool, within: float) -> bool:
        """Wait until no client (and optionally no upstream) connection is open."""
        loop = self.loop or asyncio.get_running_loop()
        clock = self.clock
        deadline = clock() + within
        while self.clients or (upstreams and self.upstreams):
            remaining = deadline - clock()
            if remaining <= 0:
                return False
            self._waiter = waiter = loop.create_future()
            try:
                async with asyncio.timeout(remaining):
                    await waiter
            except TimeoutError:
                return False
            finally:
                self._waiter = None
        return True
