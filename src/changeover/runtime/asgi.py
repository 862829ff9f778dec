"""The ASGI adapter: health endpoints, in-flight accounting and drain for any ASGI app.

Invariant: every http and websocket call of the wrapped app is counted in flight from its
start to its end (a cancellation counts as cut), health paths never reach the app, and the
lifespan protocol is where the runtime starts (signals, background work) and finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from changeover.runtime.asgi_conn import CLOSE, GOING_AWAY, HttpExchange, WebSocketExchange
from changeover.runtime.asgi_lifespan import InnerLifespan
from changeover.runtime.asgi_types import ASGIApp, Receive, Scope, Send, StreamPredicate
from changeover.runtime.background import TaskWorkers
from changeover.runtime.calls import call_async
from changeover.runtime.engine import Engine
from changeover.runtime.health import Answer, liveness, readiness
from changeover.runtime.phase import Phase

log = logging.getLogger("changeover.runtime")


class RuntimeASGI:
    """`lifecycle.asgi(app)`: an ASGI app wrapping `app`."""

    def __init__(
        self, app: ASGIApp, engine: Engine, paths: tuple[str, str], long: StreamPredicate
    ) -> None:
        self.app = app
        self._engine = engine
        self._livez, self._readyz = paths
        self._long = long
        engine.mode = "asgi"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if kind in ("http", "websocket") and self._engine.drain.phase is Phase.STARTING:
            self._engine.started()  # a server without lifespan: ready at the first request
        if kind == "http" and scope["path"] in (self._livez, self._readyz):
            answer = await self._health(scope["path"])
            await _answer(send, answer, close=self._engine.stopping.is_set())
        elif kind == "http":
            await self._http(scope, receive, send)
        elif kind == "websocket":
            await self._websocket(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _health(self, path: str) -> Answer:
        phase = self._engine.drain.phase
        if path == self._livez:
            return liveness(phase, self._engine.drain.in_flight)
        checks = self._engine.registry.checks if phase.ready else []
        failures = await asyncio.gather(*(call_async(c.fn, c.timeout) for c in checks))
        return readiness(
            self._engine.drain.phase, dict(zip([c.name for c in checks], failures, strict=True))
        )

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        exchange = HttpExchange(self._engine, scope, receive, send, self._long)
        await self._counted(exchange, scope)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._engine.stopping.is_set():
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": GOING_AWAY})
            return
        await self._counted(WebSocketExchange(self._engine, receive, send), scope)

    async def _counted(self, exchange: HttpExchange | WebSocketExchange, scope: Scope) -> None:
        self._engine.request_started()
        cut = False
        try:
            await self.app(scope, exchange.receive, exchange.send)
        except asyncio.CancelledError:
            cut = True
            raise
        except Exception:
            if not exchange.gone.is_set():
                raise
            # The runtime ended this exchange: the app's complaint about it is expected.
        finally:
            exchange.close()
            self._engine.request_finished(cut=cut)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        engine = self._engine
        inner = InnerLifespan(self.app, scope)
        await receive()  # lifespan.startup
        engine.loop = asyncio.get_running_loop()
        if not engine.install_signal_handlers():
            log.warning("changeover.runtime: not on the main thread; call stop() on shutdown")
        failure = await inner.startup()
        if failure is not None:
            await send({"type": "lifespan.startup.failed", "message": failure})
            return
        engine.tasks = TaskWorkers(engine.registry.workers, engine.stopping)
        try:
            engine.tasks.start()
        except TypeError as exc:
            await send({"type": "lifespan.startup.failed", "message": str(exc)})
            return
        engine.started()
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        await engine.finish_async(inner.shutdown)
        await send({"type": "lifespan.shutdown.complete"})


async def _answer(send: Send, answer: Answer, *, close: bool) -> None:
    headers = [
        (b"content-type", answer.content_type.encode()),
        (b"content-length", str(len(answer.body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if close:
        headers.append(CLOSE)
    with contextlib.suppress(OSError):  # the prober left: nothing to tell it
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})
