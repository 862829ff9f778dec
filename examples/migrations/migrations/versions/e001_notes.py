"""expand: the notes table (release v1).

Revision ID: e001
Branch: expand
"""

from __future__ import annotations

from alembic import op

revision = "e001"
down_revision = None
branch_labels = ("expand",)
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TABLE notes (id bigserial PRIMARY KEY, body text)")


def downgrade() -> None:
    op.execute("DROP TABLE notes")
