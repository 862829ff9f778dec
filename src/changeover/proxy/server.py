"""The `Proxy` facade: the only API the agent and supervisor use.

Invariant: routing state changes (endpoints, routability, traffic policy, preview
revision) take effect for the next request and never disturb exchanges already in
flight; one periodic sweep (a single timer for the whole proxy, started by whichever
listener starts first) enforces every timeout and pool expiry for both listeners. The
public listener serves once; the preview listener (blue-green) may be opened and closed
repeatedly, and `shutdown` closes both. A drain waits only for HTTP exchanges: upgraded
connections (WebSockets) end when the replica, stopped right after its drain, closes
them, or at `shutdown`, which closes them first. Time is read from the clocks given at
construction (`wall` only for the access log's time of day) and timers run on the loop
the proxy started on (see Context), and `accept` serves a connection whose transport the
caller made: tests drive the proxy through `proxy.fakes` with a virtual clock and loop,
and no socket. With `config.access_log`, the sweep writes the access log's waiting lines
and `shutdown` writes the last ones once every connection is closed (proxy/access.py).
With `tls` (`[proxy] tls`) both listeners terminate TLS with the one server context;
`set_certificate` changes the pair new handshakes on either get, never touching
connections already open.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

from changeover.proxy import handoff
from changeover.proxy.access import AccessLog, CountingUpstream, LoggingDownstream
from changeover.proxy.config import ProxyConfig
from changeover.proxy.context import Context
from changeover.proxy.downstream import TLS_LEAVE_GRACE, Downstream
from changeover.proxy.endpoint import Endpoint
from changeover.proxy.listener import Listener
from changeover.proxy.metrics import Metrics
from changeover.proxy.policy import TrafficPolicy
from changeover.tlsfiles import Pair, load_into, server_context


class Proxy:
    engine_name = "builtin"  # `[proxy] engine` (agent.engine.Engine)

    def __init__(
        self,
        config: ProxyConfig = ProxyConfig(),
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,  # the access log's time of day
        tls: Pair | None = None,  # TLS on both listeners, with this certificate
    ) -> None:
        ctx = self._ctx = Context(config, clock)
        if config.access_log is not None:
            query = config.access_log_query
            ctx.access = AccessLog(config.access_log, query, clock, ctx.call_soon, wall)
            ctx.client_type, ctx.upstream_type = LoggingDownstream, CountingUpstream
        self._server: Listener | None = None
        self._preview: Listener | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._certificate = tls
        self._tls = None if tls is None else server_context(tls)

    @property
    def config(self) -> ProxyConfig:
        return self._ctx.config

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("proxy is not serving yet")
        return self._server.address

    @property
    def preview_address(self) -> tuple[str, int] | None:
        return None if self._preview is None else self._preview.address

    async def serve(self, sock: socket.socket) -> None:
        """Start accepting on an already bound and listening socket, then return."""
        if self._server is not None or self._ctx.closing:
            raise RuntimeError("a Proxy serves once: it is already serving or shut down")
        self._server = await self._listen(sock, preview=False)

    async def set_certificate(self, pair: Pair) -> None:
        """New handshakes get `pair` (already checked by `tlsfiles`); OpenSSL must take it
        in a context of its own before the serving one is changed, so a pair it refuses
        (ssl.SSLError) leaves the serving one as it was."""
        if self._tls is None:
            raise RuntimeError("the proxy serves no TLS")
        server_context(pair)
        load_into(self._tls, pair)
        self._certificate = pair

    @property
    def certificate(self) -> Pair | None:
        """The pair new handshakes get; None: no TLS."""
        return self._certificate

    async def serve_preview(self, sock: socket.socket) -> None:
        """Open the preview listener: its requests go only to the preview revision. With
        TLS it is a TLS one, served from the public listener's context (its pair, its
        reloads)."""
        if self._preview is not None or self._ctx.closing:
            raise RuntimeError("the preview listener is already open or the proxy shut down")
        self._preview = await self._listen(sock, preview=True)

    async def close_preview(self) -> None:
        """Stop accepting previews; idle preview connections close now, busy ones after
        their current response. A no-op when the preview listener is not open."""
        listener, self._preview = self._preview, None
        if listener is None:
            return
        listener.close()
        listener.retire_connections()
        await listener.wait_closed()

    async def _listen(self, sock: socket.socket, preview: bool) -> Listener:
        self._start()
        # one context for both listeners: `set_certificate` changes it for both
        return await Listener.start(self._ctx, sock, preview, self._tls)

    def accept(self, transport: asyncio.Transport, preview: bool = False) -> Downstream:
        """Serve one client connection the caller accepted (the test seam: `proxy.fakes`
        hands over fake transports). Must run on the loop the proxy serves on."""
        if self._ctx.closing:
            raise RuntimeError("the proxy is shut down")
        self._start()
        client = self._ctx.client_type(self._ctx, preview)
        transport.set_protocol(client)
        client.connection_made(transport)
        return client

    async def adopt(self, sock: socket.socket) -> Downstream:
        """Serve a client connection another process handed over between two requests."""
        ctx = self._ctx
        if ctx.closing:
            raise RuntimeError("the proxy is shut down")
        self._start()
        assert ctx.loop is not None
        sock.setblocking(False)
        _, client = await ctx.loop.connect_accepted_socket(lambda: ctx.client_type(ctx), sock=sock)
        client.deadline = ctx.clock() + ctx.config.idle_timeout  # idle, not mid-head
        return client

    def _start(self) -> None:
        """Bind to the running loop and start the sweep: once, whichever entry comes first."""
        ctx = self._ctx
        if ctx.loop is None:
            ctx.loop = asyncio.get_running_loop()
        if self._sweeper is None:
            self._sweeper = ctx.call_later(ctx.config.sweep_interval, self._sweep)

    # -- routing table ----------------------------------------------------------------

    def add_endpoint(self, replica_id: str, revision: int, host: str, port: int) -> None:
        """Register a replica; it receives no traffic until set_routable(id, True)."""
        ctx = self._ctx
        if replica_id in ctx.endpoints:
            raise ValueError(f"endpoint {replica_id!r} already exists")
        stats = ctx.metrics.revision(revision)
        ctx.endpoints[replica_id] = Endpoint(replica_id, revision, host, port, stats)

    def set_routable(self, replica_id: str, routable: bool) -> None:
        ctx = self._ctx
        ctx.endpoints[replica_id].routable = routable
        ctx.balancer.rebuild(ctx.endpoints.values())

    def set_weights(self, weights: dict[int, int] | None) -> None:
        """revision -> weight (ints >= 0; unlisted revisions get 0). None: no weighting.

        A shortcut for `set_traffic(TrafficPolicy(weights))`: routes and stickiness go."""
        self.set_traffic(TrafficPolicy(weights))

    def set_traffic(self, policy: TrafficPolicy) -> None:
        """Replace how public traffic is split (weights, header routes, sticky key)."""
        if not isinstance(policy, TrafficPolicy):
            raise TypeError(f"set_traffic needs a TrafficPolicy, got {type(policy).__name__}")
        self._ctx.balancer.set_policy(policy)

    @property
    def traffic(self) -> TrafficPolicy:
        return self._ctx.balancer.policy

    def set_preview(self, revision: int | None) -> None:
        """The revision the preview listener serves (None: it answers 503)."""
        self._ctx.balancer.preview = revision

    @property
    def preview(self) -> int | None:
        return self._ctx.balancer.preview

    async def drain(self, replica_id: str, timeout: float) -> bool:  # noqa: ASYNC109 (API)
        """Wait until the endpoint has no HTTP exchange in flight (True) or `timeout`
        passes (False). Open tunnels don't count: the replica closes them once stopped."""
        endpoint = self._ctx.endpoints.get(replica_id)
        if endpoint is None:
            return True
        return await endpoint.wait_drained(timeout)

    def remove_endpoint(self, replica_id: str) -> None:
        """Forget the replica; idle pooled connections close now, busy ones after use, and
        open tunnels stay until their upstream (or client) closes them."""
        ctx = self._ctx
        endpoint = ctx.endpoints.pop(replica_id, None)
        if endpoint is None:
            return
        endpoint.removed = True
        endpoint.routable = False
        endpoint.close_idle()
        ctx.balancer.rebuild(ctx.endpoints.values())

    def inflight(self, replica_id: str) -> int:
        """Client connections using the replica: HTTP exchanges in flight plus open tunnels
        (`drain` waits only for the former; `metrics()["endpoints"]` has both apart)."""
        endpoint = self._ctx.endpoints.get(replica_id)
        return 0 if endpoint is None else endpoint.inflight + endpoint.tunnels

    def metrics(self) -> dict[str, Any]:
        ctx = self._ctx
        snapshot = ctx.metrics.snapshot()
        snapshot["endpoints"] = {rid: ep.describe() for rid, ep in sorted(ctx.endpoints.items())}
        return snapshot

    @property
    def stats(self) -> Metrics:
        """The live counters themselves, for a reader that only reads (the agent's
        Prometheus collector); `metrics()` is the snapshot everyone else uses."""
        return self._ctx.metrics

    # -- lifecycle --------------------------------------------------------------------

    async def shutdown(
        self,
        timeout: float,  # noqa: ASYNC109 (the drain deadline, not a call timeout)
        idle_grace: float = 0.0,
        hand_over: handoff.Send | None = None,
    ) -> None:
        """Stop accepting, close every tunnel (both sides), let in-flight exchanges finish
        (up to timeout), close the rest.

        With `hand_over` (agent handover), idle keep-alive connections go to the next
        agent as they are, so no client ever races a close; busy ones finish here with
        `Connection: close`, or, when their head promised keep-alive before the shutdown
        began, go to the next agent once their response is complete. With `idle_grace`,
        idle connections that could not be handed over stay open that long first: a
        client's next request is still served (with `Connection: close`).
        """
        ctx = self._ctx
        ctx.closing = True
        server = self._server
        preview, self._preview = self._preview, None
        for listener in (server, preview):
            if listener is not None:
                listener.close()
        # Tunnels first: they are long-lived and would hold the wait below to its timeout.
        for tunnel in tuple(ctx.tunnels):
            tunnel.close()
        deadline = ctx.clock() + timeout
        if hand_over is not None:
            ctx.hand_over = hand_over  # connections that become idle later go too
            handoff.hand_over_idle(ctx, hand_over)
            _tls_leave(ctx)
        if idle_grace > 0:
            await ctx.wait_closed(False, min(idle_grace, timeout))
        for client in tuple(ctx.clients):
            if hand_over is None or handoff.movable(client):
                client.close_if_idle()  # TLS ones: the sweep, past their grace
        await ctx.wait_closed(False, max(0.0, deadline - ctx.clock()))
        ctx.hand_over = None  # the channel closes when shutdown returns
        for client in tuple(ctx.clients):
            client.abort()
        for endpoint in ctx.endpoints.values():
            endpoint.close_idle()
        for task in tuple(ctx.connecting):
            task.cancel()
        if ctx.connecting:
            await asyncio.gather(*ctx.connecting, return_exceptions=True)
        for conn in tuple(ctx.upstreams):
            conn.abort()
        # Aborted transports report connection_lost on the next loop turns.
        await ctx.wait_closed(True, 1.0)
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        if ctx.access is not None:
            ctx.access.close()  # every exchange has ended: these are the last lines
        for listener in (server, preview):
            if listener is not None:
                await listener.wait_closed()

    def _sweep(self) -> None:
        ctx = self._ctx
        # Rescheduled first so one failing check can never stop all timeouts.
        self._sweeper = ctx.call_later(ctx.config.sweep_interval, self._sweep)
        ctx.now = now = ctx.clock()
        for client in tuple(ctx.clients):
            client.check(now)
        cutoff = now - ctx.config.upstream_idle_timeout
        for endpoint in ctx.endpoints.values():
            if endpoint.idle:
                endpoint.expire_idle(cutoff)
        if ctx.access is not None:
            ctx.access.flush()


def _tls_leave(ctx: Context) -> None:
    """At a handover, TLS connections stay here (their session cannot move): each idle
    one gets a short grace for its next request, answered with `Connection: close`, and
    the sweep closes it once idle past that, so none is cut while a request may be on
    its way (as `Downstream.exchange_done` does for those that become idle later)."""
    grace = ctx.clock() + min(ctx.config.idle_timeout, TLS_LEAVE_GRACE)
    for client in ctx.clients:
        if not handoff.movable(client) and client.current is None and client.parsing is None:
            client.deadline = min(client.deadline, grace)
