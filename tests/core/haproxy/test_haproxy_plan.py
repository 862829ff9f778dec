"""From wanted replicas and weights to runtime API commands (pure), and the weights."""

from __future__ import annotations

from collections.abc import Mapping

from hypothesis import given, settings
from hypothesis import strategies as st

from changeover.haproxy.plan import DRAIN, Have, Step, Want, plan, plan_all, server_weights

OPTS = ("pool-purge-delay 1000ms",)


def commands(steps: list[Step]) -> list[str]:
    return [step.command.text for step in steps]


def applied(haves: Mapping[str, Have], steps: list[Step]) -> dict[str, Have]:
    """What HAProxy has once every step succeeded."""
    out = dict(haves)
    for step in steps:
        if step.after is None:
            del out[step.server]
        else:
            out[step.server] = step.after
    return out


def _serves(haves: Mapping[str, Have]) -> bool:
    """Some server takes new requests (HAProxy answers 503 when none does)."""
    return any(have.state == "ready" and have.weight > 0 for have in haves.values())


def want(revision: int, port: int, routable: bool = True) -> Want:
    return Want(revision, "127.0.0.1", port, routable)


def test_nothing_wanted_nothing_had_nothing_to_do() -> None:
    assert plan({}, {}, None, "replicas") == []


def test_a_new_replica_is_added_in_maintenance_and_enabled_once_routable() -> None:
    wants = {"r1-1": want(1, 4001, routable=False)}
    first = plan(wants, {}, None, "replicas", OPTS)
    assert commands(first) == [
        "add server replicas/r1-1 127.0.0.1:4001 weight 1 pool-purge-delay 1000ms"
    ]
    haves = applied({}, first)
    assert haves == {"r1-1": Have("127.0.0.1", 4001, "maint", 1)}
    assert plan(wants, haves, None, "replicas") == []
    ready = plan({"r1-1": want(1, 4001)}, haves, None, "replicas")
    assert commands(ready) == ["set server replicas/r1-1 state ready"]


def test_a_replica_that_served_is_drained_never_cut_then_deleted() -> None:
    haves = {"r1-1": Have("127.0.0.1", 4001, "ready", 1)}
    drain = plan({"r1-1": want(1, 4001, routable=False)}, haves, None, "replicas")
    assert commands(drain) == ["set server replicas/r1-1 state drain"]
    gone = plan({}, applied(haves, drain), None, "replicas")
    assert commands(gone) == ["set server replicas/r1-1 state maint", "del server replicas/r1-1"]
    assert [s.action for s in gone] == ["state", "delete"]
    # a server that never served is deleted straight from maintenance
    never = {"r1-2": Have("127.0.0.1", 4002, "maint", 1)}
    assert commands(plan({}, never, None, "replicas")) == ["del server replicas/r1-2"]


def test_capacity_is_added_before_any_is_taken_away() -> None:
    """One rolling step: r2-1 becomes routable while r1-1 leaves, in one plan."""
    haves = {
        "r1-1": Have("127.0.0.1", 4001, "ready", 1),
        "r1-2": Have("127.0.0.1", 4002, "ready", 1),
        "r2-1": Have("127.0.0.1", 4003, "maint", 1),
    }
    wants = {
        "r1-1": want(1, 4001, routable=False),
        "r1-2": want(1, 4002),
        "r2-1": want(2, 4003),
        "r2-2": want(2, 4004, routable=False),
    }
    assert commands(plan(wants, haves, None, "b")) == [
        "add server b/r2-2 127.0.0.1:4004 weight 1",
        "set server b/r2-1 state ready",
        "set server b/r1-1 state drain",
    ]


def test_a_replica_moved_to_another_port_is_readdressed() -> None:
    haves = {"r1-1": Have("127.0.0.1", 4001, "maint", 1)}
    steps = plan({"r1-1": want(1, 4009, routable=False)}, haves, None, "b")
    assert commands(steps) == ["set server b/r1-1 addr 127.0.0.1 port 4009"]
    assert applied(haves, steps)["r1-1"].port == 4009


def test_weights_are_set_before_the_servers_they_weigh_are_enabled() -> None:
    haves = {
        "r1-1": Have("127.0.0.1", 4001, "ready", 1),
        "r2-1": Have("127.0.0.1", 4002, "maint", 1),
    }
    wants = {"r1-1": want(1, 4001), "r2-1": want(2, 4002)}
    assert commands(plan(wants, haves, {1: 90, 2: 10}, "b")) == [
        "set server b/r1-1 weight 256",
        "set server b/r2-1 weight 28",
        "set server b/r2-1 state ready",
    ]


def shares_of(wants: Mapping[str, Want], weights: Mapping[str, int]) -> dict[int, float]:
    """The share of traffic each revision gets from HAProxy's weighted round-robin."""
    total = sum(w for s, w in weights.items() if wants[s].routable)
    out: dict[int, float] = {}
    for server, weight in weights.items():
        if wants[server].routable and total:
            out[wants[server].revision] = out.get(wants[server].revision, 0) + weight / total
    return out


def test_a_canary_step_is_split_by_revision_not_by_replica() -> None:
    wants = {f"r1-{i}": want(1, 4000 + i) for i in range(1, 4)}
    wants["r2-1"] = want(2, 4010)
    weights = server_weights(wants, {1: 90, 2: 10})
    assert weights == {"r1-1": 256, "r1-2": 256, "r1-3": 256, "r2-1": 85}
    split = shares_of(wants, weights)
    assert abs(split[2] - 0.10) < 0.001


