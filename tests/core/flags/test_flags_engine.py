"""Evaluation beyond the conformance suite: reasons, effects, operators, dependencies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from changeover.flags import ErrorCode, FixedEffects, Reason, State, parse_state
from changeover.flags.diff import changed_flags
from changeover.flags.semver import parse as semver

FX = FixedEffects()


def _flag(name: str = "f", **fields: Any) -> dict[str, Any]:
    return {"name": name, "enabled": True, **fields}


def _state(*features: dict[str, Any], segments: list[Any] | None = None) -> State:
    return parse_state({"version": 2, "features": list(features), "segments": segments or []})


def _constraint(operator: str, field: str = "x", **more: Any) -> dict[str, Any]:
    return {
        "name": "default",
        "constraints": [{"contextName": field, "operator": operator, **more}],
    }


def test_reasons_follow_what_decided_the_answer() -> None:
    rollout = {"name": "flexibleRollout", "parameters": {"rollout": "99", "groupId": "g"}}
    state = _state(
        _flag("static", strategies=[{"name": "default"}]),
        _flag("nothing"),
        _flag("targeted", strategies=[{"name": "userWithId", "parameters": {"userIds": "a, b"}}]),
        _flag("split", strategies=[rollout]),
        _flag("off", enabled=False),
        _flag("unmatched", strategies=[_constraint("IN", values=["1"])]),
    )
    reasons = {
        name: state.evaluate(name, {"userId": "a"}, FX).reason
        for name in ("static", "nothing", "targeted", "split", "off", "unmatched")
    }
    assert reasons == {
        "static": Reason.STATIC,
        "nothing": Reason.STATIC,
        "targeted": Reason.TARGETING_MATCH,
        "split": Reason.SPLIT,
        "off": Reason.DISABLED,
        "unmatched": Reason.DEFAULT,
    }
    missing = state.evaluate("ghost", {}, FX)
    assert (missing.reason, missing.error_code, missing.found) == (
        Reason.ERROR,
        ErrorCode.FLAG_NOT_FOUND,
        False,
    )
    assert state.is_enabled("ghost", {}, FX) is None


def test_variant_reasons_split_and_override() -> None:
    variants = [
        {"name": "a", "weight": 50, "overrides": [{"contextName": "userId", "values": ["vip"]}]},
        {"name": "b", "weight": 50},
    ]
    state = _state(_flag("v", variants=variants))
    assert state.evaluate("v", {"userId": "vip"}, FX).reason is Reason.TARGETING_MATCH
    assert state.evaluate("v", {"userId": "vip"}, FX).variant.name == "a"
    assert state.evaluate("v", {"userId": "u1"}, FX).reason is Reason.SPLIT
    single = _state(_flag("one", variants=[{"name": "only", "weight": 1}]))
    assert single.evaluate("one", {}, FX).reason is Reason.STATIC


def test_random_stickiness_draws_from_the_injected_effects() -> None:
    random = {"name": "flexibleRollout", "parameters": {"rollout": "30", "stickiness": "random"}}
    state = _state(_flag("r", strategies=[random]))
    assert state.is_enabled("r", {"userId": "same"}, FixedEffects(draws=[30]))
    assert not state.is_enabled("r", {"userId": "same"}, FixedEffects(draws=[31]))
    gradual = {"name": "gradualRolloutRandom", "parameters": {"percentage": "5"}}
    state = _state(_flag("g", strategies=[gradual]))
    assert [state.is_enabled("g", {}, FixedEffects(draws=[d])) for d in (5, 6)] == [True, False]


def test_date_rules_use_the_injected_clock_when_the_context_has_no_time() -> None:
    state = _state(_flag(strategies=[_constraint("DATE_AFTER", "currentTime", value="2030-01-01")]))
    before = FixedEffects(now=datetime(2029, 12, 31, tzinfo=UTC))
    after = FixedEffects(now=datetime(2030, 1, 2, tzinfo=UTC))
    assert not state.is_enabled("f", {}, before)
    assert state.is_enabled("f", {}, after)
    assert state.is_enabled("f", {"currentTime": datetime(2031, 1, 1, tzinfo=UTC)}, before)
    assert state.is_enabled("f", {"currentTime": datetime(2031, 1, 1)}, before)  # naive: UTC
    assert state.is_enabled("f", {"currentTime": "2030-01-01T00:00:01+00:00"}, before)
    assert not state.is_enabled("f", {"currentTime": "not a date"}, after)


@pytest.mark.parametrize(
    ("operator", "value", "given", "expected"),
    [
        ("NUM_GT", "1.5", 2, True),
        ("NUM_GT", "1.5", "1.5", False),
        ("NUM_LTE", "-3", "-3.0", True),
        ("NUM_EQ", "12", "1_2", False),
        ("NUM_EQ", "12", "nan", False),
        ("SEMVER_GTE", "1.2.3", "1.10.0", True),
        ("SEMVER_LT", "1.0.0", "1.0.0-rc.1", True),
        ("SEMVER_EQ", "1.0.0", "1.0.0+build.5", True),
        ("SEMVER_GT", "1.0.0", "01.2.3", False),
        ("REGEX", "^[[:digit:]]{3}$", "123", True),
    ],
)
def test_ordered_operators(operator: str, value: str, given: object, expected: bool) -> None:
    state = _state(_flag(strategies=[_constraint(operator, value=value)]))
    assert state.is_enabled("f", {"x": given}, FX) is expected


def test_semver_precedence_follows_semver_org() -> None:
    order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2"]
    order += ["1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "2.0.0", "2.1.0", "2.1.1"]
    keys = [semver(v) for v in order]
    assert all(k is not None for k in keys)
    assert sorted(keys, key=lambda k: k or ()) == keys
    assert semver("v1.0.0") is None
    assert semver("1.0") is None


def test_inverted_negates_the_operator_but_broken_rules_stay_off() -> None:
    state = _state(
        _flag("inv", strategies=[_constraint("IN", values=["a"], inverted=True)]),
        _flag("broken", strategies=[_constraint("NUM_EQ", value="twelve", inverted=True)]),
        _flag("unknown", strategies=[_constraint("LIKE", values=["a"], inverted=True)]),
    )
    assert state.is_enabled("inv", {"x": "b"}, FX)
    assert state.is_enabled("inv", {}, FX)  # missing IN is false; inverted, true
    assert not state.is_enabled("broken", {"x": "1"}, FX)
    assert not state.is_enabled("unknown", {"x": "b"}, FX)


def test_custom_fields_come_from_properties_or_the_top_level() -> None:
    state = _state(_flag(strategies=[_constraint("IN", "plan", values=["pro", "7"])]))
    assert state.is_enabled("f", {"properties": {"plan": "pro"}}, FX)
    assert state.is_enabled("f", {"plan": "pro"}, FX)
    assert state.is_enabled("f", {"plan": 7}, FX)  # numbers compare as text
    assert not state.is_enabled("f", {"plan": "free", "properties": {"plan": "pro"}}, FX)
    context = {"properties": {"plan": "pro"}}
    state.is_enabled("f", context, FX)
    assert context == {"properties": {"plan": "pro"}}  # the caller's mapping is untouched


def test_segments_and_hostname_and_remote_address() -> None:
    segment = {"id": 3, "constraints": [{"contextName": "x", "operator": "IN", "values": ["y"]}]}
    state = _state(
        _flag("seg", strategies=[{"name": "default", "segments": [3]}]),
        _flag(
            "host",
            strategies=[{"name": "applicationHostname", "parameters": {"hostNames": "A, b"}}],
        ),
        _flag(
            "ip", strategies=[{"name": "remoteAddress", "parameters": {"IPs": "10.0.0.0/8, ::1"}}]
        ),
        segments=[segment],
    )
    assert state.is_enabled("seg", {"x": "y"}, FX)
    assert not state.is_enabled("seg", {"x": "z"}, FX)
    assert state.is_enabled("host", {}, FixedEffects(hostname="a"))
    assert not state.is_enabled("host", {}, FixedEffects(hostname="c"))
    assert state.is_enabled("ip", {"remoteAddress": "10.2.3.4"}, FX)
    assert state.is_enabled("ip", {"remoteAddress": "::1"}, FX)
    assert not state.is_enabled("ip", {"remoteAddress": "11.0.0.1"}, FX)
    assert not state.is_enabled("ip", {"remoteAddress": "garbage"}, FX)


def test_dependency_on_a_variant_is_judged_with_the_childs_context() -> None:
    parent = _flag(
        "parent",
        strategies=[_constraint("IN", "userId", values=["u1", "u2"])],
        variants=[
            {
                "name": "blue",
                "weight": 1,
                "overrides": [{"contextName": "userId", "values": ["u2"]}],
            },
            {"name": "red", "weight": 0},
        ],
    )
    child = _flag("child", dependencies=[{"feature": "parent", "variants": ["blue"]}])
    against = _flag("against", dependencies=[{"feature": "parent", "enabled": False}])
    state = _state(parent, child, against)
    assert state.is_enabled("child", {"userId": "u2"}, FX)
    assert state.is_enabled("child", {"userId": "u1"}, FX)  # weight picks blue too
    assert not state.is_enabled("child", {"userId": "u3"}, FX)  # parent off
    assert state.is_enabled("against", {"userId": "u3"}, FX)
    assert not state.is_enabled("against", {"userId": "u1"}, FX)
    assert state.evaluate("child", {"userId": "u3"}, FX).reason is Reason.DEFAULT


def test_change_events_name_the_flags_whose_answers_may_differ() -> None:
    segment = {"id": 1, "constraints": [{"contextName": "x", "operator": "IN", "values": ["a"]}]}
    old = _state(
        _flag("seg", strategies=[{"name": "default", "segments": [1]}]),
        _flag("parent"),
        _flag("child", dependencies=[{"feature": "parent"}]),
        _flag("same"),
        _flag("gone"),
        segments=[segment],
    )
    moved = {**segment, "constraints": [{**segment["constraints"][0], "values": ["b"]}]}
    new = _state(
        _flag("seg", strategies=[{"name": "default", "segments": [1]}]),
        _flag("parent", enabled=False),
        _flag("child", dependencies=[{"feature": "parent"}]),
        _flag("same"),
        _flag("added"),
        segments=[moved],
    )
    assert changed_flags(old, new) == {"seg", "parent", "child", "gone", "added"}
    assert changed_flags(new, new) == frozenset()
    assert changed_flags(None, new) == set(new.features)
