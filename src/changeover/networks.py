"""IP networks named in a spec (`[proxy] trusted_proxies`), and whether a peer is in one.

Invariant: an entry is an IP address or a network whose host bits are all zero;
"10.0.0.1/8" is refused (probably a typo for "10.0.0.0/8" or "10.0.0.1/32"), never
widened silently. A peer that is no IP address (a unix socket, "unknown") is in no
network, and an IPv4-mapped IPv6 peer (`::ffff:10.0.0.1`, seen on a dual-stack
listener) is matched as the IPv4 address it carries. The standard library only.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
EXAMPLES = '"10.0.0.0/8", "127.0.0.1", "::1" or "fd00::/8"'


def parse_network(entry: object) -> Network:
    """One entry as a network (an address is a /32 or /128); ValueError saying why not."""
    if not isinstance(entry, str):
        raise ValueError(f"expected an IP address or network such as {EXAMPLES}, got {entry!r}")
    text = entry.strip()
    if "%" in text:  # an IPv6 scope names an interface, which no peer address carries
        raise ValueError(f"expected an address without a %scope, got {entry!r}")
    try:
        return ipaddress.ip_network(text)
    except ValueError:
        pass
    try:
        loose = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise ValueError(
            f"expected an IP address or network such as {EXAMPLES}, got {entry!r}"
        ) from None
    raise ValueError(
        f"{entry!r} has host bits set: write the network {str(loose)!r}, "
        f"or the single address {str(ipaddress.ip_interface(text).ip)!r}"
    )


def parse_networks(entries: Iterable[object]) -> tuple[Network, ...]:
    """Every entry parsed; the first bad one raises ValueError naming its index."""
    parsed = []
    for index, entry in enumerate(entries):
        try:
            parsed.append(parse_network(entry))
        except ValueError as exc:
            raise ValueError(f"[{index}]: {exc}") from None
    return tuple(parsed)


def peer_in(host: str, networks: tuple[Network, ...]) -> bool:
    """Whether the peer address `host` (as a socket's peername gives it) is in a network."""
    try:
        address = ipaddress.ip_address(host.partition("%")[0])  # a link-local scope dropped
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)
