"""The schema state table: every pair, and what may follow what."""

from __future__ import annotations

import pytest

from changeover.machine import IllegalTransition
from changeover.migrations.state import TABLE, Move, SchemaState, Step

S = SchemaState
EXPECTED = {
    (S.NONE, Move.EXPAND): S.EXPANDING,
    (S.EXPANDING, Move.SUCCEEDED): S.EXPANDED,
    (S.EXPANDING, Move.FAILED): S.EXPAND_FAILED,
    (S.EXPANDED, Move.EXPAND): S.EXPANDING,
    (S.EXPANDED, Move.CONTRACT): S.CONTRACTING,
    (S.EXPANDED, Move.ROLLBACK): S.ROLLING_BACK,
    (S.EXPAND_FAILED, Move.EXPAND): S.EXPANDING,
    (S.EXPAND_FAILED, Move.ROLLBACK): S.ROLLING_BACK,
    (S.CONTRACTING, Move.SUCCEEDED): S.CONTRACTED,
    (S.CONTRACTING, Move.FAILED): S.CONTRACT_FAILED,
    (S.CONTRACT_FAILED, Move.CONTRACT): S.CONTRACTING,
    (S.ROLLING_BACK, Move.SUCCEEDED): S.ROLLED_BACK,
    (S.ROLLING_BACK, Move.FAILED): S.ROLLBACK_FAILED,
    (S.ROLLBACK_FAILED, Move.ROLLBACK): S.ROLLING_BACK,
    (S.ROLLBACK_FAILED, Move.EXPAND): S.EXPANDING,
    (S.ROLLED_BACK, Move.EXPAND): S.EXPANDING,
}


@pytest.mark.parametrize("state", list(SchemaState))
@pytest.mark.parametrize("move", list(Move))
def test_every_pair(state: SchemaState, move: Move) -> None:
    expected = EXPECTED.get((state, move))
    if expected is None:
        with pytest.raises(IllegalTransition):
            TABLE.transition(state, move)
    else:
        assert TABLE.transition(state, move) is expected


def test_a_contract_is_final_and_only_running_states_are_running() -> None:
    assert TABLE.accepts(S.CONTRACTED) == frozenset()
    assert {s for s in SchemaState if s.running} == {S.EXPANDING, S.CONTRACTING, S.ROLLING_BACK}
    # each running state ends by succeeding or failing, nothing else
    for state in (S.EXPANDING, S.CONTRACTING, S.ROLLING_BACK):
        assert TABLE.accepts(state) == frozenset({Move.SUCCEEDED, Move.FAILED})
    assert {Move.start(step) for step in Step} == {Move.EXPAND, Move.CONTRACT, Move.ROLLBACK}
