"""The pure decisions: who is killed with a replica, who is reaped, what is recorded."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from changeover.supervisor.descendants import (
    AgentView,
    ProcView,
    Target,
    subtree,
    to_kill,
    to_reap,
)
from changeover.supervisor.escape_watch import Watch

AGENT = AgentView(pid=100, pgid=100, owned=frozenset({200}))
REPLICA = 200  # the replica's main process, leader of group 200, started at t=1000
TARGET = Target("r1-1", pgid=REPLICA, started=1000.0)


def view(ppid: int, pgid: int, created: float, **kw: object) -> ProcView:
    return ProcView(ppid, pgid, created, **kw)  # type: ignore[arg-type]


def test_a_recorded_descendant_that_left_the_group_is_killed_with_its_children() -> None:
    table = {
        300: view(1, 300, 1001.0),  # setsid(), re-parented to init
        301: view(300, 300, 1005.0),  # forked after the last recording
        302: view(REPLICA, REPLICA, 1002.0),  # still in the group: the group kill has it
    }
    assert to_kill({300: 1001.0, 302: 1002.0}, table, TARGET, AGENT) == {300, 301}


def test_a_reused_pid_is_never_killed() -> None:
    table = {300: view(1, 300, 2000.0)}  # same pid, another process
    assert to_kill({300: 1001.0}, table, TARGET, AGENT) == set()


def test_create_times_within_the_tolerance_name_the_same_process() -> None:
    table = {300: view(1, 300, 1001.4)}  # psutil's boot time moved a little
    assert to_kill({300: 1001.0}, table, TARGET, AGENT) == {300}


def test_a_process_neither_recorded_nor_an_orphan_of_the_agent_is_never_killed() -> None:
    table = {
        400: view(1, 400, 1003.0, marker="r1-1"),  # init's child: not adopted by us
        401: view(AGENT.pid, 401, 1003.0),  # the agent's child without the marker
        402: view(AGENT.pid, 402, 1003.0, marker="r1-2"),  # another replica's orphan
    }
    assert to_kill({}, table, TARGET, AGENT) == set()


def test_an_orphan_of_the_agent_with_the_replica_marker_is_killed() -> None:
    table = {
        500: view(AGENT.pid, 450, 1003.0, marker="r1-1"),
        501: view(500, 450, 1004.0),
        502: view(AGENT.pid, 502, 990.0, marker="r1-1"),  # older than this main process
    }
    assert to_kill({}, table, TARGET, AGENT) == {500, 501}


def test_zombies_owned_pids_and_the_agent_are_never_killed() -> None:
    table = {
        AGENT.pid: view(1, 100, 900.0),
        200: view(AGENT.pid, 200, 1000.0, marker="r1-1"),
        300: view(1, 300, 1001.0, zombie=True),
    }
    recorded = {AGENT.pid: 900.0, 200: 1000.0, 300: 1001.0}
    assert to_kill(recorded, table, TARGET, AGENT) == set()


def test_reaps_only_unowned_zombie_children_of_the_agent() -> None:
    table = {
        10: view(AGENT.pid, 7, 1.0, zombie=True),  # adopted: third group
        11: view(AGENT.pid, AGENT.pgid, 1.0, zombie=True),  # agent's group: a spawn of ours
        12: view(AGENT.pid, 12, 1.0, zombie=True),  # leads its group: a spawn of ours
        13: view(AGENT.pid, 13, 1.0, zombie=True),  # leader, but seen below a child earlier
        14: view(AGENT.pid, 7, 1.0),  # alive
        15: view(1, 7, 1.0, zombie=True),  # init's
        200: view(AGENT.pid, 7, 1.0, zombie=True),  # a ChildProcess waits for it
        16: view(AGENT.pid, 16, 9.0, zombie=True),  # its pid was seen, as another process
    }
    assert to_reap(table, AGENT, {13: 1.0, 16: 1.0}) == [10, 13]


def test_the_watch_keeps_escapees_and_drops_the_dead() -> None:
    watch = Watch(agent_pid=AGENT.pid, interval=1.0)
    first = {REPLICA: view(AGENT.pid, REPLICA, 1000.0), 300: view(REPLICA, 300, 1001.0)}
    watch.record("r1-1", REPLICA, first, now=0.0)
    assert watch.recorded["r1-1"] == {300: 1001.0}
    assert not watch.due("r1-1", 0.5)
    assert watch.due("r1-1", 1.0)
    # 300 was re-parented to init (no longer below the replica) and 301 appeared.
    later = {**first, 300: view(1, 300, 1001.0), 301: view(REPLICA, 301, 1003.0)}
    watch.record("r1-1", REPLICA, later, now=1.0)
    assert watch.recorded["r1-1"] == {300: 1001.0, 301: 1003.0}
    # 300 died; 301's pid now names another process.
    last = {REPLICA: first[REPLICA], 301: view(REPLICA, 301, 1500.0)}
    watch.record("r1-1", REPLICA, last, now=2.0)
    assert watch.recorded["r1-1"] == {301: 1500.0}
    assert watch.forget("r1-1") == {301: 1500.0}
    assert watch.due("r1-1", 2.0)


def test_the_watch_remembers_the_agents_deeper_descendants() -> None:
    watch = Watch(agent_pid=AGENT.pid)
    table = {
        200: view(AGENT.pid, 200, 1.0),
        300: view(200, 200, 2.0),
        301: view(300, 301, 3.0),
        400: view(1, 400, 4.0),
    }
    watch.remember(table)
    assert watch.adopted == {300: 2.0, 301: 3.0}
    watch.remember({200: table[200], 301: view(AGENT.pid, 301, 3.0)})
    assert watch.adopted == {301: 3.0}  # 300 is gone; 301, now our child, is reapable


def test_each_orphan_marker_is_read_once_per_process() -> None:
    watch = Watch(agent_pid=AGENT.pid)
    table = {10: view(AGENT.pid, 10, 1.0), 11: view(AGENT.pid, 11, 1.0)}
    assert watch.unchecked(table, [10, 11]) == [10, 11]
    assert watch.unchecked(table, [10, 11]) == []
    assert watch.unchecked({**table, 10: view(AGENT.pid, 10, 50.0)}, [10]) == [10]


pids = st.one_of(st.integers(min_value=2, max_value=40), st.sampled_from([AGENT.pid, REPLICA]))
times = st.sampled_from([1000.0, 1010.0, 1020.0])
views = st.builds(
    ProcView,
    ppid=st.one_of(st.just(AGENT.pid), st.just(1), pids),
    pgid=st.one_of(st.just(AGENT.pgid), st.just(REPLICA), pids),
    create_time=times,
    zombie=st.booleans(),
    marker=st.sampled_from([None, "r1-1", "r1-2"]),
)


@given(st.dictionaries(pids, views, max_size=25), st.dictionaries(pids, times, max_size=10))
def test_only_identified_processes_and_their_descendants_are_killed(
    table: dict[int, ProcView], recorded: dict[int, float]
) -> None:
    identified = {
        pid
        for pid, view in table.items()
        if (pid in recorded and recorded[pid] == view.create_time and not view.zombie)
        or (view.ppid == AGENT.pid and view.marker == "r1-1" and view.create_time >= 999.0)
    }
    killed = to_kill(recorded, table, TARGET, AGENT)
    assert killed <= subtree(table, identified)
    for pid in killed:
        assert not table[pid].zombie
        assert table[pid].pgid != REPLICA
        assert pid not in AGENT.owned
        assert pid != AGENT.pid


@given(st.dictionaries(pids, views, max_size=25), st.dictionaries(pids, times, max_size=10))
def test_never_reaps_what_the_agent_spawned_unless_seen_adopted(
    table: dict[int, ProcView], adopted: dict[int, float]
) -> None:
    for pid in to_reap(table, AGENT, adopted):
        found = table[pid]
        assert found.zombie
        assert found.ppid == AGENT.pid
        assert pid not in AGENT.owned
        if found.pgid in (pid, AGENT.pgid):
            assert adopted.get(pid) == found.create_time
