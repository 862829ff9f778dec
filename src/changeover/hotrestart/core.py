"""The hot-restart core: for each event, decide what happens to each generation.

Invariant: the serving generation is told to stop only once its successor is ready or
the whole service stops; a failed candidate never disturbs it. If the successor dies
after that, the old generation's command starts again at once (RECOVERING), so an
upgrade ends with nothing serving only if that restart fails too. At most one upgrade
runs at a time (a reload in any phase but SERVING is answered "refused"), and every
reload gets exactly one `Outcome`. The core sorts each raw event by the generation it
concerns into a `PhaseEvent`; `state.TABLE` alone decides the next phase, and the
effects follow from where it leads. Pure: time comes in as `now`, effects go out as
actions.
"""

from __future__ import annotations

from changeover.hotrestart.actions import Action, Notify, Outcome
from changeover.hotrestart.events import Event, Exited, Ready, Reload, Terminate, Tick
from changeover.hotrestart.generation import Generation, Role, Timing, describe, exit_code_of
from changeover.hotrestart.ledger import Ledger
from changeover.hotrestart.state import TABLE, Phase, PhaseEvent

_REFUSED = {
    Phase.STARTING: "the first generation is not ready yet",
    Phase.RECOVERING: "the last upgrade failed and the previous command is restarting",
    Phase.STOPPING: "the service is stopping",
    Phase.EXITED: "the service is stopping",
}


