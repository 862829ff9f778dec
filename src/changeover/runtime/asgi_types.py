"""ASGI and WSGI callable types, spelled once for the adapters and the fakes.

Invariant: only type aliases and tiny helpers live here; nothing holds state.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]
StreamPredicate = Callable[[Scope, Headers], bool]

Environ = dict[str, Any]
StartResponse = Callable[..., Callable[[bytes], object]]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


def header(headers: Headers, name: bytes) -> bytes | None:
    """The first value of header `name` (lower-case), if present."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def is_event_stream(scope: Scope, headers: Headers) -> bool:
    """The default long-lived test: Server-Sent Events, whose clients reconnect by design."""
    value = header(headers, b"content-type") or b""
    return value.split(b";")[0].strip().lower() == b"text/event-stream"
