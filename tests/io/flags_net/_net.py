"""Builders shared by the flags-over-TCP tests: both listeners of one flag service."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx

from changeover.agent.api import create_app
from changeover.agent.control import ControlServer, bind_control_socket
from changeover.agent.core import Agent
from changeover.agent.events import EventLog
from changeover.agent.flags import FlagService
from changeover.agent.flags.listener import FlagsListener
from changeover.spec.models import FlagsSettings
from tests.io.flags_serving._helpers import GUARD, run

__all__ = ["BEARER", "GUARD", "TOKEN", "rollout_flag", "run"]

TOKEN = "s3cret-token-0123456789abcdef"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def rollout_flag(name: str = "checkout", percent: int = 10) -> dict[str, Any]:
    params = {"rollout": str(percent), "stickiness": "userId"}
    return {
        "name": name,
        "enabled": True,
        "strategies": [{"name": "flexibleRollout", "parameters": params}],
    }


@dataclass(frozen=True)
class Served:
    url: str  # http://127.0.0.1:PORT/v1/flags on the TCP listener
    socket: Path  # the control socket (admin routes)
    listener: FlagsListener


@contextlib.asynccontextmanager
async def serving(
    service: FlagService, token_file: Path, short_tmp: Path, events: EventLog
) -> AsyncIterator[Served]:
    """The control socket (every route) and the TCP listener (read route) of `service`."""
    settings = FlagsSettings(listen="127.0.0.1:0", token_file=token_file.name)
    listener = FlagsListener.open(settings, token_file.parent / "svc.toml")
    sock = short_tmp / "agent.sock"
    control = ControlServer(
        create_app(cast(Agent, SimpleNamespace(flags=service))), bind_control_socket(sock)
    )
    await control.start()
    try:
        await listener.start(service, events)
        try:
            yield Served(f"http://{listener.address}/v1/flags", sock, listener)
        finally:
            await listener.close()
    finally:
        await control.stop()


def admin(sock: Path) -> httpx.AsyncClient:
    """An HTTP client of the control socket."""
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(uds=str(sock)), base_url="http://a")
