"""contract: the root of the contract branch, empty (release v1), so that
`alembic upgrade contract@head` means something from the first release on.

Revision ID: c000
Branch: contract
"""

from __future__ import annotations

revision = "c000"
down_revision = None
branch_labels = ("contract",)
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
