"""One request/response exchange between a client connection and a replica.

Invariant: an exchange assigned to an endpoint is finished exactly once (`finish`),
which releases the endpoint's in-flight slot, records metrics and hands the upstream
connection back (pooled only if the whole exchange was clean). An upgrade finishes its
exchange when the 101 is relayed: the tunnel that follows is counted on the endpoint
apart (`tunnels`), so it never holds a drain. A request is retried on
another endpoint only when no byte of it was ever written to an application (connect
refused or timed out), and never off its revision when `pinned`; after that, failures
become 502/504 or an aborted client.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from changeover.proxy import connector, failures
from changeover.proxy.headers import (
    CHUNKED,
    Headers,
    RequestHead,
    interim_head,
    rewrite_request,
    rewrite_response,
)
from changeover.proxy.upstream import MODE_FAILED, MODE_INTERIM, MODE_UPGRADE

if TYPE_CHECKING:
    from changeover.proxy.downstream import Downstream
    from changeover.proxy.endpoint import Endpoint
    from changeover.proxy.metrics import RevisionStats
    from changeover.proxy.upstream import Upstream

PENDING_LIMIT = 65536  # request body bytes buffered before an upstream is attached
_CHUNK_END = b"0\r\n\r\n"


class Exchange:
    __slots__ = (
        "chunked",
        "connecting",
        "deadline",
        "ds",
        "endpoint",
        "error",
        "finished",
        "head",
        "head_first",
        "head_raw",
        "head_sent",
        "headers",
        "http11",
        "keep_alive",
        "method",
        "pending",
        "pending_size",
        "pinned",
        "progress",
        "request_done",
        "response_body_mode",
        "reuse",
        "stats",
        "status",
        "t0",
        "target",
        "tried",
        "upgrade",
        "upgrade_head",
        "upstream",
    )

    def __init__(self, ds: Downstream, first: int = 0) -> None:
        self.ds = ds
        self.target = b""
        self.headers: Headers = []
        self.method = b""
        self.head: RequestHead | None = None
        self.error: str | None = None
        self.http11 = self.keep_alive = True
        self.upgrade = self.request_done = self.finished = self.head_sent = False
        self.chunked = self.reuse = False
        self.endpoint: Endpoint | None = None
        self.stats: RevisionStats | None = None
        self.upstream: Upstream | None = None
        self.connecting: asyncio.Task[None] | None = None
        self.tried: list[Endpoint] | None = None
        self.pinned = False  # routed to one revision (preview, header route): retries stay
        self.pending: list[bytes] | None = None
        self.pending_size = 0
        self.progress = False  # request body moved since the last sweep
        self.upgrade_head = b""
        self.status = self.response_body_mode = 0
        self.t0 = self.deadline = 0.0  # t0 stays 0 until the head is complete
        self.head_first = first  # size of the read it began in: a bound on its bytes there
        self.head_raw = 0  # later reads with no body byte among them (-1: body just moved)

    def head_size(self) -> int:
        """The head as parsed: target plus each header line (name, ': ', value, CRLF)."""
        return len(self.target) + sum(len(n) + len(v) + 4 for n, v in self.headers)

    # -- request side (driven by Downstream) ------------------------------------------

    def prepare(self, method: bytes, http11: bool, keep_alive: bool, upgrade: bool) -> None:
        """Head complete: validate and rebuild it; on failure `error` says why."""
        self.method = method
        self.http11 = http11
        self.keep_alive = keep_alive
        self.upgrade = upgrade
        ds = self.ds
        ctx = ds.ctx
        self.t0 = ctx.now
        head = rewrite_request(
            method,
            self.target,
            http11,
            self.headers,
            upgrade,
            ds.client_ip,
            ctx.proto,
            ctx.new_request_id,
        )
        if isinstance(head, str):
            self.error = head
        else:
            self.head = head

    def start(self) -> None:
        """Our turn on the client connection: route and send, or answer an error."""
        ctx = self.ds.ctx
        if self.error is not None:
            ctx.metrics.rejected += 1
            failures.reply_error(self, 400, self.error)
            return
        connector.dispatch(self)

    def request_body(self, data: bytes) -> None:
        if self.finished:
            return  # answered early: the rest of the body is discarded
        assert self.head is not None
        parts = (b"%x\r\n" % len(data), data, b"\r\n") if self.head.body == CHUNKED else (data,)
        self.progress = True
        conn = self.upstream
        if conn is not None:
            conn.send_parts(parts)
        else:
            self._buffer(parts, len(data))

    def request_complete(self) -> None:
        self.request_done = True
        if self.finished or self.head is None:
            return
        if self.head.body == CHUNKED:
            if self.upstream is not None:
                self.upstream.send(_CHUNK_END)
            else:
                self._buffer((_CHUNK_END,), 0)
        if self.upstream is not None and not self.head_sent:
            ctx = self.ds.ctx
            self.deadline = ctx.now + ctx.config.response_timeout

    def _buffer(self, parts: tuple[bytes, ...], size: int) -> None:
        """No upstream yet (connecting or queued): hold the body, bounded by pausing reads."""
        pending = self.pending
        if pending is None:
            pending = self.pending = []
        pending += parts
        self.pending_size += size
        if self.pending_size > PENDING_LIMIT:
            self.ds.pause(self.ds.PAUSE_PENDING)

    # -- response side (driven by Upstream) -------------------------------------------

    def response_head(self, status: int, reason: bytes, headers: Headers, reuse: bool) -> int:
        """Relay a response head; returns the body mode the upstream parser should expect."""
        assert self.head is not None
        ds = self.ds
        if status < 200:
            return self._interim(status, reason, headers)
        no_body = status == 204 or status == 304 or self.method == b"HEAD"
        keep_alive = self.keep_alive and not ds.ctx.closing
        head = rewrite_response(
            status, reason, headers, self.head.request_id, no_body, self.http11, keep_alive
        )
        if isinstance(head, str):
            failures.upstream_failed(self, head)
            return MODE_FAILED
        self.status = status
        self.chunked = head.chunked
        self.keep_alive = head.keep_alive
        self.response_body_mode = head.upstream_body
        self.reuse = reuse
        self.head_sent = True
        ds.send(head.data)
        return head.upstream_body

    def _interim(self, status: int, reason: bytes, headers: Headers) -> int:
        assert self.head is not None
        if status == 101:
            if not self.upgrade:
                failures.upstream_failed(self, "switched protocols without being asked to")
                return MODE_FAILED
            head = rewrite_response(101, reason, headers, self.head.request_id, True, True, True)
            assert not isinstance(head, str)
            self.upgrade_head = head.data
            return MODE_UPGRADE
        if self.http11:
            self.ds.send(interim_head(status, reason, headers))
        ctx = self.ds.ctx
        self.deadline = ctx.now + ctx.config.response_timeout
        return MODE_INTERIM

    def response_complete(self) -> None:
        if self.chunked:
            self.ds.send(_CHUNK_END)
        self.finish(True, self.reuse and self.request_done)

    def upgraded(self, conn: Upstream, rest: bytes) -> None:
        """Upstream said 101: relay it and splice both connections into a byte tunnel."""
        if not self.upgrade_head:
            failures.upstream_failed(self, "sent an invalid 101 response")
            return
        self.upstream = None
        self.status = 101
        self.head_sent = True
        self.ds.send(self.upgrade_head)
        endpoint = self.endpoint
        assert endpoint is not None  # attached upstreams always have one
        endpoint.tunnel_opened()
        self.ds.start_tunnel(conn.release_to_tunnel(), rest, endpoint.tunnel_closed)
        self.finish(True, False)  # after start_tunnel: a tunneled client is not reused

    # -- failure entry points (logic lives in failures.py) ----------------------------

    def upstream_lost(self, exc: Exception | None) -> None:
        failures.upstream_lost(self, exc)

    def upstream_failed(self, why: str) -> None:
        failures.upstream_failed(self, why)

    def upstream_write_paused(self, paused: bool) -> None:
        ds = self.ds
        if paused:
            ds.pause(ds.PAUSE_UPSTREAM)
        else:
            ds.resume(ds.PAUSE_UPSTREAM)

    def finish(self, complete: bool, reuse: bool) -> None:
        """The single exit: release the slot, return the connection, record metrics."""
        if self.finished:
            return  # idempotent, so a late event can never release the slot twice
        self.finished = True
        conn = self.upstream
        if conn is not None:
            self.upstream = None
            conn.detach(reuse, complete and self.request_done)
        ds = self.ds
        if ds.paused:
            ds.resume(ds.PAUSE_UPSTREAM | ds.PAUSE_PENDING)
        endpoint = self.endpoint
        if endpoint is not None:
            endpoint.release()
        stats = self.stats
        if stats is not None:
            if complete:
                stats.completed(self.status, ds.ctx.now - self.t0)
            else:
                stats.aborted += 1
        if complete:
            ds.exchange_done(self)
