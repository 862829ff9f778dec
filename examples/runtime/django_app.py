"""Django under changeover.runtime, in one file (Django is not a dependency of changeover).

    pip install django uvicorn        # ASGI:  uvicorn django_app:application
    pip install django gunicorn       # WSGI:  gunicorn --threads 8 django_app:wsgi_application

In a real project put the two wrappers in `asgi.py` / `wsgi.py` next to `settings.py`:
    application = lifecycle.asgi(get_asgi_application())
Django's ASGI handler does not speak lifespan; the runtime then treats it as "lifespan
unsupported" and still runs its own hooks and background workers.
Use one of the two wrappers per process: a Lifecycle belongs to one server.
"""

from __future__ import annotations

import functools

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.urls import path

from changeover.runtime import Lifecycle

settings.configure(
    DEBUG=False,
    SECRET_KEY="example-only",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
)


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse("hello\n")


urlpatterns = [path("", hello)]

asgi_lifecycle = Lifecycle()
wsgi_lifecycle = Lifecycle()


@asgi_lifecycle.on_shutdown
@wsgi_lifecycle.on_shutdown
def close_connections() -> None:
    from django.db import connections

    connections.close_all()


def __getattr__(name: str) -> object:
    """Build a wrapper only when a server asks for it (each starts its runtime)."""
    return _wrapper(name)


@functools.cache
def _wrapper(name: str) -> object:
    if name == "application":
        from django.core.asgi import get_asgi_application

        return asgi_lifecycle.asgi(get_asgi_application())
    if name == "wsgi_application":
        from django.core.wsgi import get_wsgi_application

        return wsgi_lifecycle.wsgi(get_wsgi_application())
    raise AttributeError(name)
