"""Rollouts: one row per attempt to move from a revision to another.

Invariant: at most one rollout is unfinished (a unique partial index enforces it),
its phase only moves where the rollout phase table leads (`Phase.can_become`: some
events lead there, since one decision may take several), and a rollout's end and the
revision statuses it implies are written in one transaction: SUCCEEDED makes the
target stable and supersedes the old one; FAILED, ABORTED and INTERRUPTED mark the
target failed and leave the stable revision alone, except a FAILED rollout whose
rollback gave up keeping the target serving (`kept`), which makes the target stable
like a success: the stable revision is always the one that serves. RESTORE rollouts
re-launch the already-stable revision and never change revision statuses.
"""

from __future__ import annotations

from changeover.rollout.phase import Phase
from changeover.spec.strategy import StrategyName
from changeover.store.models import Conflict, NotFound, RevisionStatus, Rollout, RolloutKind
from changeover.store.revisions import RevisionsMixin
from changeover.store.schema import transaction


class RolloutsMixin(RevisionsMixin):
    def start_rollout(
        self,
        *,
        from_revision: int | None,
        to_revision: int,
        kind: RolloutKind | str,
        strategy: StrategyName | str,
        now: float,
    ) -> Rollout:
        kind, strategy = RolloutKind(kind), StrategyName(strategy)
        if from_revision == to_revision:
            raise Conflict(f"r{to_revision} cannot replace itself")
        with transaction(self._conn):
            active = self.active_rollout()
            if active is not None:
                raise Conflict(f"rollout #{active.id} to r{active.to_revision} is still active")
            for rev in (from_revision, to_revision):
                if rev is not None:
                    self.revision(rev)  # clear NotFound instead of a foreign-key error
            cursor = self._conn.execute(
                "INSERT INTO rollouts (from_revision, to_revision, kind, strategy, phase,"
                " started_at) VALUES (?, ?, ?, ?, ?, ?)",
                (from_revision, to_revision, kind, strategy.value, Phase.PROGRESSING.value, now),
            )
            if kind is not RolloutKind.RESTORE:
                self._set_status(to_revision, RevisionStatus.PROGRESSING)
        assert cursor.lastrowid is not None
        return self.rollout(cursor.lastrowid)

    def rollout(self, id: int) -> Rollout:
        row = self._one("SELECT * FROM rollouts WHERE id = ?", id)
        if row is None:
            raise NotFound(f"no rollout #{id}")
        return Rollout.from_row(row)

    def rollouts(self, limit: int = 50) -> list[Rollout]:
        """The most recent rollouts, newest first."""
        rows = self._all("SELECT * FROM rollouts ORDER BY id DESC LIMIT ?", limit)
        return [Rollout.from_row(r) for r in rows]

    def active_rollout(self) -> Rollout | None:
        row = self._one("SELECT * FROM rollouts WHERE finished_at IS NULL")
        return None if row is None else Rollout.from_row(row)

    def set_rollout_phase(self, id: int, phase: Phase | str, *, reason: str = "") -> None:
        """Record a move between active phases (e.g. PROGRESSING -> ROLLING_BACK)."""
        phase = Phase(phase)
        if phase.terminal:
            raise ValueError(f"{phase.value} ends a rollout: use finish_rollout")
        with transaction(self._conn):
            self._move(self.rollout(id), phase, reason, finished_at=None)

    def finish_rollout(
        self, id: int, *, phase: Phase | str, reason: str, now: float, kept: int | None = None
    ) -> None:
        """End a rollout and update both revisions' statuses, atomically. `kept`: the
        revision a FAILED rollout's rollback left serving when it gave up."""
        phase = Phase(phase)
        if not phase.terminal:
            raise ValueError(f"{phase.value} does not end a rollout")
        with transaction(self._conn):
            rollout = self.rollout(id)
            if kept is not None and (
                phase is not Phase.FAILED
                or kept not in (rollout.from_revision, rollout.to_revision)
            ):
                raise ValueError(
                    f"rollout #{id} ({phase.value}, r{rollout.from_revision} -> "
                    f"r{rollout.to_revision}) cannot end keeping r{kept}"
                )
            self._finish(rollout, phase, reason, now, kept)

    def interrupt_active(self, now: float) -> Rollout | None:
        """On agent start-up: end a rollout a dead agent left unfinished; return it."""
        with transaction(self._conn):
            active = self.active_rollout()
            if active is None:
                return None
            reason = f"agent stopped while the rollout was {active.phase.value}"
            self._finish(active, Phase.INTERRUPTED, reason, now, None)
        return self.rollout(active.id)

    def _finish(
        self, rollout: Rollout, phase: Phase, reason: str, now: float, kept: int | None
    ) -> None:
        self._move(rollout, phase, reason, finished_at=now)
        if rollout.kind is RolloutKind.RESTORE:
            return
        if phase is Phase.SUCCEEDED or kept == rollout.to_revision:
            self._set_status(rollout.to_revision, RevisionStatus.STABLE)
        else:
            self._set_status(rollout.to_revision, RevisionStatus.FAILED)

    def _move(self, r: Rollout, phase: Phase, reason: str, *, finished_at: float | None) -> None:
        if not r.phase.can_become(phase):
            raise Conflict(
                f"rollout #{r.id}: rollout cannot go from {r.phase.value} to {phase.value}"
            )
        self._conn.execute(
            "UPDATE rollouts SET phase = ?, reason = ?, finished_at = ? WHERE id = ?",
            (phase.value, reason, finished_at, r.id),
        )
