"""One request/response exchange between a client connection and a replica.

Invariant: the exchange owns its state. `state` (a `proxy.state.State`) changes only in
this class's methods and only along `proxy.state.MOVES`; connector, failures and
downstream call these methods and never write the exchange's fields (the parser's header
callbacks append to `headers`, the list the exchange hands out for them). An exchange
assigned to an endpoint is finished exactly once (`finish`, into DONE, UPGRADED or
ABORTED), which releases the endpoint's in-flight slot, records metrics and hands the
upstream connection back (pooled only if the whole exchange was clean). An upgrade
finishes its exchange when the 101 is relayed: the tunnel that follows is counted on the
endpoint apart (`tunnels`), so it never holds a drain. A request is retried on another
endpoint only when no byte of it was ever written to an application (connect refused or
timed out), and never off its revision when `pinned`; after that, failures become
502/504 or an aborted client.

The end of the request (`request_done`) is a fact apart from `state`: an application may
answer before it has read the whole body, so the response can be STREAMING, or the
exchange DONE, while the request still arrives. The hot-path methods store states
directly (why: proxy/state.py) and read them as module constants.

While the access log is on, each exit reaches it: `finish` through the client
connection's `exchange_done` (`access.LoggingDownstream`, so the off path checks
nothing), `abort` through `ds.access`. `target` (a refused head's) is a slot only the
access log reads and only the refusals set, so `__init__` never stores it: read it with a
default.
"""

from __future__ import annotations

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
from changeover.proxy.state import State
from changeover.proxy.upstream import MODE_FAILED, MODE_INTERIM, MODE_UPGRADE

if TYPE_CHECKING:
    import asyncio

    from changeover.proxy.downstream import Downstream
    from changeover.proxy.endpoint import Endpoint
    from changeover.proxy.metrics import RevisionStats
    from changeover.proxy.upstream import Upstream

PENDING_LIMIT = 65536  # request body bytes buffered before an upstream is attached
_CHUNK_END = b"0\r\n\r\n"

# Module constants: a global load, not an enum class attribute lookup, per use.
_HEAD, _QUEUED, _CONNECTING = State.HEAD, State.QUEUED, State.CONNECTING
_SENDING, _AWAITING, _STREAMING = State.SENDING, State.AWAITING, State.STREAMING
_UPGRADING, _DONE, _UPGRADED, _ABORTED = State.UPGRADING, State.DONE, State.UPGRADED, State.ABORTED


