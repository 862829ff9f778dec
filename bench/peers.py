"""HAProxy and nginx in front of one backend, each with upstream keep-alive, one worker.

Invariant: both peers get the settings changeover's proxy has by default (HTTP/1.1 to
the backend with pooled keep-alive connections, one thread or worker process, no access
log), so the comparison measures the proxies and not their configuration.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import haproxy_variants
from procs import Started, free_port, wait_listening
from tools import find

HAPROXY = """\
global
    nbthread 1
    maxconn 8192
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
frontend bench
    bind 127.0.0.1:{port}
    default_backend app
backend app
    http-reuse always
    server app1 127.0.0.1:{backend}
"""

NGINX = """\
daemon off;
worker_processes 1;
worker_rlimit_nofile 8192;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream app {{ server 127.0.0.1:{backend}; keepalive 64; }}{request_id}
    server {{
        listen 127.0.0.1:{port};
        keepalive_timeout 75s;
        keepalive_requests 1000000;
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";{promises}
        }}
    }}
}}
"""
# What the haproxy engine promises on every request, as nginx spells it: the client's
# Host passed on (not the upstream's name), X-Forwarded-For appended, X-Forwarded-Proto
# and -Host set, the client's X-Request-Id kept or one made, and echoed on every answer
# (nginx keeps the whole request, so its default retry of a request that never reached
# the backend, `proxy_next_upstream error timeout`, costs nothing more).
NGINX_PROMISES = """
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Request-Id $co_request_id;
            add_header X-Request-Id $co_request_id always;"""
NGINX_REQUEST_ID = """
    map $http_x_request_id $co_request_id {{ "" $request_id; default $http_x_request_id; }}"""


@contextlib.contextmanager
def haproxy(backend: int, work: Path) -> Iterator[tuple[int, int]]:
    """(pid, port) of an HAProxy forwarding to 127.0.0.1:backend."""
    port = free_port()
    config = work / "haproxy.cfg"
    config.write_text(HAPROXY.format(port=port, backend=backend))
    argv = [find("haproxy") or "haproxy", "-db", "-f", str(config)]
    with Started(argv, log=work / "haproxy.log") as proc:
        wait_listening(port, proc=proc.proc)
        yield proc.pid, port


@contextlib.contextmanager
def haproxy_features(backend: int, work: Path) -> Iterator[tuple[int, int]]:
    """(pid, port) of an HAProxy doing changeover's per-request header work as well
    (X-Forwarded-*, request ids, retries; `haproxy_variants.py`), to price it in C."""
    with _haproxy_variant("features", backend, work) as started:
        yield started


@contextlib.contextmanager
def haproxy_promises(backend: int, work: Path) -> Iterator[tuple[int, int]]:
    """(pid, port) of an HAProxy configured by hand to do what issue 20 asks of the
    haproxy engine (`features` and L7 retries; `haproxy_variants.py`)."""
    with _haproxy_variant("promises", backend, work) as started:
        yield started


@contextlib.contextmanager
def _haproxy_variant(variant: str, backend: int, work: Path) -> Iterator[tuple[int, int]]:
    port = free_port()
    config = work / f"haproxy-{variant}.cfg"
    config.write_text(haproxy_variants.config(variant, port, backend, ""))
    argv = [find("haproxy") or "haproxy", "-db", "-f", str(config)]
    with Started(argv, log=work / f"haproxy-{variant}.log") as proc:
        wait_listening(port, proc=proc.proc)
        yield proc.pid, port


@contextlib.contextmanager
def haproxy_engine(backend: int, work: Path) -> Iterator[tuple[int, int]]:
    """The haproxy engine with `[proxy] threads = 1`: one thread, as the HAProxy and nginx
    baselines run (nbthread 1, worker_processes 1), so CPU and throughput compare alike."""
    with _haproxy_engine(backend, work, threads=1) as started:
        yield started


@contextlib.contextmanager
def haproxy_engine_cores(backend: int, work: Path) -> Iterator[tuple[int, int]]:
    """The haproxy engine with its default threads (the CPUs available): on a machine
    whose cores the backend and the load generator share, they compete."""
    with _haproxy_engine(backend, work, threads=0) as started:
        yield started


@contextlib.contextmanager
def _haproxy_engine(backend: int, work: Path, threads: int) -> Iterator[tuple[int, int]]:
    """(pid, port) of changeover's haproxy engine (`engine_host.py`: HAProxy as the agent
    configures and drives it, the request log read) forwarding to 127.0.0.1:backend; the
    pid is the host's, and its descendants are HAProxy's master and worker."""
    port = free_port()
    folder = work / f"haproxy-engine-{threads}"
    folder.mkdir(exist_ok=True)
    host = Path(__file__).resolve().parent / "engine_host.py"
    argv = [sys.executable, str(host), str(backend), str(port), str(folder), str(threads)]
    with Started(argv, log=work / f"haproxy-engine-{threads}.log") as proc:
        deadline = time.monotonic() + 30
        while not (folder / "ready").exists():
            if proc.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"the haproxy engine did not start: see {work}/haproxy-engine-{threads}.log"
                )
            time.sleep(0.05)
        yield proc.pid, port


@contextlib.contextmanager
def nginx(backend: int, work: Path) -> Iterator[tuple[int, int]]:
    """(pid of the master, port) of an nginx forwarding to 127.0.0.1:backend."""
    with _nginx(backend, work, promises=False) as started:
        yield started


@contextlib.contextmanager
def nginx_promises(backend: int, work: Path) -> Iterator[tuple[int, int]]:
    """nginx doing on every request what the haproxy engine promises (NGINX_PROMISES)."""
    with _nginx(backend, work, promises=True) as started:
        yield started


@contextlib.contextmanager
def _nginx(backend: int, work: Path, promises: bool) -> Iterator[tuple[int, int]]:
    port = free_port()
    prefix = work / ("nginx-promises" if promises else "nginx")
    prefix.mkdir(exist_ok=True)
    config = prefix / "nginx.conf"
    config.write_text(
        NGINX.format(
            port=port,
            backend=backend,
            dir=prefix,
            promises=NGINX_PROMISES if promises else "",
            request_id=NGINX_REQUEST_ID.format() if promises else "",
        )
    )
    log = prefix / "error.log"
    argv = [find("nginx") or "nginx", "-p", str(prefix), "-e", str(log), "-c", str(config)]
    with Started(argv, log=prefix.with_suffix(".out")) as proc:
        wait_listening(port, proc=proc.proc)
        yield proc.pid, port
