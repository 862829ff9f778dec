"""Control API routes (HTTP/JSON over the agent's unix socket); thin: parse, call, encode.

Invariant: every error reaches the client as JSON `{"error": ..., "lines": [...]}` with
400 (bad input), 404 (unknown thing) or 409 (conflicting rollout); never a traceback.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from changeover.agent.artifact_format import SHA256
from changeover.agent.artifacts import ArtifactError
from changeover.agent.core import UNKNOWN_PEER, Agent, BadRequest, Busy, Promoted
from changeover.agent.flags import flag_routes
from changeover.agent.gates import stamp
from changeover.agent.logclock import format_stamp
from changeover.agent.logs import Stamp, access_log_file, agent_log_file, follow_logs, log_files
from changeover.agent.migration_docs import (
    migrations_document,
    migrations_log_file,
    schema_doc,
)
from changeover.agent.peer import peer_in
from changeover.agent.promotions import (
    FreezeRequest,
    PromotionRequest,
    TickRequest,
    VerdictRequest,
    gated_doc,
    promotion_doc,
)
from changeover.agent.releases import DeployRequest, GateRefused, UndoRequest
from changeover.agent.status import (
    active_rollout_doc,
    analysis_runs,
    diff_document,
    event_doc,
    history_document,
    rollout_doc,
    status_document,
)
from changeover.migrations.state import Step
from changeover.rollout.decision import Command, CommandRefused
from changeover.store import Rollout
from changeover.store.gates import Freeze, Verdict
from changeover.store.promotions import Promotion
from changeover.supervisor.state import ReplicaState

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]
BY = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.:()-]{0,39}")


def error(status: int, *lines: str) -> JSONResponse:
    return JSONResponse({"error": lines[0] if lines else "", "lines": list(lines)}, status)


def guarded(handler: Handler) -> Handler:
    async def wrapper(request: Request) -> Response:
        try:
            return await handler(request)
        except GateRefused as exc:
            return error(412, *exc.lines)
        except BadRequest as exc:
            return error(400, *exc.lines)
        except (Busy, CommandRefused) as exc:
            return error(409, str(exc))
        except KeyError as exc:
            return error(404, str(exc.args[0]) if exc.args else "not found")

    return wrapper


async def parse(request: Request, model: type[M]) -> M:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        lines = [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()]
        raise BadRequest(*lines) from None


def create_app(agent: Agent) -> Starlette:
    async def status(request: Request) -> Response:
        return JSONResponse(status_document(agent))

    async def history(request: Request) -> Response:
        return JSONResponse(history_document(agent))

    async def diff(request: Request) -> Response:
        params = request.query_params
        old = _int(params.get("from", ""), "from")
        new = _int(params.get("to", ""), "to")
        return JSONResponse(diff_document(agent, old, new))

    async def started(
        begin: Callable[[], Awaitable[Rollout]],
        extra: Callable[[], dict[str, Any]] = dict,
    ) -> Response:
        # the cursor is read first: every event of the new rollout comes after it, so the
        # CLI follows from here without fetching anything else
        after = agent.store.last_event_id()
        rollout = await begin()
        return JSONResponse({**rollout_doc(rollout), "events_after": after, **extra()}, 202)

    async def deploy(request: Request) -> Response:
        body = await parse(request, DeployRequest)
        # the start-only keys this deploy changed, which the agent keeps until a reload
        return await started(
            lambda: agent.deploy(body, peer_in(request.scope)),
            lambda: {"pending_reload": list(agent.pending_reload)},
        )

    async def undo(request: Request) -> Response:
        body = await parse(request, UndoRequest)
        return await started(lambda: agent.undo(body))

    async def retry(request: Request) -> Response:
        return await started(agent.retry)

    def command(name: Command) -> Handler:
        async def handler(request: Request) -> Response:
            by = _by(request.query_params.get("by", "operator"))
            after = agent.store.last_event_id()  # what the command causes comes after it
            if name is Command.PROMOTE and request.query_params.get("full") == "1":
                message = agent.command(Command.PROMOTE_FULL, by)
            else:
                message = agent.command(name, by)
            active = agent.controller.active
            doc = None if active is None else active_rollout_doc(active, agent.clock())
            return JSONResponse({"message": message, "rollout": doc, "events_after": after})

        return handler

    async def rollout(request: Request) -> Response:
        rollout_id = _int(request.path_params["rollout_id"], "rollout id")
        active = agent.controller.active
        if active is not None and active.rollout.id == rollout_id:
            return JSONResponse(active_rollout_doc(active, agent.clock()))
        return JSONResponse(rollout_doc(agent.store.rollout(rollout_id)))

    async def rollout_analysis(request: Request) -> Response:
        rollout_id = _int(request.path_params["rollout_id"], "rollout id")
        agent.store.rollout(rollout_id)  # KeyError (404) for a rollout that does not exist
        return JSONResponse(
            {"rollout_id": rollout_id, "analysis": analysis_runs(agent, rollout_id)}
        )

    async def events(request: Request) -> Response:
        params = request.query_params
        if "last" in params:  # the newest N: where `changeover events` starts
            after = max(0, agent.store.last_event_id() - _int(params["last"], "last"))
        else:
            after = _int(params.get("after", "0"), "after")
        wait = _seconds(request.query_params.get("wait", "0"), "wait", cap=30.0)
        found = await agent.events.wait_after(after, wait)
        return JSONResponse({"events": [event_doc(e) for e in found]})

    async def logs(request: Request) -> Response:
        params = request.query_params
        replica = params.get("replica") or None
        own = params.get("agent") == "1"
        access = params.get("access") == "1"  # the proxy's access log
        migrations = params.get("migrations") == "1"  # the migration commands' output
        if sum((own, access, replica is not None)) > 1:
            raise BadRequest("choose one of: a replica, the agent's log, the access log")
        if migrations and (own or access or replica is not None):
            raise BadRequest("the migrations log comes alone: no replica, --agent or --access")
        if own:
            files = agent_log_file(agent.paths.agent_log)
        elif access:
            files = access_log_file(agent.paths.logs)
        elif migrations:
            files = migrations_log_file(agent.paths.migrations_log)
            own = True  # from here on, like the agent's own log: written while it runs
        else:
            files = log_files(agent.paths.logs, replica, agent.supervisor.replicas())
        lines = _int(params.get("lines", "100"), "lines")
        follow = params.get("follow") == "1"
        since, stamp = _log_times(agent, params, replica_logs=not (own or access))

        def live(name: str) -> bool:
            if own or access:
                return True  # the agent writes both until it stops
            return any(
                r.id == name and r.state is not ReplicaState.EXITED
                for r in agent.supervisor.replicas()
            )

        def running() -> dict[str, Path]:
            return log_files(agent.paths.logs, None, agent.supervisor.replicas())

        every = replica is None and not own and not access  # every running replica
        stream = follow_logs(
            files,
            lines,
            follow,
            prefix=every,
            stop=agent.stopping,
            live=live,
            discover=running if every else None,
            since=since,
            stamp=stamp,
        )
        return StreamingResponse(stream, media_type="text/plain")

    async def artifact(request: Request) -> Response:
        version = request.path_params["version"]
        held = agent.artifacts.held(version)
        if held is None:
            return error(404, f"release {version} is not held by this agent")
        return JSONResponse(held.doc())

    async def upload(request: Request) -> Response:
        version = request.path_params["version"]
        params = request.query_params
        # the size declared: `size=` or, as the CLI sends it, the body's Content-Length
        size = _int(params.get("size") or request.headers.get("content-length", ""), "size")
        who = _account(request)
        try:
            held, new = await agent.artifacts.receive(
                version, params.get("sha256", ""), size, request.stream()
            )
        except ArtifactError as exc:
            return error(exc.status, *exc.lines)
        except ClientDisconnect:  # nobody to answer; nothing was kept
            agent.events.add(
                "release", f"upload of release {version} from {who} cut off: nothing kept"
            )
            return Response(status_code=400)
        if new:
            agent.events.add(
                "release",
                f"release {version} received from {who} (sha256 {held.sha256[:12]}, "
                f"{held.files} files) into {held.path}",
            )
        return JSONResponse({**held.doc(), "received": new}, 201 if new else 200)

    async def promotions(request: Request) -> Response:
        version = request.query_params.get("version") or None
        limit = _int(request.query_params.get("limit", "100"), "limit")
        stable = agent.store.stable_revision()
        sid = None if stable is None else stable.id
        found = agent.store.promotions(version, limit=max(1, limit))
        return JSONResponse(
            {
                "environment": agent.environment,
                "stable_revision": sid,
                "promotions": [gated_promotion(agent, p, sid) for p in found],
                "freezes": freezes_doc(agent),
            }
        )

    async def promoted(begin: Callable[[], Awaitable[tuple[Rollout, Promotion]]]) -> Response:
        after = agent.store.last_event_id()  # as `started`: the rollout's events follow it
        rollout, promotion = await begin()
        doc = promotion_doc(promotion, None)
        return JSONResponse({**rollout_doc(rollout), "events_after": after, "promotion": doc}, 202)

    async def promote(request: Request) -> Response:
        body = await parse(request, PromotionRequest)
        after = agent.store.last_event_id()  # as `started`: the rollout's events follow it
        outcome: Promoted = await agent.promote(body, peer_in(request.scope))
        gates = [g.doc() for g in outcome.gates]
        doc = gated_promotion(agent, outcome.promotion, None)
        if outcome.rollout is None:  # waiting for its gates: on record, nothing rolls out
            return JSONResponse({"waiting": True, "promotion": doc, "gates": gates})
        rollout = rollout_doc(outcome.rollout)
        return JSONResponse(
            {**rollout, "events_after": after, "promotion": doc, "gates": gates, "waiting": False},
            202,
        )

    async def rollback(request: Request) -> Response:
        return await promoted(lambda: agent.rollback_release(peer_in(request.scope)))

    async def evidence(request: Request) -> Response:
        version = request.path_params["version"]
        sha256 = request.query_params.get("sha256", "")
        if not SHA256.fullmatch(sha256):
            raise BadRequest(f"sha256: expected 64 lowercase hex digits, got {sha256!r}")
        return JSONResponse(agent.evidence(version, sha256).model_dump())

    def verdict(kind: Verdict) -> Handler:
        async def handler(request: Request) -> Response:
            body = await parse(request, VerdictRequest)
            if kind == "reject" and not body.note.strip():
                raise BadRequest("reason: say why the promotion is rejected")
            version = request.path_params["version"]
            promotion = agent.gatekeeper.verdict(version, kind, body.note, peer_in(request.scope))
            return JSONResponse({"promotion": gated_promotion(agent, promotion, None)})

        return handler

    async def check(request: Request) -> Response:
        body = await parse(request, TickRequest)
        version = request.path_params["version"]
        promotion = agent.gatekeeper.tick(version, body.item, peer_in(request.scope))
        return JSONResponse({"promotion": gated_promotion(agent, promotion, None)})

    async def freezes(request: Request) -> Response:
        return JSONResponse({"environment": agent.environment, "freezes": freezes_doc(agent)})

    async def freeze(request: Request) -> Response:
        body = await parse(request, FreezeRequest)
        if (body.until is None) == (body.seconds is None):
            raise BadRequest("expected one of until (a time) or seconds (a duration)")
        made = agent.gatekeeper.freeze(
            body.until, body.seconds, body.reason, peer_in(request.scope)
        )
        return JSONResponse({"freeze": _freeze_doc(made, agent.wall())}, 201)

    async def unfreeze(request: Request) -> Response:
        lifted = agent.gatekeeper.unfreeze(peer_in(request.scope))
        now = agent.wall()
        return JSONResponse({"lifted": [_freeze_doc(f, now) for f in lifted]})

    async def migrations(request: Request) -> Response:
        return JSONResponse(migrations_document(agent))

    async def migrate(request: Request) -> Response:
        try:
            step = Step(request.path_params["step"])
        except ValueError:
            raise BadRequest(
                f"unknown migration step {request.path_params['step']!r}; expected "
                "expand, contract or rollback"
            ) from None
        body = await parse(request, MigrateRequest)
        outcome = await agent.migrate(step, body.revision)
        record = agent.store.schema_record(outcome.revision)
        return JSONResponse(
            {"ok": outcome.ok, "message": outcome.message, "schema": schema_doc(record)}
        )

    async def down(request: Request) -> Response:
        agent.stopping.set()
        return JSONResponse({"stopping": True, "pid": status_document(agent)["agent"]["pid"]}, 202)

    async def reload(request: Request) -> Response:
        timeout = _seconds(request.query_params.get("timeout", "30"), "timeout", cap=600.0)
        if agent.reloader is None or timeout <= 0:
            raise BadRequest("timeout: expected a number of seconds > 0")
        outcome = await agent.reloader(timeout)
        return JSONResponse(outcome.doc())

    routes = [
        Route("/v1/reload", guarded(reload), methods=["POST"]),
        Route("/v1/status", guarded(status)),
        Route("/v1/history", guarded(history)),
        Route("/v1/diff", guarded(diff)),
        Route("/v1/deploy", guarded(deploy), methods=["POST"]),
        Route("/v1/undo", guarded(undo), methods=["POST"]),
        Route("/v1/retry", guarded(retry), methods=["POST"]),
        *(
            Route(f"/v1/{c.value}", guarded(command(c)), methods=["POST"])
            for c in (Command.PROMOTE, Command.ABORT, Command.PAUSE, Command.RESUME)
        ),
        Route("/v1/rollouts/{rollout_id}", guarded(rollout)),
        Route("/v1/rollouts/{rollout_id}/analysis", guarded(rollout_analysis)),
        Route("/v1/events", guarded(events)),
        Route("/v1/logs", guarded(logs)),
        Route("/v1/down", guarded(down), methods=["POST"]),
        Route("/v1/migrations", guarded(migrations)),
        Route("/v1/migrations/{step}", guarded(migrate), methods=["POST"]),
        Route("/v1/artifacts/{version}", guarded(artifact), methods=["GET"]),
        Route("/v1/artifacts/{version}", guarded(upload), methods=["PUT"]),
        Route("/v1/promotions", guarded(promotions), methods=["GET"]),
        Route("/v1/promotions", guarded(promote), methods=["POST"]),
        Route("/v1/promotions/rollback", guarded(rollback), methods=["POST"]),
        Route("/v1/releases/{version}/evidence", guarded(evidence), methods=["GET"]),
        Route("/v1/releases/{version}/approve", guarded(verdict("approve")), methods=["POST"]),
        Route("/v1/releases/{version}/reject", guarded(verdict("reject")), methods=["POST"]),
        Route("/v1/releases/{version}/check", guarded(check), methods=["POST"]),
        Route("/v1/freezes", guarded(freezes), methods=["GET"]),
        Route("/v1/freezes", guarded(freeze), methods=["POST"]),
        Route("/v1/freezes", guarded(unfreeze), methods=["DELETE"]),
        *(
            Route(path, guarded(handler), methods=methods)
            for path, handler, methods in flag_routes(lambda: agent.flags)
        ),
    ]
    return Starlette(routes=routes)


def gated_promotion(agent: Agent, promotion: Promotion, stable: int | None) -> dict[str, Any]:
    """A promotion with its gates: evaluated now while it waits (reading only), as they
    were last evaluated otherwise."""
    if promotion.state == "waiting":
        gates: list[dict[str, Any]] | None = [g.doc() for g in agent.gatekeeper.evaluate(promotion)]
    else:
        gates = promotion.gates
    return gated_doc(
        promotion,
        stable,
        gates,
        agent.store.approvals(promotion.id),
        agent.store.checklist(promotion.id),
    )


class MigrateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    revision: int | None = Field(default=None, ge=1)


def freezes_doc(agent: Agent) -> list[dict[str, Any]]:
    now = agent.wall()
    return [_freeze_doc(f, now) for f in agent.store.freezes(limit=20)]


def _freeze_doc(f: Freeze, now: float) -> dict[str, Any]:
    return {
        "id": f.id,
        "until": f.until,
        "until_text": stamp(f.until),
        "reason": f.reason,
        "by": f.by,
        "at": f.at,
        "lifted_at": f.lifted_at,
        "lifted_by": f.lifted_by,
        "active": f.active(now),
    }


def _seconds(raw: str, what: str, *, cap: float) -> float:
    try:
        value = float(raw or 0)
    except ValueError:
        value = math.nan
    if math.isnan(value) or value < 0:  # +inf is fine: "as long as allowed"
        raise BadRequest(f"{what}: expected a number of seconds >= 0, got {raw!r}")
    return min(value, cap)


def _account(request: Request) -> str:
    peer = peer_in(request.scope)
    return UNKNOWN_PEER if peer is None else peer.account


def _by(raw: str) -> str:
    """Who sent a command, as the rollout's events will name it ("operator", "verify")."""
    if not BY.fullmatch(raw):
        raise BadRequest(
            f"by: expected 1-40 letters, digits, spaces or -_.:() naming who asks, got {raw!r}"
        )
    return raw


def _int(raw: str, what: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"{what}: expected an integer, got {raw!r}") from None


def _log_times(
    agent: Agent, params: Mapping[str, str], *, replica_logs: bool
) -> tuple[Callable[[str], int | None] | None, Stamp | None]:
    """`since` (seconds) and `timestamps` of GET /v1/logs, read from the agent's log clock;
    the agent's and the access log carry their own times, so they take neither."""
    wanted = "since" in params or params.get("timestamps") == "1"
    if not wanted:
        return None, None
    if not replica_logs:
        raise BadRequest(
            "since and timestamps apply to replica logs; the agent's and the access log "
            "carry their own times on every line"
        )
    clock, stamp = agent.log_clock, None
    if params.get("timestamps") == "1":

        def stamp(name: str, end: int) -> str:
            return format_stamp(clock.time_at(name, end))

    if "since" not in params:
        return None, stamp
    when = agent.wall() - _seconds(params["since"], "since", cap=366 * 86400.0)

    def since(name: str) -> int | None:
        return clock.offset_since(name, when)

    return since, stamp
