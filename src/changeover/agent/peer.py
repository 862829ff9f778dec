"""Who is on the other end of a control connection: the kernel's word, never the client's.

Invariant: a request's `Peer` is read once per connection with SO_PEERCRED from the
connected unix socket (the process that connected, as the kernel recorded it; over SSH,
`changeover dial` runs as the remote account, so that account), and reaches the API in
the ASGI scope under `PEER`; a request without one (not a unix socket) has none, and
nothing a client sends can set it.
"""

from __future__ import annotations

import asyncio
import functools
import pwd
import socket
import struct
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PEER = "changeover.peer"  # the key in scope["extensions"]
_UCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    gid: int

    @property
    def account(self) -> str:
        """The uid's name, or "uid N" when it has none (looked up only when asked: every
        connection has a peer, few requests need its name)."""
        return account_name(self.uid)


@functools.lru_cache(maxsize=64)
def account_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def peer_of(sock: Any) -> Peer | None:
    """The credentials of the process connected to `sock`, if it is a unix socket."""
    if sock is None or getattr(sock, "family", None) != socket.AF_UNIX:
        return None
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    except OSError:
        return None
    pid, uid, gid = _UCRED.unpack(raw)
    return Peer(pid, uid, gid)


def peer_in(scope: Any) -> Peer | None:
    """The peer the server put in a request's scope."""
    found = (scope.get("extensions") or {}).get(PEER)
    return found if isinstance(found, Peer) else None


class PeerProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, adding the connection's `Peer` to every request."""

    _peer: Peer | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._peer = peer_of(transport.get_extra_info("socket"))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        extensions: dict[str, Any] = self.scope.setdefault("extensions", {})
        extensions[PEER] = self._peer
