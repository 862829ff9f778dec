"""When each migration step may run, and which undo the schema forbids: tables of cases
over `changeover.migrations.decide` (pure)."""

from __future__ import annotations

import dataclasses

import pytest

from changeover.migrations.decide import (
    Record,
    Scene,
    contract_wait,
    expand_wait,
    expands,
    rollback_choice,
    rollback_due,
    rollback_wait,
    undo_refusal,
)
from changeover.migrations.state import SchemaState, Step

S = SchemaState
ALL = frozenset(Step)


def scene(**changes: object) -> Scene:
    """Revision 4 stable and expanded, its rollout succeeded, nothing else running:
    the contract is due."""
    base = Scene(
        stable=4,
        records=(Record(4, S.EXPANDED, at=100.0),),
        configured=ALL,
        last_succeeded=True,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "has_expand", "runs"),
    [
        ("deploy", True, True),  # a deploy, a promotion, a retry
        ("initial", True, True),  # revision 1 of `up`
        ("undo", True, False),  # the old code works on the expanded schema
        ("restore", True, False),  # an agent restart: nothing new runs
        ("deploy", False, False),  # no [migrations]
    ],
)
def test_expand_runs_before_new_revisions_only(kind: str, has_expand: bool, runs: bool) -> None:
    assert expands(kind, has_expand) is runs


CONTRACT_CASES = [
    # (changes, manual, reason fragment or None: due)
    ({}, False, None),
    ({}, True, None),
    ({"stable": None}, False, "no revision is stable"),
    ({"configured": frozenset({Step.EXPAND})}, False, "no contract command"),
    ({"records": (Record(4, S.CONTRACTED, at=1.0),)}, True, "contracted already"),
    ({"records": ()}, True, "expand has not succeeded (schema state none)"),
    ({"records": (Record(4, S.EXPAND_FAILED, at=1.0),)}, True, "migrate expand` first"),
    ({"busy": "expand of revision 5"}, True, "a migration is running"),
    ({"rollout": 9}, False, "rollout 9 is in progress (its guard window included)"),
    ({"last_succeeded": False}, True, "did not succeed"),
    ({"warm": (3,)}, False, "revision 3 is kept warm"),
    ({"running": (3,)}, True, "replicas of revision 3 still run"),
    ({"when": "manual"}, False, 'contract_when = "manual"'),
    ({"when": "manual"}, True, None),
    ({"records": (Record(4, S.CONTRACT_FAILED, at=1.0),)}, False, "its contract failed"),
    ({"records": (Record(4, S.CONTRACT_FAILED, at=1.0),)}, True, None),
]


@pytest.mark.parametrize(("changes", "manual", "reason"), CONTRACT_CASES)
def test_contract_runs_only_once_no_older_code_can_run(
    changes: dict[str, object], manual: bool, reason: str | None
) -> None:
    said = contract_wait(scene(**changes), manual=manual)
    if reason is None:
        assert said is None
    else:
        assert said is not None
        assert reason in said


def test_the_guard_window_is_a_running_rollout_so_contract_waits_for_its_end() -> None:
    # the agent keeps a rollout active (GUARDING) until its guard window passed
    guarding = scene(rollout=7, last_succeeded=False)
    assert "rollout 7" in (contract_wait(guarding, manual=True) or "")
    assert contract_wait(scene(rollout=None), manual=False) is None


@pytest.mark.parametrize(
    ("changes", "revision", "reason"),
    [
        ({}, 4, None),  # an expand runs again (tools skip what is applied)
        ({"records": ()}, 4, None),
        ({"records": (Record(4, S.ROLLED_BACK, at=1.0),)}, 4, None),
        ({"records": (Record(4, S.CONTRACTED, at=1.0),)}, 4, "cannot run again"),
        ({"configured": frozenset()}, 4, "no expand command"),
        ({"rollout": 2}, 4, "rollout 2 is in progress"),
    ],
)
def test_expand_by_hand(changes: dict[str, object], revision: int, reason: str | None) -> None:
    said = expand_wait(scene(**changes), revision)
    assert said is None if reason is None else reason in (said or "")


EXPANDED_5 = (Record(4, S.CONTRACTED, at=1.0), Record(5, S.EXPANDED, at=2.0))


