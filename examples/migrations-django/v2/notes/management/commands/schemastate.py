"""`python manage.py schemastate APP ...`: one line naming the newest migration applied of
each app (`zero`: none), e.g. `notes 0002_add_content, notes_contract zero`.

It is the recipe's `status` command: changeover keeps the last line a status command
prints, and `showmigrations` ends on one migration of one app, not on where each app is.
An applied migration this release does not ship (a newer release's) is named too.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.db.migrations.loader import MigrationLoader


class Command(BaseCommand):
    help = "Print the newest applied migration of each app, on one line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("apps", nargs="+", metavar="APP")

    def handle(self, *args: Any, **options: Any) -> None:
        loader = MigrationLoader(connection)  # reads what is applied from the database
        graph, applied = loader.graph, set(loader.applied_migrations or ())
        said = []
        for app in options["apps"]:
            known = [key for key in applied if key[0] == app and key in graph.nodes]
            # an app's history is a line: its newest applied migration follows all others
            newest = max(known, key=lambda key: len(graph.forwards_plan(key)), default=None)
            text = f"{app} {newest[1] if newest else 'zero'}"
            unknown = sorted(name for label, name in applied - set(graph.nodes) if label == app)
            if unknown:
                text += f" (and {', '.join(unknown)}, not in this release)"
            said.append(text)
        self.stdout.write(", ".join(said))
