"""State shared by every connection of one Proxy: config, routing, metrics, live sets.

Invariant: `clients` and `upstreams` hold exactly the connections whose transports
are still open (added in connection_made, removed in connection_lost), and `tunnels`
exactly the open 101 tunnels (a tunnel's client stays in `clients` until both its sides
are gone), so shutdown can close tunnels first and wait for the rest to reach empty
instead of guessing with sleeps. `now` is the monotonic
time of the event being handled: every entry point that may set a deadline or finish an
exchange (both protocols' data_received and connection_lost, the connect task, the
sweep) refreshes it first, so the hot path reads the clock once per event, not per use.
"""

from __future__ import annotations

import asyncio
import os
import time
from typing import TYPE_CHECKING

from changeover.proxy.balancer import Balancer
from changeover.proxy.config import ProxyConfig
from changeover.proxy.metrics import Metrics

if TYPE_CHECKING:
    from changeover.proxy.downstream import Downstream
    from changeover.proxy.endpoint import Endpoint
    from changeover.proxy.tunnel import Tunnel
    from changeover.proxy.upstream import Upstream


class Context:
    def __init__(self, config: ProxyConfig) -> None:
        self.config = config
        self.loop: asyncio.AbstractEventLoop | None = None
        self.balancer = Balancer()
        self.metrics = Metrics()
        self.endpoints: dict[str, Endpoint] = {}
        self.clients: set[Downstream] = set()
        self.upstreams: set[Upstream] = set()
        self.tunnels: set[Tunnel] = set()
        self.connecting: set[asyncio.Task[None]] = set()
        self.closing = False
        self.now = time.monotonic()
        self.proto = config.forwarded_proto.encode()
        # Per-process random prefix + counter: unique ids without a uuid per request.
        self._id_prefix = os.urandom(5).hex().encode()
        self._id_seq = 0
        self._waiter: asyncio.Future[None] | None = None

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
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.clients or (upstreams and self.upstreams):
            remaining = deadline - loop.time()
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
