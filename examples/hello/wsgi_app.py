"""The hello app as plain WSGI, for gunicorn's own workers (sync, gthread).

Set by environment variables, like app.py, read when the module is imported, which
gunicorn does in each worker as it boots (unless --preload):

HELLO_VERSION   label returned by every response (default "v1"), also as X-Version
CRASH_AT_BOOT   "1": raise while being imported, so a gunicorn worker fails to boot and
                its arbiter halts ("Worker failed to boot.", exit code 3)
NEVER_READY     "1": /readyz always answers 503

Routes: / (hello), /healthz, /readyz, /slow?ms=N, POST /echo.
Run with: gunicorn wsgi_app:app   (under `changeover run` it finds fd 3 via LISTEN_FDS)
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

VERSION = os.environ.get("HELLO_VERSION", "v1")
NEVER_READY = os.environ.get("NEVER_READY") == "1"

if os.environ.get("CRASH_AT_BOOT") == "1":
    raise RuntimeError(f"hello {VERSION}: crashing at import (CRASH_AT_BOOT=1)")

StartResponse = Callable[..., Any]


def respond(start_response: StartResponse, status: str, body: bytes) -> list[bytes]:
    headers = [
        ("Content-Type", "text/plain"),
        ("Content-Length", str(len(body))),
        ("X-Version", VERSION),
    ]
    start_response(status, headers)
    return [body]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    path, method = environ.get("PATH_INFO", "/"), environ.get("REQUEST_METHOD", "GET")
    if path == "/healthz":
        return respond(start_response, "200 OK", b"ok\n")
    if path == "/readyz":
        if NEVER_READY:
            return respond(start_response, "503 Service Unavailable", b"not ready\n")
        return respond(start_response, "200 OK", b"ok\n")
    if path == "/slow":
        query = parse_qs(environ.get("QUERY_STRING", ""))
        time.sleep(int(query.get("ms", ["1000"])[0]) / 1000)
        return respond(start_response, "200 OK", f"slow hello from {VERSION}\n".encode())
    if path == "/echo" and method == "POST":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(size)
        digest = hashlib.sha256(body).hexdigest()
        return respond(start_response, "200 OK", f"{len(body)} {digest}\n".encode())
    if path == "/":
        return respond(start_response, "200 OK", f"hello from {VERSION}\n".encode())
    return respond(start_response, "404 Not Found", b"not found\n")
