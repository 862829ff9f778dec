"""The dashboard's routes on the `[ops]` listener: the page, its JSON, and its actions.

Invariant: reading needs no token and only reads (the documents `changeover status`,
`history`, `events` and `flags list` use, and the charts' `series.Trend`); every request
that could change something is a POST under `/api/actions/` or `/api/flags/`, and none
reaches the agent unless the spec sets `[ops] token_file` (else 403: the dashboard is
read-only) and the request carries `Authorization: Bearer <token>` (compared in constant
time; else 401), and, when the browser names an `Origin`, it is this listener's own (else
403). A browser attaches no `Authorization` header by itself and a cross-site page cannot
add one without a CORS preflight this listener never grants, so a forged cross-site
request changes nothing; the token lives only in the page's memory (never a URL, a
cookie, a log line or an event). Every action is recorded as an event saying "by
dashboard". Every answer carries a strict Content-Security-Policy (scripts and styles
from this listener only, the vendored charting library included; no inline script),
`nosniff`, no referrer and no framing.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from changeover.agent.api import freezes_doc, gated_promotion
from changeover.agent.core import Agent, BadRequest, Busy
from changeover.agent.flags.gate import authorized, error
from changeover.agent.releases import UndoRequest
from changeover.agent.status import (
    active_rollout_doc,
    diff_document,
    event_doc,
    history_document,
    rollout_doc,
    status_document,
)
from changeover.rollout.decision import Command, CommandRefused

BY = "dashboard"  # who the rollout's events say asked
REALM = 'Bearer realm="changeover ops"'
WHERE = "the token is the content of the agent's [ops] token_file"
FRESH = 1.0  # seconds a status document is served again to other pages
MAX_WAIT = 25.0  # seconds an events long-poll is held: under common proxies' idle timeouts
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
    # the charting library, vendored unmodified with its licence (static/vendor/uplot/)
    "/static/vendor/uplot/uPlot.iife.min.js": (
        "vendor/uplot/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
    ),
    "/static/vendor/uplot/uPlot.min.css": ("vendor/uplot/uPlot.min.css", "text/css; charset=utf-8"),
    "/static/vendor/uplot/LICENSE": ("vendor/uplot/LICENSE", "text/plain; charset=utf-8"),
}
SECURITY = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
COMMANDS = {
    "promote": Command.PROMOTE,
    "promote-full": Command.PROMOTE_FULL,
    "abort": Command.ABORT,
    "pause": Command.PAUSE,
    "resume": Command.RESUME,
}
ACTIONS = (*COMMANDS, "retry", "undo")
Handler = Callable[[Request], Awaitable[Response]]


class RolloutPercent(BaseModel):
    model_config = ConfigDict(extra="forbid")
    percent: int = Field(ge=0, le=100)


def static_file(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", *name.split("/")).read_bytes()


class Dashboard:
    """Answers every path the ops listener does not: None for one that is not its own."""

    def __init__(self, agent: Agent, token: str | None) -> None:
        self._agent = agent
        self._expected = None if token is None else token.encode("ascii")
        self._made: tuple[float, dict[str, Any] | None] = (0.0, None)
        self._files = {path: (static_file(name), kind) for path, (name, kind) in STATIC.items()}
        self._reads: dict[str, Handler] = {
            "/api/now": self._now,
            "/api/history": self._history,
            "/api/diff": self._diff,
            "/api/events": self._events,
            "/api/flags": self._flags,
            "/api/pipeline": self._pipeline,
        }

    @property
    def actions(self) -> bool:
        return self._expected is not None

    async def respond(self, request: Request) -> Response | None:
        path, method = request.url.path, request.method
        if path in self._files or path in self._reads:
            if method not in ("GET", "HEAD"):
                allow = {"Allow": "GET"}
                return _secure(error(405, f"method not allowed: {method}", headers=allow))
            if path in self._files:
                body, kind = self._files[path]
                return _secure(Response(body, headers={"Content-Type": kind}))
            return _secure(await _answer(self._reads[path], request))
        if path.startswith(("/api/actions/", "/api/flags/")):
            return _secure(await self._act(request))
        if path.startswith(("/api/", "/static/")):
            return _secure(error(404, f"not found: {path}"))
        return None

    # --- reading ----------------------------------------------------------------------
    async def _now(self, request: Request) -> Response:
        after = _number(request.query_params.get("after", "0"), "after")
        agent = self._agent
        return JSONResponse(
            {
                "status": self._status(),
                "series": agent.trend.doc(after),
                "actions": self.actions,
                "now": agent.wall(),
            }
        )

    def _status(self) -> dict[str, Any]:
        """The `status` document, made at most once per `FRESH` seconds: any number of
        open pages cost the agent's loop (which the proxy shares) one a second at most."""
        now = self._agent.clock()
        made, doc = self._made
        if doc is None or not 0 <= now - made < FRESH:
            doc = status_document(self._agent)
            self._made = (now, doc)
        return doc

    async def _history(self, request: Request) -> Response:
        return JSONResponse(history_document(self._agent))

    async def _diff(self, request: Request) -> Response:
        params = request.query_params
        old = int(_number(params.get("from", ""), "from"))
        new = int(_number(params.get("to", ""), "to"))
        return JSONResponse(diff_document(self._agent, old, new))

    async def _events(self, request: Request) -> Response:
        params = request.query_params
        agent = self._agent
        if "last" in params:
            after = max(0, agent.store.last_event_id() - int(_number(params["last"], "last")))
        else:
            after = int(_number(params.get("after", "0"), "after"))
        wait = min(_number(params.get("wait", "0"), "wait"), MAX_WAIT)
        found = await agent.events.wait_after(after, wait)
        return JSONResponse(
            {"events": [event_doc(e) for e in found], "last": agent.store.last_event_id()}
        )

    async def _flags(self, request: Request) -> Response:
        return JSONResponse({"flags": self._agent.flags.records()})

    async def _pipeline(self, request: Request) -> Response:
        agent = self._agent
        if agent.environment is None:
            return JSONResponse({"environment": None, "promotions": [], "freezes": []})
        stable = agent.store.stable_revision()
        sid = None if stable is None else stable.id
        found = agent.store.promotions(None, limit=50)
        return JSONResponse(
            {
                "environment": agent.environment,
                "stable_revision": sid,
                "promotions": [gated_promotion(agent, p, sid) for p in found],
                "freezes": freezes_doc(agent),
            }
        )

    # --- acting -------------------------------------------------------------------------
    async def _act(self, request: Request) -> Response:
        if self._expected is None:
            return error(
                403, "the dashboard is read-only: set [ops] token_file in the spec for actions"
            )
        header = request.headers.get("authorization")
        if header is None:
            return _unauthorized(REALM, "missing `Authorization: Bearer <token>`", WHERE)
        if not authorized(header, self._expected):
            return _unauthorized(f'{REALM}, error="invalid_token"', "wrong bearer token", WHERE)
        if not _same_origin(request):
            return error(403, "cross-origin request refused: actions come from the dashboard")
        if request.method != "POST":
            return error(405, f"method not allowed: {request.method}", headers={"Allow": "POST"})
        return await _answer(self._action, request)

    async def _action(self, request: Request) -> Response:
        path = request.url.path
        if path.startswith("/api/flags/"):
            return await self._flag(request, path.removeprefix("/api/flags/"))
        name = path.removeprefix("/api/actions/")
        agent = self._agent
        if name in COMMANDS:
            message = agent.command(COMMANDS[name], BY)
            active = agent.controller.active
            doc = None if active is None else active_rollout_doc(active, agent.clock())
            return JSONResponse({"message": message, "rollout": doc})
        if name == "retry":
            rollout = await agent.retry()
        elif name == "undo":
            rollout = await agent.undo(UndoRequest())
        else:
            raise KeyError(f"no action {name!r}; actions: {', '.join(ACTIONS)}")
        message = f"{name} by {BY}: rollout {rollout.id} to revision {rollout.to_revision}"
        agent.events.add("dashboard", message, rollout_id=rollout.id)
        return JSONResponse({"message": message, "rollout": rollout_doc(rollout)}, 202)

    async def _flag(self, request: Request, rest: str) -> Response:
        name, _, verb = rest.rpartition("/")
        flags = self._agent.flags
        if verb == "enable":
            message = flags.set_enabled(name, True, by=BY)
        elif verb == "disable":
            message = flags.set_enabled(name, False, by=BY)
        elif verb == "rollout":
            try:
                body = RolloutPercent.model_validate_json(await request.body())
            except ValidationError:
                raise BadRequest('expected {"percent": an integer from 0 to 100}') from None
            message = flags.set_rollout(name, body.percent, by=BY)
        else:
            raise KeyError(f"not found: {request.url.path}; flags take enable, disable, rollout")
        return JSONResponse({"message": message})


async def _answer(handler: Handler, request: Request) -> Response:
    """The handler's answer, with the control API's errors as its JSON errors."""
    try:
        return await handler(request)
    except BadRequest as exc:
        return error(400, *exc.lines)
    except (Busy, CommandRefused) as exc:
        return error(409, str(exc))
    except KeyError as exc:
        return error(404, str(exc.args[0]) if exc.args else "not found")


def _number(raw: str, what: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise BadRequest(f"{what}: expected a number >= 0, got {raw!r}")
    return value


def _same_origin(request: Request) -> bool:
    """No `Origin` (not a browser's cross-site fetch), or one naming the host the request
    was sent to (`Host`, or a reverse proxy's `X-Forwarded-Host`); the scheme may differ
    behind a proxy that ends TLS."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    host = origin.partition("://")[2]
    return host != "" and host in (
        request.headers.get("host"),
        request.headers.get("x-forwarded-host"),
    )


def _unauthorized(challenge: str, *lines: str) -> JSONResponse:
    return error(401, *lines, headers={"WWW-Authenticate": challenge})


def _secure(response: Response) -> Response:
    response.headers.update(SECURITY)
    return response
