"""Settings of the Django notes example (docs/migrations.md, "Recipe: Django"): the
smallest project whose migrations run on PostgreSQL.

The database comes from DATABASE_URL (postgresql://user:password@host:port/name), a
secret changeover passes from the env file; nothing secret is written here.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit


def database(url: str) -> dict[str, str]:
    """Django's DATABASES entry for a libpq URL (Django takes the parts, not the URL)."""
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


DATABASES = {"default": database(os.environ["DATABASE_URL"])}
# `notes` holds the model and its expand migrations; `notes_contract` only the contract
# migrations, so that `migrate notes` never contracts (docs/migrations.md)
INSTALLED_APPS = ["notes", "notes_contract"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "notesite.urls"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only")
DEBUG = False
ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")
USE_TZ = True
