"""The Django example (examples/runtime/django_app.py) under the runtime, ASGI and WSGI.

Django configures its settings once per process, so the example is loaded once here.
"""

from __future__ import annotations

import asyncio
from types import ModuleType

import pytest

from changeover.runtime.fakes import get
from tests.io.runtime.runtime_helpers import start_lifespan, stop_lifespan
from tests.io.runtime.test_runtime_examples import load

pytest.importorskip("django")


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return load("django_app")


def test_django_asgi_serves_then_drains_with_connection_close(example: ModuleType) -> None:
    app = example.application  # built on first access, by the module's __getattr__
    lifecycle = example.asgi_lifecycle
    lifecycle._engine.relay.restore()  # started on pytest's main thread

    async def scenario() -> None:
        lifespan = await start_lifespan(app)  # Django has no lifespan: the runtime's own
        status, headers, body = await get(app, "/")
        assert (status, body) == (200, b"hello\n")
        assert (b"connection", b"close") not in headers
        assert (await get(app, "/readyz"))[0] == 200
        lifecycle.stop()
        assert (await get(app, "/readyz"))[0] == 503
        status, headers, body = await get(app, "/")
        assert (status, body) == (200, b"hello\n")  # still served while draining
        assert (b"connection", b"close") in headers
        await stop_lifespan(lifespan)

    asyncio.run(scenario())
    assert lifecycle.outcome.exit_code == 0


def test_django_wsgi_serves_then_reports_not_ready(example: ModuleType) -> None:
    from wsgiref.util import setup_testing_defaults

    app = example.wsgi_application
    lifecycle = example.wsgi_lifecycle
    lifecycle._engine.relay.restore()
    statuses: list[str] = []

    def call(path: str) -> bytes:
        environ: dict[str, object] = {"PATH_INFO": path}
        setup_testing_defaults(environ)
        result = app(environ, lambda status, headers: statuses.append(status))
        body = b"".join(result)
        getattr(result, "close", lambda: None)()
        return body

    assert call("/") == b"hello\n"
    assert statuses.pop() == "200 OK"
    call("/readyz")
    assert statuses.pop().startswith("200")
    lifecycle.stop()
    call("/readyz")
    assert statuses.pop().startswith("503")
