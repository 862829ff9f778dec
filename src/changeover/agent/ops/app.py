"""The ASGI app of the operator listener: `GET /metrics`, `POST /v1/alerts` behind a
bearer token, and every other path to the dashboard (`agent.dashboard.app`), if any.

Invariant: no alert reaches the agent without the token (compared in constant time, as
the flags listener does: `flags.gate.authorized`); without one, or with a wrong one, the
answer is 401 and nothing is read or done. A body larger than `webhook.MAX_BYTES` is
refused (400) before it is read whole; a payload that does not parse is 400 and changes
nothing. Errors are JSON `{"error", "lines"}` like the control API's, and never echo the
token or the payload. `/metrics` needs no token: it is what Prometheus scrapes, on an
address the operator chose (loopback by default in the docs).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from changeover.agent.flags.gate import authorized, error
from changeover.agent.ops.alerts import AlertDesk
from changeover.agent.ops.webhook import MAX_BYTES, PayloadError, parse

METRICS_PATH = "/metrics"
ALERTS_PATH = "/v1/alerts"
REALM = 'Bearer realm="changeover ops"'
WHERE = "the token is the content of the agent's [ops] token_file"
Exposition = Callable[[str], tuple[bytes, str]]  # Accept header -> (body, content type)
# a path the listener does not serve itself -> the dashboard's answer, None if not its own
Pages = Callable[[Request], Awaitable[Response | None]]


def ops_app(
    metrics: Exposition, desk: AlertDesk, token: str | None, pages: Pages | None = None
) -> ASGIApp:
    """`token` None: the spec sets no `[ops] token_file`, so alerts are not accepted."""
    expected = None if token is None else token.encode("ascii")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off, and a WebSocket is never accepted
        request = Request(scope, receive)
        response = await respond(request, metrics, desk, expected, pages)
        await response(scope, receive, send)

    return app


async def respond(
    request: Request,
    metrics: Exposition,
    desk: AlertDesk,
    expected: bytes | None,
    pages: Pages | None = None,
) -> Response:
    path, method = request.url.path, request.method
    if path == METRICS_PATH:
        if method not in ("GET", "HEAD"):
            return error(405, f"method not allowed: {method}", headers={"Allow": "GET"})
        body, kind = metrics(request.headers.get("accept", ""))
        return Response(body, headers={"Content-Type": kind})
    if path != ALERTS_PATH:
        page = None if pages is None else await pages(request)
        if page is not None:
            return page
        return error(
            404,
            f"not found: {path}; this listener serves {METRICS_PATH}, {ALERTS_PATH} and the "
            "dashboard at /",
        )
    if expected is None:
        return error(404, f"{ALERTS_PATH} needs a token: set [ops] token_file in the spec")
    refused = _refused(request.headers.get("authorization"), expected)
    if refused is not None:
        return refused
    if method != "POST":
        return error(405, f"method not allowed: {method}", headers={"Allow": "POST"})
    payload = await _body(request)
    if payload is None:
        return error(400, f"the payload is larger than {MAX_BYTES} bytes")
    try:
        alerts = parse(payload)
    except PayloadError as exc:
        return error(400, f"not an Alertmanager webhook payload: {exc}")
    return JSONResponse({"alerts": desk.receive(alerts)})


def _refused(header: str | None, expected: bytes) -> Response | None:
    if header is None:
        return _unauthorized(REALM, "missing `Authorization: Bearer <token>`", WHERE)
    if not authorized(header, expected):
        return _unauthorized(f'{REALM}, error="invalid_token"', "wrong bearer token", WHERE)
    return None


async def _body(request: Request) -> bytes | None:
    """The body, or None past MAX_BYTES (a declared length is believed, then checked)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _unauthorized(challenge: str, *lines: str) -> JSONResponse:
    return error(401, *lines, headers={"WWW-Authenticate": challenge})
