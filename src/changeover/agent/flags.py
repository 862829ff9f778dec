"""The agent's feature flags: the served document with its ETag and long-poll, and changes.

Invariant: the served document always passes strict validation (a change is checked against
the whole document it would produce, and refused with every problem otherwise); its body and
strong ETag change together, and only when the stored flags do; every change is one store
transaction, then one `flags` event per flag or segment naming who and old -> new, and it
wakes every long-poller (one future per generation, so no wake-up is lost).
"""

from __future__ import annotations

import asyncio
import copy
import hashlib
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from changeover.agent.events import EventLog
from changeover.agent.releases import BadRequest
from changeover.flags.load import parse_state
from changeover.flags.parse import parse_date
from changeover.flags.problems import FlagStateError
from changeover.store import Store
from changeover.store.flags import DOCUMENT_VERSION, FlagRecord

MAX_WAIT = 60.0  # seconds a long-poll may hold; clients ask for 30
PERCENT = {  # strategies that roll out to a share of users, and the parameter holding it
    "flexibleRollout": "rollout",
    "gradualRolloutUserId": "percentage",
    "gradualRolloutSessionId": "percentage",
    "gradualRolloutRandom": "percentage",
}
M = TypeVar("M", bound=BaseModel)
C = TypeVar("C", bound="Change")
POST = ["POST"]
Handler = Callable[[Request], Awaitable[Response]]


