"""The wrapped app's own lifespan, driven from inside ours.

Invariant: the inner app sees the standard lifespan protocol with the server's scope (so
`scope["state"]` is shared); an app that raises before answering startup is treated as
not supporting lifespan, as the ASGI spec tells servers to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from changeover.runtime.asgi_types import ASGIApp, Message, Scope

log = logging.getLogger("changeover.runtime")


class InnerLifespan:
    def __init__(self, app: ASGIApp, scope: Scope) -> None:
        self._app = app
        self._scope = scope
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.supported = True

    async def _run(self) -> None:
        try:
            await self._app(self._scope, self._to_app.get, self._send)
        except Exception as exc:
            log.debug("inner app raised in lifespan (treated as unsupported): %r", exc)
        finally:
            self._from_app.put_nowait(None)  # None: the app's lifespan ended

    async def _send(self, message: Message) -> None:
        await self._from_app.put(message)

    async def startup(self) -> str | None:
        """Run the app's startup; the failure message, or None when it is up."""
        self._task = asyncio.ensure_future(self._run())
        await self._to_app.put({"type": "lifespan.startup"})
        reply = await self._from_app.get()
        if reply is None:
            self.supported = False
            return None
        if reply["type"] == "lifespan.startup.failed":
            return str(reply.get("message", "")) or "startup failed"
        return None

    async def shutdown(self) -> None:
        """Run the app's shutdown and wait for its answer (or for its task to end)."""
        if not self.supported or self._task is None:
            return
        await self._to_app.put({"type": "lifespan.shutdown"})
        reply = await self._from_app.get()
        if reply is not None and reply["type"] == "lifespan.shutdown.failed":
            log.error("app shutdown failed: %s", reply.get("message", ""))
        if reply is None or self._task.done():
            return
        self._task.cancel()  # answered: its coroutine may still wait on receive()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