def test_without_weights_every_routable_replica_shares_alike() -> None:
    wants = {"r1-1": want(1, 1), "r2-1": want(2, 2), "r2-2": want(2, 3, routable=False)}
    assert server_weights(wants, None) == {"r1-1": 1, "r2-1": 1, "r2-2": 1}


def test_a_revision_at_weight_zero_gets_nothing_and_a_tiny_share_gets_something() -> None:
    wants = {"r1-1": want(1, 1), "r2-1": want(2, 2), "r3-1": want(3, 3)}
    weights = server_weights(wants, {1: 100, 2: 0})  # 3 unlisted: 0 too
    assert weights == {"r1-1": 256, "r2-1": 0, "r3-1": 0}
    tiny = server_weights(
        {**{f"r1-{i}": want(1, i) for i in range(10)}, "r2-1": want(2, 99)}, {1: 1, 2: 99}
    )
    assert min(tiny.values()) >= 1


def test_a_revision_with_no_routable_replica_leaves_its_share_to_the_others() -> None:
    wants = {"r1-1": want(1, 1), "r2-1": want(2, 2, routable=False)}
    weights = server_weights(wants, {1: 10, 2: 90})
    assert shares_of(wants, weights) == {1: 1.0}


wanted = st.dictionaries(
    st.sampled_from([f"r{rev}-{i}" for rev in (1, 2, 3) for i in (1, 2, 3)]),
    st.tuples(st.sampled_from([4001, 4002]), st.booleans()),
    max_size=9,
).map(lambda d: {s: Want(int(s[1]), "127.0.0.1", p, r) for s, (p, r) in d.items()})
had = st.dictionaries(
    st.sampled_from([f"r{rev}-{i}" for rev in (1, 2, 3) for i in (1, 2, 3)]),
    st.builds(
        Have,
        st.just("127.0.0.1"),
        st.sampled_from([4001, 4002]),
        st.sampled_from(["ready", "drain", "maint"]),
        st.integers(0, 256),
    ),
    max_size=9,
)
shared = st.none() | st.dictionaries(st.integers(1, 3), st.integers(0, 100), max_size=3)


@settings(deadline=None, max_examples=300)
@given(wants=wanted, haves=had, shares=shared)
def test_a_plan_reaches_the_wanted_state_and_then_has_nothing_to_do(
    wants: dict[str, Want], haves: dict[str, Have], shares: dict[int, int] | None
) -> None:
    steps = plan(wants, haves, shares, "b")
    after = applied(haves, steps)
    assert plan(wants, after, shares, "b") == []
    assert set(after) == set(wants)
    weights = server_weights(wants, shares)
    for server, w in wants.items():
        have = after[server]
        assert (have.host, have.port, have.weight) == (w.host, w.port, weights[server])
        if w.routable:
            assert have.state == "ready"
        elif haves.get(server) is not None and haves[server].state in ("ready", "drain"):
            assert have.state == "drain"  # it served: never cut
    kinds = {"add": 0, "addr": 1, "weight": 2}
    ranks = [kinds.get(s.action, 3) for s in steps if s.phase != DRAIN or s.action != "weight"]
    assert ranks == sorted(ranks)  # adds, addresses, weights raised, then states, deletions
    if _serves(haves) and _serves(after):  # never a moment where every server is out
        for index in range(len(steps)):
            assert _serves(applied(haves, steps[:index])), commands(steps[: index + 1])
    for index, step in enumerate(steps):
        if step.action == "delete":  # in maintenance first
            previous = steps[index - 1] if index else None
            maint_before = previous is not None and previous.server == step.server
            assert maint_before or haves[step.server].state == "maint"
        if step.action == "state" and step.after is not None and step.after.state == "maint":
            assert step.server not in wants  # only servers on their way out


def test_a_blue_green_switch_raises_the_new_weights_before_it_lowers_the_old() -> None:
    haves = {
        "r1-1": Have("127.0.0.1", 4001, "ready", 256),
        "r2-1": Have("127.0.0.1", 4002, "ready", 0),
    }
    wants = {"r1-1": want(1, 4001), "r2-1": want(2, 4002)}
    assert commands(plan(wants, haves, {1: 0, 2: 100}, "replicas")) == [
        "set server replicas/r2-1 weight 256",
        "set server replicas/r1-1 weight 0",
    ]


def test_every_slot_backend_adds_and_enables_before_any_backend_drains() -> None:
    haves = {
        "replicas": {"r1-1": Have("127.0.0.1", 4001, "ready", 1)},
        "slot0": {"r1-1": Have("127.0.0.1", 4001, "ready", 1)},
    }
    wants = {"r1-1": want(1, 4001, routable=False), "r2-1": want(2, 4002)}
    steps = plan_all(wants, haves, None, "replicas", {1: "slot0", 2: "slot1"}, OPTS)
    assert [(s.backend, s.command.text.split(" ")[0:2]) for s in steps] == [
        ("replicas", ["add", "server"]),
        ("slot1", ["add", "server"]),
        ("replicas", ["set", "server"]),
        ("slot1", ["set", "server"]),
        ("replicas", ["set", "server"]),
        ("slot0", ["set", "server"]),
    ]
    assert [s.after.state for s in steps[2:] if s.after is not None] == [
        "ready",
        "ready",
        "drain",
        "drain",
    ]
    assert all(s.command.text.endswith("weight 1 pool-purge-delay 1000ms") for s in steps[:2])
    # a revision without a slot any more leaves it: its servers there are removed
    gone = plan_all({"r1-1": want(1, 4001)}, haves, None, "replicas", {}, OPTS)
    assert [s.command.text for s in gone] == [
        "set server slot0/r1-1 state maint",
        "del server slot0/r1-1",
    ]
