"""What a stored flag means to people: who gets it, whether it is stale, its list row.

Invariant: these functions only read a definition (an Unleash feature object that passed
strict validation) and never change it; `with_rollout` returns a changed copy.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from changeover.agent.releases import BadRequest
from changeover.flags.parse import parse_date
from changeover.store.flags import FlagRecord

PERCENT = {  # strategies that roll out to a share of users, and the parameter holding it
    "flexibleRollout": "rollout",
    "gradualRolloutUserId": "percentage",
    "gradualRolloutSessionId": "percentage",
    "gradualRolloutRandom": "percentage",
}


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
