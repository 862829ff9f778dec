#!/usr/bin/env python
"""Django's command line for the notes example: `python manage.py migrate notes` and the
other commands `[migrations]` names run through it, from the release's own folder."""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notesite.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
