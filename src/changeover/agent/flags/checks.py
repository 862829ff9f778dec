"""A change's flags in stored form, and the strict check of the whole state it would make.

Invariant: `check_whole` refuses (BadRequest, every problem at once) unless the document
after the change passes strict validation, and each problem is placed where its writer
looks: in their file (a lone flag's keys without `features[0].`), or by a stored flag's
name or segment id.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from changeover.agent.releases import BadRequest
from changeover.flags.load import parse_state
from changeover.flags.problems import FlagStateError
from changeover.store import Store
from changeover.store.flags import DOCUMENT_VERSION, FlagRecord

_HEAD = re.compile(r"(features|segments)\[(\d+)\]\.?")


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


def wire_form(model: BaseModel) -> dict[str, Any]:
    # what was written, in wire form: `expires_at` as `expiresAt`, numbers as text
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


def given_counts(doc: Mapping[str, Any]) -> dict[str, int]:
    return {k: len(doc[k]) if isinstance(doc.get(k), list) else 0 for k in ("features", "segments")}


def differs(old: FlagRecord | None, new: Mapping[str, Any]) -> bool:
    return old is None or old.archived or old.definition != new


def check_whole(
    store: Store,
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
        "features": features + [r.definition for r in store.flag_records() if r.name not in names],
        "segments": segments + [s.definition for s in store.segment_records() if s.id not in ids],
    }
    given = {"features": len(features), "segments": len(segments)}
    try:
        parse_state(doc, strict=True, source=source)
    except FlagStateError as exc:
        raise BadRequest(*problem_lines(exc, doc, given, single)) from None


def problem_lines(
    exc: FlagStateError, doc: Mapping[str, Any], given: Mapping[str, int], single: bool
) -> list[str]:
    """`source: path: message` per problem, with paths as the writer knows them."""
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
