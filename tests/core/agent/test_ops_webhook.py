"""Alertmanager's webhook payload, parsed strictly, and what each alert is decided to be."""

from __future__ import annotations

import json
from typing import Any

import pytest

from changeover.agent.ops.alerts import Verdict, about_revision, classify, default_labels
from changeover.agent.ops.webhook import MAX_BYTES, Alert, PayloadError, parse

FIRING = {
    "status": "firing",
    "labels": {"alertname": "ChangeoverHighErrorRatio", "service": "hello", "revision": "4"},
    "annotations": {"summary": "Revision 4 answers 31% with 5xx"},
    "startsAt": "2026-01-05T10:00:00Z",
    "endsAt": "0001-01-01T00:00:00Z",
    "generatorURL": "http://prometheus:9090/graph",
    "fingerprint": "a1b2c3d4e5f60718",
}


def payload(*alerts: dict[str, Any], **top: Any) -> bytes:
    doc = {
        "version": "4",
        "groupKey": '{}:{service="hello"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "changeover",
        "groupLabels": {"service": "hello"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
        **top,
    }
    return json.dumps(doc).encode()


def test_a_version_4_payload_gives_its_alerts() -> None:
    resolved = {**FIRING, "status": "resolved", "endsAt": "2026-01-05T10:05:00Z"}
    first, second = parse(payload(FIRING, resolved))
    assert first == Alert(
        "firing",
        FIRING["labels"],
        FIRING["annotations"],
        "2026-01-05T10:00:00Z",
        "a1b2c3d4e5f60718",
    )
    assert first.firing
    assert not second.firing
    assert first.key != second.key  # its resolution is news, not a repeat
    assert first.name == "ChangeoverHighErrorRatio"
    assert first.describe() == 'ChangeoverHighErrorRatio{revision="4",service="hello"}'


def test_an_alert_without_a_fingerprint_gets_one_from_its_labels() -> None:
    bare = {k: v for k, v in FIRING.items() if k != "fingerprint"}
    (alert,) = parse(payload(bare))
    (again,) = parse(payload({**bare, "labels": dict(reversed(list(FIRING["labels"].items())))}))
    assert alert.fingerprint == again.fingerprint != ""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not json", "the body is not JSON"),
        (b"\xff\xfe", "the body is not JSON"),
        (b"[]", "expected a JSON object"),
        (payload(version="3"), 'version: expected "4"'),
        (payload(alerts={"a": 1}), "alerts: expected a list"),
        (payload("x"), "alerts[0]: expected an object"),
        (payload({**FIRING, "status": "pending"}), 'alerts[0].status: expected "firing" or'),
        (payload({**FIRING, "labels": {"a": 1}}), "alerts[0].labels: expected an object of str"),
        (payload(FIRING, {**FIRING, "annotations": []}), "alerts[1].annotations: expected an"),
        (payload({**FIRING, "startsAt": 5}), "alerts[0]: expected startsAt and fingerprint"),
        (b" " * (MAX_BYTES + 1), f"larger than {MAX_BYTES} bytes"),
    ],
)
def test_anything_else_is_refused_saying_where(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError) as refused:
        parse(body)
    assert message in str(refused.value)
    assert "hello" not in str(refused.value)  # an error never echoes the payload


WANTED = {"service": "hello"}


def alert(status: str = "firing", **labels: str) -> Alert:
    return Alert(status, {"alertname": "A", "service": "hello", **labels}, {}, "t0", "f0")


def test_classify_decides_before_anything_acts() -> None:
    assert classify(alert(), WANTED, False) is Verdict.ROLL_BACK
    assert classify(alert(), WANTED, True) is Verdict.REPEAT
    assert classify(alert("resolved"), WANTED, False) is Verdict.RESOLVED
    assert classify(alert(service="other"), WANTED, False) is Verdict.IGNORED
    assert classify(alert(), {"service": "hello", "team": "x"}, False) is Verdict.IGNORED
    assert classify(alert(changeover_action="notify"), WANTED, False) is Verdict.RECORDED
    assert classify(alert(changeover_action="other"), WANTED, False) is Verdict.ROLL_BACK
    # a resolved alert is another firing than the firing one: its own key
    assert alert("resolved").key != alert().key


def test_the_revision_an_alert_is_about() -> None:
    assert about_revision(alert(revision="12")) == 12
    assert about_revision(alert()) is None
    assert about_revision(alert(revision="canary")) is None


def test_default_labels_are_those_the_generated_rules_put_on_alerts() -> None:
    assert default_labels("hello", None) == {"service": "hello"}
    assert default_labels("hello", "staging") == {"service": "hello", "environment": "staging"}
