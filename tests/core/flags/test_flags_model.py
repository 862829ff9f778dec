"""Loading flag documents: precise errors for bad input, strict vs lenient, fuzzed parsers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from changeover.flags import FixedEffects, FlagStateError, Problem, parse_state
from changeover.flags.operators import BUILDERS


def _problems(doc: Any, *, strict: bool = False) -> dict[str, str]:
    with pytest.raises(FlagStateError) as info:
        parse_state(doc, strict=strict)
    return {p.path: p.message for p in info.value.problems}


def test_structural_errors_name_every_path_and_what_is_expected() -> None:
    doc = {
        "version": 2,
        "features": [
            {"name": "a", "enabled": "yes", "strategies": [{"name": "x", "parameters": {"k": []}}]},
            {"enabled": True},
            {"name": "c", "enabled": True, "variants": [{"name": "v", "weight": -1}]},
            {
                "name": "d",
                "enabled": True,
                "strategies": [{"name": "default", "constraints": [{}]}],
            },
        ],
        "segments": [{"id": "seven"}],
    }
    problems = _problems(doc)
    assert problems == {
        "features[0].enabled": "input should be a valid boolean (got 'yes')",
        "features[0].strategies[0].parameters.k": "input should be a valid string (got [])",
        "features[1].name": "required key is missing",
        "features[2].variants[0].weight": "input should be greater than or equal to 0 (got -1)",
        "features[3].strategies[0].constraints[0].contextName": "required key is missing",
        "features[3].strategies[0].constraints[0].operator": "required key is missing",
        "segments[0].id": "input should be a valid integer (got 'seven')",
    }
    message = str(FlagStateError([], "x"))
    assert message.startswith("x is invalid")


@pytest.mark.parametrize(
    ("doc", "path", "fragment"),
    [
        ("{nope", "(document)", "not valid JSON"),
        ("[]", "(document)", '{"version": 2, "features": [...]'),
        ({"features": []}, "version", "required key is missing"),
        ({"version": 0}, "version", "greater than or equal to 1"),
        ({"version": 2, "features": {}}, "features", "valid list"),
    ],
)
def test_document_level_errors(doc: Any, path: str, fragment: str) -> None:
    problems = _problems(doc)
    assert fragment in problems[path]


STRICT_ONLY = {
    "version": 2,
    "features": [
        {
            "name": "a",
            "enabled": True,
            "strategys": [],
            "strategies": [
                {
                    "name": "flexibleRollout",
                    "parameters": {"rollout": "50%"},
                    "constraints": [
                        {"contextName": "v", "operator": "SEMVER_GT", "value": "v1.0.0"},
                        {"contextName": "v", "operator": "NUM_GT"},
                        {"contextName": "v", "operator": "LIKE", "values": []},
                        {"contextName": "v", "operator": "REGEX", "value": "(a"},
                    ],
                },
                {"name": "gradualRolloutUserId", "parameters": {"percentage": "40"}},
                {"name": "custom"},
                {"name": "default", "segments": [9]},
            ],
            "variants": [{"name": "x", "weight": 0, "payload": {"type": "json", "value": "{"}}],
            "dependencies": [{"feature": "nope"}],
        },
    ],
}


def test_strict_loading_rejects_what_lenient_loading_tolerates() -> None:
    state = parse_state(STRICT_ONLY)  # lenient: loads, every doubt kept as a warning
    assert not state.is_enabled("a", {"v": "2.0.0", "userId": "u"}, FixedEffects())
    warned = {p.path for p in state.warnings}
    problems = _problems(STRICT_ONLY, strict=True)
    assert set(problems) == warned | {"features[0].strategys"}
    assert problems["features[0].strategys"].startswith("unknown key; expected one of: name,")
    f = "features[0].strategies"
    assert "semantic version" in problems[f"{f}[0].constraints[0].value"]
    assert problems[f"{f}[0].constraints[1].value"] == "required for NUM_GT: a number"
    assert problems[f"{f}[0].constraints[2].operator"].startswith("unknown operator; expected")
    assert "RE2" in problems[f"{f}[0].constraints[3].value"]
    assert "whole number 0..100" in problems[f"{f}[0].parameters.rollout"]
    assert problems[f"{f}[1].parameters.groupId"] == "required for this strategy"
    assert "unknown strategy 'custom'" in problems[f"{f}[2].name"]
    assert problems[f"{f}[3].segments[0]"] == "no segment with id 9"
    assert (
        problems["features[0].variants[0].payload.value"] == "expected JSON text for a json payload"
    )
    assert "no flag named 'nope'" in problems["features[0].dependencies[0].feature"]


def test_unleash_keys_and_changeover_extras_pass_strict_loading() -> None:
    doc = {
        "version": 2,
        "query": {"project": ["default"]},
        "features": [
            {
                "name": "checkout",
                "enabled": True,
                "description": None,
                "project": "default",
                "type": "release",
                "stale": False,
                "impressionData": False,
                "owner": "team-payments",
                "expiresAt": "2030-01-01T00:00:00Z",
                "strategies": [{"name": "default", "sortOrder": 1, "id": "s1", "title": None}],
            }
        ],
        "segments": [{"id": 1, "name": "beta", "constraints": []}],
    }
    state = parse_state(json.dumps(doc), strict=True)
    definition = state.features["checkout"].definition
    assert definition.owner == "team-payments"
    assert definition.expires_at is not None
    assert definition.expires_at.year == 2030
    dumped = state.document.model_dump(by_alias=True, exclude_none=True)
    assert dumped["features"][0]["expiresAt"] == definition.expires_at


def test_duplicate_names_and_segment_ids_are_reported() -> None:
    feature = {"name": "a", "enabled": True}
    doc = {"version": 2, "features": [feature, feature], "segments": [{"id": 1}, {"id": 1}]}
    problems = _problems(doc, strict=True)
    assert problems == {
        "features[1].name": "duplicate flag name 'a'",
        "segments[1].id": "duplicate segment id 1",
    }


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["version", "features", "segments", "x"]), json_values))
def test_any_json_either_loads_or_fails_with_located_problems(doc: dict[str, Any]) -> None:
    problems: list[Problem] = []
    try:
        parse_state(doc)
    except FlagStateError as exc:
        problems = exc.problems or [Problem("", "")]
    assert all(p.path and p.message for p in problems)


operators = st.sampled_from([*BUILDERS, "UNKNOWN_OP"])
constraint = st.fixed_dictionaries(
    {"contextName": st.sampled_from(["userId", "version", "n", "when"]), "operator": operators},
    optional={
        "values": st.lists(st.text(max_size=6), max_size=3),
        "value": st.text(max_size=8) | st.sampled_from(["1.2.3", "12", "2024-01-01T00:00:00Z"]),
        "inverted": st.booleans(),
        "caseInsensitive": st.booleans(),
    },
)
strategy = st.fixed_dictionaries(
    {"name": st.sampled_from(["default", "flexibleRollout", "userWithId", "remoteAddress"])},
    optional={
        "parameters": st.dictionaries(
            st.sampled_from(["rollout", "stickiness", "groupId", "userIds", "IPs"]),
            st.text(max_size=6) | st.sampled_from(["50", "100", "0", "1.2.3.0/24"]),
        ),
        "constraints": st.lists(constraint, max_size=3),
    },
)
contexts = st.dictionaries(
    st.sampled_from(["userId", "sessionId", "remoteAddress", "version", "n", "when"]),
    st.text(max_size=8) | st.integers() | st.none(),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(strategy, max_size=3), contexts)
def test_any_valid_document_evaluates_without_raising(
    strategies: list[dict[str, Any]], context: dict[str, Any]
) -> None:
    doc = {"version": 2, "features": [{"name": "f", "enabled": True, "strategies": strategies}]}
    state = parse_state(doc)
    effects = FixedEffects(draws=[37])
    assert state.is_enabled("f", context, effects) in (True, False)
    evaluation = state.evaluate("f", context, effects)
    assert evaluation.enabled is state.is_enabled("f", context, effects)
