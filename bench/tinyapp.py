"""The tiny ASGI backend of the proxy benchmarks: 200 "ok" to every request.

Run: uvicorn tinyapp:app --fd 3 (as a changeover replica) or --port N.
Invariant: every response is the same 2-byte body with a Content-Length, so only the
proxies in front differ between measurements.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
HEADERS = [(b"content-type", b"text/plain"), (b"content-length", b"2")]


async def app(
    scope: Message,
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": b"ok"})
