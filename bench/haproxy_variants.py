"""HAProxy configured several ways, to price changeover's per-request work in C.

Invariant: `plain` is the yardstick of the issue's targets (upstream keep-alive, one
thread, nothing else); `features` adds, one directive per behaviour, the header work
changeover's proxy does on every request; `features-log` also records every request's
status and latency outside the process, as changeover's per-revision histogram does
(`features-log8`: one request in 8, a sample, as a data plane could settle for).
`promises` is `features` with the retry issue 20 asks of the haproxy engine (`retry-on
conn-failure empty-response`: a request sent on a pooled connection the replica had just
closed is sent again, not answered 502): what a user would write by hand to get what the
engine promises, so the engine's own cost is its distance to this one.
Only what changeover does is added, so the difference is the price of those features
in HAProxy's own C implementation.
"""

from __future__ import annotations

VARIANTS = ("plain", "features", "features-log", "features-log8", "promises")

_GLOBAL = """global
    nbthread 1
    maxconn 8192
"""
_DEFAULTS = """defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
"""
_BACKEND = """backend b
    http-reuse always
    server s1 127.0.0.1:{backend}
"""
# X-Forwarded-For appended (headers.py); a request retried on another replica only when
# its connection failed (exchange.py): HAProxy's layer-4 retries, not `retry-on` (which
# copies every request to replay it: +33k instructions per request, measured).
_FEATURES = """    option forwardfor
    retries 2
    option redispatch
"""
# X-Request-Id kept or made and echoed, X-Forwarded-Proto, X-Forwarded-Host (headers.py):
_FRONTEND_FEATURES = """    unique-id-format %{{+X}}o%ci%cp%Ts%rt
    http-request set-var(txn.rid) req.hdr(x-request-id)
    http-request set-var(txn.rid) unique-id unless {{ var(txn.rid) -m found }}
    http-request set-header X-Request-Id %[var(txn.rid)]
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Forwarded-Host %[req.hdr(host)] if {{ req.hdr(host) -m found }}
    http-response set-header X-Request-Id %[var(txn.rid)]
"""


def config(variant: str, port: int, backend: int, log_socket: str) -> str:
    """The whole configuration file of one variant."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown HAProxy variant {variant!r}; expected one of {VARIANTS}")
    text = _GLOBAL
    logged = variant.startswith("features-log")
    if logged:
        sample = " sample 1:8" if variant == "features-log8" else ""
        text += f"    log {log_socket} len 256{sample} local0 info\n"
    text += _DEFAULTS
    if variant != "plain":
        text += _FEATURES
    if variant == "promises":
        text += "    retry-on conn-failure empty-response\n"
    if logged:
        text += '    log global\n    log-format "%b %s %ST %Ta"\n'
    text += f"frontend f\n    bind 127.0.0.1:{port}\n"
    if variant != "plain":
        text += _FRONTEND_FEATURES.format()
    text += "    default_backend b\n" + _BACKEND.format(backend=backend)
    return text
