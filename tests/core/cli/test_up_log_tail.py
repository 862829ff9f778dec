"""What `up --detach` shows of a failed agent's log: its last lines, from further back
when a replica's output before failing at boot begins there."""

from __future__ import annotations

from pathlib import Path

import pytest

from changeover.agent.output import output_message
from changeover.cli.up import show_log_tail


def test_the_tail_reaches_back_to_the_output_of_the_replica_that_failed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "agent.log"
    earlier = "".join(f"an earlier life {i}\n" for i in range(30))
    output = output_message("r1-1", [f"app line {i}" for i in range(10)])
    after = "".join(f"r1-{i} stopped (exited with code 3)\n" for i in range(2, 20))
    log.write_text(earlier + f"12:00:00 INFO changeover.events: {output}\n" + after)
    show_log_tail(log, offset=len(earlier), lines=20)
    shown = capsys.readouterr().err.splitlines()
    assert shown[0] == (
        "12:00:00 INFO changeover.events: r1-1 wrote before failing "
        "(last 10 lines; `changeover logs r1-1` shows more):"
    )
    assert shown[1:11] == [f"  app line {i}" for i in range(10)]
    assert len(shown) == 11 + 18


def test_without_such_output_the_last_lines_are_shown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "agent.log"
    log.write_text("".join(f"line {i}\n" for i in range(50)))
    show_log_tail(log, offset=0, lines=20)
    assert capsys.readouterr().err.splitlines() == [f"line {i}" for i in range(30, 50)]
