"""Unleash's published client specification, run case by case against our evaluation.

Every `tests` and `variantTests` entry of every vendored file is one pytest case, named
`<file>: <description>`. Skipped, by design: 19-delta-api-hydration.json and
20-delta-api-events.json, whose `state` is a stream of delta-API events rather than a state
document; changeover serves full documents only (see tests/data/unleash/NOTICE).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from changeover.flags import State, SystemEffects, parse_state

SPEC_DIR = Path(__file__).resolve().parents[2] / "data" / "unleash" / "specifications"
DELTA_API_FILES = {"19-delta-api-hydration.json", "20-delta-api-events.json"}


def _spec_files() -> list[str]:
    return json.loads((SPEC_DIR / "index.json").read_text(encoding="utf-8"))


def _load(name: str) -> dict[str, Any]:
    return json.loads((SPEC_DIR / name).read_text(encoding="utf-8"))


def _cases() -> list[Any]:
    cases = []
    for name in _spec_files():
        if name in DELTA_API_FILES:
            continue
        spec = _load(name)
        for kind in ("tests", "variantTests"):
            for i, case in enumerate(spec.get(kind, [])):
                case_id = f"{name}: {case['description']}"
                cases.append(pytest.param(name, kind, i, id=case_id))
    return cases


_STATES: dict[str, State] = {}


def _state(name: str) -> State:
    if name not in _STATES:
        _STATES[name] = parse_state(_load(name)["state"])
    return _STATES[name]


@pytest.mark.parametrize(("name", "kind", "index"), _cases())
def test_client_specification(name: str, kind: str, index: int) -> None:
    case = _load(name)[kind][index]
    state, effects = _state(name), SystemEffects(hostname="conformance")
    if kind == "tests":
        got = state.is_enabled(case["toggleName"], case["context"], effects)
        assert bool(got) is case["expectedResult"], case["description"]
    else:
        variant = state.variant(case["toggleName"], case["context"], effects)
        assert variant.to_dict() == case["expectedResult"], case["description"]


def test_every_file_is_run_or_named_as_delta_api() -> None:
    files = _spec_files()
    assert len(files) == len(set(files)) >= 22
    on_disk = {p.name for p in SPEC_DIR.glob("*.json")} - {"index.json"}
    assert on_disk == set(files)
    for name in DELTA_API_FILES:
        assert "events" in _load(name)["state"], f"{name} is no longer a delta-API file"
    for name in set(files) - DELTA_API_FILES:
        assert "features" in _load(name)["state"], f"{name} needs the delta API?"


def test_case_ids_are_unique() -> None:
    ids = [p.id for p in _cases()]
    assert len(ids) == len(set(ids)) > 250
