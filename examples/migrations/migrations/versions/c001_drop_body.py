"""contract: rename notes.body to notes.content, second half (release v2): drop the
trigger and `body`, once no v1 replica can run again (changeover runs it then).

Revision ID: c001
Branch: contract
"""

from __future__ import annotations

from alembic import op

revision = "c001"
down_revision = "c000"
branch_labels = None
depends_on = "e002"


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")
    op.execute("DROP TRIGGER IF EXISTS notes_sync ON notes")
    op.execute("DROP FUNCTION IF EXISTS notes_sync()")
    op.execute("ALTER TABLE notes DROP COLUMN body")


def downgrade() -> None:
    raise RuntimeError("the contract dropped notes.body: restore it from a backup")
