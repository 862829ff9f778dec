"""Alertmanager's webhook payload (version 4), parsed strictly into frozen alerts.

Invariant: `parse` either returns every alert of the payload, each with a status of
`firing` or `resolved`, string labels and annotations and a key that identifies one
firing of one alert, or raises `PayloadError` with one line saying what is wrong where
(which the listener answers with 400); it never echoes a payload's values in an error.

https://prometheus.io/docs/alerting/latest/configuration/#webhook_config
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_BYTES = 1024 * 1024  # a group of a thousand alerts fits; Alertmanager can cap groups
# an alert labelled changeover_action="notify" is recorded and notified, never acted on
ACTION_LABEL = "changeover_action"
NOTIFY_ONLY = "notify"
VERSION = "4"
STATUSES = ("firing", "resolved")


class PayloadError(ValueError):
    """The body is not an Alertmanager webhook payload this listener accepts."""


@dataclass(frozen=True)
class Alert:
    status: str  # "firing" or "resolved"
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: str = ""  # RFC 3339, as Alertmanager sends it
    fingerprint: str = ""  # Alertmanager's hash of the labels

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "(no alertname)")

    @property
    def firing(self) -> bool:
        return self.status == "firing"

    @property
    def key(self) -> tuple[str, str, str]:
        """One firing of one alert: a repeat of it (Alertmanager resends) has the same key."""
        return self.fingerprint, self.starts_at, self.status

    def describe(self) -> str:
        """`HighErrorRatio{revision="4",service="hello"}`, as PromQL writes a series."""
        shown = ",".join(
            f"{k}={json.dumps(v)}" for k, v in sorted(self.labels.items()) if k != "alertname"
        )
        return f"{self.name}{{{shown}}}"


def parse(body: bytes) -> list[Alert]:
    if len(body) > MAX_BYTES:
        raise PayloadError(f"the payload is larger than {MAX_BYTES} bytes")
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PayloadError("the body is not JSON") from None
    if not isinstance(doc, dict):
        raise PayloadError("expected a JSON object (Alertmanager's webhook payload)")
    if doc.get("version") != VERSION:
        raise PayloadError(f'version: expected "{VERSION}" (Alertmanager\'s webhook payload)')
    alerts = doc.get("alerts")
    if not isinstance(alerts, list):
        raise PayloadError("alerts: expected a list")
    return [_alert(raw, f"alerts[{i}]") for i, raw in enumerate(alerts)]


def _alert(raw: Any, where: str) -> Alert:
    if not isinstance(raw, dict):
        raise PayloadError(f"{where}: expected an object")
    status = raw.get("status")
    if status not in STATUSES:
        raise PayloadError(f'{where}.status: expected "firing" or "resolved"')
    labels = _strings(raw.get("labels"), f"{where}.labels")
    annotations = _strings(raw.get("annotations", {}), f"{where}.annotations")
    starts_at = raw.get("startsAt", "")
    fingerprint = raw.get("fingerprint") or _fingerprint(labels)
    if not isinstance(starts_at, str) or not isinstance(fingerprint, str):
        raise PayloadError(f"{where}: expected startsAt and fingerprint to be strings")
    return Alert(status, labels, annotations, starts_at, fingerprint)


def _strings(raw: Any, where: str) -> dict[str, str]:
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise PayloadError(f"{where}: expected an object of strings")
    return dict(raw)


def _fingerprint(labels: Mapping[str, str]) -> str:
    """For a sender that leaves `fingerprint` out: the labels, hashed in a stable order."""
    text = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
