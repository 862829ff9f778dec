"""Which process holds the server end of a loopback TCP connection (Linux /proc).

Invariant: `server_inode` matches on the full pair (server port, client address and
port), so it names the accepted socket of exactly one connection or nothing; an inode
of 0 (not yet accepted, or already closed) is never reported as an owner.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")


@dataclass(frozen=True)
class Row:
    local: tuple[str, int]
    remote: tuple[str, int]
    inode: int


def parse_table(text: str) -> Iterator[Row]:
    """Rows of /proc/net/tcp or tcp6 (the header line and malformed lines are skipped)."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 10 or ":" not in parts[1] or not parts[9].isdigit():
            continue
        with contextlib.suppress(ValueError):
            yield Row(_endpoint(parts[1]), _endpoint(parts[2]), int(parts[9]))


def _endpoint(text: str) -> tuple[str, int]:
    """`0100007F:1F90` -> ("127.0.0.1", 8080): the kernel prints each 32-bit word in host order."""
    hex_addr, hex_port = text.split(":")
    if len(hex_addr) not in (8, 32):
        raise ValueError(text)
    words = [int(hex_addr[i : i + 8], 16) for i in range(0, len(hex_addr), 8)]
    raw = b"".join(struct.pack("=I", w) for w in words)
    address = ipaddress.ip_address(raw)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address), int(hex_port, 16)


def server_inode(rows: Iterable[Row], server_port: int, client: tuple[str, int]) -> int | None:
    """The inode of the server's socket for the connection from `client`, if accepted."""
    host = str(ipaddress.ip_address(client[0]))
    for row in rows:
        if row.local[1] == server_port and row.remote == (host, client[1]) and row.inode:
            return row.inode
    return None


def read_rows() -> list[Row]:
    rows: list[Row] = []
    for table in _TABLES:
        with contextlib.suppress(OSError), open(table, encoding="ascii") as f:
            rows.extend(parse_table(f.read()))
    return rows


def held_by(inode: int, pids: Iterable[int]) -> bool:
    """Whether one of `pids` has `inode` among its open file descriptors."""
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # exited meanwhile
        for fd in fds:
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                    return True
    return False
