"""expand: rename notes.body to notes.content, first half (release v2): add `content`,
keep both columns equal whichever one a release writes (v1 writes body, v2 content),
backfill. v1 keeps working on this schema.

Revision ID: e002
Branch: expand
"""

from __future__ import annotations

from alembic import op

revision = "e002"
down_revision = "e001"
branch_labels = None
depends_on = None

SYNC = """
CREATE OR REPLACE FUNCTION notes_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.content IS NULL THEN NEW.content := NEW.body; END IF;
  IF NEW.body IS NULL THEN NEW.body := NEW.content; END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER notes_sync BEFORE INSERT OR UPDATE ON notes
  FOR EACH ROW EXECUTE FUNCTION notes_sync();
"""


def upgrade() -> None:
    op.execute("SET LOCAL lock_timeout = '5s'")  # never queue every request behind it
    op.execute("ALTER TABLE notes ADD COLUMN content text")
    op.execute(SYNC)
    op.execute("UPDATE notes SET content = body WHERE content IS NULL")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS notes_sync ON notes")
    op.execute("DROP FUNCTION IF EXISTS notes_sync()")
    op.execute("ALTER TABLE notes DROP COLUMN content")
