"""Shared helpers for the analysis tests: templates, measurements, a loopback HTTP server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from changeover.analysis.model import Measurement, Outcome
from changeover.spec.models import AnalysisTemplate, Metric

SUCCESS = {"name": "success", "provider": "builtin", "query": "success_rate", "min": 0.99}


def template(*metrics: dict[str, Any], **settings: Any) -> AnalysisTemplate:
    """A validated template; durations as strings, as in changeover.toml."""
    data: dict[str, Any] = {"interval": "10s", "count": 3, **settings}
    data["metrics"] = list(metrics) or [SUCCESS]
    return AnalysisTemplate.model_validate(data)


def metric(**fields: Any) -> Metric:
    return Metric.model_validate({"name": "m", "provider": "builtin", **fields})


def m(name: str, outcome: Outcome, value: float | None = None, msg: str = "") -> Measurement:
    return Measurement(name, outcome, value, 0.0, msg or f"{name} {outcome.value}")


Reply = tuple[int, Any]  # status, JSON-able body (bytes are sent as they are)
Route = Callable[[str, dict[str, list[str]]], Reply]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout tests) leaves a broken pipe, not a failure


@contextmanager
def http_server(route: Route) -> Iterator[tuple[str, list[str]]]:
    """A real HTTP server on 127.0.0.1 answering GETs with `route(path, query)`.

    Yields its base URL and the list of request targets it received.
    """
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            url = urlsplit(self.path)
            status, body = route(url.path, parse_qs(url.query))
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = _Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
