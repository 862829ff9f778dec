"""From what the agent wants (replicas, routability, weights per revision) and what HAProxy
has (servers, states, weights) to the runtime API commands that close the gap (pure).

Invariant: a plan moves every server only along HAProxy's own rules and never takes
capacity away before it adds some: new servers are added first (in maintenance, as HAProxy
adds them), then addresses, then weights raised, then servers enabled, then weights
lowered, then servers drained, and
servers the agent no longer wants go to maintenance before they are deleted. A server
that was serving and stops being routable goes to `drain` (its requests in flight finish;
the agent reads `scur` until they have), never straight to `maint`. A plan from a state
to itself is empty, so a reconcile tick that changes nothing sends nothing.

Weights: HAProxy's are per server (0-256, `balance roundrobin`); the agent's are per
revision (percent). A revision's share is spread over its routable servers, scaled so the
heaviest server weighs 256: `share[r] / routable[r]` per server, a revision with a share
never rounded down to 0. Without weights every routable server weighs 1 (all share).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from changeover.haproxy import runtime
from changeover.haproxy.runtime import MAX_WEIGHT, Command, State


@dataclass(frozen=True)
class Want:
    """A replica as the agent wants it in HAProxy."""

    revision: int
    host: str
    port: int
    routable: bool


@dataclass(frozen=True)
class Have:
    """A server as HAProxy has it (as far as its answers said)."""

    host: str
    port: int
    state: State
    weight: int


Action = Literal["add", "addr", "weight", "state", "delete"]


@dataclass(frozen=True)
class Step:
    """One command and what HAProxy has for `server` of `backend` once it succeeded
    (None: deleted). `phase` orders steps of several backends (`plan_all`)."""

    action: Action
    server: str
    command: Command
    after: Have | None
    backend: str = ""
    phase: int = 0


# The order of a plan: capacity is added before any is taken away.
ADD, ADDR, WEIGHT, ENABLE, DRAIN, REMOVE = range(6)


def server_weights(wants: Mapping[str, Want], shares: Mapping[int, int] | None) -> dict[str, int]:
    """The weight of every wanted server: see the module's docstring."""
    if shares is None:
        return dict.fromkeys(wants, 1)
    routable: dict[int, int] = {}
    present: dict[int, int] = {}
    for want in wants.values():
        present[want.revision] = present.get(want.revision, 0) + 1
        if want.routable:
            routable[want.revision] = routable.get(want.revision, 0) + 1
    per_server = {
        revision: shares.get(revision, 0) / (routable.get(revision) or count)
        for revision, count in present.items()
    }
    serving = [v for rev, v in per_server.items() if rev in routable and v > 0]
    heaviest = max(serving or [v for v in per_server.values() if v > 0] or [1.0])
    scale = MAX_WEIGHT / heaviest
    weights = {}
    for server, want in wants.items():
        value = per_server[want.revision]
        weights[server] = 0 if value <= 0 else min(MAX_WEIGHT, max(1, round(value * scale)))
    return weights


def _state(want: Want, have: Have | None) -> State:
    if want.routable:
        return "ready"
    if have is not None and have.state in ("ready", "drain"):
        return "drain"  # it served: requests in flight finish there
    return "maint"  # it never served (or was taken out already)


def plan(
    wants: Mapping[str, Want],
    haves: Mapping[str, Have],
    shares: Mapping[int, int] | None,
    backend: str,
    options: tuple[str, ...] = (),
) -> list[Step]:
    """The steps, in order, that make HAProxy's `haves` into `wants` (see the module)."""
    weights = server_weights(wants, shares)
    now = dict(haves)
    adds: list[Step] = []
    moves: list[Step] = []
    raises: list[Step] = []
    enables: list[Step] = []
    lowers: list[Step] = []
    drains: list[Step] = []
    removals: list[Step] = []
    for server, want in sorted(wants.items()):
        have = now.get(server)
        weight = weights[server]
        if have is None:
            have = Have(want.host, want.port, "maint", weight)
            command = runtime.add_server(backend, server, want.host, want.port, weight, *options)
            adds.append(Step("add", server, command, have, backend, ADD))
        if (have.host, have.port) != (want.host, want.port):
            command = runtime.set_addr(backend, server, want.host, want.port)
            have = Have(want.host, want.port, have.state, have.weight)
            moves.append(Step("addr", server, command, have, backend, ADDR))
        # Built in the order they are sent, so each step's `after` is what HAProxy has
        # then: weights raised, enabled, weights lowered, drained. Raised before any is
        # lowered: a switch (100/0 to 0/100) never passes through every server at
        # weight 0, where HAProxy would answer 503.
        state = _state(want, have)
        if weight > have.weight:
            have = Have(have.host, have.port, have.state, weight)
            command = runtime.set_weight(backend, server, weight)
            raises.append(Step("weight", server, command, have, backend, WEIGHT))
        if state == "ready" and have.state != "ready":
            have = Have(have.host, have.port, state, have.weight)
            command = runtime.set_state(backend, server, state)
            enables.append(Step("state", server, command, have, backend, ENABLE))
        if weight < have.weight:
            have = Have(have.host, have.port, have.state, weight)
            command = runtime.set_weight(backend, server, weight)
            lowers.append(Step("weight", server, command, have, backend, DRAIN))
        if state != have.state:
            have = Have(have.host, have.port, state, have.weight)
            command = runtime.set_state(backend, server, state)
            drains.append(Step("state", server, command, have, backend, DRAIN))
    for server, have in sorted(now.items()):
        if server in wants:
            continue
        if have.state != "maint":
            gone = Have(have.host, have.port, "maint", have.weight)
            command = runtime.set_state(backend, server, "maint")
            removals.append(Step("state", server, command, gone, backend, REMOVE))
        delete = runtime.del_server(backend, server)
        removals.append(Step("delete", server, delete, None, backend, REMOVE))
    return adds + moves + raises + enables + lowers + drains + removals


def plan_all(
    wants: Mapping[str, Want],
    haves: Mapping[str, Mapping[str, Have]],
    shares: Mapping[int, int] | None,
    main: str,
    slots: Mapping[int, str],
    options: tuple[str, ...] = (),
) -> list[Step]:
    """`plan` for the weighted backend `main` and for every slot backend (`haves` per
    backend; `slots`: revision -> its slot backend, whose servers are the revision's
    replicas again, all weighing 1), merged phase by phase: every backend's additions
    and enables come before any backend's drains and removals."""
    steps = plan(wants, haves.get(main, {}), shares, main, options)
    for backend in sorted((set(slots.values()) | set(haves)) - {main}):
        mine = {name: want for name, want in wants.items() if slots.get(want.revision) == backend}
        steps += plan(mine, haves.get(backend, {}), None, backend, options)
    return sorted(steps, key=lambda step: step.phase)  # stable: a server's order is kept


__all__ = ["Have", "Step", "Want", "plan", "plan_all", "server_weights"]
