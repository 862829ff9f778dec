"""Header routes, sticky users and the preview listener on HAProxy, as map contents (pure).

HAProxy 2.6 cannot add a backend at run time, and a route's header name comes from the
spec, so the configuration holds fixed parts and the agent fills maps at run time:
- `SLOTS` slot backends (`slot0`..): a revision is given a slot while it has replicas
  (`assign`), and each of its replicas is a server there too, beside its twin in the
  weighted `replicas` backend. Header routes, sticky users and the preview pick a slot;
  everything else goes to `replicas` by weight.
- `routes.map`: a PCRE per header route, matched against the request's header block
  (`req.hdrs`: one `name: value\\r\\n` line per header, names in lower case, values
  trimmed), anchored on one line; the value is the slot backend. The first route in
  the policy's order that matches wins (a map keeps its entries in order).
- `keys.map`: one PCRE that finds the sticky key (`\\1`: the first line of the header,
  or the named cookie's value in the first Cookie line having it); `buckets.map`: the
  bucket (`crc32(key) mod BUCKETS`) as ranges `lo:hi` to slot backends, laid out as
  the builtin proxy lays them (`proxy.chooser.layout`: newest revision first, each
  sized by its share), so a user keeps a revision while the weights do not change and
  a user of the newest revision stays on it while its share grows.
- `switch.map`: `routes 1` and `sticky 1` when those maps are worth reading (a request
  costs nothing extra otherwise), `preview <slot>` for the preview listener.

Invariant: an entry points at a slot only while that slot has a server HAProxy has
ready and the agent wants routable (`usable`), so no request is routed to a slot that
would answer 503: a route or a sticky bucket whose revision has none is left out, and
the request falls through to the weights, as the builtin proxy does. The preview
listener with no usable preview revision goes to `unrouted` (no servers: 503), and
every answer on a preview connection then says `Connection: close`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from changeover.proxy.chooser import BUCKETS, layout
from changeover.proxy.policy import HeaderRoute, Sticky, TrafficPolicy

SLOTS = 4  # revisions with replicas at once: stable, target, and room for leftovers
UNROUTED = "unrouted"  # a backend without servers: HAProxy answers 503
OWS = r"[\x20\x09]*"  # a header value's optional whitespace, spelt without a space
EOL = r"\r?$"  # the end of one header line, under (?m)

Entries = tuple[tuple[str, str], ...]  # a map's (key, value) lines, in order


def slot_name(index: int) -> str:
    return f"slot{index}"


SLOT_BACKENDS = tuple(slot_name(i) for i in range(SLOTS))


@dataclass(frozen=True)
class MapFiles:
    """Where the four maps are; the configuration names them, the runtime API too."""

    routes: str
    keys: str
    buckets: str
    switch: str

    @classmethod
    def under(cls, folder: str) -> MapFiles:
        return cls(*(f"{folder}/{name}.map" for name in ("routes", "keys", "buckets", "switch")))

    def all(self) -> tuple[str, str, str, str]:
        return (self.routes, self.keys, self.buckets, self.switch)


def frontend_lines(files: MapFiles, default_backend: str) -> list[str]:
    """The frontend's routing rules (see the module); they end with the default. A
    request of the public listener while no route and no sticky policy is on costs two
    map lookups (the switches, tested first) and one variable test: one variable holds
    the slot a route or a sticky bucket chose."""
    switch = files.switch
    return [
        "    # routing (haproxy/routes.py): maps the agent changes at run time",
        f"    http-request set-var(txn.co_route) req.hdrs,map_reg({files.routes})"
        f" if {{ str(routes),map({switch}) -m found }} !{{ so_name preview }}",
        # the sticky key, its bucket and the bucket's slot in one chain: no key, no slot
        f"    http-request set-var(txn.co_route) req.hdrs,map_regm({files.keys})"
        f",crc32,mod({BUCKETS}),map_int({files.buckets})"
        f" if {{ str(sticky),map({switch}) -m found }} !{{ so_name preview }}"
        " !{ var(txn.co_route) -m found }",
        # no preview revision (any more): a preview connection closes after this
        # answer, as the builtin's do once the preview ends (haproxy/preview.py)
        "    http-after-response set-header Connection close if { so_name preview }"
        f" !{{ str(preview),map({switch}) -m found }}",
        f"    use_backend %[str(preview),map({switch},{UNROUTED})] if {{ so_name preview }}",
        "    use_backend %[var(txn.co_route)] if { var(txn.co_route) -m found }",
        f"    default_backend {default_backend}",
    ]


# --- patterns -------------------------------------------------------------------------


def literal(text: str) -> str:
    """`text` as a PCRE matching its UTF-8 bytes exactly: letters, digits and `_` as
    they are, every other byte as `\\xHH` (no space, `;` or `#` reaches a map line)."""
    out = []
    for byte in text.encode():
        char = chr(byte)
        out.append(char if char.isascii() and (char.isalnum() or char == "_") else f"\\x{byte:02x}")
    return "".join(out)


def _line(name: str) -> str:
    """The start of one line of header `name` (names compare case-insensitively)."""
    return f"(?m)^(?i:{literal(name.lower())}):{OWS}"


def route_pattern(route: HeaderRoute) -> str:
    """A PCRE matching `req.hdrs` when one line of the route's header matches it."""
    head = _line(route.header)
    if route.value is not None:
        return f"{head}{literal(route.value)}{OWS}{EOL}"
    if route.prefix is not None:
        return f"{head}{literal(route.prefix)}[^\\r\\n]*{EOL}"
    assert route.regex is not None  # HeaderRoute holds exactly one matcher
    return f"{head}(?:{unblank(route.regex)}){OWS}{EOL}"


