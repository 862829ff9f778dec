"""Environments: named overlays of the spec, and the gates a release passes to reach one.

Invariant: an environment's spec is the base spec with its `spec` overlay merged in
(tables merge key by key; any other value, arrays included, replaces), validated like
any spec; the settings here only describe the pipeline (which environment promotes from
which) and its gates, and are checked as a whole by `pipeline_problems`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from changeover.spec.types import CommandLine, Duration, StrictModel
from changeover.spec.windows import Window

NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
# Folders the spec's own agent keeps in `.changeover/` (agent.paths.StatePaths, and the
# release store `.changeover/releases/`): an environment's agent lives in
# `.changeover/<name>/`, so these names would share a folder with them.
RESERVED = frozenset({"releases", "logs", "haproxy"})
GATES = ("soak", "approvals", "windows", "freezes", "checklist")
SSH_HOST = re.compile(
    r"ssh://(?:(?P<user>[^@/:\s]+)@)?(?P<host>[^@/:\s]+)(?::(?P<port>\d+))?(?P<path>/\S*)"
)


def _env_name(raw: str) -> str:
    if not NAME.fullmatch(raw):
        raise ValueError(
            f"environment names are 1-32 lowercase letters, digits, '-' or '_' starting "
            f"with a letter (they name folders); got {raw!r}"
        )
    if raw in RESERVED:
        taken = ", ".join(sorted(RESERVED))
        raise ValueError(
            f"{raw!r} cannot name an environment: its agent's folder .changeover/{raw}/ is "
            f"one changeover uses itself (reserved: {taken})"
        )
    return raw


EnvName = Annotated[str, AfterValidator(_env_name)]


def _ssh_host(raw: str) -> str:
    match = SSH_HOST.fullmatch(raw)
    if not match or (match["port"] and not 0 < int(match["port"]) < 65536):
        raise ValueError(f'expected "ssh://[user@]host[:port]/path/to/service", got {raw!r}')
    return raw


class TimeWindow(StrictModel):
    """A weekly or daily range when promotions are denied (or the only ones allowed)."""

    deny: str | None = None
    allow: str | None = None
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _one_range(self) -> TimeWindow:
        if (self.deny is None) == (self.allow is None):
            raise ValueError('expected exactly one of "deny" or "allow"')
        self.window()  # raises ValueError naming what is expected
        return self

    def window(self) -> Window:
        text = self.deny if self.deny is not None else self.allow
        assert text is not None
        return Window.parse(text, self.timezone)


class ChecklistItem(StrictModel):
    """A step a person confirms (`manual = true`) or a command that must exit 0."""

    name: str = Field(min_length=1, max_length=80)
    command: CommandLine | None = None
    manual: bool = False
    timeout: Duration = 60.0

    @model_validator(mode="after")
    def _one_kind(self) -> ChecklistItem:
        if (self.command is None) == (not self.manual):
            raise ValueError('expected either "command" or "manual = true"')
        return self


class EnvironmentSettings(StrictModel):
    promote_from: EnvName | None = None
    host: Annotated[str, AfterValidator(_ssh_host)] | None = None
    soak: Duration = 0.0
    soak_requests: int = Field(default=0, ge=0)
    soak_analysis: str | None = None
    approvals: int = Field(default=0, ge=0)
    approvers: list[str] = Field(default_factory=list)
    windows: list[TimeWindow] = Field(default_factory=list)
    checklist: list[ChecklistItem] = Field(default_factory=list)
    hotfix_skips: list[Literal["soak", "approvals", "windows", "freezes", "checklist"]] = Field(
        default_factory=list
    )
    spec: dict[str, Any] = Field(default_factory=dict)  # validated merged into the base


def merged(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The raw spec of environment `name`: the base with its overlay merged in."""
    overlay = data.get("environments", {}).get(name, {}).get("spec", {})
    return _merge(data, overlay)


def _merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def overlay_has(overlay: Mapping[str, Any], path: str) -> bool:
    """Whether the dotted key `path` (list indices ignored) is set by the overlay."""
    node: Any = overlay
    for part in re.sub(r"\[\d+\]", "", path).split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False
        node = node[part]
    return True


def runs_here(settings: Any, base: Path | None) -> bool:
    """Whether the agent of an environment with these raw settings runs on this machine:
    it has no `host`, or `base` (the spec's folder) is the host's service folder."""
    host = settings.get("host") if isinstance(settings, Mapping) else None
    match = SSH_HOST.fullmatch(host) if isinstance(host, str) else None
    if match is None:
        return True
    return base is not None and os.path.realpath(base) == os.path.realpath(match["path"])
