"""The WSGI application: `gunicorn notesite.wsgi` (it takes changeover's socket, fd 3)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "notesite.settings")
application = get_wsgi_application()
