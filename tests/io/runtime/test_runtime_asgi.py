"""The ASGI adapter driven directly: health, drain of http, SSE and WebSocket, shutdown."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from changeover.runtime import ExitCode, Phase, StopToken
from changeover.runtime.asgi_types import Receive, Scope, Send
from changeover.runtime.fakes import FakeCall, get, http_scope, websocket_scope
from tests.io.runtime.runtime_helpers import (
    eventually,
    make_lifecycle,
    start_lifespan,
    stop_lifespan,
)


async def slow_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers after the test sets `release` (scope['state'] is not used: plain ASGI)."""
    if scope["type"] != "http":
        raise RuntimeError("no lifespan here")  # treated as "lifespan unsupported"
    await receive()
    await RELEASE.wait()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"done"})


RELEASE = asyncio.Event()


def test_readiness_runs_checks_with_timeouts_and_liveness_stays_up() -> None:
    async def scenario() -> None:
        lifecycle, _ = make_lifecycle()

        @lifecycle.readiness_check(timeout=0.05)
        async def slow_db() -> None:
            await asyncio.sleep(10)

        @lifecycle.readiness_check
        def cache() -> bool:
            return True

        app = lifecycle.asgi(slow_app)
        status, _, _ = await get(app, "/readyz")
        assert status == 503  # not started: lifespan has not run
        await start_lifespan(app)
        status, _, body = await get(app, "/readyz")
        assert status == 503
        assert json.loads(body)["checks"] == {"slow_db": "timed out after 0.05s", "cache": "ok"}
        status, _, body = await get(app, "/livez")
        assert (status, json.loads(body)["phase"]) == (200, "serving")

    asyncio.run(scenario())


def test_drain_fails_readiness_at_once_and_in_flight_request_completes_with_close() -> None:
    async def scenario() -> None:
        RELEASE.clear()
        lifecycle, effects = make_lifecycle()
        app = lifecycle.asgi(slow_app)
        await start_lifespan(app)
        assert (await get(app, "/readyz"))[0] == 200
        call = FakeCall(app, http_scope("/slow"))
        call.push({"type": "http.request", "body": b""})
        await eventually(lambda: lifecycle.in_flight == 1, "the request in flight")
        lifecycle.stop()
        status, headers, body = await get(app, "/readyz")
        assert (status, json.loads(body)["status"]) == (503, "draining")
        assert (b"connection", b"close") in headers
        assert (await get(app, "/livez"))[0] == 200
        RELEASE.set()
        status, headers, body = await call.response()
        assert (status, body) == (200, b"done")
        assert (b"connection", b"close") in headers
        assert lifecycle.in_flight == 0
        assert effects.notified == ["READY=1", "STOPPING=1"]

    asyncio.run(scenario())


async def sse_app(scope: Scope, receive: Receive, send: Send) -> None:
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    while True:  # an endless stream: only the drain ends it
        await send({"type": "http.response.body", "body": b"data: tick\n\n", "more_body": True})
        await asyncio.sleep(0.01)


def test_event_streams_are_ended_cleanly_on_drain() -> None:
    async def scenario() -> None:
        lifecycle, _ = make_lifecycle()
        app = lifecycle.asgi(sse_app)
        call = FakeCall(app, http_scope("/events"))
        await eventually(lambda: len(call.sent) >= 3, "some events")
        lifecycle.stop()
        await call.response()  # the app's task ended: its next send raised, we absorbed it
        last = call.sent[-1]
        assert last == {"type": "http.response.body", "body": b"", "more_body": False}
        assert lifecycle.in_flight == 0

    asyncio.run(scenario())


