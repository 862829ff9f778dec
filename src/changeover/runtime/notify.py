"""Readiness notification (the systemd `NOTIFY_SOCKET` protocol) in pure Python.

Invariant: one call sends one datagram, to a path socket ("/run/...") or an abstract one
("@name"), and reports False when no manager listens; a malformed address or state
raises NotifyError naming what was expected instead of sending garbage.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, MutableMapping


class NotifyError(ValueError):
    """The notification state or the `NOTIFY_SOCKET` address is malformed."""


def socket_address(raw: str) -> str | bytes:
    """The address `sendto` needs for a `NOTIFY_SOCKET` value (pure)."""
    if raw.startswith("@") and len(raw) > 1:
        return b"\0" + raw[1:].encode()  # Linux abstract namespace: leading NUL byte
    if raw.startswith("/"):
        return raw
    raise NotifyError(
        f"NOTIFY_SOCKET: expected an absolute path or '@' and an abstract name, got {raw!r}"
    )


def encode_state(state: str | Mapping[str, str]) -> bytes:
    """`READY=1`-style text, from a string or a mapping of assignments (pure)."""
    lines = [f"{k}={v}" for k, v in state.items()] if isinstance(state, Mapping) else [state]
    if not lines or not all(lines):
        raise NotifyError("notify: expected at least one non-empty state like 'READY=1'")
    text = "\n".join(lines)
    for line in text.split("\n"):
        if "=" not in line or line.startswith("="):
            raise NotifyError(f"notify: expected 'NAME=value' lines, got {line!r}")
    return text.encode()


def notify(
    state: str | Mapping[str, str],
    *,
    unset_environment: bool = False,
    environ: MutableMapping[str, str] | None = None,
) -> bool:
    """Send `state` to the service manager; False if `NOTIFY_SOCKET` is not set."""
    env = os.environ if environ is None else environ
    payload = encode_state(state)
    raw = env.get("NOTIFY_SOCKET", "")
    if not raw:
        return False
    address = socket_address(raw)
    if unset_environment:
        env.pop("NOTIFY_SOCKET", None)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        sock.sendto(payload, address)
    return True
