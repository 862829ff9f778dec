"""contract: rename notes.body to notes.content, second half (release v2): drop the
trigger and the `body` column, once no v1 replica can run again (changeover runs it
then). Database only: `body` left Django's state in notes 0002, since a migration of
this app cannot change the `notes` app's models. Irreversible on purpose: undoing it
(`migrate notes 0001` after the contract) fails and changes nothing."""

from __future__ import annotations

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("notes", "0002_add_content")]
    operations = [
        migrations.RunSQL("SET LOCAL lock_timeout = '5s'"),
        migrations.RunSQL("DROP TRIGGER IF EXISTS notes_sync ON notes"),
        migrations.RunSQL("DROP FUNCTION IF EXISTS notes_sync()"),
        migrations.RunSQL("ALTER TABLE notes DROP COLUMN body"),
    ]
