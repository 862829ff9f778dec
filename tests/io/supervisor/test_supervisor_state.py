"""The replica table, fed every event in every state, and `Replica.move`'s bookkeeping."""

from __future__ import annotations

from pathlib import Path

import pytest

from changeover.machine import IllegalTransition
from changeover.spec.models import Probes, Termination
from changeover.supervisor.backoff import Backoff
from changeover.supervisor.fakes import FakeSpawner, RecordingRouting
from changeover.supervisor.model import Hooks, ReplicaTemplate
from changeover.supervisor.replica import Replica
from changeover.supervisor.spawn import Child
from changeover.supervisor.state import TABLE, ReplicaEvent, ReplicaState
from tests.helpers import check_answer

S, E = ReplicaState, ReplicaEvent

# Read by event (the table reads by state): where each event leads from each state that
# takes it. Every pair not listed is refused.
EXPECTED: dict[ReplicaEvent, dict[ReplicaState, ReplicaState]] = {
    E.BECAME_READY: {S.STARTING: S.READY, S.NOT_READY: S.READY},
    E.BECAME_UNREADY: {S.READY: S.NOT_READY},
    E.RESTART_ORDERED: {S.STARTING: S.STARTING, S.READY: S.NOT_READY, S.NOT_READY: S.NOT_READY},
    E.RUN_ENDED: {S.STARTING: S.BACKOFF, S.READY: S.BACKOFF, S.NOT_READY: S.BACKOFF},
    E.BACKOFF_ELAPSED: {S.BACKOFF: S.STARTING},
    E.TERMINATION_BEGAN: {
        S.STARTING: S.DRAINING,
        S.READY: S.DRAINING,
        S.NOT_READY: S.DRAINING,
        S.BACKOFF: S.BACKOFF,
    },
    E.DRAINED: {S.DRAINING: S.STOPPING},
    E.STOPPED: {S.BACKOFF: S.EXITED, S.DRAINING: S.EXITED, S.STOPPING: S.EXITED},
}


@pytest.mark.parametrize("event", list(ReplicaEvent))
@pytest.mark.parametrize("state", list(ReplicaState))
def test_table_answers_every_event_in_every_state(state: S, event: E) -> None:
    check_answer(TABLE, state, event, EXPECTED[event].get(state))


def test_only_exited_is_terminal_and_only_ready_is_routable() -> None:
    assert [s for s in S if TABLE.terminal(s)] == [S.EXITED]
    assert [s for s in S if s.routable] == [S.READY]
    assert {s for s in S if s.terminating} == {S.DRAINING, S.STOPPING, S.EXITED}
    assert repr(E.DRAINED) == "<ReplicaEvent drained>"


class _NoEscapes:
    def record(self, replica_id: str, child: Child) -> None:
        return None

    def kill(self, replica_id: str, child: Child) -> list[int]:
        return []


def test_move_keeps_the_books_and_reports_only_changes(tmp_path: Path) -> None:
    now, changes = [10.0], []
    hooks = Hooks(
        RecordingRouting(),
        FakeSpawner(),
        lambda: now[0],
        lambda host, port, probe: _never(),
        lambda: changes.append(rep.state),
        lambda info: None,
        lambda info: None,
        _NoEscapes(),
    )
    template = ReplicaTemplate(1, "v1", "app --port {port}", tmp_path, {}, Probes(), Termination())
    rep = Replica(template, 1, tmp_path, hooks, Backoff(reset_after=5.0))
    rep.backoff.failure(now[0])  # one failed run before: the delay has grown

    assert rep.move(E.RESTART_ORDERED) is S.STARTING  # no change: nobody is told
    assert rep.move(E.BECAME_READY) is S.READY
    assert (rep.ready_since, rep.ready_this_run, rep.boot_failures) == (10.0, True, 0)
    now[0] = 20.0  # ready for longer than reset_after
    assert rep.move(E.RESTART_ORDERED) is S.NOT_READY
    assert rep.ready_since is None
    assert rep.backoff.failure(now[0]) == 1.0  # the healthy run reset the backoff
    assert rep.move(E.RUN_ENDED) is S.BACKOFF
    assert rep.move(E.TERMINATION_BEGAN) is S.BACKOFF  # nothing to drain: no report
    assert rep.move(E.STOPPED) is S.EXITED
    assert changes == [S.READY, S.NOT_READY, S.BACKOFF, S.EXITED]
    with pytest.raises(IllegalTransition, match="it accepts nothing: it is final"):
        rep.move(E.BACKOFF_ELAPSED)
    assert rep.state is S.EXITED


async def _never() -> bool:
    return False
