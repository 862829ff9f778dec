"""The pure retention decision: every branch, then properties over random listings."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from changeover.agent.retention import (
    BEYOND_KEEP,
    STOPPED,
    Delete,
    Limits,
    LogFile,
    Rotate,
    decide,
    parse_name,
)
from tests.core.retention.listing import DAY, LIMITS, NOW, log


def test_names_of_replica_logs_parse_and_others_do_not() -> None:
    assert parse_name("r3-1.log") == ("r3-1", 0)
    assert parse_name("r3-1.log.2") == ("r3-1", 2)
    assert parse_name("r12-40.log.17") == ("r12-40", 17)
    others = [".r3-1.log.rotating", "r3-1.log.0", "r3-1.log.x", "r3-1.txt", "r3-1.log.01"]
    others += ["../r3-1.log", "r3.1.log", "state.db", "r3-1.log.1234567", "r3-1.log.-1", ""]
    for other in others:
        assert parse_name(other) is None, other


def test_a_running_replica_over_max_size_is_rotated() -> None:
    actions = decide([log("r1-1.log", size=1001)], {"r1-1"}, LIMITS, NOW)
    assert actions == [Rotate("r1-1")]
    assert repr(actions[0]) == "ROTATE r1-1"


def test_a_running_replica_at_or_under_max_size_is_left_alone() -> None:
    assert decide([log("r1-1.log", size=1000)], {"r1-1"}, LIMITS, NOW) == []
    assert decide([log("r1-1.log", size=0, age=30 * DAY)], {"r1-1"}, LIMITS, NOW) == []


def test_rotated_files_beyond_keep_are_deleted_oldest_first() -> None:
    listing = [log(f"r1-1.log.{n}") for n in (1, 2, 3, 4)] + [log("r1-1.log")]
    actions = decide(listing, {"r1-1"}, LIMITS, NOW)
    assert actions == [Delete("r1-1.log.4", BEYOND_KEEP), Delete("r1-1.log.3", BEYOND_KEEP)]
    assert repr(actions[0]) == "DELETE r1-1.log.4"


def test_deletions_come_before_rotations() -> None:
    listing = [log("r1-1.log", size=5000), log("r1-1.log.3"), log("r2-1.log", age=8 * DAY)]
    actions = decide(listing, {"r1-1"}, LIMITS, NOW)
    assert actions == [
        Delete("r1-1.log.3", BEYOND_KEEP),
        Delete("r2-1.log", STOPPED),
        Rotate("r1-1"),
    ]


def test_a_stopped_replica_is_deleted_whole_only_once_all_its_files_are_old() -> None:
    old = [log("r1-1.log", age=8 * DAY), log("r1-1.log.1", age=9 * DAY)]
    assert decide(old, set(), LIMITS, NOW) == [
        Delete("r1-1.log.1", STOPPED),
        Delete("r1-1.log", STOPPED),
    ]
    # one recent file keeps the group: retention counts from the last write
    recent = [log("r1-1.log", age=8 * DAY), log("r1-1.log.1", age=DAY)]
    assert decide(recent, set(), LIMITS, NOW) == []
    exactly = [log("r1-1.log", age=7 * DAY)]
    assert decide(exactly, set(), LIMITS, NOW) == []


def test_a_stopped_replica_is_never_rotated_but_its_extra_rotated_files_go() -> None:
    listing = [log("r1-1.log", size=10**9, age=DAY), log("r1-1.log.3", age=DAY)]
    assert decide(listing, set(), LIMITS, NOW) == [Delete("r1-1.log.3", BEYOND_KEEP)]


def test_a_running_replica_is_never_deleted_however_old_its_log() -> None:
    listing = [log("r1-1.log", age=400 * DAY), log("r1-1.log.1", age=400 * DAY)]
    assert decide(listing, {"r1-1"}, LIMITS, NOW) == []


def test_rotated_files_without_a_current_log_follow_the_same_rules() -> None:
    listing = [log("r1-1.log.1", age=DAY), log("r1-1.log.5", age=DAY)]
    assert decide(listing, {"r1-1"}, LIMITS, NOW) == [Delete("r1-1.log.5", BEYOND_KEEP)]
    assert decide(listing, set(), LIMITS, NOW + 7 * DAY) == [
        Delete("r1-1.log.5", STOPPED),
        Delete("r1-1.log.1", STOPPED),
    ]


def test_keep_zero_deletes_every_rotated_file_and_still_rotates() -> None:
    limits = Limits(max_size=1000, keep=0, retain_stopped=DAY)
    listing = [log("r1-1.log", size=2000), log("r1-1.log.1")]
    assert decide(listing, {"r1-1"}, limits, NOW) == [
        Delete("r1-1.log.1", BEYOND_KEEP),
        Rotate("r1-1"),
    ]


def test_files_that_are_not_replica_logs_are_never_named() -> None:
    listing = [
        log("notes.txt", size=10**9, age=400 * DAY),
        log(".r1-1.log.rotating", age=400 * DAY),
    ]
    assert decide(listing, set(), LIMITS, NOW) == []


ids = st.sampled_from(["r1-1", "r1-2", "r2-1", "r10-3"])
names = st.builds(
    lambda replica, n: f"{replica}.log" + (f".{n}" if n else ""), ids, st.integers(0, 8)
) | st.sampled_from(["agent.log.x", "junk", ".r1-1.log.rotating"])
listings = st.lists(
    st.builds(LogFile, names, st.integers(0, 5000), st.floats(NOW - 30 * DAY, NOW)),
    unique_by=lambda f: f.name,
    max_size=30,
)
limits = st.builds(Limits, st.integers(1, 4000), st.integers(0, 5), st.floats(0, 20 * DAY))


@given(listings, st.sets(ids), limits)
def test_properties_over_random_listings(
    listing: list[LogFile], running: set[str], limits: Limits
) -> None:
    actions = decide(listing, running, limits, NOW)
    names = {f.name for f in listing}
    deleted = {a.name for a in actions if isinstance(a, Delete)}
    rotated = [a.replica for a in actions if isinstance(a, Rotate)]
    assert deleted <= names  # only what was listed
    assert len(deleted) == len([a for a in actions if isinstance(a, Delete)])  # once each
    assert len(rotated) == len(set(rotated))
    assert set(rotated) <= running
    for replica in running:
        assert f"{replica}.log" not in deleted  # a running replica's current log stays
    for f in listing:
        parsed = parse_name(f.name)
        if parsed is None:
            assert f.name not in deleted
            continue
        replica, n = parsed
        kept = f.name not in deleted
        assert not (kept and n > limits.keep)  # never more than keep rotated files
        if replica in running and n == 0:
            assert (replica in rotated) == (f.size > limits.max_size)
    groups: dict[str, list[LogFile]] = {}
    for f in listing:
        if (parsed := parse_name(f.name)) is not None:
            groups.setdefault(parsed[0], []).append(f)
    for replica, group in groups.items():
        if replica not in running and NOW - max(f.mtime for f in group) > limits.retain_stopped:
            assert {f.name for f in group} <= deleted  # a long-stopped replica goes whole
        else:  # otherwise only rotated files beyond keep go
            gone = [parse_name(f.name) for f in group if f.name in deleted]
            assert all(n > limits.keep for _, n in filter(None, gone))
    # deletions first: the rotation never races a delete of the same replica's files
    kinds = [isinstance(a, Rotate) for a in actions]
    assert kinds == sorted(kinds)
    assert decide(listing, running, limits, NOW) == actions  # pure: same input, same answer
