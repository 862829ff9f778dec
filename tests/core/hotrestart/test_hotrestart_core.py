"""The hot-restart core, scenario by scenario, on a fake clock."""

from __future__ import annotations

import signal

import pytest

from changeover.hotrestart.actions import (
    Action,
    KillGroup,
    Log,
    Notify,
    Outcome,
    Signal,
    Spawn,
)
from changeover.hotrestart.core import HotRestart
from changeover.hotrestart.events import Event, Exited, Ready, Reload, Terminate, Tick
from changeover.hotrestart.generation import Timing
from changeover.hotrestart.state import Phase

TERM = signal.SIGTERM
TIMING = Timing(ready_timeout=10, grace_period=5, stop_signal=TERM)


class Driver:
    """A core plus a fake clock; `send` returns the actions without the log lines."""

    def __init__(self, timing: Timing = TIMING) -> None:
        self.now = 100.0
        self.core = HotRestart(timing)
        self.logs: list[Log] = []
        self.first = self._keep(self.core.start(self.now))

    def send(self, event: Event, after: float = 0.0) -> list[Action]:
        self.now += after
        return self._keep(self.core.handle(event, self.now))

    def _keep(self, actions: list[Action]) -> list[Action]:
        self.logs += [a for a in actions if isinstance(a, Log)]
        return [a for a in actions if not isinstance(a, Log)]

    def serving(self) -> Driver:
        assert self.first == [Spawn(1)]
        self.send(Ready(1))
        assert self.core.phase is Phase.SERVING
        return self


def outcomes(actions: list[Action]) -> list[Outcome]:
    return [a for a in actions if isinstance(a, Outcome)]


def test_first_generation_ready_makes_the_service_serving_and_tells_systemd() -> None:
    d = Driver()
    assert d.first == [Spawn(1)]
    assert d.core.phase is Phase.STARTING
    assert d.core.next_deadline() == 110.0
    actions = d.send(Ready(1))
    assert actions == [Notify(("READY=1", "STATUS=generation 1 serving"))]
    assert d.core.serving == 1
    assert d.core.next_deadline() is None


def test_upgrade_stops_the_old_generation_only_after_the_new_one_is_ready() -> None:
    d = Driver().serving()
    assert d.send(Reload()) == [Notify(("RELOADING=1", "STATUS=upgrading")), Spawn(2)]
    assert d.core.phase is Phase.UPGRADING
    assert d.send(Tick(), after=3) == []  # not ready yet: nothing happens to generation 1
    assert d.send(Ready(2)) == [Signal(1, TERM)]
    assert d.core.phase is Phase.RETIRING
    assert d.core.serving == 2
    actions = d.send(Exited(1, -TERM))
    assert actions[0] == KillGroup(1)
    message = "generation 2 is serving; generation 1 exited on SIGTERM"
    assert outcomes(actions) == [Outcome(1, True, message)]
    assert actions[-1] == Notify(("READY=1", "STATUS=generation 2 serving"))
    assert d.core.phase is Phase.SERVING


def test_candidate_crashing_at_boot_leaves_the_old_generation_untouched() -> None:
    d = Driver().serving()
    d.send(Reload())
    actions = d.send(Exited(2, 3))
    assert not [a for a in actions if isinstance(a, Signal)]
    assert actions[0] == KillGroup(2)
    (outcome,) = outcomes(actions)
    assert not outcome.upgraded
    assert outcome.message == (
        "generation 2 exited with code 3 before it was ready; generation 1 keeps serving"
    )
    assert d.core.phase is Phase.SERVING
    assert d.core.serving == 1
    assert any(log.error and "upgrade failed" in log.message for log in d.logs)


def test_candidate_never_ready_is_stopped_gracefully_then_reported() -> None:
    d = Driver().serving()
    d.send(Reload())
    assert d.send(Tick(), after=9.9) == []
    assert d.send(Tick(), after=0.2) == [Signal(2, TERM)]
    assert d.core.phase is Phase.ABORTING
    assert outcomes(d.send(Reload())) == [
        Outcome(2, False, "reload refused: an upgrade is already in progress")
    ]
    actions = d.send(Exited(2, 0))
    assert outcomes(actions) == [
        Outcome(1, False, "generation 2 was not ready within 10s; generation 1 keeps serving")
    ]
    assert d.core.phase is Phase.SERVING
    assert d.core.serving == 1


