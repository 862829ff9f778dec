"""`strategy.rollback_deadline`: the spec key, its errors with the key's path, and the
machines each strategy builds from it (the deadline itself:
tests/core/rollout/test_rollout_rollback_deadline.py)."""

from __future__ import annotations

import pytest

from changeover.agent.strategies import build
from changeover.rollout.core import Core
from changeover.spec.load import SpecError, load_spec_text
from changeover.spec.models import Spec
from changeover.spec.strategy import StrategyName

APP = '[app]\nname = "a"\ncommand = "x"\n'


def spec_of(strategy: str) -> Spec:
    return load_spec_text(f"{APP}[strategy]\n{strategy}\n", "svc.toml")


def built(name: StrategyName, spec: Spec) -> Core:
    machine = build(name, stable=1, target=2, spec=spec, stable_replicas=2, now=0.0)
    assert isinstance(machine, Core)
    return machine


@pytest.mark.parametrize("name", list(StrategyName))
def test_unset_it_follows_the_progress_deadline_in_every_strategy(name: StrategyName) -> None:
    spec = spec_of('progress_deadline = "7m"')
    assert spec.strategy.rollback_deadline is None
    machine = built(name, spec)
    assert machine.params.rollback_deadline is None
    assert machine.rollback_deadline == 420.0


@pytest.mark.parametrize("name", list(StrategyName))
def test_set_it_reaches_every_strategy(name: StrategyName) -> None:
    spec = spec_of('rollback_deadline = "90s"')
    assert spec.strategy.rollback_deadline == 90.0
    assert built(name, spec).rollback_deadline == 90.0


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ('"0s"', "must be greater than 0s"),
        ("60", "duration with a unit"),
        ('"soon"', "duration with a unit"),
    ],
)
def test_errors_name_the_key_and_what_is_expected(value: str, fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        spec_of(f"rollback_deadline = {value}")
    (line,) = info.value.lines()
    assert line.startswith("svc.toml: strategy.rollback_deadline: ")
    assert fragment in line


def test_it_survives_a_revision_snapshot() -> None:
    spec = spec_of('rollback_deadline = "2m30s"')
    snapshot = spec.model_dump(mode="json")
    assert snapshot["strategy"]["rollback_deadline"] == "150s"
    assert Spec.model_validate(snapshot) == spec
    unset = spec_of("").model_dump(mode="json")
    assert unset["strategy"]["rollback_deadline"] is None
