"""The evaluation context: who is asking, as one flat mapping from field name to value.

Invariant: `flatten` never mutates or keeps the caller's mapping alive beyond the call's
result; standard Unleash fields (`userId`, `sessionId`, `remoteAddress`, `environment`,
`appName`, `currentTime`) live at the top level, custom fields under `properties` or at the
top level (the top level wins), and a value of None means the field is absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

STANDARD_FIELDS = ("userId", "sessionId", "remoteAddress", "environment", "appName", "currentTime")

Fields = Mapping[str, Any]
EMPTY: Fields = {}


def flatten(context: Mapping[str, Any] | None) -> Fields:
    """One mapping to look every context field up in, with no copy when none is needed."""
    if not context:
        return EMPTY
    if "properties" not in context:
        return context
    props = context["properties"]
    out = dict(props) if props else {}
    out.update(context)
    del out["properties"]
    return out


def text(value: object) -> str:
    """A context value as the text rules compare against (numbers and dates allowed)."""
    if type(value) is str:
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)
