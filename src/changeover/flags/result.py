"""What one flag evaluation answers: enabled or not, the variant, and why.

Invariant: an `Evaluation` always carries a reason; `error_code` is set exactly when the
reason is ERROR, and then the value the caller sees is the caller's own default.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any


class Reason(enum.Enum):
    """Why a flag resolved the way it did (the OpenFeature vocabulary)."""

    STATIC = "STATIC"  # on for everyone: no targeting, no split
    TARGETING_MATCH = "TARGETING_MATCH"  # a rule that looks at the context matched
    SPLIT = "SPLIT"  # a percentage rollout or a weighted variant chose
    DEFAULT = "DEFAULT"  # enabled flag, but no rule matched (or a dependency is unmet)
    DISABLED = "DISABLED"  # the flag is switched off
    ERROR = "ERROR"  # see error_code

    def __repr__(self) -> str:
        return f"<Reason {self.value}>"


class ErrorCode(enum.Enum):
    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    PARSE_ERROR = "PARSE_ERROR"
    GENERAL = "GENERAL"

    def __repr__(self) -> str:
        return f"<ErrorCode {self.value}>"


@dataclass(frozen=True, slots=True)
class Payload:
    """A variant's payload as sent: `type` is string, json, csv or number; `value` is text."""

    type: str
    value: str


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    enabled: bool
    feature_enabled: bool
    payload: Payload | None = None

    def to_dict(self) -> dict[str, Any]:
        """The Unleash SDK shape: name, payload (when set), enabled, feature_enabled."""
        out: dict[str, Any] = {"name": self.name}
        if self.payload is not None:
            out["payload"] = {"type": self.payload.type, "value": self.payload.value}
        out["enabled"] = self.enabled
        out["feature_enabled"] = self.feature_enabled
        return out


DISABLED_VARIANT = Variant("disabled", enabled=False, feature_enabled=False)
NO_VARIANT = Variant("disabled", enabled=False, feature_enabled=True)


@dataclass(frozen=True, slots=True)
class Evaluation:
    flag: str
    enabled: bool
    variant: Variant
    reason: Reason
    error_code: ErrorCode | None = None
    error_message: str | None = None

    @property
    def found(self) -> bool:
        return self.error_code is not ErrorCode.FLAG_NOT_FOUND


def not_found(flag: str) -> Evaluation:
    return Evaluation(
        flag,
        enabled=False,
        variant=DISABLED_VARIANT,
        reason=Reason.ERROR,
        error_code=ErrorCode.FLAG_NOT_FOUND,
        error_message=f"no flag named {flag!r} in the current state",
    )
