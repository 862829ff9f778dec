"""The notes app: the Note model and its expand migrations (`migrate notes` applies them)."""

from __future__ import annotations

from django.apps import AppConfig


class NotesConfig(AppConfig):
    name = "notes"
