"""The log clock: when the agent saw each part of a replica's log written."""

from __future__ import annotations

from changeover.agent.logclock import MAX_NOTES, FileClock, LogClock, format_stamp


def clock(*notes: tuple[int, float]) -> FileClock:
    c = FileClock()
    for size, when in notes:
        c.note(size, when)
    return c


def test_a_line_is_dated_by_the_first_note_that_saw_its_end() -> None:
    c = clock((10, 100.0), (25, 101.0), (40, 102.0))
    assert c.time_at(20) == 101.0  # ends at 20: first seen at the note of 25
    assert c.time_at(25) == 101.0
    assert c.time_at(26) == 102.0


def test_what_the_first_note_found_or_the_last_did_not_has_no_date() -> None:
    c = clock((10, 100.0), (25, 101.0))
    assert c.time_at(5) is None  # already there at the first look: could be old
    assert c.time_at(30) is None  # written after the last note


def test_recent_bytes_start_after_the_last_note_before_the_instant() -> None:
    c = clock((10, 100.0), (25, 101.0), (40, 102.0))
    assert c.offset_since(101.5) == 25
    assert c.offset_since(100.5) == 10
    assert c.offset_since(50.0) == 10  # the first look's bytes are never counted recent
    assert c.offset_since(200.0) == 40  # only what came after the last note
    assert FileClock().offset_since(1.0) == 0


def test_unchanged_sizes_add_no_note_and_rotation_starts_again() -> None:
    c = clock((10, 100.0), (10, 101.0), (30, 102.0))
    assert c.sizes == [10, 30]
    c.note(5, 103.0)  # copy-truncate: smaller than before
    assert (c.sizes, c.times) == ([5], [103.0])


def test_notes_stay_bounded_and_keep_the_newest() -> None:
    c = FileClock()
    for i in range(MAX_NOTES * 3):
        c.note(i + 1, float(i))
    assert len(c.sizes) <= MAX_NOTES
    assert c.sizes[-1] == MAX_NOTES * 3
    assert c.sizes == sorted(c.sizes)
    assert c.time_at(MAX_NOTES * 3) == float(MAX_NOTES * 3 - 1)


def test_a_clock_per_replica_and_forgetting_the_gone() -> None:
    logs = LogClock()
    logs.note([("r1-1", 10), ("r1-2", 5)], 100.0)
    logs.note([("r1-1", 20)], 101.0)
    assert logs.time_at("r1-1", 15) == 101.0
    assert logs.offset_since("r9-9", 0.0) is None  # never seen: nothing known to be recent
    logs.forget(["r1-1"])
    assert set(logs.files) == {"r1-1"}


def test_stamps_are_utc_seconds_or_a_dash_of_the_same_width() -> None:
    assert format_stamp(0.0) == "1970-01-01T00:00:00Z"
    assert format_stamp(None) == "-" + " " * 19
    assert len(format_stamp(None)) == len(format_stamp(0.0))
