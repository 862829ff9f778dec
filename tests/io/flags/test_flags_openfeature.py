"""`ChangeoverProvider` through the real OpenFeature API: values, reasons, error codes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode
from openfeature.flag_evaluation import Reason

from changeover.flags.client import Client
from changeover.flags.engine import Context
from changeover.flags.fakes import FlagServer
from changeover.flags.openfeature import ChangeoverProvider, to_unleash_context
from changeover.flags.result import Evaluation


def _variant(name: str, kind: str, value: str, weight: int = 1) -> dict[str, Any]:
    return {"name": name, "weight": weight, "payload": {"type": kind, "value": value}}


def _flag(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "enabled": True, **fields}


DOC = {
    "version": 2,
    "features": [
        _flag("static", strategies=[{"name": "default"}]),
        _flag("vip", strategies=[{"name": "userWithId", "parameters": {"userIds": "alice"}}]),
        _flag("half", strategies=[{"name": "flexibleRollout", "parameters": {"rollout": "50"}}]),
        {"name": "off", "enabled": False, "variants": [_variant("x", "string", "x")]},
        _flag(
            "color",
            variants=[_variant("red", "string", "#f00"), _variant("blue", "string", "#00f")],
        ),
        _flag("limit", variants=[_variant("n", "number", "42")]),
        _flag("ratio", variants=[_variant("n", "number", "1.5")]),
        _flag("settings", variants=[_variant("j", "json", '{"a": [1, 2]}')]),
        _flag("regions", variants=[_variant("c", "csv", "eu, us")]),
        _flag("broken-json", variants=[_variant("j", "json", "{nope")]),
        _flag("bare", variants=[{"name": "plain", "weight": 1}]),
        _flag("plain"),
    ],
}


@pytest.fixture
def client() -> Iterator[OpenFeatureClient]:
    flags = Client(None, bootstrap=DOC)
    api.set_provider_and_wait(ChangeoverProvider(flags))
    yield api.get_client()
    api.shutdown()


def _ctx(user: str = "bob", **attributes: Any) -> EvaluationContext:
    return EvaluationContext(targeting_key=user, attributes=attributes)


def test_boolean_flags_resolve_with_reasons(client: OpenFeatureClient) -> None:
    def details(key: str, user: str = "bob") -> tuple[Any, Any]:
        d = client.get_boolean_details(key, False, _ctx(user))
        return d.value, d.reason

    assert details("static") == (True, Reason.STATIC)
    assert details("vip", "alice") == (True, Reason.TARGETING_MATCH)
    assert details("vip", "bob") == (False, Reason.DEFAULT)
    on_users = [u for u in ("u1", "u2", "u3", "u4", "u5", "u6") if details("half", u)[0]]
    assert on_users
    assert details("half", on_users[0]) == (True, Reason.SPLIT)
    assert details("off") == (False, Reason.DISABLED)


def test_unknown_flag_gives_the_default_with_flag_not_found(client: OpenFeatureClient) -> None:
    d = client.get_boolean_details("ghost", True, _ctx())
    assert (d.value, d.reason, d.error_code) == (True, Reason.ERROR, ErrorCode.FLAG_NOT_FOUND)
    assert "ghost" in (d.error_message or "")
    s = client.get_string_details("ghost", "dflt")
    assert (s.value, s.error_code) == ("dflt", ErrorCode.FLAG_NOT_FOUND)


def test_typed_values_come_from_the_variant_payload(client: OpenFeatureClient) -> None:
    color = client.get_string_details("color", "none", _ctx("u7"))
    assert color.value in ("#f00", "#00f")
    assert (color.reason, color.variant) == (
        Reason.SPLIT,
        {"#f00": "red", "#00f": "blue"}[color.value],
    )
    assert client.get_integer_details("limit", 0).value == 42
    assert client.get_float_details("ratio", 0.0).value == 1.5
    assert client.get_object_details("settings", {}).value == {"a": [1, 2]}
    assert client.get_object_details("regions", {}).value == ["eu", "us"]
    assert client.get_string_details("limit", "").value == "42"
    limit = client.get_integer_details("limit", 0)
    assert (limit.reason, limit.variant) == (Reason.STATIC, "n")


@pytest.mark.parametrize(
    ("kind", "key", "default", "code"),
    [
        ("integer", "ratio", 7, ErrorCode.TYPE_MISMATCH),
        ("float", "regions", 0.5, ErrorCode.TYPE_MISMATCH),
        ("object", "limit", {"d": 1}, ErrorCode.TYPE_MISMATCH),
        ("object", "broken-json", {"d": 1}, ErrorCode.PARSE_ERROR),
        ("string", "bare", "d", ErrorCode.TYPE_MISMATCH),
    ],
)
def test_payloads_of_the_wrong_type_give_the_default_and_a_code(
    client: OpenFeatureClient, kind: str, key: str, default: Any, code: ErrorCode
) -> None:
    d = getattr(client, f"get_{kind}_details")(key, default)
    assert (d.value, d.reason, d.error_code) == (default, Reason.ERROR, code)
    assert d.error_message


def test_disabled_or_variantless_flags_give_the_default_without_error(
    client: OpenFeatureClient,
) -> None:
    off = client.get_string_details("off", "d")
    assert (off.value, off.reason, off.error_code) == ("d", Reason.DISABLED, None)
    plain = client.get_string_details("plain", "d")
    assert (plain.value, plain.reason, plain.error_code) == ("d", Reason.DEFAULT, None)


class _Exploding(Client):
    def evaluate(self, name: str, context: Context | None = None) -> Evaluation:
        raise RuntimeError("boom")


def test_an_internal_failure_is_reported_never_raised() -> None:
    api.set_provider_and_wait(ChangeoverProvider(_Exploding(None, bootstrap=DOC)))
    try:
        d = api.get_client().get_boolean_details("static", True)
        assert (d.value, d.reason, d.error_code) == (True, Reason.ERROR, ErrorCode.GENERAL)
        assert "boom" in (d.error_message or "")
    finally:
        api.shutdown()


def test_a_new_state_is_announced_as_configuration_changed() -> None:
    changed: list[EventDetails] = []
    seen = threading.Event()

    def handler(details: EventDetails) -> None:
        changed.append(details)
        seen.set()

    with FlagServer(DOC) as server:
        flags = Client(server.url, poll_interval=60, wait=30)
        api.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, handler)
        try:
            api.set_provider_and_wait(ChangeoverProvider(flags, ready_timeout=5))
            assert api.get_client().get_boolean_value("static", False)
            seen.clear()
            changed.clear()
            server.set_document({**DOC, "features": [{"name": "static", "enabled": False}]})
            # the first state's announcement may still arrive after the clear: wait for the
            # new state to be served, then for its announcement
            deadline = time.monotonic() + 5
            while api.get_client().get_boolean_value("static", True) is not False:
                assert time.monotonic() < deadline, "the new state never reached the provider"
                seen.wait(0.05)
            while not any("static" in (e.flags_changed or []) for e in changed):
                assert time.monotonic() < deadline, f"no announcement naming the flag: {changed}"
                seen.wait(0.05)
        finally:
            api.remove_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, handler)
            api.shutdown()
            flags.close()


def test_openfeature_context_maps_to_the_unleash_context() -> None:
    ctx = EvaluationContext("u1", {"sessionId": "s", "plan": "pro", "n": 3, "tags": ["x"]})
    assert to_unleash_context(ctx) == {"userId": "u1", "sessionId": "s", "plan": "pro", "n": 3}
    assert to_unleash_context(None) == {}
