"""Release v1's model: a note's text is `body`."""

from __future__ import annotations

from django.db import models


class Note(models.Model):
    body = models.TextField()

    class Meta:
        db_table = "notes"
