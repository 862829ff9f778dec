"""The spec keys an agent reads only when it starts (`up`, `changeover reload`, a restart
after a crash), and which of them a newly deployed spec changes.

A deploy ships what each revision holds (`[app]` but its name, probes, termination,
strategy, analysis, notify, migrations, the guard's window and analysis); the keys below
are the agent's own: the data plane, its listeners, retention, gates. A deployed spec
that changes one of them changes nothing until a new agent reads the spec file.

Invariant: `pending_reload` returns key names only, never a value (a token file's path,
an address, a label may be sensitive, and every caller prints or stores what it gets),
in one stable order: the order of `START_ONLY`, then of each section's fields.
"""

from __future__ import annotations

from pydantic import BaseModel

from changeover.spec.environments import EnvironmentSettings
from changeover.spec.models import Spec

# (section, field): a field of None means every field of the section, each its own key
START_ONLY: tuple[tuple[str, str | None], ...] = (
    ("app", "name"),  # the service name in status, notifications and metric labels
    ("proxy", None),  # the data plane: engine, listener, limits, timeouts, tls, access log
    ("logs", None),  # the retention task's limits
    ("events", None),
    ("releases", "keep"),  # the release folders' retention
    ("flags", None),  # the flags TCP listener
    ("ops", None),  # the operator listener
    ("guard", "alert_labels"),  # which alerts are this service's (the ops listener)
    ("control", None),  # the control socket's group
)
# The gate settings of the agent's own environment (`-E NAME`): its gatekeeper reads them
# from the spec it started with. `spec` is left out: an overlay's effect is in the merged
# keys above (or in what the revision holds); `host` is where the agent runs, not a setting.
GATE_FIELDS: tuple[str, ...] = tuple(
    name for name in EnvironmentSettings.model_fields if name not in ("spec", "host")
)
# Keys a reload does not apply either: the new agent inherits the control socket as it is
# (its mode and group were set when `up` bound it); only `down` then `up` binds it again.
NOT_BY_RELOAD: frozenset[str] = frozenset({"control.group"})


def pending_reload(running: Spec, deployed: Spec, environment: str | None = None) -> list[str]:
    """The dotted start-only keys whose values differ between the spec the agent started
    with (`running`) and a deployed one; `environment`: the agent's (`-E`), if any."""
    changed: list[str] = []
    for section, only in START_ONLY:
        old, new = getattr(running, section), getattr(deployed, section)
        assert isinstance(old, BaseModel)
        assert isinstance(new, BaseModel)
        names = [only] if only is not None else list(type(old).model_fields)
        changed += [f"{section}.{n}" for n in names if getattr(old, n) != getattr(new, n)]
    if environment:
        default = EnvironmentSettings()
        old_env = running.environments.get(environment, default)
        new_env = deployed.environments.get(environment, default)
        changed += [
            f"environments.{environment}.{n}"
            for n in GATE_FIELDS
            if getattr(old_env, n) != getattr(new_env, n)
        ]
    return changed


def reload_applies(key: str) -> bool:
    """Whether `changeover reload` applies a key `pending_reload` named."""
    return key not in NOT_BY_RELOAD


def pending_message(keys: list[str]) -> str:
    """The agent event for a deploy whose spec changed `keys` (non-empty)."""
    by_reload = [k for k in keys if reload_applies(k)]
    other = [k for k in keys if not reload_applies(k)]
    parts = []
    if by_reload:
        parts.append(f"spec keys not applied until changeover reload: {', '.join(by_reload)}")
    if other:
        parts.append(
            f"spec keys not applied until changeover down and up: {', '.join(other)} "
            "(a reload keeps the control socket as it was bound)"
        )
    return "; ".join(parts)


def pending_note(keys: list[str]) -> str:
    """What `deploy` and `status` print for `keys` (non-empty), without its `note: `."""
    by_reload = [k for k in keys if reload_applies(k)]
    other = [k for k in keys if not reload_applies(k)]
    parts = []
    if by_reload:
        parts.append(
            f"{', '.join(by_reload)} changed: the running agent keeps its settings until "
            "'changeover reload' (docs/reload.md)"
        )
    if other:
        parts.append(
            f"{', '.join(other)} changed: the running agent keeps it until 'changeover down' "
            "then 'up' (a reload keeps the control socket as it was bound)"
        )
    return "; ".join(parts)
