"""The hot-restart core: for each event, decide what happens to each generation.

Invariant: the serving generation is told to stop only once its successor is ready or
the whole service stops; a failed candidate never disturbs it. At most one upgrade runs
at a time (a reload in any phase but SERVING is answered "refused"), and every reload
gets exactly one `Outcome`. Pure: time comes in as `now`, effects go out as actions.
"""

from __future__ import annotations

from changeover.hotrestart.actions import Action, Notify, Outcome
from changeover.hotrestart.events import Event, Exited, Ready, Reload, Terminate, Tick
from changeover.hotrestart.generation import Generation, Role, Timing, describe, exit_code_of
from changeover.hotrestart.ledger import Ledger
from changeover.hotrestart.state import Phase, check_transition

_REFUSED = {
    Phase.STARTING: "the first generation is not ready yet",
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
        self._failure = ""  # why the candidate being aborted failed
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
            self._move(Phase.EXITED)
            code = exit_code_of(self._child_code, self.timing.stop_signal)
            self.exit_code = 1 if self._failed else code
        return self.book.flush()

    def next_deadline(self) -> float | None:
        return self.book.next_deadline()

    # events

    def _on_reload(self, now: float) -> None:
        self.reloads += 1
        if self.phase is not Phase.SERVING:
            why = _REFUSED.get(self.phase, "an upgrade is already in progress")
            self.book.emit(Outcome(self.reloads, False, f"reload refused: {why}"))
            return
        self._pending = self.reloads
        self._move(Phase.UPGRADING)
        self.book.emit(Notify(("RELOADING=1", "STATUS=upgrading")))
        self.candidate = self.book.spawn(now)

    def _on_ready(self, gen: int, now: float) -> None:
        if gen != self.candidate or self.phase not in (Phase.STARTING, Phase.UPGRADING):
            return  # stale: that generation already failed or left
        old, self.serving, self.candidate = self.serving, gen, None
        self.gens[gen].role, self.gens[gen].deadline = Role.SERVING, None
        if self.phase is Phase.STARTING:
            self._now_serving(f"generation {gen} is ready")
        elif old is None:
            self._finish(True, f"generation {gen} is serving (the old one had exited)")
        else:
            self.book.log(f"generation {gen} is ready; stopping generation {old}")
            self.book.leave(old, now)
            self._move(Phase.RETIRING)

    def _on_exited(self, gen: int, code: int, reason: str, now: float) -> None:
        if not self.book.exited(gen):
            return
        if gen == self._exit_from:
            self._child_code = code
        what = f"generation {gen} {reason or describe(code)}"
        if self.phase is Phase.STOPPING:
            self.book.log(what)
        elif gen == self.candidate:
            self.candidate = None
            self._candidate_failed(f"{what} before it was ready", now)
        elif gen == self.serving:
            self.serving = None
            self._serving_exited(what, now)
        elif self.phase is Phase.RETIRING:
            self._finish(True, f"generation {self.serving} is serving; {what}")
        else:  # ABORTING: the failed candidate is gone
            self._finish(False, self._failure)

    def _on_terminate(self, now: float) -> None:
        if self.phase in (Phase.STOPPING, Phase.EXITED):
            for g in self.gens.values():
                self.book.kill(g, "asked again to stop")
            return
        self._exit_from = self.serving if self.serving is not None else self.candidate
        self.book.log("stopping: draining every generation")
        self._stop_all("the service was stopped before the upgrade finished", now)

    # failures and deadlines

    def _candidate_failed(self, message: str, now: float) -> None:
        if self.phase is Phase.UPGRADING and self.serving is not None:
            self._finish(False, f"{message}; generation {self.serving} keeps serving")
        else:
            self._fail(message, now)

    def _serving_exited(self, what: str, now: float) -> None:
        if self.phase is Phase.UPGRADING:
            self.book.log(f"{what} while generation {self.candidate} starts", error=True)
        else:
            self._fail(f"{what} while serving", now)

    def _expire(self, now: float) -> None:
        for g in self.book.overdue(now):
            if g.role is Role.LEAVING:
                self.book.kill(g, f"did not exit within {self.book.grace_text()}")
                continue
            message = f"generation {g.gen} was not ready within {self.book.ready_text()}"
            self.candidate = None
            self.book.leave(g.gen, now)
            if self.phase is Phase.UPGRADING and self.serving is not None:
                self._failure = f"{message}; generation {self.serving} keeps serving"
                self.book.log(f"{message}; stopping it", error=True)
                self._move(Phase.ABORTING)
            else:
                self._fail(message, now)

    def _fail(self, message: str, now: float) -> None:
        self.book.log(message, error=True)
        self._failed = True
        self._stop_all(f"upgrade failed: {message}", now)

    def _stop_all(self, reason: str, now: float) -> None:
        if self._pending is not None:
            self.book.emit(Outcome(self._pending, False, reason))
            self._pending = None
        self._move(Phase.STOPPING)
        self.book.emit(Notify(("STOPPING=1",)))
        for g in list(self.gens.values()):
            if g.role is not Role.LEAVING:
                self.book.leave(g.gen, now)
        self.serving = self.candidate = None

    # outcomes

    def _finish(self, upgraded: bool, message: str) -> None:
        if self._pending is not None:
            self.book.emit(Outcome(self._pending, upgraded, message))
            self._pending = None
        self._now_serving(message if upgraded else f"upgrade failed: {message}", not upgraded)

    def _now_serving(self, message: str, error: bool = False) -> None:
        self.book.log(message, error=error)
        self._move(Phase.SERVING)
        self.book.emit(Notify(("READY=1", f"STATUS=generation {self.serving} serving")))

    def _move(self, phase: Phase) -> None:
        self.phase = check_transition(self.phase, phase)
