"""Fakes of the runtime's effects, shipped for tests of apps that use the runtime.

Invariant: a fake records every effect in order and never touches the process (no exit,
no socket), and its clock only moves when told, so tests decide time, not the machine.
"""

from __future__ import annotations

import asyncio

from changeover.runtime.asgi_types import ASGIApp, Headers, Message, Scope
from changeover.runtime.effects import Effects


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingEffects(Effects):
    """Effects that remember notifications and exit codes instead of acting on them."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.notified: list[str] = []
        self.exits: list[int] = []
        super().__init__(
            clock=clock or FakeClock(), notify=self.notified.append, exit=self.exits.append
        )


def http_scope(path: str, method: str = "GET") -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


def websocket_scope(path: str) -> Scope:
    return {**http_scope(path), "type": "websocket", "scheme": "ws", "subprotocols": []}


class FakeCall:
    """One ASGI call driven by hand: messages in through `push`, out into `sent`."""

    def __init__(self, app: ASGIApp, scope: Scope) -> None:
        self.inbox: asyncio.Queue[Message] = asyncio.Queue()
        self.sent: list[Message] = []
        self._changed = asyncio.Event()
        self.task = asyncio.ensure_future(app(scope, self.inbox.get, self._send))

    async def _send(self, message: Message) -> None:
        self.sent.append(message)
        self._changed.set()

    def push(self, message: Message) -> None:
        self.inbox.put_nowait(message)

    def types(self) -> list[str]:
        return [m["type"] for m in self.sent]

    async def until(self, kind: str, timeout: float = 10.0) -> Message:  # noqa: ASYNC109
        """The first sent message of type `kind`, waiting for it up to `timeout`."""
        async with asyncio.timeout(timeout):
            while True:
                for message in self.sent:
                    if message["type"] == kind:
                        return message
                self._changed.clear()
                await self._changed.wait()

    async def response(self, timeout: float = 10.0) -> tuple[int, Headers, bytes]:  # noqa: ASYNC109
        """Status, headers and whole body of an http call, once it has ended."""
        async with asyncio.timeout(timeout):
            await self.task
        start = next(m for m in self.sent if m["type"] == "http.response.start")
        body = b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")
        return start["status"], list(start.get("headers", [])), body


async def get(app: ASGIApp, path: str) -> tuple[int, Headers, bytes]:
    """One complete GET with an empty body."""
    call = FakeCall(app, http_scope(path))
    call.push({"type": "http.request", "body": b"", "more_body": False})
    return await call.response()
