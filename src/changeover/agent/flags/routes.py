"""The flag endpoints: the read route applications poll, and the admin routes the CLI uses.

Invariant: handlers are thin (parse, call the service, encode); the service is looked up
per request, and the read route is the same handler wherever it is served (the control
socket, the TCP listener), so both answer the same bytes, ETag and long-poll.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from changeover.agent.flags.service import FlagService
from changeover.agent.flags.wire import parse_wait
from changeover.agent.releases import BadRequest

M = TypeVar("M", bound=BaseModel)
C = TypeVar("C", bound="Change")
POST = ["POST"]
Handler = Callable[[Request], Awaitable[Response]]
Routes = list[tuple[str, Handler, list[str]]]
DOCUMENT_PATH = "/v1/flags"


def document_handler(service: Callable[[], FlagService]) -> Handler:
    """`GET /v1/flags`: the document, 304 on a matching ETag, held with `?wait=`."""

    async def document(request: Request) -> Response:
        wait = parse_wait(request.query_params.get("wait"))
        status, body, etag = await service().answer(request.headers.get("if-none-match"), wait)
        kind = "application/json" if status == 200 else None
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        return Response(body, status, headers=headers, media_type=kind)

    return document


def flag_routes(service: Callable[[], FlagService]) -> Routes:
    """(path, handler, methods) of every flag endpoint of the control socket."""
    return [(DOCUMENT_PATH, document_handler(service), ["GET"]), *admin_routes(service)]


def admin_routes(service: Callable[[], FlagService]) -> Routes:
    """The routes that list and change flags: served on the control socket only."""

    async def listing(request: Request) -> Response:
        archived = request.query_params.get("archived") == "1"
        return JSONResponse({"flags": service().records(archived=archived)})

    async def put(request: Request) -> Response:
        body = await _parse(request, PutFlags)
        changes = service().put(body.document, by=body.by, source=body.source, create=body.create)
        return JSONResponse({"changes": changes})

    async def one(request: Request) -> Response:
        return JSONResponse(service().record(request.path_params["name"]))

    def change(model: type[C], act: Callable[[FlagService, str, C], str]) -> Handler:
        async def handler(request: Request) -> Response:
            body = await _parse(request, model)
            message = act(service(), request.path_params["name"], body)
            return JSONResponse({"message": message})

        return handler

    one_flag = "/v1/admin/flags/{name}"
    return [
        ("/v1/admin/flags", listing, ["GET"]),
        ("/v1/admin/flags", put, POST),
        (one_flag, one, ["GET"]),
        (
            f"{one_flag}/enable",
            change(Change, lambda s, n, b: s.set_enabled(n, True, by=b.by)),
            POST,
        ),
        (
            f"{one_flag}/disable",
            change(Change, lambda s, n, b: s.set_enabled(n, False, by=b.by)),
            POST,
        ),
        (
            f"{one_flag}/rollout",
            change(RolloutChange, lambda s, n, b: s.set_rollout(n, b.percent, by=b.by)),
            POST,
        ),
        (f"{one_flag}/archive", change(Change, lambda s, n, b: s.archive(n, by=b.by)), POST),
    ]


class Change(BaseModel):
    model_config = ConfigDict(extra="forbid")
    by: str = Field(min_length=1, max_length=200)  # who asked: "user@host"


class RolloutChange(Change):
    percent: int = Field(ge=0, le=100)


class PutFlags(Change):
    document: dict[str, Any]  # one flag, or {"features": [...], "segments": [...]}
    source: str = Field(default="request", min_length=1)  # the file name, for messages
    create: bool = False  # refuse names that exist (archived ones too)


async def _parse(request: Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        lines = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()]
        raise BadRequest(*lines) from None