def test_old_generation_is_killed_after_the_grace_period() -> None:
    d = Driver().serving()
    d.send(Reload())
    d.send(Ready(2))
    assert d.core.next_deadline() == d.now + 5
    assert d.send(Tick(), after=5) == [KillGroup(1)]
    assert d.core.next_deadline() is None
    assert d.send(Tick(), after=60) == []  # killed once, not again
    assert outcomes(d.send(Exited(1, -signal.SIGKILL)))[0].upgraded


def test_reload_is_refused_while_starting_and_while_stopping() -> None:
    d = Driver()
    assert outcomes(d.send(Reload())) == [
        Outcome(1, False, "reload refused: the first generation is not ready yet")
    ]
    d.send(Ready(1))
    d.send(Terminate(TERM))
    assert outcomes(d.send(Reload())) == [
        Outcome(2, False, "reload refused: the service is stopping")
    ]


@pytest.mark.parametrize(
    ("code", "exit_code"),
    [(0, 0), (-signal.SIGTERM, 0), (4, 4), (-signal.SIGKILL, 137)],
)
def test_terminate_drains_the_serving_generation_and_exits_with_its_code(
    code: int, exit_code: int
) -> None:
    d = Driver().serving()
    assert d.send(Terminate(signal.SIGINT)) == [Notify(("STOPPING=1",)), Signal(1, TERM)]
    assert d.core.phase is Phase.STOPPING
    assert d.send(Exited(1, code)) == [KillGroup(1)]
    assert d.core.phase is Phase.EXITED
    assert d.core.exit_code == exit_code


def test_terminate_during_an_upgrade_stops_both_and_answers_the_reload() -> None:
    d = Driver().serving()
    d.send(Reload())
    actions = d.send(Terminate(TERM))
    assert outcomes(actions) == [
        Outcome(1, False, "the service was stopped before the upgrade finished")
    ]
    assert [a for a in actions if isinstance(a, Signal)] == [Signal(1, TERM), Signal(2, TERM)]
    d.send(Exited(2, 0))
    d.send(Exited(1, 0))
    assert d.core.exit_code == 0


def test_a_second_terminate_kills_every_process_group() -> None:
    d = Driver().serving()
    d.send(Terminate(TERM))
    assert d.send(Terminate(TERM)) == [KillGroup(1)]
    assert d.send(Terminate(TERM)) == []


def test_first_generation_failing_exits_1() -> None:
    d = Driver()
    actions = d.send(Exited(1, 3))
    assert actions == [KillGroup(1), Notify(("STOPPING=1",))]
    assert d.core.phase is Phase.EXITED
    assert d.core.exit_code == 1


def test_first_generation_not_ready_in_time_is_stopped_and_exits_1() -> None:
    d = Driver()
    assert d.send(Tick(), after=10) == [Signal(1, TERM), Notify(("STOPPING=1",))]
    assert d.send(Tick(), after=5) == [KillGroup(1)]
    d.send(Exited(1, -signal.SIGKILL))
    assert d.core.exit_code == 1
    assert "generation 1 was not ready within 10s" in d.logs[0].message


def test_serving_generation_exiting_on_its_own_exits_1() -> None:
    d = Driver().serving()
    d.send(Exited(1, 0))
    assert d.core.phase is Phase.EXITED
    assert d.core.exit_code == 1
    assert d.logs[-1].message == "generation 1 exited with code 0 while serving"


def test_old_generation_dying_mid_upgrade_lets_the_candidate_take_over() -> None:
    d = Driver().serving()
    d.send(Reload())
    d.send(Exited(1, 1))
    assert d.core.phase is Phase.UPGRADING
    actions = d.send(Ready(2))
    assert outcomes(actions) == [
        Outcome(1, True, "generation 2 is serving (the old one had exited)")
    ]
    assert d.core.phase is Phase.SERVING


def test_candidate_failing_after_the_old_one_died_exits_1() -> None:
    d = Driver().serving()
    d.send(Reload())
    d.send(Exited(1, 1))
    actions = d.send(Exited(2, 3))
    assert not outcomes(actions)[0].upgraded
    assert d.core.exit_code == 1


def retiring() -> Driver:
    """Generation 2 took over; generation 1 got the stop signal and is still draining."""
    d = Driver().serving()
    d.send(Reload())
    assert d.send(Ready(2)) == [Signal(1, TERM)]
    assert d.core.phase is Phase.RETIRING
    return d


FAILED_2 = "generation 2 exited with code 9 after generation 1 was told to stop"


