"""Outcome kinds and the rule that maps one finished exchange to exactly one of them.

Invariant: `classify` is total: every exchange, however it ended, yields exactly one kind,
so `sent == ok + failed` holds for every finished run.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """How one request ended; everything except OK is a failure."""

    OK = "ok"
    STATUS = "status"
    BAD_BODY = "bad_body"
    REFUSED = "refused"
    CONNECT_ERROR = "connect_error"
    RESET_FRESH = "reset_fresh"
    RESET_REUSED = "reset_reused"
    RESET_MID_RESPONSE = "reset_mid_response"
    TIMEOUT = "timeout"
    PROTOCOL_ERROR = "protocol_error"


FAILURES: tuple[Outcome, ...] = tuple(o for o in Outcome if o is not Outcome.OK)


@dataclass(slots=True)
class Exchange:
    """What one request/response exchange on a connection produced."""

    reuse: int
    """Index of this request on its connection: 0 means a connection opened for it."""
    collect_body: bool = False
    got_bytes: bool = False
    complete: bool = False
    timed_out: bool = False
    parse_error: bool = False
    status: int | None = None
    header_value: str | None = None
    body: bytearray | None = None


def classify(ex: Exchange, expect: bytes | None) -> Outcome:
    """Map a finished exchange to its single outcome."""
    if ex.complete and ex.status is not None:
        if not 200 <= ex.status < 300:
            return Outcome.STATUS
        if expect is not None and expect not in (ex.body or b""):
            return Outcome.BAD_BODY
        return Outcome.OK
    if ex.timed_out:
        return Outcome.TIMEOUT
    if ex.parse_error:
        return Outcome.PROTOCOL_ERROR
    if ex.got_bytes:
        return Outcome.RESET_MID_RESPONSE
    return Outcome.RESET_REUSED if ex.reuse > 0 else Outcome.RESET_FRESH
