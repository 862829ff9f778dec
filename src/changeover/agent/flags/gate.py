"""The ASGI app of the flags TCP listener: a bearer token, then only `GET /v1/flags`.

Invariant: no request reaches the document without the token (compared in constant time
with `hmac.compare_digest`); with it, every path but the read route is 404, so no admin
route is reachable over TCP. Errors are JSON `{"error", "lines"}` like the control API's.
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from changeover.agent.flags.routes import DOCUMENT_PATH, Handler
from changeover.agent.releases import BadRequest

REALM = 'Bearer realm="changeover flags"'
WHERE = (
    "the token is the content of the agent's [flags] token_file; the Python client reads it"
    " from CHANGEOVER_FLAGS_TOKEN or Client(token=...)"
)


def tcp_app(document: Handler, token: str) -> ASGIApp:
    """`document` is the read route's handler, the same one the control socket serves."""
    expected = token.encode("ascii")

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return  # lifespan is off, and a WebSocket is never accepted
        response = await respond(Request(scope, receive), document, expected)
        await response(scope, receive, send)

    return app


async def respond(request: Request, document: Handler, expected: bytes) -> Response:
    header = request.headers.get("authorization")
    if header is None:
        return _unauthorized(REALM, "missing `Authorization: Bearer <token>`", WHERE)
    if not authorized(header, expected):
        return _unauthorized(f'{REALM}, error="invalid_token"', "wrong bearer token", WHERE)
    if request.url.path != DOCUMENT_PATH:
        return error(404, f"not found: {request.url.path}; this listener serves GET /v1/flags")
    if request.method != "GET":
        return error(405, f"method not allowed: {request.method}", headers={"Allow": "GET"})
    try:
        return await document(request)
    except BadRequest as exc:
        return error(400, *exc.lines)


def authorized(header: str, expected: bytes) -> bool:
    """`Bearer <token>` (scheme in any case) holding exactly the expected token."""
    scheme, _, given = header.strip().partition(" ")
    # starlette decodes headers as latin-1, so encoding back gives the bytes sent
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("latin-1"), expected
    )


def error(status: int, *lines: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": lines[0], "lines": list(lines)}, status, headers=headers)


def _unauthorized(challenge: str, *lines: str) -> JSONResponse:
    return error(401, *lines, headers={"WWW-Authenticate": challenge})
