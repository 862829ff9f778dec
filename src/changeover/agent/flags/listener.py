"""The flags TCP listener (`[flags] listen`): the flag document for services that cannot
reach the agent's 0600 control socket, behind a bearer token.

Invariant: the token file is checked and the address bound before the agent starts a
replica, so bad input fails the start with a message naming the key; the listener serves
only what `gate` allows, and `close` leaves nothing listening (held long-polls end at once
on the agent's `stopping` event, which the service already waits on).
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from changeover.agent.control import ControlServer
from changeover.agent.events import EventLog
from changeover.agent.flags.gate import tcp_app
from changeover.agent.flags.routes import DOCUMENT_PATH, document_handler
from changeover.agent.flags.service import FlagService
from changeover.spec.models import FlagsSettings
from changeover.spec.types import parse_address
from changeover.tokenfile import TokenFileError, read_token

BACKLOG = 128
MAX_CONNECTIONS = 1000  # open connections (each service process holds one long-poll); then 503


class ListenerError(Exception):
    """The listener cannot start: a bad token file or an address that cannot be bound."""


class FlagsListener:
    def __init__(
        self,
        sock: socket.socket | None = None,
        token: str = "",
        max_connections: int = MAX_CONNECTIONS,
    ) -> None:
        self._sock = sock  # None: `[flags] listen` is not set, nothing to serve
        self._token = token
        self._max_connections = max_connections
        self._server: ControlServer | None = None

    @classmethod
    def open(
        cls, settings: FlagsSettings, spec_path: Path, max_connections: int = MAX_CONNECTIONS
    ) -> FlagsListener:
        """Read the token and bind the address the spec gives (an idle listener if none)."""
        if settings.listen is None or settings.token_file is None:
            return cls()
        token = token_for("flags.token_file", settings.token_file, spec_path)
        return cls(bind_for("flags.listen", settings.listen, spec_path), token, max_connections)

    @property
    def address(self) -> str | None:
        """`host:port` as bound (the port chosen when the spec says 0), or None."""
        return None if self._sock is None else address_of(self._sock)

    async def start(self, service: FlagService, events: EventLog) -> None:
        if self._sock is None:
            return
        app = tcp_app(document_handler(lambda: service), self._token)
        self._server = ControlServer(app, self._sock, max_connections=self._max_connections)
        await self._server.start()
        events.add(
            "agent", f"flags listener on http://{self.address}{DOCUMENT_PATH} (bearer token)"
        )

    async def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            await server.stop()  # closes the socket too
        elif self._sock is not None:
            self._sock.close()  # bound but never served (the start failed)
        self._sock = None


def token_for(key: str, token_file: str, spec_path: Path) -> str:
    """The token in `token_file` (beside the spec), or ListenerError naming `key`."""
    try:
        return read_token(spec_path.parent / token_file)
    except TokenFileError as exc:
        raise ListenerError(f"{spec_path}: {key}: {exc}") from None


def bind_for(key: str, listen: str, spec_path: Path) -> socket.socket:
    """`bind(listen)`, or ListenerError naming `key` and why (never the bound tuple)."""
    try:
        return bind(listen)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ListenerError(f"{spec_path}: {key}: cannot listen on {listen}: {reason}") from None


def address_of(sock: socket.socket) -> str:
    """`host:port` (`[v6]:port`) a listening socket is bound to."""
    host, port = sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bind(listen: str) -> socket.socket:
    """A listening TCP socket; SO_REUSEPORT lets the next agent bind it during a handover
    (`changeover reload`) while this one still serves (Linux allows it only to the same user)."""
    host, port = parse_address(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=BACKLOG, reuse_port=True)
