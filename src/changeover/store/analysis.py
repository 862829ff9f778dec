"""Analysis runs and their measurements, per rollout.

Invariant: a run row is created once per (rollout, key) and only its status, summary and
end move afterwards; measurements are append-only, so what a rollout was judged on
stays readable after it ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from changeover.store.schema import Connected, transaction


@dataclass(frozen=True)
class RunRecord:
    rollout_id: int
    key: str
    template: str
    status: str
    summary: str
    started_at: float
    finished_at: float | None


@dataclass(frozen=True)
class MeasurementRecord:
    id: int
    rollout_id: int
    run_key: str
    metric: str
    outcome: str
    value: float | None
    message: str
    ts: float


class AnalysisMixin(Connected):
    def start_run(self, rollout_id: int, key: str, template: str, *, now: float) -> None:
        with transaction(self._conn):
            self._conn.execute(
                "INSERT INTO analysis_runs (rollout_id, key, template, status, started_at)"
                " VALUES (?, ?, ?, 'running', ?)",
                (rollout_id, key, template, now),
            )

    def end_run(self, rollout_id: int, key: str, *, status: str, summary: str, now: float) -> None:
        with transaction(self._conn):
            self._conn.execute(
                "UPDATE analysis_runs SET status = ?, summary = ?, finished_at = ?"
                " WHERE rollout_id = ? AND key = ?",
                (status, summary, now, rollout_id, key),
            )

    def add_measurement(
        self,
        rollout_id: int,
        run_key: str,
        *,
        metric: str,
        outcome: str,
        value: float | None,
        message: str,
        now: float,
    ) -> None:
        with transaction(self._conn):
            self._conn.execute(
                "INSERT INTO measurements (rollout_id, run_key, metric, outcome, value,"
                " message, ts) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (rollout_id, run_key, metric, outcome, value, message, now),
            )

    def runs(self, rollout_id: int) -> list[RunRecord]:
        rows = self._all(
            "SELECT * FROM analysis_runs WHERE rollout_id = ? ORDER BY started_at", rollout_id
        )
        return [
            RunRecord(
                r["rollout_id"],
                r["key"],
                r["template"],
                r["status"],
                r["summary"],
                r["started_at"],
                r["finished_at"],
            )
            for r in rows
        ]

    def measurements(self, rollout_id: int, limit: int = 200) -> list[MeasurementRecord]:
        """The newest `limit` measurements of a rollout, oldest first."""
        rows = self._all(
            "SELECT * FROM (SELECT * FROM measurements WHERE rollout_id = ?"
            " ORDER BY id DESC LIMIT ?) ORDER BY id",
            rollout_id,
            limit,
        )
        return [
            MeasurementRecord(
                r["id"],
                r["rollout_id"],
                r["run_key"],
                r["metric"],
                r["outcome"],
                r["value"],
                r["message"],
                r["ts"],
            )
            for r in rows
        ]