class HotRestart:
    def __init__(self, timing: Timing) -> None:
        self.timing = timing
        self.book = Ledger(timing)
        self.phase = Phase.STARTING
        self.serving: int | None = None
        self.candidate: int | None = None
        self.exit_code: int | None = None  # set on reaching EXITED
        self.reloads = 0
        self._pending: int | None = None  # reload awaiting its Outcome
        self._failure = ""  # why the candidate being aborted (or the successor) failed
        self._previous: int | None = None  # told to stop for the successor: restarted if it dies
        self._failed = False
        self._exit_from: int | None = None  # generation whose exit code becomes ours
        self._child_code: int | None = None

    @property
    def gens(self) -> dict[int, Generation]:
        return self.book.gens

    def start(self, now: float) -> list[Action]:
        self.candidate = self.book.spawn(now)
        return self.book.flush()

    def handle(self, event: Event, now: float) -> list[Action]:
        match event:
            case Reload():
                self._on_reload(now)
            case Ready(gen):
                self._on_ready(gen, now)
            case Exited(gen, code, reason):
                self._on_exited(gen, code, reason, now)
            case Terminate():
                self._on_terminate(now)
            case Tick():
                pass
        self._expire(now)
        if self.phase is Phase.STOPPING and not self.gens:
            self._move(PhaseEvent.ALL_EXITED)
            code = exit_code_of(self._child_code, self.timing.stop_signal)
            self.exit_code = 1 if self._failed else code
        return self.book.flush()

    def next_deadline(self) -> float | None:
        return self.book.next_deadline()

    # events

    def _on_reload(self, now: float) -> None:
        self.reloads += 1
        if self.phase.busy:
            why = _REFUSED.get(self.phase, "an upgrade is already in progress")
            self.book.emit(Outcome(self.reloads, False, f"reload refused: {why}"))
            return
        self._pending = self.reloads
        self._move(PhaseEvent.RELOAD_REQUESTED)
        self.book.emit(Notify(("RELOADING=1", "STATUS=upgrading")))
        self.candidate = self.book.spawn(now)

    def _on_ready(self, gen: int, now: float) -> None:
        if gen != self.candidate:
            return  # stale: that generation already failed or left
        was = self.phase
        old, self.serving, self.candidate = self.serving, gen, None
        self.gens[gen].role, self.gens[gen].deadline = Role.SERVING, None
        if was is Phase.RECOVERING:
            self._recovered(gen)
        elif old is not None:
            self._move(PhaseEvent.SUCCESSOR_READY)
            self._previous = old
            self.book.log(f"generation {gen} is ready; stopping generation {old}")
            self.book.leave(old, now)
        elif was is Phase.STARTING:
            self._move(PhaseEvent.CANDIDATE_READY)
            self._now_serving(f"generation {gen} is ready")
        else:
            self._move(PhaseEvent.CANDIDATE_READY)
            self._finish(True, f"generation {gen} is serving (the old one had exited)")

    def _on_exited(self, gen: int, code: int, reason: str, now: float) -> None:
        if not self.book.exited(gen):
            return
        if gen == self._exit_from:
            self._child_code = code
        what = f"generation {gen} {reason or describe(code)}"
        if gen == self.candidate:
            self.candidate = None
            self._candidate_exited(f"{what} before it was ready", now)
        elif gen == self.serving:
            self.serving = None
            self._serving_exited(what, now)
        else:  # told to leave: the old generation, a failed candidate, or any while stopping
            self._leaver_exited(what)

    def _on_terminate(self, now: float) -> None:
        if TABLE.terminal(self.phase):
            return  # nothing is left to stop
        was = self.phase
        self._move(PhaseEvent.STOP_REQUESTED)
        if was is Phase.STOPPING:
            for g in self.gens.values():
                self.book.kill(g, "asked again to stop")
            return
        self._exit_from = self.serving if self.serving is not None else self.candidate
        self.book.log("stopping: draining every generation")
        self._stop_all("the service was stopped before the upgrade finished", now)

    # failures and deadlines

    def _candidate_exited(self, message: str, now: float) -> None:
        if self.serving is None:
            self._lone_candidate_failed(message, now)
            return
        self._move(PhaseEvent.CANDIDATE_EXITED)
        self._finish(False, f"{message}; generation {self.serving} keeps serving")

    def _lone_candidate_failed(self, message: str, now: float) -> None:
        """The candidate failed and nothing else serves: stop, exit 1."""
        if self.phase is Phase.RECOVERING:
            message = f"{self._failure}, and the restart failed: {message}; nothing serves"
        self._move(PhaseEvent.LONE_CANDIDATE_FAILED)
        self._fail(message, now)

    def _serving_exited(self, what: str, now: float) -> None:
        if self.phase is Phase.RETIRING:
            self._recover(what, now)
        elif self._move(PhaseEvent.SERVING_EXITED) is Phase.STOPPING:
            self._fail(f"{what} while serving", now)
        else:
            self.book.log(f"{what} while generation {self.candidate} starts", error=True)

    def _leaver_exited(self, what: str) -> None:
        was = self.phase
        if self._move(PhaseEvent.LEAVER_EXITED) in (Phase.STOPPING, Phase.RECOVERING):
            self.book.log(what)
        elif was is Phase.RETIRING:
            self._finish(True, f"generation {self.serving} is serving; {what}")
        else:  # ABORTING: the failed candidate is gone
            self._finish(False, self._failure)

    def _expire(self, now: float) -> None:
        for g in self.book.overdue(now):
            if g.role is Role.LEAVING:
                self.book.kill(g, f"did not exit within {self.book.grace_text()}")
                continue
            message = f"generation {g.gen} was not ready within {self.book.ready_text()}"
            self.candidate = None
            self.book.leave(g.gen, now)
            if self.serving is None:
                self._lone_candidate_failed(message, now)
            else:
                self._move(PhaseEvent.CANDIDATE_LATE)
                self._failure = f"{message}; generation {self.serving} keeps serving"
                self.book.log(f"{message}; stopping it", error=True)

    # recovery: the successor died after the old generation was told to stop

    def _recover(self, what: str, now: float) -> None:
        """The effects of entering RECOVERING: the old generation's command starts again.

        The old one cannot be asked to serve on (it got the stop signal and is draining,
        its listeners maybe closed), but the listening sockets stay open here: new
        connections wait in the kernel's queue until the restarted command accepts them.
        """
        self._move(PhaseEvent.SUCCESSOR_EXITED)
        old = self._previous
        self._failure = f"{what} after generation {old} was told to stop"
        self.candidate = self.book.spawn(now, like=old)
        self.book.log(
            f"{self._failure}: starting generation {old}'s command again as generation"
            f" {self.candidate}",
            error=True,
        )
        self.book.emit(Notify((f"STATUS=recovering: restarting generation {old}'s command",)))

    def _recovered(self, gen: int) -> None:
        restarted = f"generation {self._previous}'s command, restarted"
        message = f"{self._failure}; generation {gen} ({restarted}) serves"
        if self.book.draining():  # RETIRING again: READY=1 once the old one has exited
            self._move(PhaseEvent.SUCCESSOR_READY)
            self._answer(False, message)
            self.book.log(f"upgrade failed: {message}", error=True)
        else:
            self._move(PhaseEvent.CANDIDATE_READY)
            self._finish(False, message)

    def _fail(self, message: str, now: float) -> None:
        self.book.log(message, error=True)
        self._failed = True
        self._stop_all(f"upgrade failed: {message}", now)

    def _stop_all(self, reason: str, now: float) -> None:
        """The effects of entering STOPPING: answer the pending reload, drain everyone."""
        self._answer(False, reason)
        self.book.emit(Notify(("STOPPING=1",)))
        for g in list(self.gens.values()):
            if g.role is not Role.LEAVING:
                self.book.leave(g.gen, now)
        self.serving = self.candidate = None

    # outcomes

    def _finish(self, upgraded: bool, message: str) -> None:
        self._answer(upgraded, message)
        self._now_serving(message if upgraded else f"upgrade failed: {message}", not upgraded)

    def _answer(self, upgraded: bool, message: str) -> None:
        """The pending reload's one Outcome (none if no reload is waiting)."""
        if self._pending is not None:
            self.book.emit(Outcome(self._pending, upgraded, message))
            self._pending = None

    def _now_serving(self, message: str, error: bool = False) -> None:
        """The effects of entering SERVING."""
        self.book.log(message, error=error)
        self.book.emit(Notify(("READY=1", f"STATUS=generation {self.serving} serving")))

    def _move(self, event: PhaseEvent) -> Phase:
        self.phase = TABLE.transition(self.phase, event)
        return self.phase
