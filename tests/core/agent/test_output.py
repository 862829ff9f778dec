"""What a rollout that failed at boot shows: which replica, which lines, in which words."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from changeover.agent.output import failed_at_boot, last_lines, output_message
from changeover.supervisor.state import ReplicaState
from tests.io.agent._fakes import replica_info

S = ReplicaState


def test_the_replica_shown_is_the_target_one_that_failed_at_boot_most() -> None:
    replicas = [
        replica_info("r1-1", S.BACKOFF, boot_failures=5),  # not the target revision
        replica_info("r2-1", S.BACKOFF, boot_failures=1),
        replica_info("r2-2", S.STARTING, boot_failures=3),
        replica_info("r2-3", S.STARTING),  # never failed
    ]
    chosen = failed_at_boot(replicas, 2)
    assert chosen is not None
    assert chosen.id == "r2-2"
    ready = dataclasses.replace(replica_info("r2-4", S.READY), boot_failures=2)
    assert failed_at_boot([ready, replicas[3]], 2) is None  # ready now: not a boot failure


def test_the_last_lines_are_plain_text(tmp_path: Path) -> None:
    log = tmp_path / "r2-1.log"
    log.write_bytes(b"".join(b"line %d\n" % i for i in range(20)) + b"\x1b[2Jbad \xff\r\n")
    assert last_lines(log, 3) == ["line 18", "line 19", "?[2Jbad \ufffd"]
    assert last_lines(tmp_path / "missing.log") == []


def test_the_message_ends_with_where_to_read_more() -> None:
    assert output_message("r2-1", ["boom"]) == (
        "r2-1 wrote before failing (last line; `changeover logs r2-1` shows more):\n  boom"
    )
    assert output_message("r2-1", ["a", "b"]).splitlines() == [
        "r2-1 wrote before failing (last 2 lines; `changeover logs r2-1` shows more):",
        "  a",
        "  b",
    ]
    assert output_message("r2-1", []) == (
        "r2-1 wrote nothing to stdout or stderr before failing (`changeover logs r2-1`)"
    )
