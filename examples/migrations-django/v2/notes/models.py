"""Release v2's model: a note's text is `content`. `body` is gone from the model (and,
by migration 0002, from Django's state) while the database keeps it for v1 until the
contract drops it."""

from __future__ import annotations

from django.db import models


class Note(models.Model):
    content = models.TextField(null=True)  # nullable: v1 inserts without it (a trigger fills it)

    class Meta:
        db_table = "notes"