class FlagService:
    def __init__(
        self,
        store: Store,
        events: EventLog,
        *,
        wall: Callable[[], float] = time.time,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self._store = store
        self._events = events
        self._wall = wall
        self._stopping = stopping  # set when the agent stops: long-polls answer at once
        self._changed: asyncio.Future[None] | None = None
        self.generation = 0
        self.body, self.etag = b"", ""
        self._reload()

    # --- serving ----------------------------------------------------------------------
    async def answer(self, if_none_match: str | None, wait: float) -> tuple[int, bytes, str]:
        """Status, body and ETag; a matching request with `wait` is held until a change."""
        if wait > 0 and etag_matches(if_none_match, self.etag):
            await self._wait_for_change(wait)
        if etag_matches(if_none_match, self.etag):
            return 304, b"", self.etag
        return 200, self.body, self.etag

    async def _wait_for_change(self, wait: float) -> None:
        if self._changed is None:
            self._changed = asyncio.get_running_loop().create_future()
        changed = self._changed
        stop = asyncio.ensure_future(self._stopping.wait()) if self._stopping else None
        try:
            waiting: set[asyncio.Future[Any]] = {changed} if stop is None else {changed, stop}
            await asyncio.wait(waiting, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if stop is not None:
                stop.cancel()

    def _reload(self) -> None:
        body = encode(self._store.flags_document())
        if body == self.body:
            return
        self.body, self.etag = body, etag_of(body)
        self.generation += 1
        changed, self._changed = self._changed, None
        if changed is not None and not changed.done():
            changed.set_result(None)

    # --- reading ----------------------------------------------------------------------
    def records(self, *, archived: bool = False) -> list[dict[str, Any]]:
        now = self._wall()
        return [record_doc(r, now) for r in self._store.flag_records(archived=archived)]

    def record(self, name: str) -> dict[str, Any]:
        found = self._store.flag(name)
        return {**record_doc(found, self._wall()), "definition": found.definition}

    # --- changes ----------------------------------------------------------------------
    def put(
        self, data: Mapping[str, Any], *, by: str, source: str, create: bool = False
    ) -> list[str]:
        """Store the flags and segments of a file (one flag or a document); the events."""
        doc, single = as_document(data, source)
        try:
            parsed = parse_state(doc, source=source).document  # structure, paths as written
        except FlagStateError as exc:
            raise BadRequest(*problem_lines(exc, doc, _given(doc), single)) from None
        features = [_wire(f) for f in parsed.features]
        segments = [_wire(s) for s in parsed.segments or ()]
        if not features and not segments:
            raise BadRequest(f"{source}: (document): no flags or segments in it")
        known = {r.name: r for r in self._store.flag_records(archived=True)}
        if create:
            self._refuse_existing([f["name"] for f in features if f["name"] in known], source)
        root = {k: v for k, v in doc.items() if k not in ("features", "segments")}
        self._check(features, segments, source=source, single=single, root=root)
        stored = {s.id: s.definition for s in self._store.segment_records()}
        new_features = [f for f in features if _differs(known.get(f["name"]), f)]
        new_segments = [s for s in segments if stored.get(s["id"]) != s]
        if not new_features and not new_segments:
            return []
        self._store.save_flags(new_features, new_segments, by=by, now=self._wall())
        messages = [describe(by, known.get(f["name"]), f) for f in new_features]
        messages += [describe_segment(by, stored.get(s["id"]), s) for s in new_segments]
        return self._commit(messages)

    def set_enabled(self, name: str, enabled: bool, *, by: str) -> str:
        old = self._live(name)
        if old.definition.get("enabled") is enabled:
            return f"flag {name!r} is already {'enabled' if enabled else 'disabled'}"
        return self._edit(old, {**old.definition, "enabled": enabled}, by)

    def set_rollout(self, name: str, percent: int, *, by: str) -> str:
        old = self._live(name)
        new = with_rollout(old.definition, percent)
        if new == old.definition:
            return f"flag {name!r} already rolls out to {percent}%"
        return self._edit(old, new, by)

    def archive(self, name: str, *, by: str) -> str:
        old = self._live(name)
        self._check([], [], source=f"archiving flag {name!r}", without=name)
        self._store.archive_flag(name, by=by, now=self._wall())
        return self._commit([f"{by} archived flag {name!r} (was {state_text(old.definition)})"])[0]

    def _edit(self, old: FlagRecord, new: dict[str, Any], by: str) -> str:
        self._check([new], [], source=f"changing flag {old.name!r}", single=True)
        self._store.save_flags([new], by=by, now=self._wall())
        return self._commit([describe(by, old, new)])[0]

    def _commit(self, messages: list[str]) -> list[str]:
        self._reload()
        for message in messages:
            self._events.add("flags", message)
        return messages

    def _live(self, name: str) -> FlagRecord:
        found = self._store.flag(name)
        if found.archived:
            raise BadRequest(
                f"flag {name!r} is archived; bring it back with `changeover flags set`"
            )
        return found

    def _refuse_existing(self, names: list[str], source: str) -> None:
        if names:
            hint = "change it with `changeover flags set`"
            raise BadRequest(*(f"{source}: flag {n!r} already exists; {hint}" for n in names))

    def _check(
        self,
        features: list[dict[str, Any]],
        segments: list[dict[str, Any]],
        *,
        source: str,
        single: bool = False,
        without: str | None = None,
        root: Mapping[str, Any] | None = None,
    ) -> None:
        """Refuse unless the whole document after this change passes strict validation;
        `root` is the file's other top-level keys, so a misspelt one is named too."""
        names = {f["name"] for f in features} | {without}
        ids = {s["id"] for s in segments}
        doc = {
            "version": DOCUMENT_VERSION,
            **(root or {}),
            "features": features
            + [r.definition for r in self._store.flag_records() if r.name not in names],
            "segments": segments
            + [s.definition for s in self._store.segment_records() if s.id not in ids],
        }
        given = {"features": len(features), "segments": len(segments)}
        try:
            parse_state(doc, strict=True, source=source)
        except FlagStateError as exc:
            raise BadRequest(*problem_lines(exc, doc, given, single)) from None


def flag_routes(service: Callable[[], FlagService]) -> list[tuple[str, Handler, list[str]]]:
    """(path, handler, methods) of the flag endpoints; `service` is read per request."""

    async def document(request: Request) -> Response:
        wait = parse_wait(request.query_params.get("wait"))
        status, body, etag = await service().answer(request.headers.get("if-none-match"), wait)
        kind = "application/json" if status == 200 else None
        headers = {"ETag": etag, "Cache-Control": "no-cache"}
        return Response(body, status, headers=headers, media_type=kind)

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
        ("/v1/flags", document, ["GET"]),
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


# --- the wire: bytes, ETags, waits ------------------------------------------------------
def encode(document: Mapping[str, Any]) -> bytes:
    """Canonical bytes (sorted keys, no spaces): the same flags always give the same ETag."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def etag_of(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()}"'


def etag_matches(header: str | None, etag: str) -> bool:
    """`If-None-Match` as RFC 9110 reads it: a list, weak comparison, or `*`."""
    if header is None:
        return False
    return header.strip() == "*" or etag in _TAGS.findall(header)


_TAGS = re.compile(r'(?:W/)?("[^"]*")')  # a tag may hold commas: not a split
_WAIT = re.compile(r"(\d{1,9}(?:\.\d{1,6})?)(ms|s)?")


def parse_wait(raw: str | None) -> float:
    """`30s`, `500ms` or plain seconds, capped at MAX_WAIT; 0 when absent."""
    if not raw:
        return 0.0
    found = _WAIT.fullmatch(raw.strip())
    if found is None:
        raise BadRequest(f"wait: expected a duration like 30s or 500ms, got {raw!r}")
    scale = 0.001 if found.group(2) == "ms" else 1.0
    return min(float(found.group(1)) * scale, MAX_WAIT)


# --- definitions: shape, problems, edits, summaries ------------------------------------
def as_document(data: Mapping[str, Any], source: str) -> tuple[dict[str, Any], bool]:
    """A file's content as a document, and whether it held one flag on its own."""
    if "features" in data or "segments" in data:
        return {"version": DOCUMENT_VERSION, **data}, False
    if "name" in data:
        return {"version": DOCUMENT_VERSION, "features": [dict(data)]}, True
    raise BadRequest(
        f"{source}: (document): expected one flag (with `name` and `enabled`) "
        "or a document with `features` and/or `segments`"
    )


def _wire(model: BaseModel) -> dict[str, Any]:
    # what was written, in wire form: `expires_at` as `expiresAt`, numbers as text
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _given(doc: Mapping[str, Any]) -> dict[str, int]:
    return {k: len(doc[k]) if isinstance(doc.get(k), list) else 0 for k in ("features", "segments")}


def _differs(old: FlagRecord | None, new: Mapping[str, Any]) -> bool:
    return old is None or old.archived or old.definition != new


_HEAD = re.compile(r"(features|segments)\[(\d+)\]\.?")


def problem_lines(
    exc: FlagStateError, doc: Mapping[str, Any], given: Mapping[str, int], single: bool
) -> list[str]:
    """`source: path: message` per problem, with paths as the writer knows them: in
    their file (a lone flag's keys without `features[0].`), or by a stored flag's name."""
    return [
        f"{exc.source}: {_place(p.path, doc, given, single)}: {p.message}" for p in exc.problems
    ]


def _place(path: str, doc: Mapping[str, Any], given: Mapping[str, int], single: bool) -> str:
    found = _HEAD.match(path)
    if found is None:
        return path
    key, index, rest = found.group(1), int(found.group(2)), path[found.end() :]
    if index < given[key]:
        return (rest or "(flag)") if single else path
    item = doc[key][index]
    label = f"features[{item['name']!r}]" if key == "features" else f"segments[id={item['id']}]"
    return f"{label}.{rest}" if rest else label


def with_rollout(definition: Mapping[str, Any], percent: int) -> dict[str, Any]:
    """The definition with its one flexibleRollout strategy at `percent`."""
    name = definition["name"]
    strategies = definition.get("strategies") or []
    found = [i for i, s in enumerate(strategies) if s.get("name") == "flexibleRollout"]
    if len(found) != 1:
        where = ", ".join(f"strategies[{i}]" for i in found)
        has = f"{len(found)} flexibleRollout strategies ({where})" if found else "none"
        raise BadRequest(
            f"flag {name!r}: `rollout` changes exactly one flexibleRollout strategy, and "
            f"this flag has {has}; edit its definition and use `changeover flags set`"
        )
    new = copy.deepcopy(dict(definition))
    strategy = new["strategies"][found[0]]
    strategy["parameters"] = {**(strategy.get("parameters") or {}), "rollout": str(percent)}
    return new


def rollout_summary(definition: Mapping[str, Any]) -> str:
    """Who gets the flag when it is on: `everyone`, `10%`, `userWithId (constrained)`..."""
    strategies = definition.get("strategies") or []
    return ", ".join(_strategy_text(s) for s in strategies) if strategies else "everyone"


def _strategy_text(strategy: Mapping[str, Any]) -> str:
    name = str(strategy.get("name"))
    share = (strategy.get("parameters") or {}).get(PERCENT.get(name, ""), "?")
    text = f"{share}%" if name in PERCENT else "everyone" if name == "default" else name
    constrained = strategy.get("constraints") or strategy.get("segments")
    return f"{text} (constrained)" if constrained else text


def state_text(definition: Mapping[str, Any]) -> str:
    return f"{'on' if definition.get('enabled') else 'off'}, {rollout_summary(definition)}"


def stale_reasons(definition: Mapping[str, Any], now: float) -> list[str]:
    """Why a flag should leave the code: expired, or on for everyone with nothing to vary."""
    reasons = []
    expires = definition.get("expiresAt")
    moment = parse_date(str(expires)) if expires else None
    if moment is not None and moment.timestamp() <= now:
        reasons.append(f"expired {expires}")
    if _fully_rolled_out(definition):
        reasons.append("fully rolled out: on for everyone")
    return reasons


def _fully_rolled_out(d: Mapping[str, Any]) -> bool:
    # variants still differ per user and a parent flag still gates: neither is constant
    if not d.get("enabled") or d.get("variants") or d.get("dependencies"):
        return False
    strategies = d.get("strategies") or []
    return not strategies or any(_everyone(s) for s in strategies)


def _everyone(s: Mapping[str, Any]) -> bool:
    if s.get("constraints") or s.get("segments") or s.get("variants"):
        return False
    share = (s.get("parameters") or {}).get(PERCENT.get(str(s.get("name")), ""))
    return s.get("name") == "default" or str(share) == "100"


def record_doc(r: FlagRecord, now: float) -> dict[str, Any]:
    d = r.definition
    return {
        "name": r.name,
        "enabled": bool(d.get("enabled")),
        "rollout": rollout_summary(d),
        "owner": d.get("owner"),
        "expires_at": d.get("expiresAt"),
        "archived": r.archived,
        "stale": [] if r.archived else stale_reasons(d, now),
        "created_at": r.created_at,
        "created_by": r.created_by,
        "updated_at": r.updated_at,
        "updated_by": r.updated_by,
    }


def describe(by: str, old: FlagRecord | None, new: Mapping[str, Any]) -> str:
    name = new["name"]
    if old is None:
        return f"{by} created flag {name!r}: {state_text(new)}"
    if old.archived:
        return f"{by} restored flag {name!r} from the archive: {state_text(new)}"
    return f"{by} changed flag {name!r}: {'; '.join(_diff(old.definition, new))}"


def describe_segment(by: str, old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> str:
    if old is None:
        return f"{by} created segment {new['id']}"
    return f"{by} changed segment {new['id']}: {'; '.join(_diff(old, new))}"


def _diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    out = []
    for key in sorted(old.keys() | new.keys()):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if key == "strategies" and rollout_summary(old) != rollout_summary(new):
            out.append(f"rollout {rollout_summary(old)} -> {rollout_summary(new)}")
        elif isinstance(before, list | dict) or isinstance(after, list | dict):
            out.append(f"{key} changed")
        else:
            out.append(f"{key} {json.dumps(before)} -> {json.dumps(after)}")
    return out
