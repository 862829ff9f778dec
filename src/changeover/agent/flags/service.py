"""`FlagService`: the agent's feature flags, served with an ETag and long-poll, and changed.

Invariant: the served document always passes strict validation (a change is checked against
the whole document it would produce, and refused with every problem otherwise); every
change and its `flags` events (one per flag or segment, naming who and old -> new) are one
store transaction, so neither exists without the other; then the new document is served
and every long-poller is woken.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from changeover.agent.events import EventLog
from changeover.agent.flags.checks import (
    as_document,
    check_whole,
    differs,
    given_counts,
    problem_lines,
    wire_form,
)
from changeover.agent.flags.describe import describe, describe_archive, describe_segment
from changeover.agent.flags.served import ServedDocument
from changeover.agent.flags.summary import record_doc, with_rollout
from changeover.agent.releases import BadRequest
from changeover.flags.load import parse_state
from changeover.flags.problems import FlagStateError
from changeover.store import Store
from changeover.store.flags import FlagRecord


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
        self.served = ServedDocument(stopping)
        self.served.update(store.flags_document())

    # --- serving ----------------------------------------------------------------------
    @property
    def body(self) -> bytes:
        return self.served.body

    @property
    def etag(self) -> str:
        return self.served.etag

    @property
    def generation(self) -> int:
        return self.served.generation

    async def answer(self, if_none_match: str | None, wait: float) -> tuple[int, bytes, str]:
        """Status, body and ETag; a matching request with `wait` is held until a change."""
        return await self.served.answer(if_none_match, wait)

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
            raise BadRequest(*problem_lines(exc, doc, given_counts(doc), single)) from None
        features = [wire_form(f) for f in parsed.features]
        segments = [wire_form(s) for s in parsed.segments or ()]
        if not features and not segments:
            raise BadRequest(f"{source}: (document): no flags or segments in it")
        known = {r.name: r for r in self._store.flag_records(archived=True)}
        if create:
            self._refuse_existing([f["name"] for f in features if f["name"] in known], source)
        root = {k: v for k, v in doc.items() if k not in ("features", "segments")}
        check_whole(self._store, features, segments, source=source, single=single, root=root)
        stored = {s.id: s.definition for s in self._store.segment_records()}
        new_features = [f for f in features if differs(known.get(f["name"]), f)]
        new_segments = [s for s in segments if stored.get(s["id"]) != s]
        messages = [describe(by, known.get(f["name"]), f) for f in new_features]
        messages += [describe_segment(by, stored.get(s["id"]), s) for s in new_segments]
        return self._commit(messages, by, features=new_features, segments=new_segments)

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
        check_whole(self._store, [], [], source=f"archiving flag {name!r}", without=name)
        return self._commit([describe_archive(by, old)], by, archive=name)[0]

    def _edit(self, old: FlagRecord, new: dict[str, Any], by: str) -> str:
        check_whole(self._store, [new], [], source=f"changing flag {old.name!r}", single=True)
        return self._commit([describe(by, old, new)], by, features=[new])[0]

    def _commit(
        self,
        messages: list[str],
        by: str,
        *,
        features: Sequence[Mapping[str, Any]] = (),
        segments: Sequence[Mapping[str, Any]] = (),
        archive: str | None = None,
    ) -> list[str]:
        if not messages:
            return []  # nothing changes: nothing stored, nothing recorded
        events = self._store.change_flags(
            features, segments, archive=archive, messages=messages, by=by, now=self._wall()
        )
        self.served.update(self._store.flags_document())
        self._events.committed(events)
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
