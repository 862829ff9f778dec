"""What HAProxy starts with: the servers and map contents the agent wants then (pure).

At each start of HAProxy (the first, one after HAProxy died, a new agent's after a
reload or a crash) its configuration file and its map files hold what the reconcile
would otherwise add through the runtime API afterwards: every wanted replica as a server
of the weighted backend, its twin in its revision's slot backend (routes.py; enabled
exactly when the weighted one is), and the four maps `routes.maps` gives for that state.
So a header route, a sticky user or the preview is served by its revision from the first
request, not by the weights (or a 503) until the reconcile caught up. With `log_sample =
"auto"` the sample map holds the agent's current level too (`sampling`), so a HAProxy
started again logs as the one before it did.

Invariant: a seed is the state the runtime path reaches from an empty HAProxy for the
same wants, policy and slots: `plan.plan_all` from it to the wants is empty, and its
maps are `routes.maps` with `usable` read from its own slot servers, so an entry points
at a slot only if the slot has a server that starts ready and the agent wants routable
(the same function decides it at run time). A revision keeps its slot across a restart
of HAProxy while it has replicas (`routes.assign`, nothing occupied in a new HAProxy).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from changeover.haproxy import config, routes
from changeover.haproxy.config import Settings
from changeover.haproxy.plan import Have, Want, server_weights
from changeover.haproxy.routes import Entries, MapFiles
from changeover.haproxy.runtime import State
from changeover.proxy.policy import TrafficPolicy


@dataclass(frozen=True)
class Seed:
    """What HAProxy starts with."""

    slots: Mapping[int, int]  # revision -> slot
    servers: Mapping[str, Have]  # the weighted backend's
    slot_servers: Mapping[str, Mapping[str, Have]]  # slot backend -> its servers
    maps: Mapping[str, Entries]  # map file -> its entries, in order


def available(wants: Mapping[str, Want]) -> dict[int, int]:
    """Revision -> replicas wanted routable (what sticky users are laid out by when
    there are no weights)."""
    counts: dict[int, int] = {}
    for want in wants.values():
        if want.routable:
            counts[want.revision] = counts.get(want.revision, 0) + 1
    return counts


def usable(
    slots: Mapping[int, int],
    slot_haves: Mapping[str, Mapping[str, Have]],
    wants: Mapping[str, Want],
) -> set[int]:
    """The revisions whose slot has a server HAProxy has ready and the agent wants
    routable: the only ones a map entry may point at (routes.py's invariant)."""
    out = set()
    for revision, slot in slots.items():
        for name, have in slot_haves.get(routes.slot_name(slot), {}).items():
            want = wants.get(name)
            if have.state == "ready" and want is not None and want.routable:
                out.add(revision)
    return out


def start_slots(
    previous: Mapping[int, int],
    wants: Mapping[str, Want],
    policy: TrafficPolicy,
    preview: int | None,
) -> dict[int, int]:
    """The slots at a start: a revision keeps the one it had (a restart of HAProxy),
    the others are given free ones as at run time; a new HAProxy has no server left in
    any slot, so none is occupied."""
    revisions = {want.revision for want in wants.values()}
    named = routes.named(policy, preview, available(wants))
    return routes.assign(previous, revisions, (), named)


def seed(
    wants: Mapping[str, Want],
    shares: Mapping[int, int] | None,
    previous_slots: Mapping[int, int],
    files: MapFiles | None,
    policy: TrafficPolicy,
    preview: int | None,
    sample: Mapping[str, Entries] | None = None,
) -> Seed:
    """The servers and maps for the wanted state (see the module). `files` None: the
    configuration has no maps and no slot backends, so HAProxy starts with the weighted
    backend's servers only. `sample`: the sample map's file and entries, when the
    configuration has one (`sampling`)."""
    weights = server_weights(wants, shares)
    servers = {
        name: Have(want.host, want.port, _state(want), weights[name])
        for name, want in sorted(wants.items())
    }
    if files is None:
        return Seed({}, servers, {}, dict(sample or {}))
    slots = start_slots(previous_slots, wants, policy, preview)
    slot_servers: dict[str, dict[str, Have]] = {}
    for name, want in sorted(wants.items()):
        slot = slots.get(want.revision)
        if slot is not None:  # a twin of weight 1, as plan_all adds it
            backend = slot_servers.setdefault(routes.slot_name(slot), {})
            backend[name] = Have(want.host, want.port, _state(want), 1)
    ready = usable(slots, slot_servers, wants)
    wanted = routes.maps(files, policy, preview, slots, ready, available(wants))
    return Seed(slots, servers, slot_servers, {**wanted, **(sample or {})})


def _state(want: Want) -> State:
    """A server starts enabled if the agent wants it routable, else in maintenance."""
    return "ready" if want.routable else "maint"


def _server_lines(haves: Mapping[str, Have]) -> tuple[config.Server, ...]:
    return tuple(
        config.Server(name, have.host, have.port, have.weight, have.state == "ready")
        for name, have in haves.items()
    )


def config_text(settings: Settings, start: Seed) -> str:
    """The configuration HAProxy starts with: `config.render` with the seed's servers,
    in the weighted backend and in the slot backends."""
    slots = {backend: _server_lines(haves) for backend, haves in start.slot_servers.items()}
    return config.render(settings, _server_lines(start.servers), slots)


__all__ = ["Seed", "available", "config_text", "seed", "start_slots", "usable"]
