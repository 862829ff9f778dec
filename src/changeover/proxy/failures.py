"""What happens to an exchange when something goes wrong.

Invariant: a failure never produces a response that looks complete but isn't. Before
the response head reached the client, the client gets a complete canned error
(502/504/400/431); after it, the client connection is aborted so the truncation is
visible. Either way the exchange is finished exactly once and the upstream connection
involved is never pooled. This module decides; the exchange records the outcome
through its methods (cut_upstream, answered, abort, close_after).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from changeover.proxy.errors import CLOSED_EARLY, error_body, error_response, not_responding
from changeover.proxy.headers import CLOSE
from changeover.proxy.state import State

if TYPE_CHECKING:
    from changeover.proxy.exchange import Exchange

_PROXY_ERRORS = frozenset({502, 503, 504})
# The request itself was refused: what follows it on the connection can't be trusted.
_REFUSALS = frozenset({400, 431})


def reply_error(ex: Exchange, status: int, detail: str) -> None:
    """Answer with a canned error response and finish the exchange."""
    ds = ex.ds
    if status in _PROXY_ERRORS and ex.stats is not None:
        ex.stats.errors[str(status)] += 1
    keep_alive = ex.keep_alive and status not in _REFUSALS and not ds.ctx.closing
    if ex.http11:
        connection = None if keep_alive else b"close"
    else:
        connection = b"keep-alive" if keep_alive else b"close"
    request_id = ex.head.request_id if ex.head is not None else None
    head_only = ex.method == b"HEAD"
    ds.send(
        error_response(
            status, detail, connection=connection, request_id=request_id, head_only=head_only
        )
    )
    ex.answered(status, keep_alive, detail, 0 if head_only else len(error_body(status, detail)))


def upstream_failed(ex: Exchange, why: str) -> None:
    """The upstream misbehaved: drop it, then 502 or abort the client."""
    ex.cut_upstream()
    if ex.finished:
        return
    name = ex.endpoint.replica_id if ex.endpoint is not None else "?"
    if ex.state is State.STREAMING:
        abort_client(ex, f"upstream {name} {why}")
        return
    reply_error(ex, 502, f"upstream {name} {why}")


def upstream_lost(ex: Exchange, exc: Exception | None) -> None:
    """The upstream connection closed (exc None) or broke while this exchange used it."""
    if ex.finished:
        return
    if exc is None and ex.state is State.STREAMING and ex.response_body_mode == CLOSE:
        ex.finish()  # close-delimited body: EOF is its end
        return
    if exc is None:
        upstream_failed(ex, CLOSED_EARLY)
    else:
        upstream_failed(ex, f"broke the connection ({exc})")


def abort_client(ex: Exchange, why: str) -> None:
    """Response already started: the client must see it cut off, not silently short."""
    ex.ds.abort()
    ex.abort(why)


def client_gone(ex: Exchange, why: str) -> None:
    """Client disconnected mid-exchange: cancel the connect or abort the upstream side,
    finish the accounting."""
    ex.abort(why)


def client_error(ex: Exchange, why: str) -> None:
    """The request body turned out malformed after the exchange had started."""
    ex.close_after()
    if ex.finished:
        ex.ds.close()
        return
    ex.cut_upstream()  # the app got a partial request: it must see a reset
    if ex.state is State.STREAMING:
        abort_client(ex, why)
    else:
        ex.ds.ctx.metrics.rejected += 1
        reply_error(ex, 400, why)


def check_deadline(ex: Exchange, now: float) -> None:
    """Periodic sweep: 504 if the upstream has not started its response in time."""
    if not ex.overdue(now):
        return
    ex.cut_upstream()
    name = ex.endpoint.replica_id if ex.endpoint is not None else "?"
    timeout = ex.ds.ctx.config.response_timeout
    reply_error(ex, 504, not_responding(name, timeout))
