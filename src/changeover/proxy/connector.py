"""Getting an exchange onto an upstream connection: route, connect, retry.

Invariant: an endpoint's in-flight count is incremented exactly when an exchange is
assigned to it (`Exchange.assign`, which then takes an idle pooled connection or starts
`connect`) and decremented exactly once (on a failed connect, otherwise at the
exchange's exit). Retries happen only for failures where no request byte was written
(connect refused / timed out, or the new connection already closed before the request
could be written), at most MAX_RETRIES times, same revision first, and only on the same
revision for a pinned exchange (preview listener or header route). This module decides;
the exchange records the outcome through its methods (assign, connected,
connect_failed) and never has its fields written from here.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from changeover.proxy import failures
from changeover.proxy.errors import NO_REPLICA

if TYPE_CHECKING:
    from changeover.proxy.endpoint import Endpoint
    from changeover.proxy.exchange import Exchange
    from changeover.proxy.upstream import Upstream

MAX_RETRIES = 2


def dispatch(ex: Exchange) -> None:
    """Choose the endpoint for a new exchange (or answer 503) and assign it."""
    ds = ex.ds
    balancer = ds.ctx.balancer
    pinned = False
    if ds.preview:
        pinned = True
        endpoint = balancer.pick_preview()
    elif balancer.routes and (endpoint := balancer.pick_routed(ex.headers)) is not None:
        pinned = True
    else:
        endpoint = balancer.pick(ex.headers)
    if endpoint is None:
        ds.ctx.metrics.unrouted += 1
        failures.reply_error(ex, 503, _unrouted_reason(ex))
        return
    ex.assign(endpoint, pinned)


def _unrouted_reason(ex: Exchange) -> str:
    if not ex.ds.preview:
        return NO_REPLICA
    revision = ex.ds.ctx.balancer.preview
    if revision is None:
        return "no preview revision"
    return f"no replica of preview revision {revision} is available"


async def connect(ex: Exchange, endpoint: Endpoint) -> None:
    """The task opening a new connection to `endpoint` for `ex` (see Exchange.assign)."""
    ctx = ex.ds.ctx
    assert ctx.loop is not None
    conn = ctx.upstream_type(ctx, endpoint)  # counts body bytes for the access log, if on
    try:
        async with asyncio.timeout(ctx.config.connect_timeout):
            await ctx.loop.create_connection(lambda: conn, endpoint.host, endpoint.port)
    except Exception as exc:  # OSError, TimeoutError, or anything else: never hang
        ctx.now = ctx.clock()
        _abandon(conn)
        _connect_failed(ex, endpoint, str(exc) or type(exc).__name__)
        return
    except asyncio.CancelledError:
        _abandon(conn)
        raise
    ctx.now = ctx.clock()  # an entry point: see Context.now
    if not conn.usable():
        # Closed (or sent unasked bytes) before we wrote anything: a failed connect.
        conn.abort()
        _connect_failed(ex, endpoint, "closed the connection before the request was sent")
    elif not ex.connected(conn):
        conn.detach(True, True)  # fresh and unused: worth keeping for the next request


def _abandon(conn: Upstream) -> None:
    """Cancelled (or timed out) just after connection_made: uvloop closes the socket but
    never reports connection_lost, so drop the connection from the live set here."""
    if conn in conn.ctx.upstreams:
        conn.abort()
        conn.ctx.upstream_closed(conn)


def _connect_failed(ex: Exchange, endpoint: Endpoint, why: str) -> None:
    tried = ex.connect_failed()
    if tried is None:
        return  # finished meanwhile: its exit released the endpoint
    if len(tried) <= MAX_RETRIES:
        # Nothing reached an application, so trying elsewhere can't run it twice.
        retry = ex.ds.ctx.balancer.pick_retry(tried, endpoint.revision, ex.pinned)
        if retry is not None:
            ex.assign(retry, ex.pinned)
            return
    failures.reply_error(ex, 502, f"could not connect to upstream {endpoint.replica_id}: {why}")