def test_successor_dying_while_the_old_drains_restarts_the_old_command() -> None:
    d = retiring()
    actions = d.send(Exited(2, 9))
    assert actions == [
        KillGroup(2),
        Spawn(3, like=1),
        Notify(("STATUS=recovering: restarting generation 1's command",)),
    ]
    assert d.core.phase is Phase.RECOVERING
    assert (d.core.serving, d.core.candidate) == (None, 3)
    assert d.logs[-1] == Log(
        f"{FAILED_2}: starting generation 1's command again as generation 3", error=True
    )
    assert outcomes(d.send(Reload())) == [
        Outcome(
            2,
            False,
            "reload refused: the last upgrade failed and the previous command is restarting",
        )
    ]
    actions = d.send(Ready(3))  # generation 1 still drains: it is not signalled again
    assert actions == [
        Outcome(1, False, f"{FAILED_2}; generation 3 (generation 1's command, restarted) serves")
    ]
    assert d.core.phase is Phase.RETIRING
    assert d.core.serving == 3
    actions = d.send(Exited(1, -TERM))
    assert actions == [KillGroup(1), Notify(("READY=1", "STATUS=generation 3 serving"))]
    assert d.core.phase is Phase.SERVING
    assert d.send(Reload())[-1] == Spawn(4)  # upgrades go on as before


def test_restart_ready_after_the_old_one_left_serves_at_once() -> None:
    d = retiring()
    d.send(Exited(2, 9))
    assert d.send(Exited(1, 0)) == [KillGroup(1)]
    assert d.core.phase is Phase.RECOVERING  # still nothing serves: wait for the restart
    assert d.core.next_deadline() == d.now + TIMING.ready_timeout
    actions = d.send(Ready(3))
    assert outcomes(actions) == [
        Outcome(1, False, f"{FAILED_2}; generation 3 (generation 1's command, restarted) serves")
    ]
    assert actions[-1] == Notify(("READY=1", "STATUS=generation 3 serving"))
    assert d.core.phase is Phase.SERVING
    assert d.logs[-1].error
    assert d.logs[-1].message.startswith("upgrade failed: generation 2")


def test_restart_failing_too_stops_and_exits_1() -> None:
    d = retiring()
    d.send(Exited(2, 9))
    actions = d.send(Exited(3, 3))
    reason = (
        f"upgrade failed: {FAILED_2}, and the restart failed: generation 3 exited with code 3"
        " before it was ready; nothing serves"
    )
    assert outcomes(actions) == [Outcome(1, False, reason)]
    assert Notify(("STOPPING=1",)) in actions
    assert d.core.phase is Phase.STOPPING  # generation 1 still finishes its requests
    d.send(Exited(1, 0))
    assert d.core.phase is Phase.EXITED
    assert d.core.exit_code == 1


def test_restart_not_ready_in_time_stops_and_exits_1() -> None:
    d = retiring()
    d.send(Exited(2, 9), after=1)
    actions = d.send(Tick(), after=TIMING.ready_timeout)
    assert Signal(3, TERM) in actions
    (outcome,) = outcomes(actions)
    assert "the restart failed: generation 3 was not ready within 10s" in outcome.message
    assert d.core.phase is Phase.STOPPING
    d.send(Exited(3, -TERM))
    d.send(Exited(1, -TERM))
    assert d.core.exit_code == 1


def test_a_restarted_command_dying_while_the_old_one_still_drains_is_restarted_again() -> None:
    d = retiring()
    d.send(Exited(2, 9))
    d.send(Ready(3))
    actions = d.send(Exited(3, 1))
    assert Spawn(4, like=1) in actions
    assert not outcomes(actions)  # the reload was answered already
    assert d.core.phase is Phase.RECOVERING


def test_terminate_while_recovering_stops_both_and_answers_the_reload() -> None:
    d = retiring()
    d.send(Exited(2, 9))
    actions = d.send(Terminate(TERM))
    assert outcomes(actions) == [
        Outcome(1, False, "the service was stopped before the upgrade finished")
    ]
    assert [a for a in actions if isinstance(a, Signal)] == [Signal(3, TERM)]  # 1 already was
    d.send(Exited(3, -TERM))
    d.send(Exited(1, 0))
    assert d.core.phase is Phase.EXITED
    assert d.core.exit_code == 0  # the restarted one's code: it was stopped on request


def test_stale_events_are_ignored() -> None:
    d = Driver().serving()
    assert d.send(Ready(1)) == []
    assert d.send(Ready(7)) == []
    assert d.send(Exited(7, 0)) == []
    d.send(Reload())
    d.send(Exited(2, 3))
    assert d.send(Ready(2)) == []  # too late: it already failed
    assert d.core.serving == 1
