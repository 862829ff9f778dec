"""Starlette under changeover.runtime: health endpoints, graceful drain, hooks, a worker.

Run it under any ASGI server (see README.md in this folder), for example:
    uvicorn starlette_app:app --port 8000
Then `kill -TERM <pid>` while `curl localhost:8000/slow?seconds=5` runs: /readyz answers
503 at once, the slow request completes, the hooks run (newest first), the process exits 0.

SHUTDOWN_LOG   if set, each shutdown step appends a line to this file (the tests read it)
"""

from __future__ import annotations

import asyncio
import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from changeover.runtime import Lifecycle, StopToken

lifecycle = Lifecycle(grace_period=30)  # CHANGEOVER_GRACE_PERIOD overrides it
jobs: asyncio.Queue[str] = asyncio.Queue()


def log_step(step: str) -> None:
    path = os.environ.get("SHUTDOWN_LOG")
    if path:
        with open(path, "a") as log:
            log.write(step + "\n")


@lifecycle.readiness_check(timeout=1.0)
async def database() -> bool:
    await asyncio.sleep(0)  # a real app would run `SELECT 1` on its pool here
    return True


@lifecycle.on_shutdown(timeout=5.0)
async def close_database() -> None:
    log_step("close_database")  # registered first: runs last


@lifecycle.on_shutdown(timeout=2.0)
def flush_metrics() -> None:
    log_step("flush_metrics")


async def consume(stopping: StopToken) -> None:
    """A queue consumer: finishes the job in hand, takes no new one once draining."""
    while not stopping.is_set():
        try:
            job = await asyncio.wait_for(jobs.get(), timeout=0.2)
        except TimeoutError:
            continue
        await asyncio.sleep(0.05)  # the work
        log_step(f"job {job}")
    log_step("consumer stopped")


lifecycle.background(consume, finish_current=True, stop_timeout=5.0)


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("hello\n")


async def slow(request: Request) -> PlainTextResponse:
    seconds = float(request.query_params.get("seconds", "2"))
    await asyncio.sleep(seconds)
    return PlainTextResponse(f"slept {seconds:g}s\n")


async def enqueue(request: Request) -> PlainTextResponse:
    await jobs.put(request.query_params.get("name", "job"))
    return PlainTextResponse("queued\n", status_code=202)


async def events(request: Request) -> StreamingResponse:
    async def ticks():  # type: ignore[no-untyped-def]
        n = 0
        while True:  # endless: the runtime ends it on drain, clients reconnect elsewhere
            yield f"data: tick {n}\n\n"
            n += 1
            await asyncio.sleep(0.5)

    return StreamingResponse(ticks(), media_type="text/event-stream")


async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except WebSocketDisconnect as gone:
        log_step(f"websocket closed {gone.code}")


routes = [
    Route("/", hello),
    Route("/slow", slow),
    Route("/enqueue", enqueue, methods=["POST"]),
    Route("/events", events),
    WebSocketRoute("/ws", echo),
]
app = lifecycle.asgi(Starlette(routes=routes))
