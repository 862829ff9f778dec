"""A real agent object (not its process) with the `[ops]` listener over TCP, for the ops
tests: its store, proxy counters and controller are set up by hand, then scraped or
sent alerts like Prometheus and Alertmanager would."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from changeover.agent.core import Agent
from changeover.agent.ops.listener import OpsListener
from changeover.agent.paths import StatePaths
from changeover.proxy.server import Proxy
from changeover.spec.load import load_spec
from changeover.store import Store

TOKEN = "ops-t0ken-5f1e2d3c4b5a69788796a5b4"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SPEC = """\
[app]
name = "hello"
command = "sleep 600"

[proxy]
listen = "127.0.0.1:0"

[ops]
listen = "127.0.0.1:0"
{token}
{notify}"""


@dataclass
class Served:
    agent: Agent
    url: str  # http://127.0.0.1:PORT
    listener: OpsListener


def write_spec(folder: Path, *, token: bool = True, notify: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if token:
        (folder / "ops.token").write_text(TOKEN + "\n")
        (folder / "ops.token").chmod(0o600)
    spec = folder / "svc.toml"
    hook = "" if notify is None else f'[notify]\nwebhook = "{notify}"\nevents = ["alert"]\n'
    spec.write_text(SPEC.format(token='token_file = "ops.token"' if token else "", notify=hook))
    return spec


@contextlib.asynccontextmanager
async def serving(
    folder: Path, *, token: bool = True, notify: str | None = None, max_connections: int = 64
) -> AsyncIterator[Served]:
    spec_path = write_spec(folder, token=token, notify=notify)
    spec = load_spec(spec_path)
    paths = StatePaths(folder / "state")
    paths.ensure()
    proxy = Proxy()
    await proxy.serve(socket.create_server(("127.0.0.1", 0)))
    with Store.open(paths.store) as store:
        agent = Agent(paths=paths, spec=spec, spec_path=spec_path, store=store, proxy=proxy)
        listener = OpsListener.open(spec.ops, spec_path, max_connections=max_connections)
        await listener.start(agent)
        try:
            yield Served(agent, f"http://{listener.address}", listener)
        finally:
            await listener.close()
            await agent.notifier.close()
            agent.controller.cancel("test over")
            await proxy.shutdown(timeout=1.0)


def stable_revision(agent: Agent, version: str = "v1") -> int:
    """Revision 1 made stable by a finished initial rollout, as `up` leaves it."""
    store, spec = agent.store, agent.spec.model_dump(mode="json")
    rev = store.create_revision(
        version=version, path="/srv", command="app", env={}, spec=spec, replicas=2, now=1.0
    )
    rollout = store.start_rollout(
        from_revision=None, to_revision=rev.id, kind="initial", strategy="rolling", now=1.0
    )
    store.finish_rollout(rollout.id, phase="succeeded", reason="", now=2.0)
    return rev.id


def alertmanager(*alerts: dict[str, Any]) -> bytes:
    """A version 4 webhook body, as Alertmanager sends it."""
    return json.dumps(
        {
            "version": "4",
            "groupKey": "{}:{}",
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "changeover",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": list(alerts),
        }
    ).encode()


def firing(name: str, status: str = "firing", **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": name, **labels},
        "annotations": {"summary": f"{name} is {status}"},
        "startsAt": "2026-01-05T10:00:00Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
        "fingerprint": f"fp-{name}-{sorted(labels.items())}",
    }


class Hook:
    """A webhook receiver on loopback that keeps every JSON body it was sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/hook"

    def __enter__(self) -> Hook:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