class Exchange:
    __slots__ = (
        "chunked",
        "deadline",
        "ds",
        "endpoint",
        "error",
        "head",
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
        "state",
        "stats",
        "status",
        "t0",
        "target",
        "task",
        "tried",
        "upgrade",
        "upgrade_head",
        "upstream",
    )

    def __init__(self, ds: Downstream) -> None:
        self.ds = ds
        self.state = _HEAD
        self.headers: Headers = []  # filled by the parser's header callbacks (downstream)
        self.method = b""
        self.head: RequestHead | None = None
        # Why the proxy answers it itself: refused (with `status`) when its turn comes, or
        # 502/503/504 (set by `answered`). When a complete response ends it, set iff the
        # proxy made that response (the access log names no replica then).
        self.error: str | None = None
        self.http11 = self.keep_alive = True
        self.upgrade = self.request_done = self.chunked = self.reuse = False
        self.endpoint: Endpoint | None = None
        self.stats: RevisionStats | None = None
        self.upstream: Upstream | None = None
        self.task: asyncio.Task[None] | None = None  # the connect in progress, if any
        self.tried: list[Endpoint] | None = None
        self.pinned = False  # routed to one revision (preview, header route): retries stay
        self.pending: list[bytes] | None = None
        self.pending_size = 0
        self.progress = False  # request body moved since the last sweep
        self.upgrade_head = b""
        self.status = self.response_body_mode = 0
        self.t0 = self.deadline = 0.0

    @property
    def finished(self) -> bool:
        return self.state >= _DONE

    # -- request side (driven by Downstream) ------------------------------------------

    def reject(self, why: str, status: int = 400) -> None:
        """The request is refused: answered `status` (400 malformed, 431 too many header
        fields) when its turn comes. The first reason given wins."""
        if self.error is None:
            self.error = why
            self.status = status

    def head_refused(self, method: bytes, target: bytes) -> None:
        """Its complete head is refused before `prepare`: keep what the access log shows."""
        self.method = method
        self.target = target
        self.t0 = self.ds.ctx.now

    def prepare(
        self, method: bytes, target: bytes, http11: bool, keep_alive: bool, upgrade: bool
    ) -> None:
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
            target,
            http11,
            self.headers,
            upgrade,
            ds.client_ip,
            ctx.proto,
            ctx.request_ids,
            ds.trusted,
        )
        if isinstance(head, str):
            self.target = target  # for the access log: no head keeps it
            self.reject(head)
        else:
            self.head = head

    def queued(self) -> None:
        """Its head is complete while another exchange holds the connection: it waits."""
        self.state = _QUEUED

    def close_after(self) -> None:
        """The client connection closes once this exchange's response is sent."""
        self.keep_alive = False

    def start(self) -> None:
        """Our turn on the client connection: route and send, or answer an error."""
        if self.error is not None:
            self.ds.ctx.metrics.rejected += 1
            failures.reply_error(self, self.status, self.error)
            return
        connector.dispatch(self)

    def request_body(self, data: bytes) -> None:
        if self.state >= _DONE:
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
        head = self.head
        if head is None:
            return
        state = self.state
        if state is _SENDING:  # the common case first: identity tests are the cheapest
            if head.body == CHUNKED:
                conn = self.upstream
                assert conn is not None  # SENDING: attached
                conn.send(_CHUNK_END)
            self.state = _AWAITING
            ctx = self.ds.ctx
            self.deadline = ctx.now + ctx.config.response_timeout
        elif head.body == CHUNKED and state < _DONE:
            conn = self.upstream
            if conn is not None:
                conn.send(_CHUNK_END)  # an early response is streaming: the app may read on
            else:
                self._buffer((_CHUNK_END,), 0)

    def _buffer(self, parts: tuple[bytes, ...], size: int) -> None:
        """No upstream yet (connecting or queued): hold the body, bounded by pausing reads."""
        pending = self.pending
        if pending is None:
            pending = self.pending = []
        pending += parts
        self.pending_size += size
        if self.pending_size > PENDING_LIMIT:
            self.ds.pause(self.ds.PAUSE_PENDING)

    # -- getting onto an upstream (routed and retried by connector) -------------------

    def assign(self, endpoint: Endpoint, pinned: bool) -> None:
        """Count the exchange against `endpoint` (released once: by a failed connect or
        by its exit), then use an idle pooled connection or start opening one."""
        self.endpoint = endpoint
        self.stats = endpoint.stats
        self.pinned = pinned
        endpoint.acquire()
        ctx = self.ds.ctx
        conn = endpoint.take_idle(ctx.now - ctx.config.upstream_idle_timeout)
        if conn is not None:
            self.attach(conn)
            return
        self.task = ctx.spawn(connector.connect(self, endpoint))
        self.state = _CONNECTING

    def attach(self, conn: Upstream) -> None:
        """Bind the connection and write the head plus any body buffered so far."""
        head = self.head
        assert head is not None
        self.state = _AWAITING if self.request_done else _SENDING
        self.upstream = conn
        conn.exchange = self
        ds = self.ds
        if ds.write_paused:
            conn.pause_reading()
        conn.transport.write(head.data)  # open: usable() was checked by whoever handed it over
        pending = self.pending
        if pending is not None:
            self.pending = None
            self.pending_size = 0
            conn.send_parts(pending)
            ds.resume(ds.PAUSE_PENDING)
        ctx = ds.ctx
        self.deadline = ctx.now + ctx.config.response_timeout

    def connected(self, conn: Upstream) -> bool:
        """The connect task got a fresh connection: attach it, unless the exchange ended."""
        self.task = None
        if self.state is not _CONNECTING:
            return False
        self.attach(conn)
        return True

    def connect_failed(self) -> list[Endpoint] | None:
        """The connect failed before any byte was written: give the endpoint back. The
        endpoints tried so far, or None if the exchange already finished."""
        self.task = None
        endpoint = self.endpoint
        if self.state >= _DONE or endpoint is None:
            return None  # its exit already released the endpoint
        endpoint.release()
        self.endpoint = None
        tried = self.tried
        if tried is None:
            tried = self.tried = []
        tried.append(endpoint)
        return tried

    # -- response side (driven by Upstream) -------------------------------------------

    def response_head(self, status: int, reason: bytes, headers: Headers, reuse: bool) -> int:
        """Relay a response head; returns the body mode the upstream parser should expect."""
        request = self.head
        assert request is not None
        ds = self.ds
        if status < 200:
            return self._interim(status, reason, headers)
        no_body = status == 204 or status == 304 or self.method == b"HEAD"
        keep_alive = self.keep_alive and not ds.ctx.closing
        head = rewrite_response(
            status, reason, headers, request.request_id, no_body, self.http11, keep_alive
        )
        if isinstance(head, str):
            failures.upstream_failed(self, head)
            return MODE_FAILED
        self.state = _STREAMING
        self.status = status
        self.chunked = head.chunked
        self.keep_alive = head.keep_alive
        self.response_body_mode = head.upstream_body
        self.reuse = reuse
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
            self.state = _UPGRADING
            return MODE_UPGRADE
        if self.http11:
            self.ds.send(interim_head(status, reason, headers))
        ctx = self.ds.ctx
        self.deadline = ctx.now + ctx.config.response_timeout
        return MODE_INTERIM

    def upgraded(self, conn: Upstream, rest: bytes) -> None:
        """Upstream said 101: relay it and splice both connections into a byte tunnel."""
        if self.state is not _UPGRADING:
            failures.upstream_failed(self, "sent an invalid 101 response")
            return
        self.upstream = None
        self.status = 101
        self.ds.send(self.upgrade_head)
        endpoint = self.endpoint
        assert endpoint is not None  # attached upstreams always have one
        endpoint.tunnel_opened()
        self.ds.start_tunnel(conn.release_to_tunnel(), rest, endpoint.tunnel_closed)
        self.finish(_UPGRADED)  # after start_tunnel: a tunneled client is not reused

    # -- failures (the decisions live in failures.py) ---------------------------------

    def upstream_lost(self, exc: Exception | None) -> None:
        self.upstream = None  # the connection is gone: nothing to detach
        failures.upstream_lost(self, exc)

    def upstream_failed(self, why: str) -> None:
        failures.upstream_failed(self, why)

    def upstream_write_paused(self, paused: bool) -> None:
        ds = self.ds
        if paused:
            ds.pause(ds.PAUSE_UPSTREAM)
        else:
            ds.resume(ds.PAUSE_UPSTREAM)

    def cut_upstream(self) -> None:
        """Stop using the upstream: cancel a connect in progress, abort a connection in
        use (its app saw part of an exchange: it must see a reset, never a pool)."""
        task = self.task
        if task is not None:
            self.task = None
            task.cancel()
        conn = self.upstream
        if conn is not None:
            self.upstream = None
            conn.detach(False, False)

    def overdue(self, now: float) -> bool:
        """Sweep: the response head is late (504). A body still moving restarts the clock:
        it runs from when the client has sent everything."""
        state = self.state
        if state is _SENDING:
            if self.progress:
                self.progress = False
                self.deadline = now + self.ds.ctx.config.response_timeout
                return False
        elif state is not _AWAITING:
            return False
        return now >= self.deadline

    def answered(self, status: int, keep_alive: bool, why: str, sent: int) -> None:
        """The proxy sent a complete canned response itself (`why`, a body of `sent`
        bytes): the exchange is done."""
        self.status = status
        self.keep_alive = keep_alive
        self.error = why
        self.ds.sent = sent
        self.finish()

    # The two exits. Each is idempotent, so a late event can never release the slot twice;
    # `finish` is the hot one, written out in full rather than sharing a helper with `abort`.

    def finish(self, end: State = _DONE) -> None:
        """Exit with a complete response (into DONE or UPGRADED): end a re-chunked body,
        release the slot, return the connection (pooled if its response allowed it and the
        request was wholly read), record metrics, let the client connection go on. Never
        called while a connect is in progress."""
        state = self.state
        if state is not _STREAMING and state >= _DONE:  # an identity test first: cheaper
            return
        self.state = end
        ds = self.ds
        if self.chunked:
            ds.send(_CHUNK_END)
        conn = self.upstream
        if conn is not None:
            self.upstream = None
            done = self.request_done
            conn.detach(self.reuse and done, done)
        if ds.paused:
            ds.resume(ds.PAUSE_UPSTREAM | ds.PAUSE_PENDING)
        endpoint = self.endpoint
        if endpoint is not None:
            endpoint.release()
        stats = self.stats
        if stats is not None:
            stats.completed(self.status, ds.ctx.now - self.t0)
        ds.exchange_done(self)

    def abort(self, why: str = "aborted") -> None:
        """Exit without a complete response (into ABORTED): cancel a connect or abort the
        upstream connection, release the slot, count it aborted; `why` is for the log."""
        state = self.state
        if state >= _DONE:
            return
        self.state = _ABORTED
        ds = self.ds
        if ds.access is not None:
            ds.access.aborted(self, state is _STREAMING, why)
        self.cut_upstream()
        if ds.paused:
            ds.resume(ds.PAUSE_UPSTREAM | ds.PAUSE_PENDING)
        endpoint = self.endpoint
        if endpoint is not None:
            endpoint.release()
        if self.stats is not None:
            self.stats.aborted += 1
