"""The contract half of the notes migrations: an app with no model, only migrations that
drop what the old releases needed. Apart from `notes` so that `migrate notes` (the
expand) never applies them; each depends on the `notes` migration it finishes."""

from __future__ import annotations

from django.apps import AppConfig


class NotesContractConfig(AppConfig):
    name = "notes_contract"