async def echo_ws(scope: Scope, receive: Receive, send: Send) -> None:
    assert (await receive())["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            CLOSE_CODES.append(message.get("code"))
            return
        await send({"type": "websocket.send", "text": message.get("text")})


CLOSE_CODES: list[Any] = []


def test_websockets_are_closed_with_1001_and_new_ones_rejected() -> None:
    async def scenario() -> None:
        CLOSE_CODES.clear()
        lifecycle, _ = make_lifecycle()
        app = lifecycle.asgi(echo_ws)
        call = FakeCall(app, websocket_scope("/ws"))
        call.push({"type": "websocket.connect"})
        await call.until("websocket.accept")
        call.push({"type": "websocket.receive", "text": "hi"})
        assert (await call.until("websocket.send"))["text"] == "hi"
        lifecycle.stop()
        assert (await call.until("websocket.close"))["code"] == 1001
        await asyncio.wait_for(call.task, 10)
        assert CLOSE_CODES == [1001]
        late = FakeCall(app, websocket_scope("/ws"))
        late.push({"type": "websocket.connect"})
        assert (await late.until("websocket.close"))["code"] == 1001
        assert "websocket.accept" not in late.types()
        assert lifecycle.in_flight == 0

    asyncio.run(scenario())


def test_shutdown_runs_background_app_shutdown_then_hooks_in_reverse() -> None:
    async def scenario() -> None:
        order: list[str] = []
        lifecycle, effects = make_lifecycle()

        async def consumer(stopping: StopToken) -> None:
            while not stopping.is_set():
                await asyncio.sleep(0.01)  # one "item"
            order.append("consumer finished its item")

        async def ticker(stopping: StopToken) -> None:
            await asyncio.sleep(3600)

        lifecycle.background(consumer)
        lifecycle.background(ticker, finish_current=False)

        @lifecycle.on_shutdown
        def close_db() -> None:
            order.append("close_db")

        @lifecycle.on_shutdown(timeout=2)
        async def flush_metrics() -> None:
            order.append("flush_metrics")

        async def inner(scope: Scope, receive: Receive, send: Send) -> None:
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    scope["state"]["ready"] = True
                    await send({"type": "lifespan.startup.complete"})
                else:
                    order.append("app shutdown")
                    await send({"type": "lifespan.shutdown.complete"})
                    return

        lifespan = await start_lifespan(lifecycle.asgi(inner))
        assert lifecycle.phase is Phase.SERVING
        await stop_lifespan(lifespan)
        assert order == ["consumer finished its item", "app shutdown", "flush_metrics", "close_db"]
        assert lifecycle.outcome is not None
        assert lifecycle.outcome.exit_code is ExitCode.CLEAN
        assert effects.exits == []  # no signal began it: the server ends the process

    asyncio.run(scenario())


def test_failed_hook_and_stuck_worker_make_the_exit_code() -> None:
    async def scenario() -> None:
        lifecycle, _ = make_lifecycle()

        async def stuck(stopping: StopToken) -> None:
            await asyncio.sleep(3600)  # ignores the token

        lifecycle.background(stuck, stop_timeout=0.05)
        hooks: list[str] = []
        lifecycle.on_shutdown(lambda: hooks.append("last"), name="last")

        @lifecycle.on_shutdown(timeout=0.05)
        async def hangs() -> None:
            await asyncio.sleep(3600)

        @lifecycle.on_shutdown
        def raises() -> None:
            raise ValueError("broken pool")

        await stop_lifespan(await start_lifespan(lifecycle.asgi(slow_app)))
        outcome = lifecycle.outcome
        assert outcome is not None
        assert outcome.hooks_failed == ("raises", "hangs")
        assert outcome.background_cancelled == ("stuck",)
        assert outcome.exit_code is ExitCode.HOOK_FAILED
        assert hooks == ["last"]  # a failing hook never stops the ones after it

    asyncio.run(scenario())


def test_app_startup_failure_is_reported_to_the_server() -> None:
    async def scenario() -> None:
        lifecycle, _ = make_lifecycle()

        async def failing(scope: Scope, receive: Receive, send: Send) -> None:
            await receive()
            await send({"type": "lifespan.startup.failed", "message": "no database"})

        call = FakeCall(lifecycle.asgi(failing), {"type": "lifespan", "state": {}})
        call.push({"type": "lifespan.startup"})
        failed = await call.until("lifespan.startup.failed")
        assert failed["message"] == "no database"
        assert lifecycle.phase is Phase.STARTING

    asyncio.run(scenario())
