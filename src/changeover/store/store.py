"""The agent's durable state: one SQLite file in the state directory.

Invariant: every public write is a single transaction, so whatever instant the agent
dies at, reopening yields a state some sequence of complete calls produced. The API is
synchronous (writes are tiny) and takes every timestamp from the caller (`now`),
never from a clock, so tests are deterministic.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from changeover.store.alerts import AlertsMixin
from changeover.store.analysis import AnalysisMixin
from changeover.store.flags import FlagsMixin
from changeover.store.gates import GatesMixin
from changeover.store.journal import JournalMixin
from changeover.store.promotions import PromotionsMixin
from changeover.store.rollouts import RolloutsMixin
from changeover.store.schema import connect, migrate, user_version
from changeover.store.schema_steps import SchemaStepsMixin

DB_NAME = "changeover.db"


class Store(
    RolloutsMixin,
    JournalMixin,
    AnalysisMixin,
    FlagsMixin,
    PromotionsMixin,
    GatesMixin,
    SchemaStepsMixin,
    AlertsMixin,
):
    @classmethod
    def open(cls, path: Path) -> Store:
        """Open (creating and migrating as needed) the database file at `path`."""
        conn = connect(path)
        try:
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return cls(conn)

    @property
    def schema_version(self) -> int:
        return user_version(self._conn)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
