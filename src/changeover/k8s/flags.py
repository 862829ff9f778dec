"""Feature flags as a ConfigMap the flags client reads as its bootstrap document.

Invariant: the ConfigMap holds the flag document in the canonical form the agent serves
(sorted keys, no spaces), after the strict validation `changeover flags set` applies, so
a document the client could not load is refused at render, not in the pod. The pod gets
`CHANGEOVER_FLAGS_FILE`, which `Client.from_env()` loads when no agent URL is set, and an
annotation with the document's digest, so a change of flags rolls the pods (the client
reads a bootstrap file once, at start).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from changeover.flags.load import parse_state
from changeover.flags.problems import FlagStateError
from changeover.k8s.context import Context
from changeover.k8s.draft import Draft, Manifest, Origin
from changeover.k8s.sources import option

FLAGS_DIR = "/etc/changeover/flags"
FLAGS_FILE = "flags.json"
DOCUMENT_VERSION = 2
DIGEST_ANNOTATION = "changeover.dev/flags-sha256"


class FlagsError(ValueError):
    """The flag document is not one the client loads; `lines` say where and why."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        super().__init__("\n".join(lines))


def document(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    """A `flags set` file's content (one flag, or features and segments) as a checked
    document; FlagsError listing every problem otherwise."""
    if "features" in data or "segments" in data:
        doc = {"version": DOCUMENT_VERSION, **data}
    elif "name" in data:
        doc = {"version": DOCUMENT_VERSION, "features": [dict(data)]}
    else:
        raise FlagsError(
            [
                f"{source}: (document): expected one flag (with `name` and `enabled`) or a "
                "document with `features` and/or `segments`"
            ]
        )
    try:
        state = parse_state(doc, strict=True, source=source)
    except FlagStateError as exc:
        raise FlagsError([f"{source}: {p}" for p in exc.problems]) from None
    return state.document.model_dump(mode="json", by_alias=True, exclude_unset=True)


def canonical(doc: Mapping[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"))


def config_map(ctx: Context) -> Manifest | None:
    if ctx.options.flags is None:
        return None
    draft = Draft("v1", "ConfigMap", ctx.names.suffixed("flags"), ctx.names.labels)
    why = "the flag document, canonical JSON, read by Client.from_env() in the pod"
    draft.put("data", {FLAGS_FILE: canonical(ctx.options.flags)}, option("--flags", why))
    return draft.manifest()


def flags_volume(ctx: Context) -> dict[str, Any]:
    return {"name": "flags", "configMap": {"name": ctx.names.suffixed("flags")}}


def flags_env(ctx: Context) -> list[tuple[dict[str, Any], Origin]]:
    if ctx.options.flags is None:
        return []
    path = f"{FLAGS_DIR}/{FLAGS_FILE}"
    why = "Client.from_env() loads this file when no agent URL or socket is set"
    return [({"name": "CHANGEOVER_FLAGS_FILE", "value": path}, option("--flags", why))]


def annotate(ctx: Context, draft: Draft, at: str = "spec.template") -> None:
    if ctx.options.flags is None:
        return
    digest = hashlib.sha256(canonical(ctx.options.flags).encode()).hexdigest()
    why = "a new flag document changes the pod template, so the pods roll and re-read it"
    draft.put(f"{at}.metadata.annotations", {DIGEST_ANNOTATION: digest}, option("--flags", why))
