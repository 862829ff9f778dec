"""The `--listen` option: addresses bound once by `changeover run` and passed to every generation.

Invariant: a listener is bound and listening before the first generation starts, with
TCP_NODELAY set (accepted sockets inherit it; servers handed a pre-bound fd never set it),
and it stays open in this process for its whole life, so no connection is ever refused
between generations.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

BACKLOG = 1024
DEFAULT_NAME = "http"
LISTEN_HINT = (
    'expected [NAME=]HOST:PORT, like "127.0.0.1:8080", "[::1]:8080", ":8080" or "api=0.0.0.0:80"'
)
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,255}")


@dataclass(frozen=True)
class Address:
    name: str  # its entry in LISTEN_FDNAMES
    host: str  # an IP address; "" never (":PORT" means 0.0.0.0)
    port: int

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def __str__(self) -> str:
        host = f"[{self.host}]" if self.family is socket.AF_INET6 else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class Listener:
    """A bound listening socket and the address it really has (port 0 resolved)."""

    address: Address
    sock: socket.socket


def parse_listen(text: str) -> Address:
    """Parse one `--listen` value; ValueError says what was expected."""
    name, sep, rest = text.partition("=")
    if not sep:
        name, rest = DEFAULT_NAME, text
    elif not _NAME.fullmatch(name):
        raise ValueError(f"name {name!r} must be 1-255 of A-Z a-z 0-9 _ . - ({LISTEN_HINT})")
    host, colon, port_text = rest.rpartition(":")
    if not colon or not port_text.isdigit() or int(port_text) > 65535:
        raise ValueError(f"{LISTEN_HINT}, got {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        if ":" not in host:
            raise ValueError(f"brackets are for IPv6 addresses: {LISTEN_HINT}, got {text!r}")
    elif ":" in host:
        raise ValueError(f"IPv6 addresses need brackets: {LISTEN_HINT}, got {text!r}")
    host = host or "0.0.0.0"
    try:
        host = str(ipaddress.ip_address(host))
    except ValueError:
        raise ValueError(f"{host!r} is not an IP address ({LISTEN_HINT})") from None
    return Address(name, host, int(port_text))


def bind(address: Address) -> socket.socket:
    """A listening socket at `address`; OSError (with the address in it) if that fails."""
    sock = socket.socket(address.family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if address.family is socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address.host, address.port))
        sock.listen(BACKLOG)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {address}: {exc.strerror}") from None
    return sock


def bound_address(sock: socket.socket, name: str) -> Address:
    """The address `sock` really listens on (port 0 resolved)."""
    host, port = sock.getsockname()[:2]
    return Address(name, host, port)


def probe_target(address: Address) -> tuple[str, int]:
    """Where a local probe connects: loopback in place of a wildcard address."""
    wildcard = {"0.0.0.0": "127.0.0.1", "::": "::1"}
    return wildcard.get(address.host, address.host), address.port
