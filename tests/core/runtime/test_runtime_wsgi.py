"""The WSGI adapter driven directly: health, in-flight until close, drain and hooks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from typing import Any

from changeover.runtime import ExitCode, Phase, StopToken
from changeover.runtime.asgi_types import Environ, StartResponse
from tests.io.runtime.runtime_helpers import eventually_sync, make_lifecycle


def hello(environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "keep-alive")])
    return [b"hello"]


class Server:
    """Calls a WSGI app as a server would, recording status and headers."""

    def __init__(self, software: str = "test/1.0") -> None:
        self.software = software
        self.status = ""
        self.headers: list[tuple[str, str]] = []

    def call(self, app: Any, path: str, close: bool = True) -> tuple[Iterable[bytes], bytes]:
        def start_response(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            self.status, self.headers = status, headers
            return lambda data: None

        environ = {"PATH_INFO": path, "REQUEST_METHOD": "GET", "SERVER_SOFTWARE": self.software}
        result = app(environ, start_response)
        body = b"".join(result)
        if close and hasattr(result, "close"):
            result.close()
        return result, body


def test_health_and_checks() -> None:
    lifecycle, effects = make_lifecycle()

    @lifecycle.readiness_check(timeout=0.05)
    def hangs() -> None:
        threading.Event().wait(10)

    app = lifecycle.wsgi(hello)
    server = Server()
    _, body = server.call(app, "/readyz")
    assert server.status == "503 Service Unavailable"
    assert json.loads(body)["checks"] == {"hangs": "timed out after 0.05s"}
    _, body = server.call(app, "/livez")
    assert server.status == "200 OK"
    assert effects.notified == ["READY=1"]


def test_request_is_in_flight_until_close_and_drain_adds_connection_close() -> None:
    lifecycle, _ = make_lifecycle()
    app = lifecycle.wsgi(hello)
    server = Server()
    result, _ = server.call(app, "/", close=False)
    assert lifecycle.in_flight == 1
    assert ("Connection", "keep-alive") in server.headers
    lifecycle.stop()
    server.call(app, "/readyz")
    assert server.status.startswith("503")
    server.call(app, "/")
    assert server.headers[-1] == ("Connection", "close")
    assert ("Connection", "keep-alive") not in server.headers
    assert lifecycle.phase is Phase.DRAINING  # still one request in flight
    result.close()  # type: ignore[attr-defined]
    result.close()  # type: ignore[attr-defined]  # counted once
    eventually_sync(lambda: lifecycle.outcome is not None, "the drain to finish")
    assert lifecycle.in_flight == 0


def test_wsgiref_gets_no_hop_by_hop_header() -> None:
    lifecycle, _ = make_lifecycle()
    app = lifecycle.wsgi(hello)
    lifecycle.stop()
    server = Server("WSGIServer/0.2")
    server.call(app, "/")
    assert all(name.lower() != "connection" or value != "close" for name, value in server.headers)


def test_release_runs_background_stop_and_hooks_in_reverse() -> None:
    lifecycle, effects = make_lifecycle()
    order: list[str] = []

    def consumer(stopping: StopToken) -> None:
        stopping.wait()
        order.append("consumer")

    def stubborn(stopping: StopToken) -> None:
        threading.Event().wait(3600)

    lifecycle.background(consumer)
    lifecycle.background(stubborn, stop_timeout=0.05)
    lifecycle.on_shutdown(lambda: order.append("first registered"), name="a")
    lifecycle.on_shutdown(lambda: order.append("last registered"), name="b")
    lifecycle.wsgi(hello)
    lifecycle.stop()
    eventually_sync(lambda: lifecycle.outcome is not None, "the drain to finish")
    assert order == ["consumer", "last registered", "first registered"]
    assert lifecycle.outcome is not None
    assert lifecycle.outcome.exit_code is ExitCode.BACKGROUND_CANCELLED
    assert effects.exits == []  # stop() from code never ends the process


def test_the_finishing_thread_keeps_the_process_alive_until_hooks_ran() -> None:
    """Interpreter exit waits only for non-daemon threads (gunicorn's worker returns first)."""
    lifecycle, _ = make_lifecycle()
    proceed = threading.Event()
    lifecycle.on_shutdown(lambda: proceed.wait(10), name="blocks", timeout=10)
    lifecycle.wsgi(hello)
    lifecycle.stop()

    def finisher() -> threading.Thread | None:
        return next((t for t in threading.enumerate() if t.name == "co-finish"), None)

    eventually_sync(finisher, "the finishing thread")
    thread = finisher()
    assert thread is not None
    assert not thread.daemon
    proceed.set()
    eventually_sync(lambda: lifecycle.outcome is not None, "the drain to finish")
