"""Upstream side: one keep-alive HTTP/1.1 connection from the proxy to a replica.

Invariant: a connection carries at most one exchange at a time and is parked in its
endpoint's idle pool only when detached, fully parsed, clean and still open. Parser
callbacks never complete an exchange themselves: completion is acted on after
`feed_data` returns, so a connection is never handed to a new exchange while its old
parser is still running over the same buffer.
"""

from __future__ import annotations

import asyncio
import socket
from typing import TYPE_CHECKING, Any, cast

from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

from changeover.proxy.headers import NONE, Headers
from changeover.proxy.state import State

if TYPE_CHECKING:
    from changeover.proxy.context import Context
    from changeover.proxy.endpoint import Endpoint
    from changeover.proxy.exchange import Exchange

# Parser states of the response currently being read.
HEAD, BODY, DONE, INTERIM = 0, 1, 2, 3
# Extra results of Exchange.response_head beside the headers.py body modes.
MODE_INTERIM, MODE_FAILED, MODE_UPGRADE = -1, -2, -3


def set_nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Upstream(asyncio.Protocol):
    __slots__ = (
        "ctx",
        "endpoint",
        "eof",
        "exchange",
        "headers",
        "idle_since",
        "parser",
        "read_paused",
        "reason",
        "reusable",
        "skip",
        "state",
        "transport",
    )

    def __init__(self, ctx: Context, endpoint: Endpoint) -> None:
        self.ctx = ctx
        self.endpoint = endpoint
        self.transport = cast(asyncio.Transport, None)
        self.parser: Any = HttpResponseParser(self)
        self.exchange: Exchange | None = None
        self.state = HEAD
        self.skip = False  # response had no body: discard the parser afterwards
        self.reusable = True
        self.eof = False
        self.read_paused = False
        self.headers: Headers = []
        self.reason = b""
        self.idle_since = 0.0

    # -- transport events -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        set_nodelay(transport)
        self.ctx.upstreams.add(self)

    def data_received(self, data: bytes) -> None:
        ctx = self.ctx
        clock = ctx.clock  # a local, as in Downstream.data_received
        ctx.now = clock()
        ex = self.exchange
        if ex is None:
            self.abort()  # bytes nobody asked for: this connection can't be trusted
            return
        ds = ex.ds
        corked = ds.out is None  # cork: the response head and body leave in one writev
        if corked:
            ds.out = []
        try:
            self.parser.feed_data(data)
        except HttpParserUpgrade as exc:
            if self.exchange is ex:
                ex.upgraded(self, data[exc.args[0] :])
        except HttpParserError as exc:
            self._invalid(ex, exc)
        else:
            if self.state == DONE and self.exchange is ex:
                self.state = HEAD  # _complete(ex), inlined: this runs once per request
                if self.skip:
                    self._fresh_parser()
                ex.finish()
        finally:
            if corked:
                ds.flush()

    def eof_received(self) -> bool | None:
        self.eof = True
        return None  # let the transport close; connection_lost reports it

    def connection_lost(self, exc: Exception | None) -> None:
        ctx = self.ctx
        ctx.now = ctx.clock()
        ctx.upstream_closed(self)
        ex = self.exchange
        if ex is None:
            self.endpoint.forget(self)
            return
        self.exchange = None
        ex.upstream_lost(exc)

    def pause_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.upstream_write_paused(True)

    def resume_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.upstream_write_paused(False)

    # -- parser callbacks -------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.state != HEAD:
            self.reusable = False  # a second response nobody asked for
            return
        self.headers = []
        self.reason = b""

    def on_status(self, reason: bytes) -> None:
        if self.state == HEAD:
            self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.state == HEAD:  # trailers arrive later, in BODY: dropped
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        ex = self.exchange
        if self.state != HEAD or ex is None:
            return
        parser = self.parser
        mode = ex.response_head(
            parser.get_status_code(), self.reason, self.headers, parser.should_keep_alive()
        )
        if mode == MODE_INTERIM:
            self.state = INTERIM
        elif mode == NONE:
            self.state = DONE
            self.skip = True
        elif mode == MODE_FAILED:
            self.state = DONE
        else:
            self.state = BODY

    def on_body(self, body: bytes) -> None:
        ex = self.exchange
        if self.state != BODY or ex is None:
            self.reusable = False
        elif ex.chunked:
            ex.ds.send_parts((b"%x\r\n" % len(body), body, b"\r\n"))
        else:
            ex.ds.send(body)

    def on_message_complete(self) -> None:
        if self.state == BODY:
            self.state = DONE
        elif self.state == INTERIM:
            self.state = HEAD

    # -- used by Exchange / Endpoint --------------------------------------------------

    def _complete(self, ex: Exchange) -> None:
        self.state = HEAD
        if self.skip:
            self._fresh_parser()
        ex.finish()

    def _fresh_parser(self) -> None:
        # httptools can't be told a HEAD response has no body: start a fresh parser.
        self.skip = False
        self.parser = HttpResponseParser(self)

    def _invalid(self, ex: Exchange, exc: Exception) -> None:
        if self.exchange is not ex:
            return
        if self.state == DONE and ex.state is State.STREAMING:
            self.reusable = False  # junk after a complete response: finish, don't reuse
            self._complete(ex)
            return
        ex.upstream_failed(f"sent an invalid response ({exc})")

    def usable(self) -> bool:
        return not self.eof and not self.transport.is_closing()

    def send(self, data: bytes) -> None:
        transport = self.transport
        if not transport.is_closing():  # uvloop raises on a handle closed by the peer
            transport.write(data)

    def send_parts(self, parts: list[bytes] | tuple[bytes, ...]) -> None:
        transport = self.transport
        if not transport.is_closing():
            transport.writelines(parts)

    def pause_reading(self) -> None:
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    def detach(self, reuse: bool, clean: bool) -> None:
        """Exchange is over: park the connection if reusable, else close (or abort) it."""
        self.exchange = None
        if self.read_paused:
            self.resume_reading()
        # usable() inlined: this runs once per request
        if (
            reuse
            and self.reusable
            and self.state == HEAD
            and not self.eof
            and not self.transport.is_closing()
        ):
            limit = self.ctx.config.max_idle_per_endpoint
            if self.endpoint.put_idle(self, self.ctx.now, limit):
                return
        if clean:
            self.close()
        else:
            self.abort()  # mid-message: the app must see a reset, not a short request

    def release_to_tunnel(self) -> asyncio.Transport:
        """Give the raw transport to a tunnel; this protocol object is done with it."""
        self.exchange = None
        self.resume_reading()
        self.ctx.upstream_closed(self)
        return self.transport

    def close(self) -> None:
        self.state = DONE
        self.transport.close()

    def abort(self) -> None:
        self.state = DONE
        self.transport.abort()
