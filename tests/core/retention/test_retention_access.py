"""The access log in the pure retention decision: `access.log` is rotated and kept like a
running replica's log while the proxy writes it (the caller counts ACCESS as running),
and goes like a stopped replica's once the log is turned off."""

from __future__ import annotations

from changeover.agent.logs import ACCESS_LOG
from changeover.agent.retention import (
    ACCESS,
    BEYOND_KEEP,
    STOPPED,
    Delete,
    Rotate,
    decide,
    parse_name,
)
from tests.core.retention.listing import DAY, LIMITS, NOW, log


def test_the_access_log_is_named_like_no_replica() -> None:
    assert ACCESS_LOG == "access.log"
    assert parse_name(ACCESS_LOG) == (ACCESS, 0)
    assert parse_name("access.log.2") == (ACCESS, 2)


def test_while_written_it_is_rotated_over_max_size_and_keeps_keep_files() -> None:
    listing = [log("access.log", size=1001), *(log(f"access.log.{n}") for n in (1, 2, 3))]
    assert decide(listing, {"r1-1", ACCESS}, LIMITS, NOW) == [
        Delete("access.log.3", BEYOND_KEEP),
        Rotate(ACCESS),
    ]


def test_while_written_it_is_never_deleted_however_quiet() -> None:
    listing = [log("access.log", age=400 * DAY), log("access.log.1", age=400 * DAY)]
    assert decide(listing, {ACCESS}, LIMITS, NOW) == []


def test_once_turned_off_its_files_go_together_after_retain_stopped() -> None:
    listing = [log("access.log", size=10**9, age=8 * DAY), log("access.log.1", age=9 * DAY)]
    assert decide(listing, {"r1-1"}, LIMITS, NOW) == [
        Delete("access.log.1", STOPPED),
        Delete("access.log", STOPPED),
    ]
    assert decide([log("access.log", size=10**9, age=DAY)], {"r1-1"}, LIMITS, NOW) == []
