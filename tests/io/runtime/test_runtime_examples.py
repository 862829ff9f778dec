"""The examples in examples/runtime load and behave (framework ones only if installed)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

from changeover.runtime.fakes import FakeCall, get, websocket_scope
from tests.io.runtime.runtime_helpers import start_lifespan, stop_lifespan

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "runtime"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"runtime_example_{name}", EXAMPLES / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_starlette_example_serves_drains_and_runs_hooks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "steps.log"
    monkeypatch.setenv("SHUTDOWN_LOG", str(log))
    example = load("starlette_app")

    async def scenario() -> None:
        app = example.app
        lifespan = await start_lifespan(app)
        example.lifecycle._engine.relay.restore()  # started on pytest's main thread
        status, _, body = await get(app, "/readyz")
        assert (status, json.loads(body)["checks"]) == (200, {"database": "ok"})
        ws = FakeCall(app, websocket_scope("/ws"))
        ws.push({"type": "websocket.connect"})
        await ws.until("websocket.accept")
        example.lifecycle.stop()
        assert (await ws.until("websocket.close"))["code"] == 1001
        assert (await get(app, "/readyz"))[0] == 503
        status, headers, body = await get(app, "/")
        assert (status, body) == (200, b"hello\n")
        assert (b"connection", b"close") in headers
        await stop_lifespan(lifespan)

    asyncio.run(scenario())
    steps = log.read_text().split("\n")
    assert steps == [
        "websocket closed 1001",
        "consumer stopped",
        "flush_metrics",
        "close_database",
        "",
    ]
    assert example.lifecycle.outcome.exit_code == 0


def test_wsgi_example_answers_and_drains(monkeypatch: pytest.MonkeyPatch) -> None:
    from wsgiref.util import setup_testing_defaults

    example = load("wsgi_app")
    example.lifecycle._engine.relay.restore()  # loaded on pytest's main thread
    statuses: list[str] = []

    def call(path: str) -> bytes:
        environ: dict[str, object] = {"PATH_INFO": path}
        setup_testing_defaults(environ)
        result = example.app(environ, lambda status, headers: statuses.append(status))
        body = b"".join(result)
        getattr(result, "close", lambda: None)()
        return body

    assert call("/") == b"hello\n"
    assert statuses.pop() == "200 OK"
    example.lifecycle.stop()
    call("/readyz")
    assert statuses.pop().startswith("503")


@pytest.mark.parametrize(
    ("name", "framework"), [("fastapi_app", "fastapi"), ("flask_app", "flask")]
)
def test_framework_examples_wrap_their_app(name: str, framework: str) -> None:
    pytest.importorskip(framework)
    example = load(name)
    example.lifecycle._engine.relay.restore()
    assert example.app is not None
