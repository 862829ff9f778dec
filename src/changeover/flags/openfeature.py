"""`ChangeoverProvider`: flags from a `changeover.flags.Client` behind the OpenFeature API.

Invariant: no resolve method raises; each returns the flag's value with its reason (STATIC,
TARGETING_MATCH, SPLIT, DEFAULT, DISABLED) or the caller's default with reason ERROR and an
error code (FLAG_NOT_FOUND, TYPE_MISMATCH, PARSE_ERROR, GENERAL). Boolean flags resolve to
whether the flag is on; the other types resolve from the chosen variant's payload.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from openfeature.evaluation_context import EvaluationContext
from openfeature.event import ProviderEventDetails
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import FlagResolutionDetails, FlagValueType, Reason
from openfeature.provider import AbstractProvider, Metadata

from changeover.flags.client import Client
from changeover.flags.events import FlagsChanged
from changeover.flags.parse import parse_number
from changeover.flags.result import Evaluation

T = TypeVar("T")
Obj = Sequence[FlagValueType] | Mapping[str, FlagValueType]
Ctx = EvaluationContext | None


class Mismatch(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


class ChangeoverProvider(AbstractProvider):
    def __init__(self, client: Client, *, ready_timeout: float = 0.0) -> None:
        super().__init__()
        self._client = client
        self._ready_timeout = ready_timeout
        self._unsubscribe: Callable[[], None] | None = None

    def get_metadata(self) -> Metadata:
        return Metadata(name="changeover")

    def initialize(self, evaluation_context: EvaluationContext) -> None:
        """Relay state changes as PROVIDER_CONFIGURATION_CHANGED; optionally await a state."""
        self._unsubscribe = self._client.on_change(self._changed)
        if self._ready_timeout > 0:
            self._client.wait_until_ready(self._ready_timeout)

    def shutdown(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def resolve_boolean_details(
        self, flag_key: str, default_value: bool, evaluation_context: Ctx = None
    ) -> FlagResolutionDetails[bool]:
        return self._resolve(flag_key, default_value, evaluation_context, None)

    def resolve_string_details(
        self, flag_key: str, default_value: str, evaluation_context: Ctx = None
    ) -> FlagResolutionDetails[str]:
        return self._resolve(flag_key, default_value, evaluation_context, _as_string)

    def resolve_integer_details(
        self, flag_key: str, default_value: int, evaluation_context: Ctx = None
    ) -> FlagResolutionDetails[int]:
        return self._resolve(flag_key, default_value, evaluation_context, _as_integer)

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: Ctx = None,
    ) -> FlagResolutionDetails[float]:
        return self._resolve(flag_key, default_value, evaluation_context, _as_float)

    def resolve_object_details(
        self, flag_key: str, default_value: Obj, evaluation_context: Ctx = None
    ) -> FlagResolutionDetails[Obj]:
        return self._resolve(flag_key, default_value, evaluation_context, _as_object)

    def _resolve(
        self,
        key: str,
        default: T,
        context: EvaluationContext | None,
        convert: Callable[[str, str], T] | None,
    ) -> FlagResolutionDetails[T]:
        try:
            ev = self._client.evaluate(key, to_unleash_context(context))
            return _details(ev, default, convert)
        except Mismatch as exc:
            return FlagResolutionDetails(default, exc.code, str(exc), Reason.ERROR)
        except Exception as exc:  # the application must get its default, never an exception
            return FlagResolutionDetails(default, ErrorCode.GENERAL, repr(exc), Reason.ERROR)

    def _changed(self, event: FlagsChanged) -> None:
        self.emit_provider_configuration_changed(
            ProviderEventDetails(flags_changed=sorted(event.flags))
        )


def _details(
    ev: Evaluation, default: T, convert: Callable[[str, str], T] | None
) -> FlagResolutionDetails[T]:
    if ev.error_code is not None:
        code = ErrorCode(ev.error_code.value)
        return FlagResolutionDetails(default, code, ev.error_message, Reason.ERROR)
    reason = Reason(ev.reason.value)
    if convert is None:  # boolean: the flag's own on/off is the value
        value: Any = ev.enabled
        named = ev.variant.name if ev.variant.enabled else None
        return FlagResolutionDetails(value, reason=reason, variant=named)
    variant = ev.variant
    if not variant.enabled:
        reason = reason if reason is Reason.DISABLED else Reason.DEFAULT
        return FlagResolutionDetails(default, reason=reason)
    if variant.payload is None:
        raise Mismatch(ErrorCode.TYPE_MISMATCH, f"variant {variant.name!r} has no payload")
    converted = convert(variant.payload.type, variant.payload.value)
    return FlagResolutionDetails(converted, reason=reason, variant=variant.name)


def _as_string(kind: str, value: str) -> str:
    return value


def _as_integer(kind: str, value: str) -> int:
    text = value.strip()
    digits = text.removeprefix("-").removeprefix("+")
    if kind not in ("number", "string", "json") or not (digits.isascii() and digits.isdigit()):
        raise Mismatch(ErrorCode.TYPE_MISMATCH, f"{kind} payload {value!r} is not an integer")
    return int(text)


def _as_float(kind: str, value: str) -> float:
    number = parse_number(value) if kind in ("number", "string", "json") else None
    if number is None:
        raise Mismatch(ErrorCode.TYPE_MISMATCH, f"{kind} payload {value!r} is not a number")
    return number


def _as_object(kind: str, value: str) -> Obj:
    if kind == "csv":
        return [part.strip() for part in value.split(",")]
    if kind != "json":
        raise Mismatch(ErrorCode.TYPE_MISMATCH, f"a {kind} payload is not an object")
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise Mismatch(ErrorCode.PARSE_ERROR, f"json payload does not parse: {exc}") from None
    if not isinstance(parsed, dict | list):
        raise Mismatch(ErrorCode.TYPE_MISMATCH, "json payload is not an object or a list")
    return parsed


def to_unleash_context(context: EvaluationContext | None) -> dict[str, Any]:
    """OpenFeature context -> Unleash context: targeting_key is userId, scalars pass through."""
    if context is None:
        return {}
    out: dict[str, Any] = {
        key: value
        for key, value in context.attributes.items()
        if isinstance(value, str | int | float | bool | datetime)
    }
    if context.targeting_key:
        out["userId"] = context.targeting_key
    return out
