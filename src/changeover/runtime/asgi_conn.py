"""Per-connection wrappers of ASGI `receive`/`send` that carry out the drain.

Invariant: once draining, every response that starts carries `Connection: close`; a
long-lived response (SSE by default) is ended with a final empty chunk and an accepted
WebSocket is closed with 1001, each exactly once and never interleaved with the app's own
send; afterwards the app's receive() says the peer left and its sends go nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib

from changeover.runtime.asgi_types import Headers, Message, Receive, Scope, Send, StreamPredicate
from changeover.runtime.engine import Engine

GOING_AWAY = 1001  # RFC 6455: the endpoint is going away (server shutdown)
CLOSE = (b"connection", b"close")


class Ended(OSError):
    """The runtime ended this response on drain (ASGI 2.4: send raises OSError)."""


class Exchange:
    """Shared machinery: a send lock, the drain watcher, a receive that can be cut."""

    def __init__(self, engine: Engine, receive: Receive, send: Send) -> None:
        self._engine = engine
        self._receive = receive
        self._send = send
        self._lock = asyncio.Lock()
        self._watcher: asyncio.Task[None] | None = None
        self.gone = asyncio.Event()  # set once the runtime ended the exchange

    def watch(self) -> None:
        if self._watcher is None:
            self._watcher = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        await self._engine.stopping.wait_async()
        async with self._lock:
            await self.on_drain()

    async def on_drain(self) -> None:
        raise NotImplementedError

    async def race_receive(self, gone_message: Message) -> Message:
        """The next message from the server, or `gone_message` once the runtime ended it."""
        if self.gone.is_set():
            return gone_message
        receiving = asyncio.ensure_future(self._receive())
        gone = asyncio.ensure_future(self.gone.wait())
        await asyncio.wait({receiving, gone}, return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        if receiving.done():
            return receiving.result()
        receiving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiving
        return gone_message

    def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()


class HttpExchange(Exchange):
    def __init__(
        self, engine: Engine, scope: Scope, receive: Receive, send: Send, long: StreamPredicate
    ) -> None:
        super().__init__(engine, receive, send)
        self._scope = scope
        self._long = long
        self._body_done = False
        self._complete = False

    async def receive(self) -> Message:
        if not self._body_done:
            message = await self._receive()
            self._body_done = not message.get("more_body", False)
            return message
        return await self.race_receive({"type": "http.disconnect"})  # disconnect listeners

    async def send(self, message: Message) -> None:
        async with self._lock:
            if self.gone.is_set():
                raise Ended("the response was ended because the server is draining")
            if message["type"] == "http.response.start":
                message = self._start(message)
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                self._complete = True
            await self._send(message)

    def _start(self, message: Message) -> Message:
        headers: Headers = list(message.get("headers", []))
        if self._long(self._scope, headers):
            self.watch()
        if self._engine.drain.phase.draining:
            return {**message, "headers": [*_without_connection(headers), CLOSE]}
        return message

    async def on_drain(self) -> None:
        if not self._complete:
            self._complete = True
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})
        self.gone.set()


class WebSocketExchange(Exchange):
    def __init__(self, engine: Engine, receive: Receive, send: Send) -> None:
        super().__init__(engine, receive, send)
        self._accepted = False
        self._closed = False
        self.watch()

    async def receive(self) -> Message:
        return await self.race_receive({"type": "websocket.disconnect", "code": GOING_AWAY})

    async def send(self, message: Message) -> None:
        async with self._lock:
            if self._closed:
                return  # closed by the runtime: the app learns it from receive()
            if message["type"] == "websocket.accept" and self._engine.stopping.is_set():
                message = {"type": "websocket.close", "code": GOING_AWAY}  # reject: 403
                self.gone.set()
            self._accepted |= message["type"] == "websocket.accept"
            self._closed |= message["type"] == "websocket.close"
            await self._send(message)

    async def on_drain(self) -> None:
        if self._accepted and not self._closed:
            self._closed = True
            await self._send({"type": "websocket.close", "code": GOING_AWAY})
        if self._accepted or self._closed:
            self.gone.set()  # not yet accepted: send() turns the accept into a rejection


def _without_connection(headers: Headers) -> Headers:
    return [(key, value) for key, value in headers if key.lower() != b"connection"]
