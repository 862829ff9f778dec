"""Connection setup, transactions and the versioned schema.

Invariant: the schema is exactly ``MIGRATIONS[:user_version]``. Each migration and
its ``user_version`` bump commit together, and every write goes through
`transaction` (``BEGIN IMMEDIATE`` ... ``COMMIT``), so a process killed at any point
leaves either all of a write or none of it. WAL with ``synchronous=NORMAL`` keeps
that guarantee across SIGKILL (only a power cut may lose the last commits).
Migrations are append-only: never edit one that has shipped.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from changeover.store.models import StoreError

_V1 = (
    """CREATE TABLE revisions (
        id INTEGER PRIMARY KEY,
        version TEXT NOT NULL,
        path TEXT NOT NULL,
        command TEXT NOT NULL,
        env TEXT NOT NULL,
        spec TEXT NOT NULL,
        replicas INTEGER NOT NULL CHECK (replicas >= 0),
        status TEXT NOT NULL
            CHECK (status IN ('pending', 'progressing', 'stable', 'failed', 'superseded')),
        created_at REAL NOT NULL,
        source_revision INTEGER REFERENCES revisions(id)
    )""",
    # at most one stable revision, enforced by the database itself
    "CREATE UNIQUE INDEX one_stable ON revisions(status) WHERE status = 'stable'",
    """CREATE TABLE rollouts (
        id INTEGER PRIMARY KEY,
        from_revision INTEGER REFERENCES revisions(id),
        to_revision INTEGER NOT NULL REFERENCES revisions(id),
        kind TEXT NOT NULL CHECK (kind IN ('initial', 'deploy', 'undo', 'restore')),
        strategy TEXT NOT NULL,
        phase TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        started_at REAL NOT NULL,
        finished_at REAL
    )""",
    # at most one unfinished rollout
    "CREATE UNIQUE INDEX one_active ON rollouts((finished_at IS NULL)) WHERE finished_at IS NULL",
    """CREATE TABLE events (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts REAL NOT NULL,
        rollout_id INTEGER REFERENCES rollouts(id),
        revision INTEGER REFERENCES revisions(id),
        kind TEXT NOT NULL,
        message TEXT NOT NULL
    )""",
    """CREATE TABLE replicas (
        id TEXT PRIMARY KEY,
        revision INTEGER NOT NULL REFERENCES revisions(id),
        pid INTEGER NOT NULL,
        pgid INTEGER NOT NULL,
        create_time REAL NOT NULL,
        started_at REAL NOT NULL
    )""",
)

_V2 = (
    # one row per analysis run of a rollout; `status` follows the run to its end
    """CREATE TABLE analysis_runs (
        rollout_id INTEGER NOT NULL REFERENCES rollouts(id),
        key TEXT NOT NULL,
        template TEXT NOT NULL,
        status TEXT NOT NULL,
        summary TEXT NOT NULL DEFAULT '',
        started_at REAL NOT NULL,
        finished_at REAL,
        PRIMARY KEY (rollout_id, key)
    )""",
    """CREATE TABLE measurements (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        rollout_id INTEGER NOT NULL REFERENCES rollouts(id),
        run_key TEXT NOT NULL,
        metric TEXT NOT NULL,
        outcome TEXT NOT NULL,
        value REAL,
        message TEXT NOT NULL,
        ts REAL NOT NULL
    )""",
    "CREATE INDEX measurements_by_run ON measurements(rollout_id, run_key, id)",
)

_V3 = (
    # feature flags the agent serves: one Unleash feature object per row, archived kept
    """CREATE TABLE flags (
        name TEXT PRIMARY KEY,
        definition TEXT NOT NULL,
        archived INTEGER NOT NULL DEFAULT 0 CHECK (archived IN (0, 1)),
        created_at REAL NOT NULL,
        created_by TEXT NOT NULL,
        updated_at REAL NOT NULL,
        updated_by TEXT NOT NULL
    )""",
    # the segments flags refer to by id (Unleash client API `segments`)
    """CREATE TABLE flag_segments (
        id INTEGER PRIMARY KEY,
        definition TEXT NOT NULL,
        created_at REAL NOT NULL,
        created_by TEXT NOT NULL,
        updated_at REAL NOT NULL,
        updated_by TEXT NOT NULL
    )""",
)

_V4 = (
    # the port each replica serves on, so an agent restarting after a crash can route to
    # the replicas it adopts (NULL in rows written before: such a replica is replaced)
    "ALTER TABLE replicas ADD COLUMN port INTEGER",
)

_V5 = (
    # where each secret variable of a revision is read when a replica starts: an env
    # file's absolute path or "environment"; never the value (its digest is in `env`)
    "ALTER TABLE revisions ADD COLUMN secret_sources TEXT NOT NULL DEFAULT '{}'",
)

_V6 = (
    # one row per promotion of a release artifact to this agent's environment (or a
    # rollback to an earlier one): what, from where, who asked (the account the control
    # socket saw), and the revision and rollout it started (NULL until they exist: a row
    # without them is a promotion the agent stopped before its rollout began)
    """CREATE TABLE promotions (
        id INTEGER PRIMARY KEY,
        version TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        environment TEXT NOT NULL,
        from_environment TEXT,
        hotfix INTEGER NOT NULL CHECK (hotfix IN (0, 1)),
        kind TEXT NOT NULL CHECK (kind IN ('promote', 'rollback')),
        spec_file TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        requested_uid INTEGER,
        requested_at REAL NOT NULL,
        revision INTEGER REFERENCES revisions(id),
        rollout_id INTEGER REFERENCES rollouts(id)
    )""",
    "CREATE INDEX promotions_by_version ON promotions(version, id)",
)

_GATES = (
    # the gates of promotions (issue 14). Its number is its place in MIGRATIONS below:
    # a migration merged before it moves it one place on, nothing else changes.
    # A promotion's state: `waiting` for its gates (no rollout yet), `started` (its
    # rollout exists: rolling out or done, by the rollout's phase), `rejected` (by an
    # approver: a new request starts over), `superseded` (another promotion started
    # first). Rows written before were all started.
    "ALTER TABLE promotions ADD COLUMN state TEXT NOT NULL DEFAULT 'started'"
    " CHECK (state IN ('waiting', 'started', 'rejected', 'superseded'))",
    "ALTER TABLE promotions ADD COLUMN state_at REAL",
    # the soak evidence the CLI brought from the source environment (JSON, as received)
    # and the gates as last evaluated (JSON): what `release show` says a promotion waits for
    "ALTER TABLE promotions ADD COLUMN evidence TEXT",
    "ALTER TABLE promotions ADD COLUMN gates TEXT",
    # approvals and rejections of a promotion: who (the control socket's account), when
    """CREATE TABLE approvals (
        id INTEGER PRIMARY KEY,
        promotion_id INTEGER NOT NULL REFERENCES promotions(id),
        verdict TEXT NOT NULL CHECK (verdict IN ('approve', 'reject')),
        by_account TEXT NOT NULL,
        by_uid INTEGER,
        note TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL
    )""",
    "CREATE INDEX approvals_by_promotion ON approvals(promotion_id, id)",
    # freezes of this environment: no promotion starts while one is in force
    """CREATE TABLE freezes (
        id INTEGER PRIMARY KEY,
        until REAL NOT NULL,
        reason TEXT NOT NULL,
        by_account TEXT NOT NULL,
        by_uid INTEGER,
        at REAL NOT NULL,
        lifted_at REAL,
        lifted_by TEXT
    )""",
    # checklist items of a promotion: manual ticks (who, when) and command runs (outcome)
    """CREATE TABLE checklist (
        id INTEGER PRIMARY KEY,
        promotion_id INTEGER NOT NULL REFERENCES promotions(id),
        item TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('manual', 'command')),
        ok INTEGER NOT NULL CHECK (ok IN (0, 1)),
        detail TEXT NOT NULL DEFAULT '',
        by_account TEXT NOT NULL,
        by_uid INTEGER,
        at REAL NOT NULL
    )""",
    "CREATE INDEX checklist_by_promotion ON checklist(promotion_id, item, id)",
)

_SCHEMA_STEPS = (
    # each revision's database schema state (issue 16; `changeover.migrations.state`):
    # the last step started, how it ended (exit, seconds, the redacted tail of its output),
    # the last line of the status command after it, and when it expanded and contracted.
    # Like _GATES, its number is its place in MIGRATIONS.
    """CREATE TABLE schema_steps (
        revision INTEGER PRIMARY KEY REFERENCES revisions(id),
        state TEXT NOT NULL,
        step TEXT NOT NULL,
        command TEXT NOT NULL DEFAULT '',
        exit_code INTEGER,
        duration REAL,
        detail TEXT NOT NULL DEFAULT '',
        schema TEXT NOT NULL DEFAULT '',
        at REAL NOT NULL,
        expanded_at REAL,
        contracted_at REAL
    )""",
)

_ALERTS_SEEN = (
    # the alert firings the ops listener decided on (`agent.ops.alerts`), so that a
    # restarted agent does not act twice on one Alertmanager resends; bounded by the agent
    """CREATE TABLE alerts_seen (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        fingerprint TEXT NOT NULL,
        starts_at TEXT NOT NULL,
        status TEXT NOT NULL,
        at REAL NOT NULL,
        UNIQUE (fingerprint, starts_at, status)
    )""",
)

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    _V1,
    _V2,
    _V3,
    _V4,
    _V5,
    _V6,
    _GATES,
    _SCHEMA_STEPS,
    _ALERTS_SEEN,
)


def connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    # autocommit mode: `transaction` issues BEGIN/COMMIT itself, nothing implicit
    conn = sqlite3.connect(path, isolation_level=None, timeout=5.0)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """All statements inside commit together or not at all."""
    # IMMEDIATE takes the write lock up front, so reads inside see what we then write
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, migrations: Sequence[Sequence[str]] = MIGRATIONS) -> int:
    """Bring the schema up to date; return the resulting version."""
    with transaction(conn):
        version = user_version(conn)
        if version > len(migrations):
            raise StoreError(
                f"database schema version {version} is newer than this changeover "
                f"understands ({len(migrations)}); upgrade changeover"
            )
        for number, statements in enumerate(migrations[version:], start=version + 1):
            for sql in statements:
                conn.execute(sql)
            conn.execute(f"PRAGMA user_version = {number}")
    return len(migrations)


class Connected:
    """Base of the store's parts: one connection, shared by every mixin."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def _one(self, sql: str, *args: object) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._conn.execute(sql, args).fetchone()
        return row

    def _all(self, sql: str, *args: object) -> list[sqlite3.Row]:
        return list(self._conn.execute(sql, args).fetchall())
