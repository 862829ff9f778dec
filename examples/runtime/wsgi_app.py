"""A plain WSGI app under changeover.runtime (no framework), for gunicorn or granian.

Run it with, for example:
    gunicorn --threads 8 --graceful-timeout 30 wsgi_app:app
gunicorn's worker loads the app after installing its signal handlers, so the runtime
chains SIGTERM there (do not use --preload; see docs/runtime.md).

SHUTDOWN_LOG   if set, each shutdown step appends a line to this file (the tests read it)
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

from changeover.runtime import Lifecycle

lifecycle = Lifecycle(grace_period=30)


def log_step(step: str) -> None:
    path = os.environ.get("SHUTDOWN_LOG")
    if path:
        with open(path, "a") as log:
            log.write(step + "\n")


@lifecycle.readiness_check(timeout=1.0)
def database() -> bool:
    return True  # a real app would ping its database here


@lifecycle.on_shutdown(timeout=5.0)
def close_database() -> None:
    log_step("close_database")


@lifecycle.on_shutdown(timeout=2.0)
def flush_metrics() -> None:
    log_step("flush_metrics")


def application(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    if environ.get("PATH_INFO") == "/slow":
        query = parse_qs(environ.get("QUERY_STRING", ""))
        seconds = float(query.get("seconds", ["2"])[0])
        time.sleep(seconds)
        body = f"slept {seconds:g}s\n".encode()
    else:
        body = b"hello\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


app = lifecycle.wsgi(application)
