"""Whether a new agent keeps the public socket it inherited at a reload, or binds the
address its spec now names (`proxy.listen` changed), as a pure function.

Invariant: the inherited socket is kept whenever it already is what the spec asks for,
so an unchanged spec never rebinds (a rebind of the same address would fail while the old
agent still holds it); the old agent's own `proxy.listen` string decides first, so port 0
("any free port") is not taken for a change, nor is an address the service manager
passed. Both engines follow it: the new agent's data plane serves on the socket chosen
here, and the old agent's stops with the old address.
"""

from __future__ import annotations

import ipaddress

from changeover.spec.types import parse_address


def changed(old_listen: str | None, new_listen: str, bound: tuple[str, int]) -> bool:
    """True when the new agent must bind `new_listen` itself: its spec names another
    address than the old agent's did (`old_listen`; None: not said, so kept) and than the
    inherited socket is bound to (`bound`, its host and port)."""
    if old_listen is None or old_listen.strip() == new_listen.strip():
        return False
    host, port = parse_address(new_listen)
    return not (port == bound[1] and _same_host(host, bound[0]))


def _same_host(named: str, bound: str) -> bool:
    try:
        return ipaddress.ip_address(named) == ipaddress.ip_address(bound)
    except ValueError:
        return named == "localhost" and bound in ("127.0.0.1", "::1")


__all__ = ["changed"]
