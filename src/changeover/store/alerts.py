"""The alert firings the agent has decided on, kept so that a restarted agent still
knows them (`agent.ops.alerts`: Alertmanager resends a firing alert until it resolves).

Invariant: a firing is the triple (fingerprint, startsAt, status); once remembered it is
found until `keep` newer ones were remembered after it (the oldest go first), across
restarts. Remembering one twice changes nothing.
"""

from __future__ import annotations

from changeover.store.schema import Connected, transaction

AlertKey = tuple[str, str, str]  # fingerprint, startsAt, status


class AlertsMixin(Connected):
    def alert_seen(self, key: AlertKey) -> bool:
        row = self._one(
            "SELECT 1 FROM alerts_seen WHERE fingerprint = ? AND starts_at = ? AND status = ?",
            *key,
        )
        return row is not None

    def remember_alert(self, key: AlertKey, *, now: float, keep: int) -> None:
        """Remember `key`; forget all but the `keep` newest."""
        with transaction(self._conn):
            self._conn.execute(
                "INSERT OR IGNORE INTO alerts_seen (fingerprint, starts_at, status, at) "
                "VALUES (?, ?, ?, ?)",
                (*key, now),
            )
            self._conn.execute(
                "DELETE FROM alerts_seen WHERE id NOT IN "
                "(SELECT id FROM alerts_seen ORDER BY id DESC LIMIT ?)",
                (keep,),
            )
