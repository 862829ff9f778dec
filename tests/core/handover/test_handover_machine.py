"""The handover state machine and the refusal rules, with a fake clock."""

from __future__ import annotations

import pytest

from changeover.agent.handover import TABLE, Action, Handover, Stage, StageEvent, refusal
from changeover.machine import IllegalTransition
from changeover.supervisor.state import ReplicaState
from tests.helpers import check_answer

READY = ReplicaState.READY


def started(timeout: float = 5.0, now: float = 100.0) -> Handover:
    machine = Handover(timeout)
    machine.start(now, new_pid=42)
    return machine


def test_ready_line_from_the_new_pid_hands_over() -> None:
    machine = started()
    assert machine.tick(101.0).action is Action.WAIT
    assert machine.message("ready 42\n").action is Action.STEP_DOWN
    assert machine.stage is Stage.HANDED_OVER
    assert machine.tick(1000.0).action is Action.WAIT  # terminal: the deadline no longer matters


def test_silence_past_the_deadline_kills_the_new_agent() -> None:
    machine = started(timeout=5.0, now=100.0)
    assert machine.tick(104.99).action is Action.WAIT
    decision = machine.tick(105.0)
    assert decision.action is Action.KILL_NEW
    assert "not ready within 5s" in decision.reason
    assert machine.stage is Stage.FAILED


def test_exit_before_ready_is_a_failure_with_its_code() -> None:
    decision = started().exited(2)
    assert decision.action is Action.FORGET_NEW
    assert "exited with code 2" in decision.reason


def test_closed_channel_with_live_process_kills_it() -> None:
    assert started().exited(None).action is Action.KILL_NEW


@pytest.mark.parametrize("line", ["ready 41", "ready", "hello 42", ""])
def test_any_other_line_fails(line: str) -> None:
    machine = started()
    assert machine.message(line).action is Action.KILL_NEW
    assert machine.stage is Stage.FAILED


def test_a_failed_handover_can_be_tried_again_but_not_a_finished_one() -> None:
    machine = started()
    machine.exited(1)
    machine.start(200.0, new_pid=43)
    assert machine.message("ready 43").action is Action.STEP_DOWN
    with pytest.raises(IllegalTransition, match="cannot take new-started when handed-over"):
        machine.start(300.0, new_pid=44)


# Read by event (the table reads by stage); every pair not listed is refused.
EXPECTED: dict[StageEvent, dict[Stage, Stage]] = {
    StageEvent.NEW_STARTED: {Stage.IDLE: Stage.STARTING, Stage.FAILED: Stage.STARTING},
    StageEvent.NEW_READY: {Stage.STARTING: Stage.HANDED_OVER},
    StageEvent.NEW_FAILED: {Stage.STARTING: Stage.FAILED},
}


@pytest.mark.parametrize("event", list(StageEvent))
@pytest.mark.parametrize("stage", list(Stage))
def test_table_answers_every_event_in_every_stage(stage: Stage, event: StageEvent) -> None:
    check_answer(TABLE, stage, event, EXPECTED[event].get(stage))


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="must be > 0"):
        Handover(0)


def _refusal(**kw: object) -> str | None:
    args: dict[str, object] = {
        "stage": Stage.IDLE,
        "rollout": None,
        "lingering": (),
        "states": (READY, ReplicaState.EXITED),
    }
    return refusal(**(args | kw))  # type: ignore[arg-type]


def test_idle_agent_with_ready_and_exited_replicas_may_reload() -> None:
    assert _refusal() is None


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"stage": Stage.STARTING}, "already in progress"),
        ({"stage": Stage.HANDED_OVER}, "already handed over"),
        ({"rollout": "rollout 3"}, "rollout 3 is in progress"),
        ({"lingering": [2]}, "revision 2 is kept warm"),
        ({"states": [READY, ReplicaState.DRAINING]}, "still being stopped"),
        ({"states": [ReplicaState.STOPPING]}, "still being stopped"),
    ],
)
def test_refusals_name_the_reason(change: dict[str, object], words: str) -> None:
    reason = _refusal(**change)
    assert reason is not None
    assert words in reason
