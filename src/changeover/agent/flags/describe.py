"""The audit line of a flag change: who, what, and old -> new.

Invariant: a message names the actor and the flag or segment, and lists only keys whose
value differs; a change that changes nothing is never described (the service stores none).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from changeover.agent.flags.summary import rollout_summary, state_text
from changeover.store.flags import FlagRecord


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


def describe_archive(by: str, old: FlagRecord) -> str:
    return f"{by} archived flag {old.name!r} (was {state_text(old.definition)})"


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