@pytest.mark.parametrize(
    ("changes", "revision", "reason"),
    [
        ({"records": EXPANDED_5}, 5, None),  # 5 was rolled back; 4 serves
        ({"records": (*EXPANDED_5[:1], Record(5, S.EXPAND_FAILED, at=2.0))}, 5, None),
        ({"records": EXPANDED_5}, 4, "contracted: there is no expand"),
        ({"records": (Record(3, S.EXPANDED, at=1.0),)}, 3, "older than the stable"),
        ({}, 4, "is the stable revision"),
        ({"records": EXPANDED_5, "running": (5,)}, 5, "replicas of revision 5 still run"),
        ({"records": EXPANDED_5, "configured": frozenset()}, 5, "no rollback command"),
        ({"records": EXPANDED_5, "busy": "contract"}, 5, "a migration is running"),
    ],
)
def test_rollback_undoes_only_the_expand_of_code_that_no_longer_runs(
    changes: dict[str, object], revision: int, reason: str | None
) -> None:
    said = rollback_wait(scene(**changes), revision)
    assert said is None if reason is None else reason in (said or "")


@pytest.mark.parametrize(
    ("changes", "due"),
    [
        ({"records": EXPANDED_5}, True),  # left behind by a failed rollout or an undo
        ({"records": (EXPANDED_5[0], Record(5, S.EXPAND_FAILED, at=2.0))}, False),  # a person
        ({"records": (EXPANDED_5[0], Record(5, S.ROLLED_BACK, at=2.0))}, False),  # done once
        ({"records": (EXPANDED_5[0], Record(5, S.ROLLBACK_FAILED, at=2.0))}, False),  # no retry
        ({"records": EXPANDED_5, "rollout": 9}, False),  # a rollout may be moving to it
        ({"records": EXPANDED_5, "warm": (5,)}, False),  # blue-green keeps it warm
        ({"records": EXPANDED_5, "running": (5,)}, False),
        ({"records": EXPANDED_5, "configured": frozenset({Step.EXPAND})}, False),
        ({"records": EXPANDED_5, "busy": "contract"}, False),
    ],
)
def test_the_agent_rolls_back_an_expand_left_behind_once(
    changes: dict[str, object], due: bool
) -> None:
    assert rollback_due(scene(**changes), 5) is due


def test_rollback_picks_the_newest_expanded_revision_newer_than_the_stable() -> None:
    records = (
        Record(3, S.EXPANDED, at=1.0),  # older than the stable one: its code may need it
        Record(4, S.EXPANDED, at=2.0),  # the stable one
        Record(5, S.EXPAND_FAILED, at=3.0),
        Record(6, S.EXPANDED, at=4.0),
        Record(7, S.ROLLED_BACK, at=5.0),
    )
    assert rollback_choice(scene(records=records)) == 6
    assert rollback_choice(scene(records=records[:3])) == 5
    assert rollback_choice(scene(records=records[:2])) is None


UNDO_CASES = [
    # (records, target, reason fragment or None)
    ((), 3, None),
    ((Record(5, S.EXPANDED, at=1.0),), 4, None),  # not contracted: an app rollback
    ((Record(5, S.CONTRACTED, at=1.0, contracted_at=0.0),), 4,
     "older than revision 5, whose contract ran at 1970-01-01 00:00:00 UTC"),
    ((Record(5, S.CONTRACTED, at=1.0),), 2, "Deploy a fix forward"),
    ((Record(5, S.CONTRACTED, at=1.0),), 5, None),  # the contracted revision's own code
    ((Record(5, S.CONTRACTED, at=1.0),), 6, None),  # newer code
    ((Record(3, S.CONTRACTED, at=1.0), Record(6, S.CONTRACTED, at=2.0)), 5,
     "older than revision 6"),
    ((Record(5, S.ROLLED_BACK, at=1.0),), 5, "expand is not in place"),
    ((Record(5, S.EXPAND_FAILED, at=1.0),), 5, "migrate expand --revision 5"),
    ((Record(5, S.CONTRACT_FAILED, at=1.0),), 5, None),
]  # fmt: skip


@pytest.mark.parametrize(("records", "target", "reason"), UNDO_CASES)
def test_undo_is_refused_past_a_contract(
    records: tuple[Record, ...], target: int, reason: str | None
) -> None:
    said = undo_refusal(target, records)
    assert said is None if reason is None else reason in (said or "")


def test_a_refusal_names_the_newest_contract_and_the_way_forward() -> None:
    said = undo_refusal(2, [Record(3, S.CONTRACTED, at=1.0), Record(5, S.CONTRACTED, at=9.0)])
    assert said is not None
    assert "revision 5" in said
    assert "--force" in said
