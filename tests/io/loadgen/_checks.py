"""Assertions shared by the load generator tests."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable, Coroutine
from typing import Any

from changeover.loadgen import Outcome, Report

from ._servers import ServerConn

Arun = Callable[[Coroutine[Any, Any, Any]], Any]
"""Type of the `arun` fixture: run a coroutine on a fresh event loop."""


def assert_exact(report: Report) -> None:
    """The tally invariants every finished run must satisfy."""
    failures = sum(n for kind, n in report.outcomes().items() if kind != Outcome.OK)
    assert report.in_flight == 0
    assert report.sent == report.ok + report.failed
    assert report.failed == failures
    assert report.completed == sum(report.status_codes.values())
    assert len(report.failures) + report.failures_dropped == report.failed


def hard_reset(conn: ServerConn) -> None:
    """Close with an RST instead of a FIN (SO_LINGER with a zero timeout)."""
    assert conn.transport is not None
    sock = conn.transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.abort()