_BLANKS = {" ": r"\x20", "\t": r"\x09"}
# an inline flag group that may turn the verbose flag on ((?x), (?ix:...), ...)
_VERBOSE = re.compile(r"\(\?[A-Za-z-]*x")


def unblank(regex: str) -> str:
    """`regex` with each space or tab spelt `\\x20` or `\\x09`, so that a map key holds
    no blank: a map file ends a key at its first blank (maps.file_text). To PCRE2 and
    Python's `re` alike a blank, bare or escaped (`\\ `), in a class or not, matches
    itself, as its `\\xHH` does. Under the verbose flag a bare blank is ignored instead,
    so a regex that may set it is returned as written (the runtime API takes it; a file
    refuses it), and so is one with `\\N{name}` (a name has spaces; PCRE2 has no names,
    `spec.pcre` refuses it on this engine)."""
    if _VERBOSE.search(regex) or "\\N{" in regex:
        return regex
    out = []
    chars = iter(regex)
    for char in chars:
        if char == "\\":  # an escape pair stays a pair, unless it escapes a blank
            escaped = next(chars, "")
            out.append(_BLANKS.get(escaped, char + escaped))
        else:
            out.append(_BLANKS.get(char, char))
    return "".join(out)


def key_pattern(sticky: Sticky) -> str:
    """A PCRE whose group 1 is the user's key, as `Sticky.key` reads it."""
    if sticky.kind == "header":  # the first line of the header, trimmed, not empty
        return _line(sticky.name) + r"([^\x20\x09\r\n](?:[^\r\n]*[^\x20\x09\r\n])?)"
    # the first `name=value` pair of the `;`-separated ones (cookie names are
    # case-sensitive), in the first Cookie line having it
    value = r"([^\x20\x09\r\n\x3b](?:[^\r\n\x3b]*[^\x20\x09\r\n\x3b])?)"
    pairs = r"(?m)^(?i:cookie):(?:[^\r\n]*?\x3b)??"  # `??`: the first pair that fits
    return f"{pairs}{OWS}{literal(sticky.name)}{OWS}={OWS}{value}"


