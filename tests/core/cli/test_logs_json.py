"""`logs --json` lines from the agent's log stream: prefixes split off exactly as the agent
puts them (`agent.logs`), chunks cut anywhere, times read back from its stamps."""

from __future__ import annotations

from changeover.agent.logclock import format_stamp
from changeover.agent.logs import _prefixed
from changeover.cli.logs import LogLines, stamp_time

WHEN = 1763700100.0


def stamped(name: str, text: str, when: float | None, *, prefix: bool) -> bytes:
    """A line as the agent sends it with `timestamps=1` (api.py's `emit`)."""
    line = format_stamp(when).encode() + b" " + text.encode() + b"\n"
    return _prefixed(name, line, prefix)


def test_every_replica_lines_cut_anywhere_become_one_object_each() -> None:
    stream = (
        stamped("r2-1", "hello | world", WHEN, prefix=True)
        + stamped("r2-10", "  indented", None, prefix=True)
        + stamped("r2-1", "", WHEN + 1.0, prefix=True)
    )
    reader = LogLines(replica=None, stream="output", prefixed=True, stamped=True)
    found = [line for i in range(0, len(stream), 7) for line in reader.feed(stream[i : i + 7])]
    found += reader.end()
    assert found == [
        {"replica": "r2-1", "stream": "output", "time": WHEN, "text": "hello | world"},
        {"replica": "r2-10", "stream": "output", "time": None, "text": "  indented"},
        {"replica": "r2-1", "stream": "output", "time": WHEN + 1.0, "text": ""},
    ]


def test_one_replica_has_no_prefix_and_a_last_line_without_newline_counts() -> None:
    reader = LogLines(replica="r3-1", stream="output", prefixed=False, stamped=True)
    head = stamped("r3-1", "r3-9 | not a prefix", WHEN, prefix=False)
    assert reader.feed(head + format_stamp(WHEN).encode() + b" cut \xff") == [
        {"replica": "r3-1", "stream": "output", "time": WHEN, "text": "r3-9 | not a prefix"}
    ]
    assert reader.end() == [
        {"replica": "r3-1", "stream": "output", "time": WHEN, "text": "cut \ufffd"}
    ]
    assert reader.end() == []


def test_the_agents_own_log_is_taken_as_it_is() -> None:
    reader = LogLines(replica=None, stream="agent", prefixed=False, stamped=False)
    line = b"10:00:00 reload: started the new agent (pid 42)\n"
    assert reader.feed(line) == [
        {"replica": None, "stream": "agent", "time": None,
         "text": "10:00:00 reload: started the new agent (pid 42)"}
    ]  # fmt: skip


def test_stamps_read_back_to_the_second() -> None:
    assert stamp_time(format_stamp(WHEN + 0.75)) == WHEN
    assert stamp_time(format_stamp(None)) is None
    assert stamp_time("not a stamp") is None
