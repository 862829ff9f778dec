"""Getting an exchange onto an upstream connection: route, pool, connect, retry.

Invariant: an endpoint's in-flight count is incremented exactly when an exchange is
assigned to it and decremented exactly once (here on a failed connect, otherwise in
Exchange.finish). Retries happen only for failures where no request byte was written
(connect refused / timed out, or the new connection already closed before the request
could be written), at most MAX_RETRIES times, same revision first, and only on the same
revision for a pinned exchange (preview listener or header route).
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from changeover.proxy import failures
from changeover.proxy.upstream import Upstream

if TYPE_CHECKING:
    from changeover.proxy.endpoint import Endpoint
    from changeover.proxy.exchange import Exchange

MAX_RETRIES = 2


def dispatch(ex: Exchange) -> None:
    """Choose the endpoint for a new exchange (or answer 503) and assign it."""
    ds = ex.ds
    balancer = ds.ctx.balancer
    if ds.preview:
        ex.pinned = True
        endpoint = balancer.pick_preview()
    elif balancer.routes and (endpoint := balancer.pick_routed(ex.headers)) is not None:
        ex.pinned = True
    else:
        endpoint = balancer.pick(ex.headers)
    if endpoint is None:
        ds.ctx.metrics.unrouted += 1
        failures.reply_error(ex, 503, _unrouted_reason(ex))
        return
    assign(ex, endpoint)


def _unrouted_reason(ex: Exchange) -> str:
    if not ex.ds.preview:
        return "no replica is available to serve this request"
    revision = ex.ds.ctx.balancer.preview
    if revision is None:
        return "no preview revision"
    return f"no replica of preview revision {revision} is available"


def assign(ex: Exchange, endpoint: Endpoint) -> None:
    """Count the exchange against `endpoint`, then use an idle connection or open one."""
    ex.endpoint = endpoint
    ex.stats = endpoint.stats
    endpoint.acquire()
    ctx = ex.ds.ctx
    conn = endpoint.take_idle(ctx.now - ctx.config.upstream_idle_timeout)
    if conn is not None:
        attach(ex, conn)
        return
    assert ctx.loop is not None
    task = ex.connecting = ctx.loop.create_task(_connect(ex, endpoint))
    ctx.connecting.add(task)
    task.add_done_callback(ctx.connecting.discard)


async def _connect(ex: Exchange, endpoint: Endpoint) -> None:
    ctx = ex.ds.ctx
    assert ctx.loop is not None
    conn = Upstream(ctx, endpoint)
    try:
        async with asyncio.timeout(ctx.config.connect_timeout):
            await ctx.loop.create_connection(lambda: conn, endpoint.host, endpoint.port)
    except Exception as exc:  # OSError, TimeoutError, or anything else: never hang
        ctx.now = time.monotonic()
        _abandon(conn)
        ex.connecting = None
        _connect_failed(ex, endpoint, str(exc) or type(exc).__name__)
        return
    except asyncio.CancelledError:
        _abandon(conn)
        raise
    ctx.now = time.monotonic()  # an entry point: see Context.now
    ex.connecting = None
    if not conn.usable():
        # Closed (or sent unasked bytes) before we wrote anything: a failed connect.
        conn.abort()
        _connect_failed(ex, endpoint, "closed the connection before the request was sent")
    elif ex.finished:
        conn.detach(True, True)  # fresh and unused: worth keeping for the next request
    else:
        attach(ex, conn)


def _abandon(conn: Upstream) -> None:
    """Cancelled (or timed out) just after connection_made: uvloop closes the socket but
    never reports connection_lost, so drop the connection from the live set here."""
    if conn in conn.ctx.upstreams:
        conn.abort()
        conn.ctx.upstream_closed(conn)


def _connect_failed(ex: Exchange, endpoint: Endpoint, why: str) -> None:
    if ex.finished:
        return  # finish() already released the endpoint
    endpoint.release()
    ex.endpoint = None
    tried = ex.tried = ex.tried or []
    tried.append(endpoint)
    if len(tried) <= MAX_RETRIES:
        # Nothing reached an application, so trying elsewhere can't run it twice.
        retry = ex.ds.ctx.balancer.pick_retry(tried, endpoint.revision, ex.pinned)
        if retry is not None:
            assign(ex, retry)
            return
    failures.reply_error(ex, 502, f"could not connect to upstream {endpoint.replica_id}: {why}")


def attach(ex: Exchange, conn: Upstream) -> None:
    """Bind the connection and write the head plus any body buffered so far."""
    head = ex.head
    assert head is not None
    ex.upstream = conn
    conn.exchange = ex
    ds = ex.ds
    if ds.write_paused:
        conn.pause_reading()
    conn.transport.write(head.data)  # open: usable() was checked by whoever handed it over
    pending = ex.pending
    if pending is not None:
        ex.pending = None
        ex.pending_size = 0
        conn.send_parts(pending)
        ds.resume(ds.PAUSE_PENDING)
    ctx = ds.ctx
    ex.deadline = ctx.now + ctx.config.response_timeout
