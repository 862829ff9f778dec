"""A small ASGI app for trying changeover; its behaviour is set by environment variables.

HELLO_VERSION   label returned by every response, also as X-Version (default: the
                release's version label, CHANGEOVER_VERSION, which changeover sets; else "v1")
BOOT_DELAY      seconds to sleep at start-up before serving (default 0)
CRASH_AT_BOOT   "1": exit with code 3 during start-up
NEVER_READY     "1": /readyz always answers 503
FAILURE_RATE    fraction 0..1 of requests to / answered 500 (default 0)
FAIL_FILE       a path: while a file exists there, every request to / is answered 500 (a
                release that starts failing after its rollout, when a test creates it)
LATENCY         seconds added to every request to / (default 0)

Routes: / (hello), /healthz (liveness), /readyz (readiness), /slow?ms=N, POST /echo.
Run with: uvicorn app:app --fd 3   (changeover passes the listening socket as fd 3)
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

VERSION = os.environ.get("HELLO_VERSION") or os.environ.get("CHANGEOVER_VERSION", "v1")
FAILURE_RATE = float(os.environ.get("FAILURE_RATE", "0"))
LATENCY = float(os.environ.get("LATENCY", "0"))
NEVER_READY = os.environ.get("NEVER_READY") == "1"
FAIL_FILE = os.environ.get("FAIL_FILE", "")


def switched_to_failing() -> bool:
    """Whether FAIL_FILE exists now: one stat of a local file, microseconds per request."""
    return bool(FAIL_FILE) and os.path.exists(FAIL_FILE)


async def respond(send: Send, status: int, body: bytes, ctype: bytes = b"text/plain") -> None:
    headers = [(b"content-type", ctype), (b"x-version", VERSION.encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await asyncio.sleep(float(os.environ.get("BOOT_DELAY", "0")))
            if os.environ.get("CRASH_AT_BOOT") == "1":
                print(f"hello {VERSION}: crashing at boot (CRASH_AT_BOOT=1)", file=sys.stderr)
                sys.stderr.flush()
                os._exit(3)
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
        return
    path, method = scope["path"], scope["method"]
    if path == "/healthz":
        await respond(send, 200, b"ok\n")
    elif path == "/readyz":
        await respond(send, 503 if NEVER_READY else 200, b"not ready\n" if NEVER_READY else b"ok\n")
    elif path == "/slow":
        query = parse_qs(scope.get("query_string", b"").decode())
        await asyncio.sleep(int(query.get("ms", ["1000"])[0]) / 1000)
        await respond(send, 200, f"slow hello from {VERSION}\n".encode())
    elif path == "/echo" and method == "POST":
        body = await read_body(receive)
        digest = hashlib.sha256(body).hexdigest()
        await respond(send, 200, f"{len(body)} {digest}\n".encode())
    elif path == "/":
        if LATENCY:
            await asyncio.sleep(LATENCY)
        if (FAILURE_RATE and random.random() < FAILURE_RATE) or switched_to_failing():
            await respond(send, 500, f"injected failure in {VERSION}\n".encode())
        else:
            await respond(send, 200, f"hello from {VERSION}\n".encode())
    else:
        await respond(send, 404, b"not found\n")
