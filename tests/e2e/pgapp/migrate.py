"""The test app's migrations, plain SQL through psycopg (what Alembic would run): rename
the notes column `body` to `content` by expand/contract.

usage: python migrate.py expand | contract | rollback | status
SCHEMA (the release's):
  1    expand: the notes table with `body`; contract, rollback: nothing
  2    expand: add `content`, backfill it, a trigger keeping both columns equal whichever
       one a release writes (old code writes body, new code content);
       contract: drop the trigger and `body`; rollback: drop the trigger and `content`
  bad  expand: adds `tags` in a transaction of its own, then fails (prints the database
       URL first, as a careless script might); rollback: drops `tags`
Each step but `bad`'s expand is one transaction (PostgreSQL's DDL is transactional).
"""

from __future__ import annotations

import os
import sys

import psycopg

SYNC = """
CREATE OR REPLACE FUNCTION notes_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.content IS NULL THEN NEW.content := NEW.body; END IF;
  IF NEW.body IS NULL THEN NEW.body := NEW.content; END IF;
  RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS notes_sync ON notes;
CREATE TRIGGER notes_sync BEFORE INSERT OR UPDATE ON notes
  FOR EACH ROW EXECUTE FUNCTION notes_sync();
"""
UNSYNC = "DROP TRIGGER IF EXISTS notes_sync ON notes; DROP FUNCTION IF EXISTS notes_sync();"
STEPS = {
    ("1", "expand"): ["CREATE TABLE IF NOT EXISTS notes (id bigserial PRIMARY KEY, body text)"],
    ("1", "contract"): [],
    ("1", "rollback"): [],
    ("2", "expand"): [
        "ALTER TABLE notes ADD COLUMN IF NOT EXISTS content text",
        SYNC,
        "UPDATE notes SET content = body WHERE content IS NULL",
    ],
    ("2", "contract"): [UNSYNC, "ALTER TABLE notes DROP COLUMN IF EXISTS body"],
    ("2", "rollback"): [UNSYNC, "ALTER TABLE notes DROP COLUMN IF EXISTS content"],
    ("bad", "rollback"): ["ALTER TABLE notes DROP COLUMN IF EXISTS tags"],
}


def main(step: str) -> int:
    level = os.environ.get("SCHEMA", "1")
    url = os.environ["DATABASE_URL"]
    with psycopg.connect(url) as conn:
        if step == "status":
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = 'notes' ORDER BY ordinal_position"
            ).fetchall()
            print(f"notes({', '.join(r[0] for r in rows)})")
            return 0
        if (level, step) == ("bad", "expand"):
            conn.execute("ALTER TABLE notes ADD COLUMN IF NOT EXISTS tags text")
            conn.commit()
            print(f"connecting to {url} for the backfill", file=sys.stderr)
            print("ERROR: backfill of tags failed", file=sys.stderr)
            return 1
        for sql in STEPS[(level, step)]:
            conn.execute(sql)
        print(f"{step} {level}: {len(STEPS[(level, step)])} statements")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
