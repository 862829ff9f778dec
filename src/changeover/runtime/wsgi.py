"""The WSGI adapter: health endpoints, in-flight accounting and drain for any WSGI app.

Invariant: a request is in flight from the call until the server closes the response
iterable (PEP 3333 guarantees that close), exactly once; health paths never reach the app;
during the drain responses carry `Connection: close` except under wsgiref, which forbids
hop-by-hop headers.
"""

from __future__ import annotations

import atexit
import multiprocessing.util
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from changeover.runtime.asgi_types import Environ, StartResponse, WSGIApp
from changeover.runtime.background import ThreadWorkers
from changeover.runtime.calls import calls_sync
from changeover.runtime.engine import Engine
from changeover.runtime.health import Answer, liveness, readiness


class RuntimeWSGI:
    """`lifecycle.wsgi(app)`: a WSGI app wrapping `app`; starts the runtime at once."""

    def __init__(self, app: WSGIApp, engine: Engine, paths: tuple[str, str]) -> None:
        self.app = app
        self._engine = engine
        self._livez, self._readyz = paths
        engine.mode = "wsgi"
        engine.threads = ThreadWorkers(engine.registry.workers, engine.stopping)
        engine.threads.start()
        # Servers load the app after installing their own handlers (gunicorn workers), so
        # this is the moment to chain ours; off the main thread it is the app's job.
        engine.install_signal_handlers()
        # Where a server replaced our handler (granian's WSGI worker, --preload), the
        # sequence still runs when the worker exits normally; it runs once either way.
        atexit.register(engine.finish_sync)
        # multiprocessing children end with os._exit, skipping atexit, but run these.
        multiprocessing.util.Finalize(None, engine.finish_sync, exitpriority=100)
        engine.started()

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path in (self._livez, self._readyz):
            return self._health(path, environ, start_response)
        self._engine.request_started()
        try:
            result = self.app(environ, self._start_response(environ, start_response))
        except BaseException:
            self._engine.request_finished()
            raise
        return Counted(result, self._engine)

    def _start_response(self, environ: Environ, start_response: StartResponse) -> StartResponse:
        def wrapped(status: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            if self._engine.stopping.is_set() and _may_close(environ):
                headers = [(k, v) for k, v in headers if k.lower() != "connection"]
                headers.append(("Connection", "close"))
            return start_response(status, headers, *exc)

        return wrapped

    def _health(self, path: str, environ: Environ, start_response: StartResponse) -> list[bytes]:
        phase = self._engine.drain.phase
        if path == self._livez:
            answer: Answer = liveness(phase, self._engine.drain.in_flight)
        else:
            checks = self._engine.registry.checks if phase.ready else []
            failures = calls_sync([(c.fn, c.timeout) for c in checks])
            answer = readiness(
                self._engine.drain.phase, dict(zip([c.name for c in checks], failures, strict=True))
            )
        headers = [
            ("Content-Type", answer.content_type),
            ("Content-Length", str(len(answer.body))),
            ("Cache-Control", "no-store"),
        ]
        self._start_response(environ, start_response)(f"{answer.status} {answer.reason}", headers)
        return [answer.body]


def _may_close(environ: Environ) -> bool:
    """wsgiref asserts on hop-by-hop headers; every other server reads or drops it."""
    return not str(environ.get("SERVER_SOFTWARE", "")).startswith("WSGIServer/")


class Counted:
    """The app's response iterable, ending the in-flight count on close (once)."""

    def __init__(self, result: Iterable[bytes], engine: Engine) -> None:
        self._result = result
        self._engine = engine
        self._lock = threading.Lock()
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self._result)

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            close = getattr(self._result, "close", None)
            if close is not None:
                close()
        finally:
            self._engine.request_finished()
