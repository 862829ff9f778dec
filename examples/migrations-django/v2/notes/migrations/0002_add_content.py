"""expand: rename notes.body to notes.content, first half (release v2): add `content`,
keep both columns equal whichever one a release writes (v1 writes body, v2 content),
backfill, and drop `body` from Django's state only (v2's model no longer has it; the
column stays for v1 until notes_contract 0001 drops it). v1 keeps working on this schema.
`migrate notes 0001` undoes all of it (the recipe's rollback)."""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

LOCK_TIMEOUT = "SET LOCAL lock_timeout = '5s'"  # never queue every request behind an ALTER

SYNC = """
CREATE OR REPLACE FUNCTION notes_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.content := COALESCE(NEW.content, NEW.body);
    NEW.body := COALESCE(NEW.body, NEW.content);
  ELSIF NEW.body IS DISTINCT FROM OLD.body THEN
    NEW.content := NEW.body;
  ELSIF NEW.content IS DISTINCT FROM OLD.content THEN
    NEW.body := NEW.content;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER notes_sync BEFORE INSERT OR UPDATE ON notes
  FOR EACH ROW EXECUTE FUNCTION notes_sync();
"""
UNSYNC = "DROP TRIGGER IF EXISTS notes_sync ON notes; DROP FUNCTION IF EXISTS notes_sync();"


def backfill(apps: Any, schema_editor: Any) -> None:
    """Copy body into content for the rows written before the trigger (one UPDATE here;
    in batches of primary keys on a big table)."""
    note = apps.get_model("notes", "Note")
    note.objects.filter(content__isnull=True).update(content=models.F("body"))


class Migration(migrations.Migration):
    dependencies = [("notes", "0001_initial")]
    operations = [
        migrations.RunSQL(LOCK_TIMEOUT, migrations.RunSQL.noop),
        migrations.AddField("note", "content", models.TextField(null=True)),
        migrations.RunSQL(SYNC, UNSYNC),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        # v2's model has no `body`: forget it in Django's state, keep the column
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.RemoveField("note", "body")]
        ),
        # undone first on the way back (operations are undone last to first)
        migrations.RunSQL(migrations.RunSQL.noop, LOCK_TIMEOUT),
    ]