# --- slots and maps -------------------------------------------------------------------


def assign(
    previous: Mapping[int, int],
    revisions: Iterable[int],
    occupied: Collection[int],
    named: Collection[int],
    slots: int = SLOTS,
) -> dict[int, int]:
    """Revision -> slot. A revision keeps its slot while it has replicas; a slot whose
    servers HAProxy still has (`occupied`: of a revision that has none left) is not
    given away until they are gone; free slots go to the revisions the policy names
    first, then to the newest. Revisions beyond the slots get none (see `unslotted`)."""
    wanted = set(revisions)
    kept = {rev: slot for rev, slot in previous.items() if rev in wanted}
    taken = set(kept.values()) | set(occupied)
    free = [slot for slot in range(slots) if slot not in taken]
    waiting = sorted(wanted - set(kept), key=lambda rev: (rev not in named, -rev))
    for revision, slot in zip(waiting, free, strict=False):
        kept[revision] = slot
    return dict(sorted(kept.items()))


def named(policy: TrafficPolicy, preview: int | None, available: Mapping[int, int]) -> set[int]:
    """The revisions the policy sends some requests to by route, key or preview."""
    out = {route.revision for route in policy.header_routes}
    if policy.sticky is not None:
        out |= set(layout(policy.weights if policy.weights is not None else available)[0])
    if preview is not None:
        out.add(preview)
    return out


def maps(
    files: MapFiles,
    policy: TrafficPolicy,
    preview: int | None,
    slots: Mapping[int, int],
    usable: Collection[int],
    available: Mapping[int, int],
) -> dict[str, Entries]:
    """Every map's wanted content. `slots`: revision -> slot; `usable`: revisions whose
    slot has a server ready and wanted routable; `available`: revision -> routable
    replicas (what sticky users are laid out by when there are no weights)."""
    backend = {rev: slot_name(slot) for rev, slot in slots.items() if rev in usable}
    routes = tuple(
        (route_pattern(route), backend[route.revision])
        for route in policy.header_routes
        if route.revision in backend
    )
    keys: Entries = ()
    buckets: Entries = ()
    if policy.sticky is not None:
        weights = policy.weights if policy.weights is not None else available
        buckets = bucket_ranges(weights, backend)
        keys = ((key_pattern(policy.sticky), "\\1"),) if buckets else ()
    switch: list[tuple[str, str]] = []
    if routes:
        switch.append(("routes", "1"))
    if keys:
        switch.append(("sticky", "1"))
    if preview is not None and preview in backend:
        switch.append(("preview", backend[preview]))
    return {
        files.routes: routes,
        files.keys: keys,
        files.buckets: buckets,
        files.switch: tuple(switch),
    }


def bucket_ranges(weights: Mapping[int, int], backend: Mapping[int, str]) -> Entries:
    """`lo:hi` (inclusive) -> slot backend for each revision's interval of buckets, as
    `proxy.chooser.layout` draws them; a revision without a usable slot is left out."""
    order, bounds = layout(weights)
    out = []
    low = 0
    for revision, high in zip(order, bounds, strict=True):
        if high > low and revision in backend:
            out.append((f"{low}:{high - 1}", backend[revision]))
        low = high
    return tuple(out)


def unslotted(slots: Mapping[int, int], wanted: Collection[int]) -> list[int]:
    """Revisions the policy sends requests to that have no slot (more than `SLOTS`)."""
    return sorted(rev for rev in wanted if rev not in slots)


__all__ = [
    "SLOTS",
    "SLOT_BACKENDS",
    "UNROUTED",
    "Entries",
    "MapFiles",
    "assign",
    "bucket_ranges",
    "frontend_lines",
    "key_pattern",
    "literal",
    "maps",
    "named",
    "route_pattern",
    "slot_name",
    "unblank",
    "unslotted",
]
