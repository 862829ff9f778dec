"""Client side: one accepted HTTP/1.1 connection, parsed with httptools callbacks.

Invariant: responses leave in request order. At most one exchange (`current`) is
active; requests parsed behind it wait in `queue` with client reading paused, so the
buffered amount stays bounded. A request whose head is malformed is answered 400 in
its turn and nothing after it is parsed or forwarded; so is one with more header
fields than max_headers, answered 431. Fields are counted when a head is complete and
after each read that leaves one incomplete, never per field (the hot path pays one
len() per request); chunked trailers go to no list, so they never count. A connection
accepted on the preview listener (`preview`) sends its requests only to the preview
revision; once `retire`d it closes as soon as no response is in progress. A client whose
writes stay paused longer than write_timeout (it stopped reading) is aborted by the
sweep, tunnel or not, so it can never hold an exchange, and with it a drain, forever.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from httptools import HttpParserError, HttpParserUpgrade, HttpRequestParser

from changeover.networks import peer_in
from changeover.proxy import connector, failures, handoff, tunnel
from changeover.proxy.client import ClientConnection
from changeover.proxy.errors import error_body, error_response
from changeover.proxy.exchange import Exchange
from changeover.proxy.headers import Headers
from changeover.proxy.state import State
from changeover.proxy.upstream import set_nodelay

if TYPE_CHECKING:
    from changeover.proxy.access import AccessLog
    from changeover.proxy.context import Context


class _Rejected(Exception):
    """Raised inside a parser callback to stop parsing a request we refuse."""


class _Sink(list[tuple[bytes, bytes]]):
    """Where header callbacks go once a head is complete: chunked trailers are dropped."""

    def append(self, item: tuple[bytes, bytes]) -> None:
        pass


_TRAILERS = _Sink()
TLS_LEAVE_GRACE = 1.0  # seconds a TLS connection may stay idle while its agent hands over
_HEAD = State.HEAD


def head_size(target: bytes, headers: Headers) -> int:
    """A head as parsed: target plus each header line (name, ': ', value, CRLF)."""
    return len(target) + sum(len(n) + len(v) + 4 for n, v in headers)


class Downstream(ClientConnection):
    __slots__ = (
        "access",
        "advancing",
        "chunk",
        "client_ip",
        "current",
        "fields",
        "head_first",
        "head_raw",
        "max_headers",
        "parser",
        "parsing",
        "preview",
        "queue",
        "retired",
        "sent",
        "stash",
        "target",
        "trusted",
        "tunneled",
    )

    def __init__(self, ctx: Context, preview: bool = False) -> None:
        super().__init__(ctx)
        self.preview = preview  # accepted on the preview listener
        self.retired = False  # its listener closed: no keep-alive after the current response
        self.parser: Any = HttpRequestParser(self)
        self.client_ip = b""
        # its peer is a trusted proxy: the request's X-Forwarded-Proto/-Host are kept
        self.trusted = False
        self.current: Exchange | None = None  # the exchange allowed to write responses
        self.parsing: Exchange | None = None  # the request the parser is inside of
        self.queue: deque[Exchange] = deque()
        self.stash: list[bytes] | None = None  # bytes after an upgrade request
        self.advancing = self.tunneled = False
        self.fields: list[tuple[bytes, bytes]] = _TRAILERS  # the parsing head's header list
        self.target = b""  # the parsing head's request target
        self.chunk = 0  # size of the read being parsed: bounds the head size cheaply
        # Of the message being parsed: the size of the read it began in (a bound on its
        # bytes there), then of later reads with no body byte among them (-1: body moved).
        self.head_first = self.head_raw = 0
        self.max_headers = ctx.config.max_headers  # a slot: one load per head, not a chain
        self.access: AccessLog | None = ctx.access  # for the cold exits (aborts, a 408)
        self.sent = 0  # body bytes of the response in progress: counted only for `access`

    # -- transport events -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        set_nodelay(transport)
        peer = transport.get_extra_info("peername")
        self.client_ip = str(peer[0]).encode() if peer else b"unknown"
        ctx = self.ctx
        if ctx.trusted and peer and not self.preview:  # decided once, for every request
            self.trusted = peer_in(str(peer[0]), ctx.trusted)
        self.deadline = ctx.clock() + ctx.config.header_timeout
        ctx.clients.add(self)

    def data_received(self, data: bytes) -> None:
        if self.closed or self.dead:
            return  # lingering or refused: discard, never stash
        if self.stash is not None:
            self.stash.append(data)
            return
        ctx = self.ctx
        clock = ctx.clock  # a local: an attribute's call can't be specialised, a local's can
        ctx.now = clock()
        ex = self.parsing
        self.chunk = len(data)
        try:
            self.parser.feed_data(data)
        except HttpParserUpgrade as exc:
            self.stash = [data[exc.args[0] :]]
            self.pause(self.PAUSE_UPGRADE)
            if self.current is None:
                self._advance()  # already answered (e.g. 503): nothing else would replay
        except HttpParserError as exc:
            self._bad_request(exc)
        else:
            # httptools buffers each header line whole, trailers too: bound the reads one
            # message spends without a body byte (its head, chunk framing, trailers).
            if ex is not None and ex is self.parsing:
                if self.head_raw < 0:
                    self.head_raw = 0  # on_body ran during this read
                else:
                    self.head_raw += len(data)
                    if self.head_raw > ctx.config.max_header_bytes:
                        self._bad_request(None)
                    elif len(self.fields) > self.max_headers:  # a head still arriving
                        self._too_many_fields(ex)
                        self._bad_request(None)

    def eof_received(self) -> bool | None:
        # Treated as the client going away, like nginx: in-flight work is aborted.
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        ours = self.closed  # the proxy closed it (shutdown's abort), not the client
        self.closed = True
        self.ctx.client_closed(self)
        self.queue.clear()
        ex = self.current
        if ex is not None:
            self.current = None
            who = "the proxy" if ours else "the client"
            failures.client_gone(ex, f"{who} closed the connection before the response ended")

    def pause_writing(self) -> None:
        self.write_paused = True
        self.write_paused_at = self.ctx.clock()
        ex = self.current
        if ex is not None and ex.upstream is not None:
            ex.upstream.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        ex = self.current
        if ex is not None and ex.upstream is not None:
            ex.upstream.resume_reading()

    # -- parser callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        self.parsing = ex = Exchange(self)
        self.fields = ex.headers
        self.target = b""
        self.head_first = self.chunk
        self.head_raw = 0
        if self.current is None:
            ctx = self.ctx
            self.deadline = ctx.now + ctx.config.header_timeout

    def on_url(self, url: bytes) -> None:
        self.target += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.fields.append((name, value))

    def on_headers_complete(self) -> None:
        ex = self.parsing
        assert ex is not None
        self.fields = _TRAILERS
        parser = self.parser
        version = parser.get_http_version()
        if len(ex.headers) > self.max_headers:
            self._too_many_fields(ex)
            raise self._head_refused(ex)
        limit = self.ctx.config.max_header_bytes
        if self.head_first + self.head_raw + self.chunk > limit and (
            head_size(self.target, ex.headers) > limit
        ):
            ex.reject(f"request head larger than {limit} bytes")
            raise self._head_refused(ex)
        if version != "1.1" and version != "1.0":
            ex.reject(f"unsupported HTTP version {version}")
            raise self._head_refused(ex)
        ex.prepare(
            parser.get_method(),
            self.target,
            version == "1.1",
            parser.should_keep_alive() and not self.retired,
            parser.should_upgrade(),
        )
        if ex.error is not None:
            raise _Rejected  # stop here: the framing of what follows can't be trusted
        if self.closed:
            return
        if self.current is None:
            self.current = ex
            connector.dispatch(ex)  # its error is None: what `ex.start()` would do
        else:
            ex.queued()
            self.queue.append(ex)
            self.pause(self.PAUSE_QUEUE)

    def on_body(self, body: bytes) -> None:
        ex = self.parsing
        assert ex is not None
        self.head_raw = -1  # body moved: see data_received
        ex.request_body(body)

    def on_message_complete(self) -> None:
        ex = self.parsing
        assert ex is not None
        self.parsing = None
        ex.request_complete()

    # -- sequencing -------------------------------------------------------------------

    def exchange_done(self, ex: Exchange) -> None:
        """The current exchange's response is complete: close, or serve the next one."""
        if self.current is ex:
            self.current = None
        if self.closed or self.tunneled:
            return
        ctx = self.ctx
        if not ex.keep_alive:
            self.close()
            return
        if ctx.closing:
            # The head promised keep-alive before the shutdown began: closing now would
            # race the client's next request on this connection. While a handover runs,
            # the next agent takes the connection once its output is flushed.
            if ctx.hand_over is not None and handoff.movable(self):
                ctx.call_later(0, self._leave)
            elif ctx.hand_over is not None:
                # TLS cannot move: the next request is served here (`Connection: close`);
                # an idle one ends at the sweep after a short grace.
                self.deadline = ctx.now + min(ctx.config.idle_timeout, TLS_LEAVE_GRACE)
            else:
                self.close()
            return
        config = ctx.config
        parsing = self.parsing
        head_started = parsing is not None and parsing.state is _HEAD
        timeout = config.header_timeout if head_started else config.idle_timeout
        self.deadline = ctx.now + timeout
        if self.queue or self.stash is not None:
            self._advance()

    def _leave(self) -> None:
        """During a handover: give this connection to the next agent if it is idle; a
        request that arrived meanwhile is served here (`Connection: close`) and then ends."""
        if self.closed or self.current is not None or self.parsing is not None or self.queue:
            return
        send = self.ctx.hand_over
        if send is None or not handoff.idle(self) or not handoff.give([self], send):
            self.close()

    def _advance(self) -> None:
        if self.advancing:
            return  # an outer _advance loop is running (an exchange finished synchronously)
        self.advancing = True
        while self.current is None and not self.closed:
            if self.queue:
                ex = self.current = self.queue.popleft()
                if not self.queue:
                    self.resume(self.PAUSE_QUEUE)
                ex.start()
            elif self.stash is not None:
                # Upgrade was refused (no 101): what followed is ordinary HTTP again.
                data = b"".join(self.stash)
                self.stash = None
                self.resume(self.PAUSE_UPGRADE)
                if data:
                    self.data_received(data)
            else:
                break
        self.advancing = False

    def _head_refused(self, ex: Exchange) -> _Rejected:
        """A complete head refused before `prepare`: the exchange keeps its method and
        target for the access log; raise what this returns to stop parsing."""
        ex.head_refused(self.parser.get_method(), self.target)
        return _Rejected()

    def _too_many_fields(self, ex: Exchange) -> None:
        ex.reject(f"more than {self.max_headers} request header fields", 431)

    def _bad_request(self, exc: Exception | None) -> None:
        self.dead = True
        self.transport.pause_reading()
        ex = self.parsing or Exchange(self)
        self.parsing = None
        limit = self.ctx.config.max_header_bytes
        part = "head" if ex.state is _HEAD else "trailers"
        ex.reject(f"malformed request ({exc})" if exc else f"request {part} over {limit} bytes")
        assert ex.error is not None
        if ex.finished or ex is self.current:
            failures.client_error(ex, ex.error)  # its body broke after it was forwarded
        elif ex in self.queue:
            pass  # answers 400 when its turn comes
        elif self.current is None:
            self.current = ex
            ex.start()
        else:
            ex.queued()
            self.queue.append(ex)

    # -- lifecycle (used by the proxy and the sweep) ----------------------------------

    def close_if_idle(self) -> None:
        if self.current is None and self.parsing is None and not self.tunneled:
            self.close(linger=False)

    def retire(self) -> None:
        """Close now if idle, else right after the response in progress (like shutdown)."""
        self.retired = True
        if self.current is not None:
            self.current.close_after()
        else:
            self.close_if_idle()

    def check(self, now: float) -> None:
        """Periodic sweep: write, response, header and idle timeouts."""
        if self.write_stalled(now):
            self._stalled()
            return
        ex = self.current
        if ex is not None:
            failures.check_deadline(ex, now)
        elif now < self.deadline or self.tunneled:
            return
        elif self.lingering:
            self.transport.close()
        elif not self.closed:
            if self.parsing is None or self.parsing.state is not _HEAD:
                self.close(linger=False)  # idle keep-alive connection: close quietly
                return
            self.ctx.metrics.rejected += 1
            why = "request head not received in time"
            self.send(error_response(408, why, connection=b"close"))
            if self.access is not None:
                self.access.refused(self.parsing, 408, why, len(error_body(408, why)))
            self.close()

    def _stalled(self) -> None:
        """The client stopped reading: cut it; its exchange ends aborted, upstream unpooled."""
        self.write_paused = False  # act once: connection_lost follows on a later loop turn
        ex = self.current
        self.abort()
        if ex is not None:
            failures.client_gone(ex, "the client stopped reading (write_timeout)")

    def start_tunnel(
        self, upstream: asyncio.Transport, upstream_rest: bytes, on_closed: Callable[[], None]
    ) -> None:
        self.flush()  # the 101 head must precede any tunneled byte
        client_rest = b"".join(self.stash or ())
        self.stash = None
        self.tunneled = True
        self.paused = 0

        ctx = self.ctx

        def closed() -> None:
            ctx.now = ctx.clock()  # an entry point: see Context.now
            self.closed = True
            ctx.tunnels.discard(spliced)
            ctx.client_closed(self)
            on_closed()

        spliced = tunnel.splice(
            self.transport, upstream, client_rest, upstream_rest, closed, self.note_write_pause
        )
        ctx.tunnels.add(spliced)
        if self.write_paused:
            upstream.pause_reading()  # the client is already backed up: no more from upstream
        if ctx.closing:
            spliced.close()  # upgraded while shutting down: shutdown closed the others already
